"""Ground with no models: environment parsing, logging and database helpers. Imports no app."""
