"""Exit 0 when the PostgreSQL and Redis URLs given answer, 1 otherwise (used by `make test`)."""

import socket
import sys
from urllib.parse import urlparse


def reachable(url):
    parts = urlparse(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(0 if all(reachable(url) for url in sys.argv[1:]) else 1)
