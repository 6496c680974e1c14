"""Gateway: the HTTP front door (OpenAI-compatible /v1, management /api)."""
