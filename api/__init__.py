"""The REST API for shops: ingest clients, purchases, activity and survey answers; read scores."""
