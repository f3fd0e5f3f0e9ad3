"""The base of every query model class, apart from ``queries.model`` so that a register declared in
``queries.registers`` can define its concept's model without importing the model that collects it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """Base: immutable, unknown fields are errors (a typo must not silently widen a cohort)."""

    # NaN and infinities (JSON 1e999 parses as one) are refused: an infinite income.max would
    # silently mean "no maximum".
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
