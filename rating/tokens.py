"""Secrets for raters and the admin: generated here, stored only as hashes."""
from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 24


def new_token() -> str:
    """A URL-safe random secret (used in invitation links and as a password)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """sha256 hex digest; tokens carry 192 random bits, so a fast unsalted hash is enough."""
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()
