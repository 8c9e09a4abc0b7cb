"""Make the stack's secrets once, inside a volume, so that no value is ever passed in an
environment variable (which `docker inspect` would show) or baked into an image.

Runs as the `secrets` service of docker-compose.yml before anything else starts.
Read the admin token with: docker compose exec catalog cat /run/twinshop/admin-token
"""

import secrets
from pathlib import Path

FOLDER = Path("/run/twinshop")

for name in ("admin-token", "db-password"):
    path = FOLDER / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24) + "\n")
        path.chmod(0o444)  # the units and PostgreSQL run as other non-root users
print("secrets ready in", FOLDER)
