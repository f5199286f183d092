"""What the ground app announces to the rooms above it (DESIGN.md: lower rooms announce, higher
ones listen; crm imports none of them)."""

from django.dispatch import Signal

# Sent once an import of purchases or activity (a CSV file or an API request, both crm.importing)
# has committed, with `kind` ("purchases" or "activity"), `client_ids` (the clients its valid rows
# of the last two days name: crm.importing.run.ANNOUNCED_WITHIN) and, for purchases, `orders`
# ([(client id, the shop's order id)]). The journeys enter, exit and bring waits forward from here.
# Receivers are called robustly: the data is recorded whatever a receiver does.
data_arrived = Signal()
