class ImportFileError(Exception):
    """The file as a whole cannot be imported (encoding, header, empty). Nothing was written."""
