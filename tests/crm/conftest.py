import pytest
from django.core.management import CommandError, call_command


@pytest.fixture
def write_csv(tmp_path):
    """Write a CSV file (text, or raw bytes) and return its path."""

    def write(name, content):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture
def run_command(capsys):
    """Run a management command as a user would; return (ok, stdout, stderr with the error)."""

    def run(*args):
        try:
            call_command(*args)
        except CommandError as exc:
            out = capsys.readouterr()
            return False, out.out, out.err + str(exc)
        out = capsys.readouterr()
        return True, out.out, out.err

    return run
