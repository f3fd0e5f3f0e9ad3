"""Price list (versioned TOML package data) and the price of a query from its shape.

The rules are stated in ``billing/data/pricelist-<version>.toml`` and implemented here:

    list price = base_fee + per_register_fee × registers + cell band fee + DP surcharge (if asked)
    net price  = to_ore(list price × segment multiplier)   # exact product, one ROUND_HALF_UP to øre

The price depends only on the query's *shape* (``PricedShape``), never on its result, so a customer
gets the price before anything runs and a refused or empty result cannot change what was quoted.

A price list may also state *reduced prices* (``[reduced_prices.<outcome>]``): what a release costs
when its published pattern shows every cell suppressed, or only the total(s). A reduced price is the
sum of some of the same components, times the same multiplier, so it is quoted up front beside the
full price. Which price applies is decided from the published pattern alone (``release_outcome``),
which the customer sees anyway: never from a count. A price list that states no reduced prices
(2026-1 predates them) charges the full price for every outcome: that is what it promised.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict

from billing.errors import InvalidBillingInput, NotFound, TableTooLarge, UnknownSegment
from billing.money import CURRENCY, STANDARD_VAT_RATE, is_whole_ore, to_ore, vat_on

_FILE_PATTERN = re.compile(r"^pricelist-(\d{4})-(\d+)\.toml$")
# The parts of a list price, by the names reduced prices use to say which of them they charge.
COMPONENT_KINDS = ("base_fee", "registers", "cell_band", "differential_privacy")


class ReleaseOutcome(StrEnum):
    """What a release published, as its customer sees it: the choice between full and reduced price."""

    FULL = "full"
    TOTAL_ONLY = "total_only"  # only the grand total(s) of a result that asked for more
    FULLY_SUPPRESSED = "fully_suppressed"  # every cell suppressed


def release_outcome(tables: Iterable[Iterable[tuple[bool, bool]]]) -> ReleaseOutcome:
    """The outcome from the published pattern only: per table, per cell ``(is_grand_total, suppressed)``.

    Total only: every cell besides the grand totals is suppressed and some total is shown; a result that
    asked for nothing but totals is full.
    """
    cells = [cell for table in tables for cell in table]
    if not cells:
        raise InvalidBillingInput("a release has at least one cell")
    if all(suppressed for _, suppressed in cells):
        return ReleaseOutcome.FULLY_SUPPRESSED
    beyond_totals = [suppressed for is_grand_total, suppressed in cells if not is_grand_total]
    if beyond_totals and all(beyond_totals):
        return ReleaseOutcome.TOTAL_ONLY
    return ReleaseOutcome.FULL


@dataclass(frozen=True)
class PricedShape:
    """What a query's price depends on. The service converts ``queries.shape.QueryShape`` to this.

    ``registers``: number of distinct registers the query reads (each is joined on the person key).
    ``cells``: number of cells in the result table(s) before any suppression.
    """

    result_kind: str
    registers: int
    cells: int
    differential_privacy: bool


@dataclass(frozen=True)
class CellBand:
    max_cells: int
    fee: Decimal


@dataclass(frozen=True)
class ResultKindPrices:
    result_kind: str
    description: str
    base_fee: Decimal
    per_register_fee: Decimal
    differential_privacy_surcharge: Decimal
    cell_bands: tuple[CellBand, ...]  # ascending max_cells

    def cell_band_for(self, cells: int) -> CellBand:
        for band in self.cell_bands:
            if cells <= band.max_cells:
                return band
        raise TableTooLarge(self.result_kind, cells, self.cell_bands[-1].max_cells)


@dataclass(frozen=True)
class Segment:
    name: str
    description: str
    multiplier: Decimal
    hourly_rate: Decimal


@dataclass(frozen=True)
class PriceComponent:
    label: str
    amount: Decimal  # list price, before the segment multiplier
    kind: str = ""  # one of COMPONENT_KINDS


@dataclass(frozen=True)
class ReducedPriceRule:
    """A price list's reduced price for one outcome: which components it still charges."""

    outcome: ReleaseOutcome
    label: str  # shown on the invoice line, e.g. "fully suppressed: base fee only"
    applies_when: str
    charged: tuple[str, ...]  # component kinds


@dataclass(frozen=True)
class ReducedPrice:
    """The price of a run of one shape for one segment when the release has this outcome."""

    outcome: ReleaseOutcome
    label: str
    applies_when: str
    components: tuple[PriceComponent, ...]
    list_price: Decimal
    net_amount: Decimal
    vat_amount: Decimal  # indicative, like the full price's
    gross_amount: Decimal


@dataclass(frozen=True)
class Quote:
    """The price of one query run for one segment under one price list version (not yet persisted)."""

    price_list_version: str
    segment: str
    shape: PricedShape
    components: tuple[PriceComponent, ...]
    list_price: Decimal
    multiplier: Decimal
    net_amount: Decimal
    vat_amount: Decimal  # indicative: the invoice computes VAT on its whole net total
    gross_amount: Decimal
    currency: str = CURRENCY
    reduced_prices: tuple[ReducedPrice, ...] = ()

    def reduced_for(self, outcome: ReleaseOutcome) -> ReducedPrice | None:
        """The reduced price this quote states for ``outcome``, if any (else the full price applies)."""
        return next((reduced for reduced in self.reduced_prices if reduced.outcome == outcome), None)

    def net_amount_for(self, outcome: ReleaseOutcome) -> Decimal:
        reduced = self.reduced_for(outcome)
        return self.net_amount if reduced is None else reduced.net_amount


class PriceComponentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    label: str
    amount: Decimal


class ReducedPricePublic(BaseModel):
    """A reduced price as quotes show it, beside the full price."""

    model_config = ConfigDict(from_attributes=True)
    outcome: str
    label: str
    applies_when: str
    components: list[PriceComponentPublic]
    list_price: Decimal
    net_amount: Decimal
    vat_amount: Decimal
    gross_amount: Decimal


class QuotePricePublic(BaseModel):
    """A computed price, as the API shows it before the quote is stored."""

    model_config = ConfigDict(from_attributes=True)
    price_list_version: str
    segment: str
    components: list[PriceComponentPublic]
    list_price: Decimal
    multiplier: Decimal
    net_amount: Decimal
    vat_amount: Decimal
    gross_amount: Decimal
    currency: str
    reduced_prices: list[ReducedPricePublic] = []


def _decimal(raw: Any, where: str) -> Decimal:
    if not isinstance(raw, str):
        raise InvalidBillingInput(f'{where} must be a decimal string (e.g. "1200.00"), got {raw!r}')
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise InvalidBillingInput(f"{where} is not a decimal: {raw!r}") from exc
    if not value.is_finite() or value < 0:
        raise InvalidBillingInput(f"{where} must be a finite non-negative amount, got {raw!r}")
    return value


def _money(raw: Any, where: str) -> Decimal:
    value = _decimal(raw, where)
    if not is_whole_ore(value):
        raise InvalidBillingInput(f"{where} must be whole øre, got {raw!r}")
    return value


@dataclass(frozen=True)
class PriceList:
    version: str
    currency: str
    effective_from: date
    quote_validity_days: int
    result_kinds: dict[str, ResultKindPrices]
    segments: dict[str, Segment]
    reduced_price_rules: tuple[ReducedPriceRule, ...] = ()

    @staticmethod
    def available_versions() -> list[str]:
        """Versions shipped as package data, oldest first."""
        found = []
        for entry in resources.files("billing.data").iterdir():
            match = _FILE_PATTERN.match(entry.name)
            if match:
                found.append((int(match.group(1)), int(match.group(2))))
        return [f"{year}-{number}" for year, number in sorted(found)]

    @classmethod
    def load(cls, version: str | None = None) -> PriceList:
        """The price list of ``version`` (e.g. ``"2026-1"``), or the newest shipped one."""
        versions = cls.available_versions()
        if version is None:
            if not versions:
                raise NotFound("price list", "(any version)")
            version = versions[-1]
        if version not in versions:
            raise NotFound("price list", version)
        return _load_cached(version)

    @classmethod
    def in_force_on(cls, day: date) -> PriceList:
        """The newest shipped price list whose ``effective_from`` is on or before ``day`` (of two taking
        effect the same day, the later version: it extends the earlier one)."""
        candidates = [cls.load(version) for version in cls.available_versions()]  # in version order
        in_force = [(price_list.effective_from, n, price_list) for n, price_list in enumerate(candidates)]
        in_force = [entry for entry in in_force if entry[0] <= day]
        if not in_force:
            raise NotFound("price list in force on", day.isoformat())
        return max(in_force, key=lambda entry: entry[:2])[2]

    @classmethod
    def from_toml(cls, text: str) -> PriceList:
        return cls.from_mapping(tomllib.loads(text))

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> PriceList:
        try:
            version = str(data["version"])
            currency = str(data["currency"])
            effective_from = data["effective_from"]
            validity = int(data["quote_validity_days"])
            kinds_raw = data["result_kinds"]
            segments_raw = data["segments"]
        except KeyError as exc:
            raise InvalidBillingInput(f"price list lacks {exc.args[0]!r}") from exc
        if currency != CURRENCY:
            raise InvalidBillingInput(f"price list currency must be {CURRENCY}, got {currency}")
        if not isinstance(effective_from, date):
            raise InvalidBillingInput("price list effective_from must be a TOML date")
        # The result kinds are declared in queries.registry (billing imports nothing of ours): a price
        # list prices the kinds that existed when it was issued, and a test checks every shipped list
        # against the registry, so a list that predates a kind stays valid.
        if not kinds_raw:
            raise InvalidBillingInput("price list prices no result kind")
        kinds: dict[str, ResultKindPrices] = {}
        for name, raw in kinds_raw.items():
            where = f"result_kinds.{name}"
            bands = tuple(
                CellBand(int(band["max_cells"]), _money(band["fee"], f"{where}.cell_bands.fee"))
                for band in raw["cell_bands"]
            )
            limits = [band.max_cells for band in bands]
            if not bands or limits != sorted(set(limits)) or limits[0] < 1:
                raise InvalidBillingInput(f"{where}.cell_bands must have strictly ascending max_cells >= 1")
            kinds[name] = ResultKindPrices(
                result_kind=name,
                description=str(raw.get("description", "")),
                base_fee=_money(raw["base_fee"], f"{where}.base_fee"),
                per_register_fee=_money(raw["per_register_fee"], f"{where}.per_register_fee"),
                differential_privacy_surcharge=_money(
                    raw["differential_privacy_surcharge"], f"{where}.differential_privacy_surcharge"
                ),
                cell_bands=bands,
            )
        segments = {
            name: Segment(
                name=name,
                description=str(raw.get("description", "")),
                multiplier=_decimal(raw["multiplier"], f"segments.{name}.multiplier"),
                hourly_rate=_money(raw["hourly_rate"], f"segments.{name}.hourly_rate"),
            )
            for name, raw in segments_raw.items()
        }
        if not segments:
            raise InvalidBillingInput("price list has no customer segments")
        rules = _reduced_price_rules(data.get("reduced_prices", {}))
        return cls(version, currency, effective_from, validity, kinds, segments, rules)

    def segment(self, name: str) -> Segment:
        try:
            return self.segments[name]
        except KeyError:
            raise UnknownSegment(name, sorted(self.segments)) from None

    def hourly_rate(self, segment: str) -> Decimal:
        return self.segment(segment).hourly_rate

    def quote(self, shape: PricedShape, segment: str) -> Quote:
        """Price one run of a query of this shape for a customer of this segment."""
        customer_segment = self.segment(segment)
        try:
            prices = self.result_kinds[shape.result_kind]
        except KeyError:
            raise InvalidBillingInput(
                f"result kind {shape.result_kind!r} is not priced in price list {self.version}; "
                f"priced: {', '.join(self.result_kinds)}"
            ) from None
        if shape.registers < 1:
            raise InvalidBillingInput(f"a query reads at least one register, got {shape.registers}")
        if shape.cells < 1:
            raise InvalidBillingInput(f"a result table has at least one cell, got {shape.cells}")
        band = prices.cell_band_for(shape.cells)
        components = [
            PriceComponent(f"base fee ({shape.result_kind})", prices.base_fee, "base_fee"),
            PriceComponent(
                f"{shape.registers} register(s) × {prices.per_register_fee}",
                prices.per_register_fee * shape.registers,
                "registers",
            ),
            PriceComponent(f"table size up to {band.max_cells} cells", band.fee, "cell_band"),
        ]
        if shape.differential_privacy:
            components.append(
                PriceComponent(
                    "differential privacy", prices.differential_privacy_surcharge, "differential_privacy"
                )
            )
        list_price = sum((component.amount for component in components), Decimal(0))
        net = to_ore(list_price * customer_segment.multiplier)
        vat = vat_on(net, STANDARD_VAT_RATE)
        reduced = tuple(
            _reduced_price(rule, components, customer_segment.multiplier) for rule in self.reduced_price_rules
        )
        return Quote(
            price_list_version=self.version,
            segment=segment,
            shape=shape,
            components=tuple(components),
            list_price=list_price,
            multiplier=customer_segment.multiplier,
            net_amount=net,
            vat_amount=vat,
            gross_amount=net + vat,
            reduced_prices=reduced,
        )


def _reduced_price_rules(raw: Any) -> tuple[ReducedPriceRule, ...]:
    if not isinstance(raw, dict):
        raise InvalidBillingInput("reduced_prices must be a table of outcomes")
    reducible = [outcome.value for outcome in ReleaseOutcome if outcome != ReleaseOutcome.FULL]
    rules = []
    for name, rule in raw.items():
        where = f"reduced_prices.{name}"
        if name not in reducible:
            raise InvalidBillingInput(f"{where}: unknown outcome; valid: {', '.join(reducible)}")
        try:
            label, applies_when, charged = str(rule["label"]), str(rule["applies_when"]), rule["charge"]
        except KeyError as exc:
            raise InvalidBillingInput(f"{where} lacks {exc.args[0]!r}") from exc
        if not isinstance(charged, list) or not set(charged) <= set(COMPONENT_KINDS):
            raise InvalidBillingInput(
                f"{where}.charge must list price components among {', '.join(COMPONENT_KINDS)}, "
                f"got {charged!r}"
            )
        if not label.strip():
            raise InvalidBillingInput(f"{where}.label must say what the customer pays")
        rules.append(ReducedPriceRule(ReleaseOutcome(name), label, applies_when, tuple(charged)))
    return tuple(rules)


def _reduced_price(
    rule: ReducedPriceRule, components: list[PriceComponent], multiplier: Decimal
) -> ReducedPrice:
    # A subset of the full price's components under the same multiplier and rounding: never dearer.
    kept = tuple(component for component in components if component.kind in rule.charged)
    list_price = sum((component.amount for component in kept), Decimal(0))
    net = to_ore(list_price * multiplier)
    vat = vat_on(net, STANDARD_VAT_RATE)
    return ReducedPrice(
        outcome=rule.outcome,
        label=rule.label,
        applies_when=rule.applies_when,
        components=kept,
        list_price=list_price,
        net_amount=net,
        vat_amount=vat,
        gross_amount=net + vat,
    )


@cache
def _load_cached(version: str) -> PriceList:
    text = resources.files("billing.data").joinpath(f"pricelist-{version}.toml").read_text("utf-8")
    price_list = PriceList.from_toml(text)
    if price_list.version != version:
        raise InvalidBillingInput(f"pricelist-{version}.toml declares version {price_list.version}")
    return price_list
