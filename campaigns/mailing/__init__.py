"""Email campaigns: templates, campaigns, deliveries, sending and unsubscribe (issue 4, phase 1).

The models live in the `campaigns` app (campaigns/models.py imports them); the workflow is
`audience.resolve_audience` -> `sending.launch_campaign` -> `tasks.send_delivery_batch`.
"""
