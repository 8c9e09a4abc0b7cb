"""The units' layer: the FastAPI app factory, settings, SQL sessions, admin and chaos —
what catalog, orders and the monolith run and the edge never imports (it runs on
`shop.core` alone: tests/unit/test_layers.py)."""
