"""Email backends for the campaign tests."""

import collections
import os
import time
import uuid
from pathlib import Path

from anymail.backends.test import EmailBackend as AnymailTestBackend
from django.core.mail.backends.base import BaseEmailBackend


class ScriptedBackend(AnymailTestBackend):
    """anymail's test backend that first raises the queued exceptions, one per send; accepted mail goes to the outbox."""

    failures = []

    def post_to_esp(self, payload, message):
        if ScriptedBackend.failures:
            raise ScriptedBackend.failures.pop(0)
        return super().post_to_esp(payload, message)


class RecordingBackend(BaseEmailBackend):
    """Writes one file per physical send into $CRM_TEST_MAIL_DIR, named by delivery id, so a test can count them.

    Each file is written with O_EXCL under a fresh name: a message sent twice leaves two files.
    CRM_TEST_HANG_AFTER_SENDS=N: the process freezes right after its N-th send, before the sender
    can record it, so a test can kill the worker at the worst moment (message out, row not marked).
    """

    sends = 0

    def send_messages(self, messages):
        folder = Path(os.environ["CRM_TEST_MAIL_DIR"])
        hang_after = int(os.environ.get("CRM_TEST_HANG_AFTER_SENDS", "0"))
        for message in messages:
            name = folder / f"{message.metadata['delivery_id']}.{uuid.uuid4().hex}.eml"
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, message.message().as_bytes())
            finally:
                os.close(fd)
            RecordingBackend.sends += 1
            if RecordingBackend.sends == hang_after:
                time.sleep(3600)
        return len(messages)


def physical_sends(folder):
    """{delivery id: how many times RecordingBackend physically sent it} from its outbox folder."""
    return collections.Counter(int(path.name.split(".")[0]) for path in Path(folder).iterdir())


def outcomes(deliveries, folder):
    """What a campaign's rows say against what RecordingBackend sent: (rows by (state, reason), physical
    sends by delivery id, ids recorded sent, ids of unknown outcome, duplicates sent)."""
    from mailing.models import Delivery

    physical = physical_sends(folder)
    return (collections.Counter(deliveries.values_list("state", "reason")), physical,
            set(deliveries.filter(state=Delivery.State.SENT).values_list("pk", flat=True)),
            set(deliveries.filter(state=Delivery.State.UNKNOWN).values_list("pk", flat=True)),
            sum(count - 1 for count in physical.values()))
