"""Persistence: SQLAlchemy 2 models on statservice's own metadata, engines and sessions."""
