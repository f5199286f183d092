"""Email campaigns: templates, campaigns, schedules and triggers, deliveries, sending, unsubscribe,
tracking and results.

The workflow is `recipients.resolve_audience` -> `launch.launch_campaign` -> `tasks.send_delivery_batch` ->
`sending.send_batch`, started by hand, by `scheduling` (one-off and cron) or by `triggers` (after a
nightly run); `repair` closes what a dead worker left. States and the rules for moving between them
are on the models (`Campaign.refusal`, `may_launch()`, the querysets' transitions).

Imports go one way, lowest first: models (with timing) -> recipients, templating, unsubscribe ->
launch, sending -> repair, scheduling -> lifecycle, triggers -> tasks -> receivers, admin. Only tasks
knows the task queue; launch announces batches on `launch.batch_ready`, which receivers connects to it.
"""
