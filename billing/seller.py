"""The seller named on every invoice, from package data ``billing/data/seller.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Seller:
    name: str
    cvr: str
    street: str
    city: str
    postal_code: str
    country_code: str
    email: str
    iban: str
    payment_terms_days: int

    @property
    def vat_id(self) -> str:
        return f"{self.country_code}{self.cvr}"

    @staticmethod
    @cache
    def load() -> Seller:
        raw = tomllib.loads(resources.files("billing.data").joinpath("seller.toml").read_text("utf-8"))
        return Seller(
            name=raw["name"],
            cvr=raw["cvr"],
            street=raw["street"],
            city=raw["city"],
            postal_code=raw["postal_code"],
            country_code=raw["country_code"],
            email=raw["email"],
            iban=raw["iban"],
            payment_terms_days=int(raw["payment_terms_days"]),
        )
