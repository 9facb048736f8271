"""The REST API (`/api/v1`): a thin FastAPI front end over the orchestrator's core functions."""
