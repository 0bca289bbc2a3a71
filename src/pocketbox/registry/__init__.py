"""A client for the registry HTTP API v2 (Docker Hub and any distribution registry)."""
