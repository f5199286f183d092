"""The two-factor pages in the admin: enrol an authenticator app (QR code, recovery codes) and verify
a code after the password. Thin: the rules are in two_factor.py."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login

from ..audit import record
from . import two_factor
from .middleware import HAS_DEVICE
from .sessions import end_sessions


class CodeForm(forms.Form):
    code = forms.CharField(label=_("code"), max_length=16, widget=forms.TextInput(
        attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}))


def _context(request, **extra):
    # No app list beside these pages: before the second factor, every link in it leads back here.
    return {**admin.site.each_context(request), "is_nav_sidebar_enabled": False, **extra}


def _target(user):
    return f"auth.user:{user.get_username()}"


@never_cache
@login_required(login_url="admin:login")
def enrol(request):
    """Set up (or replace) the authenticator app: scan, type the first code, note the recovery codes."""
    user = request.user
    if two_factor.enrolled(user) and not user.is_verified():
        return redirect("accounts-verify")
    device = two_factor.pending_device(user)
    form = CodeForm(request.POST or None)
    if form.is_valid():
        codes = two_factor.confirm(device, form.cleaned_data["code"].replace(" ", ""))
        if codes is None:
            form.add_error("code", _("This code is not the one the app shows now. Type the six digits the app "
                                     "shows for this account, before they change."))
        else:
            otp_login(request, device)
            request.session[HAS_DEVICE] = True
            # Sessions signed in before (without the second factor) end: from now on each one verifies.
            end_sessions(user, user, keep=request.session.session_key)
            record("two_factor_enrolled", _target(user), user)
            return render(request, "admin/accounts/recovery_codes.html", _context(
                request, title=_("Your recovery codes"), codes=codes))
    return render(request, "admin/accounts/enrol.html", _context(
        request, title=_("Two-factor sign-in"), form=form, qr=two_factor.qr_svg(device),
        secret=two_factor.secret_text(device), enrolled=two_factor.enrolled(user),
        required=two_factor.required_for(user)))


@never_cache
@login_required(login_url="admin:login")
def verify(request):
    """The second step of signing in: a code from the app, or one of the recovery codes."""
    user = request.user
    target = request.POST.get("next") or request.GET.get("next") or reverse("admin:index")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("admin:index")
    if user.is_verified():
        return redirect(target)
    if not two_factor.enrolled(user):
        return redirect("accounts-enrol")
    form = CodeForm(request.POST or None)
    if form.is_valid():
        device = two_factor.find_device(user, form.cleaned_data["code"])
        if device is None:
            record("two_factor_failed", _target(user), user)
            form.add_error("code", _("This code is not valid. Type the six digits your app shows now, or one "
                                     "of your recovery codes."))
        else:
            otp_login(request, device)
            record("two_factor_verified", _target(user), user, recovery_code=device.name == two_factor.RECOVERY_DEVICE)
            if device.name == two_factor.RECOVERY_DEVICE:
                left = device.token_set.count()
                messages.warning(request, _("You signed in with a recovery code; %(left)d are left. Set up the "
                                            "app again if you lost it.") % {"left": left})
            return redirect(target)
    return render(request, "admin/accounts/verify.html", _context(
        request, title=_("Two-factor sign-in"), form=form, next=target))
