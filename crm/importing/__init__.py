"""CSV import of clients, purchases, purchase items and activity.

`run_import(kind, path)` is the one entry point used by the management commands and the admin.
"""

from .errors import ImportFileError
from .run import ImportReport, run_import

__all__ = ["ImportFileError", "ImportReport", "run_import"]
