"""Run one audience sync now, or print the requests it would make (`--dry-run`)."""

from django.core.management.base import BaseCommand, CommandError

from audiences.models import AudienceSync
from audiences.push import dry_run as print_requests
from audiences.syncs import run_sync


class Command(BaseCommand):
    help = ("Run an audience sync now (files, and the platform's API when an account is connected); "
            "--dry-run prints the API requests it would make and changes nothing.")

    def add_arguments(self, parser):
        parser.add_argument("sync", type=int, help="the audience sync's id (Ad audiences > Audience syncs)")
        parser.add_argument("--dry-run", action="store_true", help="print the requests; send and store nothing")
        parser.add_argument("--replace", action="store_true",
                            help="send every member again, into a new audience on the platform")

    def handle(self, *args, sync, dry_run: bool, replace: bool, **options):
        found = AudienceSync.objects.select_related("segment", "account").filter(pk=sync).first()
        if found is None:
            known = ", ".join(f"{s.pk} ({s})" for s in AudienceSync.objects.select_related("segment")) or "none yet"
            raise CommandError(f"no audience sync {sync}; known: {known}")
        if replace:
            AudienceSync.objects.filter(pk=found.pk).update(replace_requested=True)
            found.replace_requested = True
        if dry_run:
            if found.account_id is None:
                raise CommandError(f"audience sync {sync} has no connected account: it writes files only")
            print_requests(found, self.stdout)
            return
        export = run_sync(found)
        push = getattr(export, "push", None) if found.account_id else None
        self.stdout.write(f"export {export.pk}: {export.status}, {export.exported:,} added, {export.removed:,} removed")
        if push is not None:
            self.stdout.write(f"API: {push.get_status_display()}, {push.batches} batches, {push.added:,} added, "
                              f"{push.removed:,} removed, {push.rejected:,} rejected" +
                              (f"; {push.error}" if push.error else ""))
            if push.status != push.Status.SUCCEEDED:
                raise CommandError(f"the push to {found.platform} did not finish: {push.error}")
