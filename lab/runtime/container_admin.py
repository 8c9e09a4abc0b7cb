"""Operator routes (``/_chaos``, ``/_orders/…``) of a unit in a container, called from
inside it with ``docker exec``: the units' ports are not published, and their images have
Python but no curl. Used by the docker and swarm runtimes."""

from __future__ import annotations

from typing import Any

from lab.errors import LabError

# Runs inside the container: call an operator route (argv: method, path, JSON body or '')
# with the admin token the stack mounted (compose and swarm both name its file in
# TWINSHOP_ADMIN_TOKEN_FILE), print the answer.
ADMIN_SCRIPT = """
import os, sys, urllib.error, urllib.request
token = open(os.environ['TWINSHOP_ADMIN_TOKEN_FILE']).read().strip()
method, path, body = sys.argv[1:4]
request = urllib.request.Request(
    'http://127.0.0.1:8000' + path, data=body.encode() or None, method=method,
    headers={'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'})
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        print(response.read().decode())
except urllib.error.HTTPError as exc:
    print(exc.code, exc.read().decode()[:200])
    sys.exit(2)
"""


def exec_admin(container: Any, method: str, path: str, body: str = "") -> str:
    """The answer's body; a LabError that says why when the route refuses or fails."""
    result = container.exec_run(["python3", "-c", ADMIN_SCRIPT, method, path, body])
    text: str = result.output.decode(errors="replace").strip()
    if result.exit_code != 0:
        if path == "/_chaos" and text.startswith("404"):
            raise LabError(f"chaos is disabled in {container.name} (TWINSHOP_CHAOS=0 in compose)")
        raise LabError(f"{method} {path} in {container.name} failed: {text[-300:]}")
    return text
