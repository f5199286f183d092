"""manage.py import_surveys FILE: NPS and CSAT answers (client_id, kind nps|csat, score, answered_at),
through the same importer as the other CSV files (crm/importing/): bad rows are reported as
FILE:LINE: column: reason and nothing is imported, or with --skip-invalid kept in NAME.rejected.csv."""

from crm.management.import_command import ImportCommand


class Command(ImportCommand):
    kind = "survey_answers"
