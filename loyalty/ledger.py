"""Points recorded by hand or by a shop's own system: spending and manual adjustments.

Both check their input and say clearly what is wrong; the ledger row is then added (never an
existing one changed)."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Client

from .models import PointsEntry


def check_adjustment(points, reason):
    errors = {}
    if not (reason or "").strip():
        errors["reason"] = _("A manual adjustment needs a reason: say why the balance changes.")
    if not points:
        errors["points"] = _("Give a number of points other than 0.")
    if errors:
        raise ValidationError(errors)


def check_spend(client, points):
    if points is None or points <= 0:
        raise ValidationError({"points": _("Points spent must be a positive number.")})
    balance = PointsEntry.objects.balance(client)
    if points > balance:
        raise ValidationError({"points": _("The client has %(balance)d points; %(points)d cannot be spent.")
                               % {"balance": balance, "points": points}})


def adjust(client, points, reason, user=None, day=None):
    """Add (positive) or take (negative) points by hand. A reason is required."""
    check_adjustment(points, reason)
    reason = reason.strip()
    return PointsEntry.objects.create(client=client, kind=PointsEntry.Kind.ADJUSTED, points=points, reason=reason,
                                      day=day or timezone.localdate(), created_by=user)


def spend(client, points, reason="", user=None, reference=None, day=None):
    """Take `points` (a positive number) off the balance, if the client has them. `reference` (e.g.
    the shop's redemption id) makes a repeated call record nothing the second time."""
    with transaction.atomic():
        Client.objects.select_for_update().filter(pk=client.pk).first()  # one spend per client at a time
        if reference and PointsEntry.objects.filter(client=client, reference=reference).exists():
            return None
        check_spend(client, points)
        return PointsEntry.objects.create(client=client, kind=PointsEntry.Kind.SPENT, points=-points,
                                          reason=reason.strip(), day=day or timezone.localdate(), created_by=user,
                                          reference=reference or None)
