from django.dispatch import Signal

# Sent after a scoring run has succeeded and its transaction committed, with `run`: other apps
# (audience syncs, triggered campaigns) act on the new memberships from here.
run_succeeded = Signal()
