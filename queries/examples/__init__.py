"""Example queries for the pilot questions, shipped with the package: used by the tests, the
documentation and the benchmarks."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any


def example_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".json") for p in resources.files(__name__).iterdir() if p.name.endswith(".json")
    )


def load_example(name: str) -> dict[str, Any]:
    return json.loads(resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8"))


def load_examples() -> dict[str, dict[str, Any]]:
    return {name: load_example(name) for name in example_names()}


def queries_in_markdown(text: str) -> list[dict[str, Any]]:
    """Every ```json block of a Markdown page (the customer guide's documented queries)."""
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)]
