"""``python -m services.gateway``: see ``services.gateway.server``."""

from services.gateway.server import main

main()
