"""Settings: every field documented (datasette style); default secrets refused outside development."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from queries.engines import ENGINE_NAMES
from statservice.core.config import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_every_setting_is_documented():
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_]+)` \| `STATSERVICE_([A-Z_]+)`", text, flags=re.M))
    for name in Settings.model_fields:
        assert (name, name.upper()) in documented, f"docs/settings.md lacks {name}"
    assert {name for name, _ in documented} == set(Settings.model_fields), (
        "docs list a setting that no longer exists"
    )


def test_the_engine_setting_offers_exactly_the_engines():
    assert get_args(Settings.model_fields["engine"].annotation) == ENGINE_NAMES


GOOD = {
    "secret_key": "9f2c4e81b7d05a3e6c18f4b2a97d0e53c6b1f8a2",
    "noise_secret": "Zq7-Lr2pXw9_Tm4sKd8vHn3cBf6yJg1a",
    "audit_key": "e3b7a91c5f08d24e6a7c3b19f0d85e2a4c6b8d1f",
}


def production(monkeypatch, **values: str | None) -> None:
    monkeypatch.setenv("STATSERVICE_ENVIRONMENT", "production")
    for name, good in GOOD.items():
        value = values.get(name, good)
        if value is None:
            monkeypatch.delenv(f"STATSERVICE_{name.upper()}", raising=False)
        else:
            monkeypatch.setenv(f"STATSERVICE_{name.upper()}", value)


@pytest.mark.parametrize("field", ["secret_key", "noise_secret", "audit_key"])
@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "changethis",
        "short",
        " " * 16,
        " " * 40,
        "a" * 16,
        "a" * 40,
        "0123456789abcdef0123456789abcdef",  # long enough, 16 different characters, typed
        "abcdefghijklmnopqrstuvwxyz012345",
        "password1234password1234password",
        "abababababababababababababababab",
        "a-long-random-value-0123456789",  # what this test accepted before: 30 characters
    ],
)
def test_production_refuses_default_or_weak_secrets(monkeypatch, field, value):
    production(monkeypatch, **{field: value})
    with pytest.raises(ValidationError, match=f"STATSERVICE_{field.upper()}"):
        Settings()


@pytest.mark.parametrize(("first", "second"), [("secret_key", "noise_secret"), ("noise_secret", "audit_key")])
def test_production_refuses_one_value_for_two_secrets(monkeypatch, first, second):
    production(monkeypatch, **{second: GOOD[first]})
    with pytest.raises(
        ValidationError, match=f"STATSERVICE_{second.upper()} equals STATSERVICE_{first.upper()}"
    ):
        Settings()


def test_random_secrets_pass_the_strength_check():
    """Generated the way `openssl rand -hex` and `secrets.token_urlsafe` make them, from a seeded
    generator: a truly random value is refused about once in a few million draws (eight equal hex
    digits in a row), which made this test fail now and then when it drew from `secrets`."""
    import base64
    import random

    from statservice.core.config import weak_secret_reason

    draw = random.Random(20261207)
    for _ in range(2000):
        for value in (
            draw.randbytes(16).hex(),
            draw.randbytes(32).hex(),
            base64.urlsafe_b64encode(draw.randbytes(32)).rstrip(b"=").decode(),
        ):
            assert weak_secret_reason(value) is None, value


def test_production_starts_with_real_secrets_and_development_with_defaults(monkeypatch):
    production(monkeypatch)
    settings = Settings()
    assert settings.environment == "production"
    for value in GOOD.values():
        assert value not in repr(settings)  # secrets never printed
    monkeypatch.setenv("STATSERVICE_ENVIRONMENT", "development")
    monkeypatch.delenv("STATSERVICE_SECRET_KEY")
    monkeypatch.delenv("STATSERVICE_AUDIT_KEY")
    assert Settings().secret_key.get_secret_value() == "changethis"
    assert Settings().audit_key.get_secret_value() == "changethis"


def test_serve_refuses_to_start_in_production_with_defaults(tmp_path):
    import subprocess
    import sys

    env = {
        "STATSERVICE_ENVIRONMENT": "production",
        "PATH": "/usr/bin:/bin",
        "STATSERVICE_DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3",
    }
    result = subprocess.run(
        [sys.executable, "-m", "statservice", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "STATSERVICE_SECRET_KEY" in result.stderr
