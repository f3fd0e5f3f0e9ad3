"""API keys: high-entropy random strings shown once, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "ss_"
ROLES = ("customer", "staff", "auditor", "admin")


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), stored_hash)


def display_prefix(key: str) -> str:
    return key[: len(KEY_PREFIX) + 6]
