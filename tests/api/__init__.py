"""The HTTP ingest API, API keys and the rate limiter, against the real PostgreSQL, Temporal and Redis."""
