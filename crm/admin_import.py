"""The admin page to upload a CSV file of any kind; it runs the same importer as the commands."""

from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext_lazy as _

from . import audit
from .importing import ImportFileError, run_import
from .importing.kinds import KINDS

KIND_LABELS = {"clients": _("clients"), "purchases": _("purchases"), "purchase_items": _("purchase items"),
               "activity": _("activity"), "survey_answers": _("survey answers")}


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"),
                             choices=[(k, KIND_LABELS.get(k, k.replace("_", " "))) for k in KINDS])
    file = forms.FileField(label=_("CSV file"))
    skip_invalid = forms.BooleanField(
        label=_("Import the valid rows and keep the rejected ones in a separate file"), required=False)


def upload_dir():
    return Path(settings.MEDIA_ROOT) / "imports"


@permission_required("crm.add_client", raise_exception=True)
def import_view(request):
    if request.method == "GET" and "rejected" in request.GET:
        # Rejected rows are the shop's own data: give them back to whoever may import.
        path = (upload_dir() / get_valid_filename(request.GET["rejected"])).resolve()
        if path.parent != upload_dir().resolve() or not path.is_file():
            raise Http404
        audit.record_download(f"crm.import:{path.name}", request.user)  # rows of the shop's clients
        return FileResponse(open(path, "rb"), as_attachment=True, filename=path.name)  # noqa: SIM115
    report = error = None
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload_dir().mkdir(parents=True, exist_ok=True)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        path = upload_dir() / get_valid_filename(f"{stamp}-{form.cleaned_data['file'].name}")
        with open(path, "wb") as out:
            for chunk in form.cleaned_data["file"].chunks():
                out.write(chunk)
        try:
            report = run_import(form.cleaned_data["kind"], path, skip_invalid=form.cleaned_data["skip_invalid"])
        except ImportFileError as exc:
            error = str(exc)
        if report and report.rejected_file:
            report.rejected_name = Path(report.rejected_file).name
    context = {**admin.site.each_context(request), "title": _("Import a CSV file"), "form": form,
               "report": report, "error": error, "kinds": KINDS.values()}
    return render(request, "admin/crm/import.html", context)
