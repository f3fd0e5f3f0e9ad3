"""Cohort query model, validation, compiler to DuckDB SQL and engines.

Entry points (see docs/architecture.md): ``queries.model.Query``,
``queries.validation.validate_query(payload, catalog)``, ``queries.shape.query_shape(query)``,
``queries.engine.DuckDBEngine(data_dir)`` with ``.data_version``, ``.catalog`` and ``.run(query)``.
Engineers' notes: docs/queries/engine.md; customers' guide: docs/query-language.md.
"""
