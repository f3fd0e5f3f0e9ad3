"""Settings: every field documented (datasette style); default secrets refused outside development."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

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


@pytest.mark.parametrize("field", ["secret_key", "noise_secret"])
@pytest.mark.parametrize("value", [None, "", "changethis", "short"])
def test_production_refuses_default_or_weak_secrets(monkeypatch, field, value):
    good = "a-long-random-value-0123456789"
    monkeypatch.setenv("STATSERVICE_ENVIRONMENT", "production")
    monkeypatch.setenv("STATSERVICE_SECRET_KEY", good)
    monkeypatch.setenv("STATSERVICE_NOISE_SECRET", good)
    if value is None:
        monkeypatch.delenv(f"STATSERVICE_{field.upper()}")
    else:
        monkeypatch.setenv(f"STATSERVICE_{field.upper()}", value)
    with pytest.raises(ValidationError, match=field.upper()):
        Settings()


def test_production_starts_with_real_secrets_and_development_with_defaults(monkeypatch):
    monkeypatch.setenv("STATSERVICE_ENVIRONMENT", "production")
    monkeypatch.setenv("STATSERVICE_SECRET_KEY", "x" * 32)
    monkeypatch.setenv("STATSERVICE_NOISE_SECRET", "y" * 32)
    settings = Settings()
    assert settings.environment == "production"
    assert "x" * 32 not in repr(settings)  # secrets never printed
    monkeypatch.setenv("STATSERVICE_ENVIRONMENT", "development")
    monkeypatch.delenv("STATSERVICE_SECRET_KEY")
    assert Settings().secret_key.get_secret_value() == "changethis"


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
