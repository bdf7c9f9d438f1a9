"""An e6driver connection with the ADBC DB-API interface, for libraries that read Arrow only from ADBC connections.

pandas reads a query's result as one Arrow table (``cursor.fetch_arrow_table()``, no Python rows) only when it is
given an ``adbc_driver_manager.dbapi.Connection`` (``pandas.io.sql.pandasSQL_builder``); from a SQLAlchemy engine or
any other DB-API connection it builds rows and converts them. e6driver is not a native ADBC driver (those are
shared libraries the driver manager loads), so this module serves the ADBC DB-API surface from an e6driver
connection instead: :class:`Connection` and :class:`Cursor` subclass the driver manager's classes (that is what
pandas checks) and implement each of their methods with e6driver — results come from the cursor's Arrow path,
catalog calls from the engine's browsing calls. What has no e6driver counterpart (bulk ingestion, partitions,
prepared statements, statistics, native handles) raises ``NotSupportedError``; use a SQLAlchemy engine for
``DataFrame.to_sql`` (it takes e6driver's bulk path). Parameters use e6driver's ``pyformat`` style; errors are
e6driver's.

Needs the ``adbc`` extra (``adbc-driver-manager``, ``pyarrow``).
"""
from __future__ import annotations

import re
import weakref
from typing import Any, Dict, Iterable, List, Mapping, Optional

try:
    from adbc_driver_manager import dbapi as _adbc
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("e6driver.adbc needs adbc-driver-manager: pip install 'e6driver[adbc]'") from exc

import e6driver

from .errors import NotSupportedError


def connect(*args: Any, **kwargs: Any) -> "Connection":
    """``e6driver.connect(*args, **kwargs)`` seen through the ADBC DB-API interface."""
    return Connection(e6driver.connect(*args, **kwargs))


def _unsupported(what: str) -> NotSupportedError:
    return NotSupportedError(f"{what} is not supported by e6driver's ADBC interface")


class Connection(_adbc.Connection):
    """The ADBC DB-API interface over an e6driver connection (closing it closes that connection)."""

    def __init__(self, connection: e6driver.Connection) -> None:
        # The base class wraps native driver handles; there are none here, so its __init__ is not called.
        self._closed = False
        self._e6 = connection
        self._cursors: "weakref.WeakSet[Cursor]" = weakref.WeakSet()

    @property
    def e6driver_connection(self) -> e6driver.Connection:
        return self._e6

    def close(self) -> None:
        if self._closed:
            return
        for cursor in list(self._cursors):
            cursor.close()
        self._e6.close()
        self._closed = True

    def commit(self) -> None:
        self._e6.commit()

    def rollback(self) -> None:
        self._e6.rollback()

    def cursor(self, *, adbc_stmt_kwargs: Optional[Mapping[str, Any]] = None) -> "Cursor":
        if adbc_stmt_kwargs:
            raise _unsupported("adbc_stmt_kwargs")
        cursor = Cursor(self)
        self._cursors.add(cursor)
        return cursor

    def adbc_cancel(self) -> None:
        for cursor in list(self._cursors):
            cursor.adbc_cancel()

    def adbc_clone(self) -> "Connection":
        raise _unsupported("adbc_clone")

    def adbc_get_info(self) -> Dict[Any, Any]:
        return {"vendor_name": "e6data", "driver_name": "e6driver", "driver_version": e6driver.__version__}

    def adbc_get_objects(self, *, depth: str = "all", catalog_filter: Optional[str] = None,
                         db_schema_filter: Optional[str] = None, table_name_filter: Optional[str] = None,
                         table_types_filter: Optional[List[str]] = None,
                         column_name_filter: Optional[str] = None) -> Any:
        """Catalogs, schemas, tables and columns in ADBC's GetObjects layout, filtered by LIKE patterns. The
        engine's browsing calls name tables without their kind: every table is reported as ``TABLE``; columns
        carry their name, position and engine type name."""
        import pyarrow as pa

        depths = ("catalogs", "db_schemas", "tables", "columns", "all")
        if depth not in depths:
            raise e6driver.ProgrammingError(f"depth must be one of {depths}, not {depth!r}")
        level = min(depths.index(depth), 3)
        catalogs = []
        for catalog in _matching((c["name"] for c in self._e6.get_catalogs()), catalog_filter):
            schemas = None
            if level >= 1:
                schemas = [self._schema(catalog, schema, level, table_name_filter, table_types_filter,
                                        column_name_filter)
                           for schema in _matching(self._e6.get_schema_names(catalog), db_schema_filter)]
            catalogs.append({"catalog_name": catalog, "catalog_db_schemas": schemas})
        return pa.Table.from_pylist(catalogs, schema=_objects_schema()).to_reader()

    def _schema(self, catalog: str, schema: str, level: int, table_filter: Optional[str],
                types_filter: Optional[List[str]], column_filter: Optional[str]) -> Dict[str, Any]:
        tables = None
        if level >= 2:
            names = [] if types_filter is not None and "TABLE" not in types_filter else \
                _matching(self._e6.get_tables(catalog, schema), table_filter)
            tables = [{"table_name": name, "table_type": "TABLE", "table_constraints": [] if level >= 3 else None,
                       "table_columns": self._columns(catalog, schema, name, column_filter) if level >= 3 else None}
                      for name in names]
        return {"db_schema_name": schema, "db_schema_tables": tables}

    def _columns(self, catalog: str, schema: str, table: str, column_filter: Optional[str]) -> List[Dict[str, Any]]:
        fields = self._e6.get_columns(catalog, schema, table)
        wanted = set(_matching((f["fieldName"] for f in fields), column_filter))
        return [{"column_name": f["fieldName"], "ordinal_position": position, "xdbc_type_name": f["fieldType"]}
                for position, f in enumerate(fields, start=1) if f["fieldName"] in wanted]

    def adbc_get_statistics(self, *args: Any, **kwargs: Any) -> Any:
        raise _unsupported("adbc_get_statistics")

    def adbc_get_statistic_names(self) -> Any:
        raise _unsupported("adbc_get_statistic_names")

    def adbc_get_table_schema(self, table_name: str, *, catalog_filter: Optional[str] = None,
                              db_schema_filter: Optional[str] = None) -> Any:
        """The Arrow schema of a table's rows, as its result would carry them."""
        name = ".".join(_quote(part) for part in (catalog_filter, db_schema_filter, table_name) if part)
        with self.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {name} LIMIT 0")
            return cursor.fetch_arrow_table().schema

    def adbc_get_table_types(self) -> List[str]:
        return ["TABLE"]

    @property
    def adbc_connection(self) -> Any:
        raise _unsupported("adbc_connection (e6driver has no native ADBC handle)")

    @property
    def adbc_database(self) -> Any:
        raise _unsupported("adbc_database (e6driver has no native ADBC handle)")

    @property
    def adbc_current_catalog(self) -> str:
        return self._e6.catalog_name

    @adbc_current_catalog.setter
    def adbc_current_catalog(self, catalog: str) -> None:
        raise _unsupported("setting adbc_current_catalog (connect with catalog=...)")

    @property
    def adbc_current_db_schema(self) -> str:
        return self._e6.database

    @adbc_current_db_schema.setter
    def adbc_current_db_schema(self, db_schema: str) -> None:
        raise _unsupported("setting adbc_current_db_schema (connect with database=...)")


class Cursor(_adbc.Cursor):
    """The ADBC DB-API interface over an e6driver cursor: Arrow fetches take the cursor's Arrow path."""

    def __init__(self, connection: Connection) -> None:
        self._closed = True  # as the base class: set first, so __del__ after a failed __init__ is harmless
        self._conn = connection
        self._e6 = connection.e6driver_connection.cursor()
        self._closed = False

    @property
    def arraysize(self) -> int:
        return self._e6.arraysize

    @arraysize.setter
    def arraysize(self, size: int) -> None:
        self._e6.arraysize = size

    @property
    def description(self) -> Optional[List[tuple]]:
        return self._e6.description

    @property
    def rowcount(self) -> int:
        return self._e6.rowcount

    @property
    def rownumber(self) -> Optional[int]:
        return self._e6.rownumber

    def callproc(self, procname: str, parameters: Any) -> Any:
        raise _unsupported("callproc")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._e6.close()

    def execute(self, operation: Any, parameters: Any = None) -> "Cursor":
        self._e6.execute(operation.decode() if isinstance(operation, bytes) else operation, parameters)
        return self

    def executemany(self, operation: Any, seq_of_parameters: Iterable[Any]) -> None:
        self._e6.executemany(operation.decode() if isinstance(operation, bytes) else operation,
                             list(seq_of_parameters))

    def fetchone(self) -> Optional[tuple]:
        return self._e6.fetchone()

    def fetchmany(self, size: Optional[int] = None) -> List[tuple]:
        return self._e6.fetchmany(size)

    def fetchall(self) -> List[tuple]:
        return self._e6.fetchall()

    def setinputsizes(self, sizes: Any) -> None:
        self._e6.setinputsizes(sizes)

    def setoutputsize(self, size: Any, column: Optional[int] = None) -> None:
        self._e6.setoutputsize(size, column)

    def adbc_cancel(self) -> None:
        if not self._closed:
            self._e6.cancel()

    def adbc_ingest(self, *args: Any, **kwargs: Any) -> int:
        raise _unsupported("adbc_ingest (DataFrame.to_sql: use a SQLAlchemy engine, which takes the bulk path)")

    def adbc_execute_partitions(self, *args: Any, **kwargs: Any) -> Any:
        raise _unsupported("adbc_execute_partitions")

    def adbc_execute_schema(self, *args: Any, **kwargs: Any) -> Any:
        raise _unsupported("adbc_execute_schema")

    def adbc_prepare(self, operation: Any) -> Any:
        raise _unsupported("adbc_prepare")

    def adbc_read_partition(self, partition: bytes) -> None:
        raise _unsupported("adbc_read_partition")

    @property
    def adbc_statement(self) -> Any:
        raise _unsupported("adbc_statement (e6driver has no native ADBC handle)")

    def executescript(self, operation: Any) -> None:
        raise _unsupported("executescript")

    def fetch_arrow_table(self) -> Any:
        return self._e6.fetch_arrow_table()

    def fetchallarrow(self) -> Any:
        return self.fetch_arrow_table()

    def fetch_df(self) -> Any:
        return self._e6.fetch_df()

    def fetch_polars(self) -> Any:
        import polars

        return polars.from_arrow(self.fetch_arrow_table())

    def fetch_record_batch(self) -> Any:
        """The remaining rows as a ``pyarrow.RecordBatchReader`` (read from the Arrow path as one table)."""
        return self.fetch_arrow_table().to_reader()

    def fetch_arrow(self) -> Any:
        """The remaining rows as an object with the Arrow PyCapsule stream interface (``__arrow_c_stream__``)."""
        return self.fetch_record_batch()


def _matching(names: Iterable[str], pattern: Optional[str]) -> List[str]:
    """``names`` that match an ADBC filter: a search pattern (``%``, ``_``; backslash escapes), or all for None."""
    if pattern is None:
        return list(names)
    parts = []
    for token in re.findall(r"\\.|.", pattern, re.DOTALL):
        parts.append(".*" if token == "%" else "." if token == "_" else re.escape(token[-1]))
    regex = re.compile("".join(parts), re.DOTALL)
    return [name for name in names if regex.fullmatch(name)]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _objects_schema() -> Any:
    """ADBC's GetObjects result layout (adbc.h, ``AdbcConnectionGetObjects``)."""
    import pyarrow as pa

    usage = pa.struct([pa.field("fk_catalog", pa.string()), pa.field("fk_db_schema", pa.string()),
                       pa.field("fk_table", pa.string(), nullable=False),
                       pa.field("fk_column_name", pa.string(), nullable=False)])
    constraint = pa.struct([pa.field("constraint_name", pa.string()),
                            pa.field("constraint_type", pa.string(), nullable=False),
                            pa.field("constraint_column_names", pa.list_(pa.string()), nullable=False),
                            pa.field("constraint_column_usage", pa.list_(usage))])
    column = pa.struct([
        pa.field("column_name", pa.string(), nullable=False), pa.field("ordinal_position", pa.int32()),
        pa.field("remarks", pa.string()), pa.field("xdbc_data_type", pa.int16()),
        pa.field("xdbc_type_name", pa.string()), pa.field("xdbc_column_size", pa.int32()),
        pa.field("xdbc_decimal_digits", pa.int16()), pa.field("xdbc_num_prec_radix", pa.int16()),
        pa.field("xdbc_nullable", pa.int16()), pa.field("xdbc_column_def", pa.string()),
        pa.field("xdbc_sql_data_type", pa.int16()), pa.field("xdbc_datetime_sub", pa.int16()),
        pa.field("xdbc_char_octet_length", pa.int32()), pa.field("xdbc_is_nullable", pa.string()),
        pa.field("xdbc_scope_catalog", pa.string()), pa.field("xdbc_scope_schema", pa.string()),
        pa.field("xdbc_scope_table", pa.string()), pa.field("xdbc_is_autoincrement", pa.bool_()),
        pa.field("xdbc_is_generatedcolumn", pa.bool_())])
    table = pa.struct([pa.field("table_name", pa.string(), nullable=False),
                       pa.field("table_type", pa.string(), nullable=False),
                       pa.field("table_columns", pa.list_(column)),
                       pa.field("table_constraints", pa.list_(constraint))])
    db_schema = pa.struct([pa.field("db_schema_name", pa.string()), pa.field("db_schema_tables", pa.list_(table))])
    return pa.schema([pa.field("catalog_name", pa.string()), pa.field("catalog_db_schemas", pa.list_(db_schema))])
