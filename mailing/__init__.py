"""Email campaigns: templates, campaigns, schedules and triggers, deliveries, sending, unsubscribe,
tracking and results.

The workflow is `recipients.resolve_audience` -> `sending.launch_campaign` -> `tasks.send_delivery_batch`, started by
hand, by `scheduling` (one-off and cron) or by `triggers` (after a nightly run).
"""
