"""The HTTP API of save-playbooks (FastAPI)."""
