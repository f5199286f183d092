"""The admin page to upload a CSV file of any kind; it runs the same importer as the commands."""

import re
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import admin
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext_lazy as _

from . import audit
from .admin_denied import MissingPermission
from .importing import ImportFileError, run_import
from .importing.kinds import KINDS

KIND_LABELS = {"clients": _("clients"), "purchases": _("purchases"), "purchase_items": _("purchase items"),
               "products": _("products"),
               "activity": _("activity"), "survey_answers": _("survey answers")}


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"),
                             choices=[(k, KIND_LABELS.get(k, k.replace("_", " "))) for k in KINDS])
    file = forms.FileField(label=_("CSV file"))
    skip_invalid = forms.BooleanField(
        label=_("Import the valid rows and keep the rejected ones in a separate file"), required=False)


def upload_dir():
    return Path(settings.MEDIA_ROOT) / "imports"


STAMP = "%Y%m%d-%H%M%S"


def stored_name(name, now):
    """Where an upload is kept: its own name behind the time, so two uploads of one name both stay."""
    return get_valid_filename(f"{now.strftime(STAMP)}-{name}")


def uploaded_name(stored):
    """The name the user gave the file, from the name it is stored under (the time taken off)."""
    return re.sub(r"^\d{8}-\d{6}-", "", stored)


IMPORT_PERMISSION = "crm.add_client"


def import_view(request):
    if not request.user.has_perm(IMPORT_PERMISSION):
        raise MissingPermission(IMPORT_PERMISSION)
    if request.method == "GET" and "rejected" in request.GET:
        # Rejected rows are the shop's own data: give them back to whoever may import.
        path = (upload_dir() / get_valid_filename(request.GET["rejected"])).resolve()
        if path.parent != upload_dir().resolve() or not path.is_file():
            raise Http404
        audit.record_download(f"crm.import:{path.name}", request.user)  # rows of the shop's clients
        return FileResponse(open(path, "rb"), as_attachment=True, filename=uploaded_name(path.name))  # noqa: SIM115
    report = error = None
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload_dir().mkdir(parents=True, exist_ok=True)
        upload = form.cleaned_data["file"]
        path = upload_dir() / stored_name(upload.name, timezone.now())
        with open(path, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        try:
            # Messages name the file as the user knows it, not the server folder it was stored in.
            report = run_import(form.cleaned_data["kind"], path, skip_invalid=form.cleaned_data["skip_invalid"],
                                display_name=Path(upload.name).name)
        except ImportFileError as exc:
            error = str(exc)
        if report and report.rejected_file:
            report.rejected_name = Path(report.rejected_file).name  # the link's key, on the server
            report.rejected_download = uploaded_name(report.rejected_name)  # what the user gets
    context = {**admin.site.each_context(request), "title": _("Import a CSV file"), "form": form,
               "report": report, "error": error, "kinds": KINDS.values()}
    return render(request, "admin/crm/import.html", context)
