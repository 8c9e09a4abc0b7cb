"""Make one of the stack's secrets, once, inside the volume mounted at /run/twinshop, so
that no value is ever passed in an environment variable (which `docker inspect` would show)
or baked into an image.

Runs as the one-shot `*-secret` services of docker-compose.yml, one per volume, before
anything that mounts that volume starts: `make_secrets.py token` in the admin token's
volume, `make_secrets.py password` in each database's. Each volume is mounted read-only
only where it is needed, so a container sees exactly its own secrets.
Read the admin token with: docker compose exec catalog cat /run/twinshop/admin/token
"""

import secrets
import sys
from pathlib import Path

FOLDER = Path("/run/twinshop")

# No name: both secrets in one volume, as a docker-compose.yml older than the per-service
# volumes expects (so that a newer image still runs an older stack).
names = sys.argv[1:] or ["admin-token", "db-password"]
if any("/" in name or name.startswith(".") for name in names):
    sys.exit("usage: make_secrets.py [NAME...]  (plain file names, made in /run/twinshop)")
for name in names:
    path = FOLDER / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24) + "\n")
        path.chmod(0o444)  # the units and PostgreSQL run as other non-root users
print("secrets ready in", FOLDER, ":", ", ".join(names))
