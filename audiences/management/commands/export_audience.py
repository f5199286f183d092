from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from audiences.export import UnknownSegment, export_audience, get_segment
from audiences.exports import PLATFORMS


class Command(BaseCommand):
    help = ("Export a segment's clients with ads consent as an ad platform's audience file(s), in full or as a "
            "delta (added and removed since the previous export of the segment to the platform).")

    def add_arguments(self, parser):
        parser.add_argument("--segment", required=True, help="segment slug, e.g. at-risk")
        parser.add_argument("--platform", required=True, help=f"one of: {', '.join(PLATFORMS)}")
        parser.add_argument("--delta", action="store_true",
                            help="only the clients added and removed since the previous export (two sets of files)")
        parser.add_argument("--out", metavar="DIR", type=Path,
                            help="write the files into this folder instead of the file storage")

    def handle(self, *args, segment, platform, delta, out, **options):
        if platform not in PLATFORMS:
            raise CommandError(f"Unknown platform {platform!r}; known: {', '.join(PLATFORMS)}.")
        try:
            segment = get_segment(segment)
        except UnknownSegment as exc:
            raise CommandError(f"{str(exc)[0].upper()}{str(exc)[1:]}.") from None
        if out is not None and out.exists() and not out.is_dir():
            raise CommandError(f"--out {out}: not a folder.")
        if not segment.is_active:
            self.stderr.write(f"Note: segment {segment.slug} is not active; its members are those of its last run.")
        try:
            export = export_audience(segment, platform, delta=delta, out_dir=out)
        except Exception as exc:
            raise CommandError(f"The export failed and was recorded as failed: {type(exc).__name__}: {exc}") from exc

        target = PLATFORMS[platform]
        self.stdout.write(
            f"Export {export.pk}: {segment.slug} to {target.label}, {export.get_mode_display()}, "
            f"in {export.seconds:.2f} s")
        self.stdout.write(
            f"  {export.members} members; not eligible: {export.no_consent} without ads consent, "
            f"{export.erased} erased; {export.skipped} without a usable identifier")
        if delta:
            self.stdout.write(f"  {export.exported} added, {export.removed} removed, "
                              f"{export.updated} updated (identifiers changed)")
        else:
            self.stdout.write(f"  {export.exported} exported")
        self.stdout.write(f"  {export.audience} clients on the platform after this export")
        for key, name in export.files.items():
            self.stdout.write(f"  {key}: {export.rows.get(key, 0)} rows -> {_location(name, export.out_dir)}")
        if export.below_minimum:
            self.stdout.write(self.style.WARNING(
                f"Warning: below the minimum audience of {target.label} ({target.min_audience} per list): the "
                f"platform will not serve it (the files were written all the same)."))
        if export.out_dir:
            self.stdout.write("These files are personal data: delete them once uploaded.")
        else:
            self.stdout.write(f"These files are personal data; the storage keeps them for "
                              f"{settings.CRM_AUDIENCE_RETENTION_DAYS} days.")


def _location(name, out_dir):
    if out_dir:
        return name
    try:
        return default_storage.path(name)
    except NotImplementedError:  # a remote storage (S3...): its own name for the file
        return f"{name} (in the file storage)"
