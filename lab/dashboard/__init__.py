"""``twinshop dashboard``: a read-only, projector-friendly page that shows both architectures
side by side (units, replicas, health, version, each replica's request rate) and each edge's
request rate, error rate, p50 and p95 for browsing and checkout over the last 5 s, sampled in
the background for as long as it runs.

``lab.dashboard.app.create_app(runtime)`` builds the web app; ``lab.dashboard.cli`` is the
command (it imports FastAPI and uvicorn only when it runs, so the CLI stays quick to start)."""
