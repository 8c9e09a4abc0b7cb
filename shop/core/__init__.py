"""The framework-free core that the edge (gateway, lb) and the units share: discovery, the
instance identity, request ids, the JSON log line, metrics, limits, the deadline header.
Nothing here imports FastAPI, Starlette, SQLAlchemy, httpx or uvicorn (tests/unit/test_layers.py);
the gateway's image copies this folder and nothing else of `shop`."""
