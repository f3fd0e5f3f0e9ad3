"""Cohort query model, validation, compiler to DuckDB SQL and engines."""
