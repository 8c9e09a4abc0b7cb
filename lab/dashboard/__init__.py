"""``twinshop dashboard``: a read-only, projector-friendly page that shows both architectures
side by side (units, replicas, health, version) and each edge's request rate, error rate and
p95 for browsing and checkout, refreshed every second.

``lab.dashboard.app.create_app(runtime)`` builds the web app; ``lab.dashboard.cli`` is the
command (it imports FastAPI and uvicorn only when it runs, so the CLI stays quick to start)."""
