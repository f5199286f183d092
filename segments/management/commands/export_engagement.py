from segments.export import engagement_rows

from .export_scores import Command as ExportScores


class Command(ExportScores):
    help = ("Write every client's engagement score and visit measures, with revenue and predicted value, as CSV "
            "('-' for standard output).")
    rows = staticmethod(engagement_rows)
    written = "Engagement measures"
