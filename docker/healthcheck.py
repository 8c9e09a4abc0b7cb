"""HEALTHCHECK for every twinshop image: GET /health on this container, exit 0 when 200.

Another URL may be given as the only argument (the locust image checks its web page)."""

import sys
import urllib.request

try:
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/health"
    with urllib.request.urlopen(url, timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception:
    sys.exit(1)
