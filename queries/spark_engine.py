"""The Spark engine: the same compiled queries, rendered in Spark SQL, over the same Parquet extract.

``SparkEngine(data_dir).run(query)`` returns the same ``AggregateTable``s as ``DuckDBEngine``: the
result kinds, their numpy and bitmap code and the compiled SQL are ``queries.engine.SQLEngine``'s,
and only the storage differs. Each register table is a temporary view over its Parquet files
(``spark.read.parquet``, so the files may be on HDFS or S3 as well as local), and the relations the
compiler reads are views defined by ``queries.storage.relation_definitions`` in Spark's dialect,
persons numbered exactly as in DuckDB (so a person set means the same persons on both engines and
the data version is the same).

Locally (tests, ``benchmarks.engines``) Spark runs in this process's JVM (``local[N]``, Java 17+);
on a cluster, the ``spark_master`` setting names the cluster manager and the extract must be where
every executor reads it (``docs/engines.md``). PySpark is an optional dependency (the ``spark``
extra): it is imported only when a Spark engine is opened.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from queries.engine import SQLEngine
from queries.storage import REGISTER_TABLES, BuildProgress, relation_definitions, table_files

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# What every session needs: dates and timestamps in UTC as DuckDB reads them, no progress bars
# on the service's terminal.
SPARK_CONFIG: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
}
# Local Spark (tests, benchmarks, a single machine): both cores, no web UI, few shuffle partitions
# (the default 200 turns a small query into hundreds of tiny tasks). On a cluster these come from
# its spark-defaults.conf instead (docs/engines.md).
LOCAL_MASTER = "local[2]"
LOCAL_CONFIG: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.memory": "4g",  # 2g ran out on 40 characteristics at 100,000 persons
}
# For extracts of a few rows (the spec and property tests): one partition, no adaptive
# re-planning, no generated code and no broadcasts, each of which costs more than it saves there
# (about three times faster per question on the spec registers).
SMALL_DATA_CONFIG: dict[str, str] = {
    "spark.sql.shuffle.partitions": "1",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.autoBroadcastJoinThreshold": "-1",
}
SOURCE_SUFFIX = "__parquet"  # a register table's raw Parquet view; its own name is the numbered view

_session_lock = threading.Lock()


def spark_session(master: str | None = None) -> SparkSession:
    """The process's Spark session (one JVM per process: created once, then shared; every engine
    works in its own ``newSession()``, so engines over different extracts never see each other's
    views)."""
    from pyspark.sql import SparkSession

    with _session_lock:
        builder = SparkSession.builder.master(master or LOCAL_MASTER).appName("statservice")
        for key, value in (SPARK_CONFIG | (LOCAL_CONFIG if master is None else {})).items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        return session


class SparkEngine(SQLEngine):
    """Thread-safe (Spark runs each ``sql`` call as its own job).

    ``cache=True`` keeps the person numbers and every relation in executor memory once computed
    (what a service does: the first question pays for reading the extract); ``cache=False`` reads the
    Parquet for every question (tests over many tiny extracts). ``conf``: Spark SQL settings for
    this engine's session (``SMALL_DATA_CONFIG`` in tests).
    """

    dialect = "spark"

    def __init__(
        self,
        data_dir: str | Path,
        *,
        session: SparkSession | None = None,
        cache: bool = True,
        conf: dict[str, str] | None = None,
    ) -> None:
        super().__init__(data_dir)
        self.cache = cache
        self.conf = dict(conf or {})  # SQL settings of this engine's session only
        self._base_session = session
        self._session: Any = None
        self._cached: list[str] = []

    def prepare(self, progress: BuildProgress | None = None) -> None:
        """Define the views now, and with ``cache`` compute and keep every relation."""
        session = self._spark()
        for name in self._cached:  # computed now, not on the first question that reads them
            session.sql(f"SELECT COUNT(*) FROM {name}").collect()

    def _spark(self) -> Any:
        with self._lock:
            if self._session is None:
                base = self._base_session or spark_session()
                session = base.newSession()
                for key, value in self.conf.items():
                    session.conf.set(key, value)
                self._define_views(session)
                self._session = session
            return self._session

    def _define_views(self, session: Any) -> None:
        for table_name in REGISTER_TABLES:
            files = table_files(self.data_dir, table_name)
            if not files:
                raise FileNotFoundError(f"register table {table_name!r} not found in {self.data_dir}")
            session.read.parquet(*[str(f) for f in files]).createOrReplaceTempView(table_name + SOURCE_SUFFIX)
        # view names are the storage's constants; no user input reaches this SQL
        for name, select in relation_definitions(lambda table: exp.to_table(table + SOURCE_SUFFIX)):
            session.sql(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {select.sql('spark')}")
            if self.cache and name not in REGISTER_TABLES and name != "bef_source":
                session.sql(f"CACHE LAZY TABLE {name}")
                self._cached.append(name)

    def execute_sql(self, sql: str) -> pa.Table:
        return self._spark().sql(sql).toArrow()

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                for name in self._cached:
                    self._session.catalog.uncacheTable(name)
                self._cached.clear()  # a question after close defines (and caches) them again
                self._session = None
