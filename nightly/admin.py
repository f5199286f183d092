"""The scoring runs' page with its "run scoring now" button, which queues the nightly task."""

from django.contrib import admin, messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext_lazy as _

from segments.admin import ScoringRunAdmin
from segments.models import ScoringRun

from .tasks import nightly_rebuild


class RunnableScoringRunAdmin(ScoringRunAdmin):
    def get_urls(self):
        return [path("run-now/", self.admin_site.admin_view(run_now_view), name="segments_run_now"),
                *super().get_urls()]


@permission_required("segments.add_scoringrun", raise_exception=True)
def run_now_view(request):
    if request.method == "POST":
        nightly_rebuild.delay()
        messages.success(request, _("The scoring run was started; it shows in the list when it is done."))
    return redirect("admin:segments_scoringrun_changelist")


admin.site.unregister(ScoringRun)
admin.site.register(ScoringRun, RunnableScoringRunAdmin)
