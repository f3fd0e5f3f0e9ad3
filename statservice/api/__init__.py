"""The HTTP API under /v1: one router per resource in ``statservice.api.routes``."""
