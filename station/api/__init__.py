"""HTTP API and desk web UI (FastAPI)."""
