"""Settings: environment variables prefixed ``STATSERVICE_`` (every field is documented in docs/settings.md).

Outside development the service refuses to start with a default, empty, short, low-variety or shared
secret (``weak_secret_reason``).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "changethis"
SECRET_FIELDS = ("secret_key", "noise_secret", "audit_key")
MIN_SECRET_LENGTH = 32
# 32 random hex digits estimate at about 110 bits (rarely below 95; Shannon entropy of the characters
# as seen), so the floor admits `openssl rand -hex 16` and longer while refusing low-variety values
MIN_SECRET_BITS = 90
MIN_SECRET_DISTINCT = 8
LONGEST_SEQUENTIAL_RUN = 8  # "abcdefgh…", "12345678…", "aaaaaaaa…": typed, not generated


def estimated_bits(value: str) -> float:
    """Shannon entropy of the value's own character frequencies times its length: an upper bound
    on what a value can hold, low for repetitions ("aaaa…", "abab…") and small alphabets."""
    counts = Counter(value)
    return -sum(n * math.log2(n / len(value)) for n in counts.values())


def _longest_sequential_run(value: str) -> int:
    """Longest stretch whose characters step by the same -1, 0 or +1 code point ("cdefgh", "9876")."""
    longest = run = 1 if value else 0
    step: int | None = None
    for previous, current in itertools.pairwise(value):
        delta = ord(current) - ord(previous)
        if delta in (-1, 0, 1) and (step is None or delta == step):
            run, step = run + 1, delta
        elif delta in (-1, 0, 1):
            run, step = 2, delta
        else:
            run, step = 1, None
        longest = max(longest, run)
    return longest


def _repeats_a_stretch(value: str, length: int = LONGEST_SEQUENTIAL_RUN) -> bool:
    """Whether some stretch of ``length`` characters occurs twice ("password1234password1234…")."""
    seen: set[str] = set()
    for start in range(len(value) - length + 1):
        stretch = value[start : start + length]
        if stretch in seen:
            return True
        seen.add(stretch)
    return False


def weak_secret_reason(value: str) -> str | None:
    """Why ``value`` is not acceptable as a production secret, or None if it is."""
    if not value.strip() or value == DEFAULT_SECRET:
        return "is empty or the development default"
    if len(value) < MIN_SECRET_LENGTH:
        return f"has {len(value)} characters; at least {MIN_SECRET_LENGTH} are required"
    if len(set(value)) < MIN_SECRET_DISTINCT:
        return (
            f"uses only {len(set(value))} different characters; at least {MIN_SECRET_DISTINCT} are required"
        )
    if _longest_sequential_run(value) >= LONGEST_SEQUENTIAL_RUN or _repeats_a_stretch(value):
        return "contains a repeated or sequential run of characters (typed, not random)"
    if estimated_bits(value) < MIN_SECRET_BITS:
        return (
            f"looks predictable (about {estimated_bits(value):.0f} bits; at least {MIN_SECRET_BITS} required)"
        )
    return None


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
    # the names of queries.engines.ENGINES (tests/service/test_settings.py checks they agree)
    engine: Literal["duckdb", "spark"] = Field(
        "duckdb", description="the query engine: duckdb (one machine) or spark (PySpark, local or a cluster)"
    )
    spark_master: str | None = Field(
        None,
        description="with engine=spark: the cluster manager's URL (spark://, yarn, k8s://); unset: local",
    )
    secret_key: SecretStr = Field(
        SecretStr(DEFAULT_SECRET), description="keys the HMAC fingerprints of released person sets"
    )
    noise_secret: SecretStr = Field(
        SecretStr(DEFAULT_SECRET), description="master secret of keyed noise (derived per data version)"
    )
    audit_key: SecretStr = Field(
        SecretStr(DEFAULT_SECRET),
        description="keys the audit chain's HMAC and signs its checkpoints; the database never holds it",
    )
    audit_checkpoint_dir: Path = Field(
        Path("var/audit-checkpoints"),
        description="where signed checkpoints of the audit chain head are written (outside the database)",
    )
    audit_checkpoint_seconds: float = Field(
        60.0, ge=0, description="the server checkpoints the chain head this often when it moved (0: off)"
    )
    host: str = Field("127.0.0.1", description="address `serve` and `run` listen on")
    port: int = Field(
        8000, ge=1, le=65535, description="port `serve` and `run` listen on; checked free before they start"
    )
    max_body_bytes: int = Field(256 * 1024, ge=1024, description="largest accepted request body (413 above)")
    workers: int = Field(
        1, ge=1, le=64, description="API processes `serve` starts (more than one needs PostgreSQL)"
    )
    rate_limit_per_second: float = Field(
        50.0, gt=0, description="token bucket refill rate per organisation, all its keys (429 when empty)"
    )
    rate_limit_burst: int = Field(100, ge=1, description="token bucket size per organisation")
    public_rate_limit_per_second: float = Field(
        5.0, gt=0, description="public statistics (no key): token bucket refill rate per client address"
    )
    public_rate_limit_burst: int = Field(
        30, ge=1, description="public statistics: token bucket size per client address"
    )
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
    def _refuse_weak_secrets(self) -> Settings:
        if self.environment == "development":
            return self
        seen: dict[str, str] = {}
        for name in SECRET_FIELDS:
            value = getattr(self, name).get_secret_value()
            reason = weak_secret_reason(value)
            if reason is not None:
                raise ValueError(
                    f"STATSERVICE_{name.upper()} {reason}: set it to a random value of at least "
                    f"{MIN_SECRET_LENGTH} characters (e.g. `openssl rand -hex 32`) "
                    f"when STATSERVICE_ENVIRONMENT={self.environment}"
                )
            if value in seen:
                raise ValueError(
                    f"STATSERVICE_{name.upper()} equals STATSERVICE_{seen[value].upper()}: each secret must "
                    "be its own random value, so one leaking does not give away the others"
                )
            seen[value] = name
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
