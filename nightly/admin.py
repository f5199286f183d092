"""The scoring runs' page with its "run scoring now" button, which queues the nightly task, and the
page that follows the run stage by stage (from `ScoringRun.stage_seconds`, which the pipeline
writes as each stage ends)."""

from django.contrib import admin, messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from segments.admin import ScoringRunAdmin
from segments.models import ScoringRun

from .tasks import nightly_rebuild

# The pipeline's stages (nightly/pipeline.py STAGES, not imported: it loads scikit-learn) with their names.
STAGES = (("read", _("reading orders and activity")), ("models", _("learning the churn and value models")),
          ("recommendations", _("recommending products")), ("loyalty", _("loyalty points and tiers")),
          ("write scores", _("writing the scores")),
          ("segments", _("updating the segments")))
SESSION_KEY = "nightly_run_requested_at"


class RunnableScoringRunAdmin(ScoringRunAdmin):
    def get_urls(self):
        return [path("run-now/", self.admin_site.admin_view(run_now_view), name="segments_run_now"),
                path("run-now/progress/", self.admin_site.admin_view(self.progress_view),
                     name="segments_run_progress"),
                *super().get_urls()]

    def progress_view(self, request):
        if not self.has_view_permission(request):
            return redirect("admin:index")
        requested = parse_datetime(request.session.get(SESSION_KEY) or "")
        runs = ScoringRun.objects.order_by("-started_at")
        run = (runs.filter(started_at__gte=requested).last() if requested else None) or runs.first()
        waiting = requested is not None and (run is None or run.started_at < requested)
        if waiting:
            run = None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Scoring run"),
            "opts": ScoringRun._meta,
            "run": run,
            "waiting": waiting,
            "stages": stage_rows(run),
            "busy": waiting or (run is not None and run.status == ScoringRun.Status.RUNNING),
        }
        return render(request, "admin/segments/scoringrun/progress.html", context)


def stage_rows(run):
    """(name, state, seconds) per stage: done with its seconds, running (the first not done), waiting."""
    if run is None:
        return []
    done, rows, current = run.stage_seconds or {}, [], True
    for key, label in STAGES:
        if key in done:
            rows.append((label, "done", done[key]))
        elif run.status == ScoringRun.Status.RUNNING and current:
            rows.append((label, "running", None))
            current = False
        else:
            rows.append((label, "failed" if run.status == ScoringRun.Status.FAILED and current else "waiting", None))
            current = False
    return rows


@permission_required("segments.add_scoringrun", raise_exception=True)
def run_now_view(request):
    if request.method == "POST":
        if ScoringRun.objects.filter(status=ScoringRun.Status.RUNNING).exists():
            messages.warning(request, gettext("A scoring run is already in progress; it is shown below."))
        else:
            request.session[SESSION_KEY] = timezone.now().isoformat()
            nightly_rebuild.delay()  # a worker runs it; with no REDIS_URL (the demo) it runs here, in-process
            messages.success(request, gettext("The scoring run was queued; this page follows it."))
        return redirect("admin:segments_run_progress")
    return redirect("admin:segments_scoringrun_changelist")


admin.site.unregister(ScoringRun)
admin.site.register(ScoringRun, RunnableScoringRunAdmin)
