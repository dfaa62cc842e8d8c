"""Read-only SQL over the lake with DuckDB, through the Delta log.

Every table of the schema registry (Silver, dimensions, control, Gold, and any
`kline_<interval>`) is queryable by its name. A query registers only the tables it names, each as
`DeltaTable(uri).to_pyarrow_dataset()`: the files of the table's current Delta version (never a
glob of the directory, which would include files the log has removed), with DuckDB pushing
filters and projections into the dataset scan (partition and row-group pruning). A registry table
that does not exist in the lake yet reads as an empty table with its schema. The datasets come
from the session's kept snapshots (`pointline.research.snapshots`): checked against the Delta log
on every query, built again only after a new commit.

Read-only by construction:

* exactly one statement, and it must be a SELECT (a `WITH ... SELECT` is a SELECT); anything else
  raises `ReadOnlySqlError` before it runs;
* queries run on a cursor of an in-memory DuckDB database opened with
  `enable_external_access=false` (no file, extension or network access: `read_parquet`, `COPY`,
  `ATTACH`, `INSTALL` fail), `python_enable_replacements=false` (Python variables are not tables)
  and `lock_configuration=true` (a query cannot turn either back on). DuckDB never sees a path of
  the lake, only the Arrow datasets registered on the query's own cursor.

(`INSTALL delta` needs the internet, and the offline `duckdb-ext-delta` wheel only loads into
duckdb 1.4; see ../shared/STACK_NOTES.md.)
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

import duckdb
import polars as pl

from pointline.lake import Lake
from pointline.research.snapshots import DeltaSnapshots
from pointline.schemas import KLINE_INTERVALS_US, TABLES, get_table_spec

__all__ = ["ReadOnlySqlError", "SqlEngine", "sql_table_names"]

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONFIG = {
    "enable_external_access": False,
    "python_enable_replacements": False,
    "lock_configuration": True,
}


class ReadOnlySqlError(PermissionError):
    """The statement is not a single SELECT; research SQL never writes."""


def sql_table_names() -> list[str]:
    """Every table name `sql()` knows: the registry (Gold tables appear once they are registered)
    and every `kline_<interval>` of the known intervals.

    >>> from pointline.research.sql import sql_table_names
    >>> {"trades", "dim_symbol", "quarantine", "kline_1m"} <= set(sql_table_names())
    True
    """
    return sorted(set(TABLES) | {f"kline_{i}" for i in KLINE_INTERVALS_US})


def referenced_tables(query: str, known: Iterable[str]) -> list[str]:
    """Known table names that appear as words in `query` (a superset is harmless: it only
    registers a table the query does not use).

    >>> from pointline.research.sql import referenced_tables
    >>> query = "select * from trades t join dim_symbol d using (symbol_id)"
    >>> referenced_tables(query, ["trades", "quotes", "dim_symbol"])
    ['dim_symbol', 'trades']
    """
    words = {w.lower() for w in _WORD.findall(query)}
    return sorted(words & set(known))


class SqlEngine:
    """One DuckDB in-memory database per session; each query runs on its own cursor.

    >>> import pointline.research as pr
    >>> from pointline.research.sql import SqlEngine
    >>> engine = SqlEngine(pr.current().lake)
    >>> engine.query("select count(*) > 0 as has_rows from dim_exchange")["has_rows"][0]
    True
    """

    def __init__(self, lake: Lake, snapshots: DeltaSnapshots | None = None):
        self.lake = lake
        self.snapshots = snapshots if snapshots is not None else DeltaSnapshots(lake)
        self._db: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:  # a connection is not thread-safe; cursors are, one per query
            if self._db is None:
                self._db = duckdb.connect(":memory:", config=dict(_CONFIG))
            return self._db.cursor()

    def check(self, query: str, cursor: duckdb.DuckDBPyConnection | None = None) -> None:
        """Raise ReadOnlySqlError unless `query` is exactly one SELECT statement."""
        cur = cursor if cursor is not None else self._cursor()
        try:
            statements = cur.extract_statements(query)
        finally:
            if cursor is None:
                cur.close()
        if len(statements) != 1:
            raise ReadOnlySqlError(f"sql() runs exactly one SELECT statement; got {len(statements)} statements")
        kind = statements[0].type
        if kind != duckdb.StatementType.SELECT:
            raise ReadOnlySqlError(f"sql() is read-only: only SELECT (or WITH ... SELECT) is allowed, got {kind.name}")

    def query(self, query: str, params: object = None) -> pl.DataFrame:
        """Run one SELECT over the lake tables it names; the result as a Polars DataFrame."""
        cur = self._cursor()
        try:
            self.check(query, cur)
            for name in referenced_tables(query, sql_table_names()):
                cur.register(name, self._dataset(name))
            rel = cur.sql(query, params=params)
            if rel is None:  # pragma: no cover - check() admits SELECT only
                raise ReadOnlySqlError("the statement returned no rows")
            return rel.pl()
        finally:
            cur.close()

    def _dataset(self, table: str) -> object:
        dataset = self.snapshots.dataset(table)  # the table's current version, built once per version
        if dataset is None:
            return get_table_spec(table).empty().to_arrow()
        return dataset
