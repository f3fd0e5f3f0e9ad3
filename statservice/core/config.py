"""Settings: environment variables prefixed ``STATSERVICE_`` (every field is documented in docs/settings.md).

Outside development the service refuses to start with a default or empty secret.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "changethis"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STATSERVICE_", extra="ignore", validate_default=True)

    environment: Literal["development", "production"] = Field(
        "development", description="development allows the default secrets; production refuses them"
    )
    database_url: str = Field(
        "sqlite:///var/statservice.sqlite3",
        description="SQLAlchemy URL; SQLite (WAL) by default, postgresql+psycopg://... supported",
    )
    data_dir: Path = Field(Path("data/registers"), description="directory of the register extracts")
    secret_key: SecretStr = Field(
        SecretStr(DEFAULT_SECRET), description="keys the HMAC fingerprints of released person sets"
    )
    noise_secret: SecretStr = Field(
        SecretStr(DEFAULT_SECRET), description="master secret of keyed noise (derived per data version)"
    )
    host: str = Field("127.0.0.1", description="address `serve` listens on")
    port: int = Field(8000, ge=1, le=65535, description="port `serve` listens on")
    max_body_bytes: int = Field(256 * 1024, ge=1024, description="largest accepted request body (413 above)")
    workers: int = Field(
        1, ge=1, le=64, description="API processes `serve` starts (more than one needs PostgreSQL)"
    )
    rate_limit_per_second: float = Field(
        50.0, gt=0, description="token bucket refill rate per organisation, all its keys (429 when empty)"
    )
    rate_limit_burst: int = Field(100, ge=1, description="token bucket size per organisation")
    auth_cache_seconds: float = Field(
        10.0, ge=0, description="SQLite only: how long a validated API key is cached (revocation by the CLI)"
    )
    run_executor: Literal["process", "thread"] = Field(
        "process",
        description="where runs execute: worker processes (cheap requests keep their latency) or threads",
    )
    max_concurrent_runs: int = Field(
        2, ge=1, le=16, description="query runs executing at the same time in all API processes together"
    )
    max_queued_runs: int = Field(32, ge=0, description="runs waiting for a slot before 429")
    run_lease_seconds: float = Field(
        30.0,
        ge=1,
        le=3600,
        description="run lease, renewed every third of it; once expired any process fails the run",
    )
    sync_wait_seconds: float = Field(
        20.0, ge=0, description="how long a run request waits for its result before answering 202"
    )
    release_time_bucket_ms: int = Field(
        250, ge=0, le=10_000, description="finished runs are answered at a multiple of this time (0: off)"
    )
    repeat_alert_threshold: int = Field(
        7, ge=0, description="releases of one near-identical query to one organisation that raise an alert"
    )
    customer_segment_default: str = Field(
        "public_research", description="billing segment of organisations created without one"
    )
    demo_keys_file: Path = Field(
        Path("var/demo-keys.json"), description="where `run` keeps the demo keys (mode 0600)"
    )

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.environment != "development":
            for name in ("secret_key", "noise_secret"):
                value = getattr(self, name).get_secret_value()
                if not value or value == DEFAULT_SECRET or len(value) < 16:
                    raise ValueError(
                        f"STATSERVICE_{name.upper()} must be set to a random value of at least 16 characters "
                        f"when STATSERVICE_ENVIRONMENT={self.environment}"
                    )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
