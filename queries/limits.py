"""How deep and how large any query-shaped JSON may be, and that its numbers are finite.

One function, ``json_limit_problems``, is used everywhere a query (or a draft of one) enters: the
``Query`` model checks its raw input with it before anything else (so validation, quotes and runs,
through the API, the CLI or code), and stored drafts of bespoke orders are checked with it too. Deep
nesting would otherwise reach Python's recursion limit in the compiler or in serialisation (issue 14:
a draft nested 500 deep made every order listing fail), and a non-finite number would silently mean
"no bound". The walk is iterative, so it cannot itself run out of stack.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic_core import PydanticCustomError

from queries.errors import Problem, problem

# Objects and arrays nested inside each other. A query with five levels of all/any/not groups is
# about 16 deep; 32 leaves room for any real protocol.
MAX_JSON_DEPTH = 32
# Values (objects, arrays, strings, numbers, ...) in one query: 100 criteria of 200 codes each fit.
MAX_JSON_VALUES = 50_000


def json_limit_problems(value: Any, field: str = "") -> list[Problem]:
    """Problems of a JSON value (as ``json.loads`` returns it) nested deeper than ``MAX_JSON_DEPTH``,
    holding more than ``MAX_JSON_VALUES`` values, or holding a number that is not finite (NaN,
    Infinity, or one too large for a float, like 1e999). At most one problem of each kind, the first
    found; ``field`` is the dotted path of ``value`` itself."""
    problems: list[Problem] = []
    too_deep = not_finite = False
    count = 0
    stack: list[tuple[Any, str, int]] = [(value, field, 1)]
    while stack:
        node, path, depth = stack.pop()
        count += 1
        if count > MAX_JSON_VALUES:
            problems.append(
                problem(
                    field,
                    f"the query holds more than {MAX_JSON_VALUES:,} values",
                    f"at most {MAX_JSON_VALUES:,} values (objects, arrays, strings and numbers)",
                )
            )
            break
        if isinstance(node, dict | list | tuple):
            if depth > MAX_JSON_DEPTH:
                if not too_deep:
                    too_deep = True
                    problems.append(
                        problem(
                            path,
                            f"nested deeper than {MAX_JSON_DEPTH} levels",
                            f"at most {MAX_JSON_DEPTH} levels of objects and arrays",
                        )
                    )
                continue
            items = list(node.items() if isinstance(node, dict) else enumerate(node))
            for key, child in reversed(items):  # popped in document order
                stack.append((child, f"{path}.{key}" if path else str(key), depth + 1))
        elif isinstance(node, float) and not math.isfinite(node) and not not_finite:
            not_finite = True
            problems.append(problem(path, f"{node} is not a finite number", "a finite number"))
    return problems


def check_json_limits(value: Any) -> Any:
    """For pydantic validators (``mode="before"``): ``value`` unchanged, or a ``PydanticCustomError``
    of type ``json_limit`` for its first problem. The error's context carries ``field`` (the path below
    the validated value) and ``valid``, which the API's and validation's error mappers use, so the
    422 names the exact field."""
    problems = json_limit_problems(value)
    if problems:
        first = problems[0]
        raise PydanticCustomError(
            "json_limit",
            "{message}",
            {"field": first["field"], "message": first["message"], "valid": first["valid"]},
        )
    return value
