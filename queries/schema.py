"""Write the published JSON Schema of the query model: ``python -m queries.schema``."""

from __future__ import annotations

import json
from pathlib import Path

from queries.model import Query

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "docs" / "query-schema.json"


def schema_text() -> str:
    return json.dumps(Query.model_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(schema_text())
    print(f"wrote {SCHEMA_PATH}")
