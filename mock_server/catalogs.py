"""Object-store buckets and datasets as SQL tables: references rewritten before DuckDB binds the text.

Catalog ``objects`` has one schema per bucket. Two kinds of table name are understood there:

* ``objects.<bucket>."$objects"`` — the bucket's listing (key, size, etag, last_modified, content_type),
  handed to DuckDB as a registered Arrow table;
* ``objects.<bucket>."<key or glob>"`` — the matching objects read by the server as one Arrow dataset
  (Parquet, CSV, TSV) or table (JSON), by extension, ``.gz``/``.zst`` compressed variants too (see
  :mod:`mock_server.objects.scan`), registered on the query's cursor. ``*`` and ``?`` stay within one
  ``/`` level, ``**`` crosses levels, ``[...]`` is a character class;
* ``objects.<bucket>.<name>`` where ``name`` is a table registered on the bucket
  (:mod:`mock_server.objects.tables`): the objects under its prefix (or matching its glob) read the same way,
  in its format if it has one (over a prefix, objects of other formats are skipped and logged). A registered
  name wins over an object key spelled the same.

A missing key without a compression suffix reads its ``.zst``/``.gz`` copy (what ``conn.objects.compress``
leaves); globs stay literal (``"logs/*.csv*"`` matches both). A copy whose original is also matched is not
read twice.

Three-part names are rewritten anywhere outside literals and comments; a table read under its own name keeps it
as alias, and column qualifiers spelling its full name (``datasets.main.sales.id``, or ``main.sales.id`` in the
request's catalog, as SQLAlchemy writes a table with a schema) become that alias. When the request's catalog is
``objects``, a quoted name right after ``FROM``/``JOIN`` may also leave out the catalog (``<bucket>."x"``)
or, with the request's schema as bucket, the bucket too (``"x"``). The querying user must be able to read
the bucket (PERMISSION_DENIED otherwise); the matched files are listed and read by the server, DuckDB
(whose own file access is off) only scans the registered dataset.

Catalog ``datasets`` (when the server keeps datasets) has schema ``main`` with one table per readable
dataset: ``datasets.main.<name>`` is the current version, ``datasets.main."<name>@<N>"`` version N; the
decrypted version is registered on the query's cursor as an Arrow table. The same tables appear under their
owner's schema (``datasets.<owner>.<name>``), and ``datasets.information.datasets`` lists the metadata of
the readable datasets (:data:`METADATA_SCHEMA`).

Other rooms (key-value items, streams, the admin's ``system`` tables) plug in as :class:`SqlCatalog`: catalog
``<name>`` with the schemas it lists, addressed as ``<name>.<schema>.<table>`` or, shorter, ``<name>.<table>``
for its default schema. Such a name is reserved: a two-part reference to it never reaches DuckDB's own schemas,
except that where the statement also has the name standing alone (a table of the shared catalog or an alias
named ``kv``), ``kv.<x>`` outside FROM/JOIN is that table's column.
"""
from __future__ import annotations

import bisect
import itertools
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence, Tuple, Union

import duckdb
import pyarrow as pa

from mock_server import errors
from mock_server.limits import DEFAULT_LIMITS, Limits
from mock_server.datasets.store import DatasetStore
from mock_server.objects.buckets import ObjectStores
from mock_server.objects.globs import compile_glob, literal_prefix
from mock_server.objects.scan import ObjectFile, object_data
from mock_server.objects.backend import ObjectInfo
from mock_server.objects.names import check_key
from mock_server.query.sql_dialect import Token, quote_identifier, tokens as sql_tokens
from mock_server.query.typemap import field_type_name

log = logging.getLogger(__name__)

CATALOG = "objects"
DATASETS = "datasets"
DATASET_SCHEMA = "main"
INFORMATION = "information"  # schema of the datasets' metadata table
METADATA_TABLE = "datasets"
METADATA_SCHEMA = pa.schema([
    ("id", pa.string()), ("name", pa.string()), ("namespace", pa.string()), ("owner", pa.string()),
    ("description", pa.string()), ("freshness", pa.string()), ("version", pa.int32()),
    ("versions", pa.int32()), ("rows", pa.int64()), ("bytes", pa.int64()), ("checksum", pa.string()),
    ("created", pa.timestamp("us", tz="UTC")), ("updated", pa.timestamp("us", tz="UTC")),
    ("access", pa.string()), ("downloads", pa.int64())])
LISTING = "$objects"
LISTING_SCHEMA = pa.schema([
    ("key", pa.string()), ("size", pa.int64()), ("etag", pa.string()),
    ("last_modified", pa.timestamp("us", tz="UTC")), ("content_type", pa.string())])
LISTING_COLUMNS = [("key", "string"), ("size", "bigint"), ("etag", "string"),
                   ("last_modified", "timestamp_tz"), ("content_type", "string")]

_EXTENSIONS = {".parquet": "parquet", ".parq": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv",
               ".json": "json", ".jsonl": "json", ".ndjson": "json"}
_COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
_TABLE_KEYWORDS = ("FROM", "JOIN")
_names = itertools.count(1)


class SqlCatalog(Protocol):
    """A room's tables as a SQL catalog. ``read`` checks the user's access and raises
    :class:`mock_server.errors.EngineError` (PERMISSION_DENIED, INVALID_ARGUMENT...) with a clear message."""

    name: str            # the catalog's name (lower case), e.g. "kv"
    default_schema: str  # the schema of two-part names ``<name>.<table>``

    def schemas(self, user: str) -> List[str]: ...

    def tables(self, user: str, schema: str) -> List[str]: ...

    def read(self, user: str, schema: str, table: str) -> Union[pa.Table, pa.RecordBatchReader]: ...


@dataclass
class Rewritten:
    sql: str
    tables: Dict[str, Any] = field(default_factory=dict)  # Arrow tables/datasets to register on the cursor


def _is_ident(tokens: List[Token], i: int) -> bool:
    return 0 <= i < len(tokens) and tokens[i].kind in ("ident", "qident")


def _is_dot(tokens: List[Token], i: int) -> bool:
    return 0 <= i < len(tokens) and tokens[i].kind == "dot"


def _catalog_of(token: Token, catalogs: Tuple[str, ...]) -> Optional[str]:
    name = token.name.lower() if token.kind == "ident" else token.name
    return name if name in catalogs else None


def find_references(sql: str, catalog: str = "", schema: str = "", catalogs: Tuple[str, ...] = (CATALOG,),
                    known: Optional[Callable[[str, str, str], bool]] = None,
                    short: Optional[Dict[str, str]] = None,
                    tokens: Optional[List[Token]] = None) -> List[Tuple[int, int, str, str, str]]:
    """(start, end, catalog, schema, name) of every reference to a table of ``catalogs`` in ``sql``.

    ``short`` maps catalogs that take two-part names (``<catalog>.<table>``) to the schema such names mean.

    Relative names (request's catalog in ``catalogs``, right after FROM/JOIN) count when quoted, or, unquoted,
    when ``known(catalog, schema, name)`` says such a table exists (a registered table or a dataset: what
    SQLAlchemy writes) and the text defines no CTE of that name, so that CTE and local names stay DuckDB's."""
    def is_known(schema_name: str, j: int) -> bool:
        if tokens[j].kind == "qident":
            return True
        followed = tokens[j + 1].text if j + 1 < len(tokens) else ""
        return (known is not None and followed not in (".", "(") and tokens[j].name.lower() not in defined
                and known(current, schema_name, tokens[j].name))

    tokens = sql_tokens(sql) if tokens is None else tokens  # ``tokens``: sql's, when the caller has them
    defined = {t.name.lower() for t, as_, paren in zip(tokens, tokens[1:], tokens[2:])  # CTEs: `name AS (`
               if t.kind == "ident" and as_.text.upper() == "AS" and paren.text == "("}
    # Names standing alone (a table of DuckDB's, an alias): where a two-part catalog name is also one of those,
    # `kv.v` outside FROM/JOIN is that table's column (SQLAlchemy writes `SELECT streams.id FROM streams`).
    alone = {t.name.lower() if t.kind == "ident" else t.name for j, t in enumerate(tokens)
             if _is_ident(tokens, j) and not _is_dot(tokens, j - 1) and not _is_dot(tokens, j + 1)}
    found = []
    current = (catalog or "").lower()
    in_catalog = current in catalogs
    i = 0
    while i < len(tokens):
        after_keyword = i > 0 and tokens[i - 1].kind == "ident" and tokens[i - 1].text.upper() in _TABLE_KEYWORDS
        named = _catalog_of(tokens[i], catalogs) if _is_ident(tokens, i) else None
        after_use = i > 0 and tokens[i - 1].kind == "ident" and tokens[i - 1].text.upper() == "USE"
        if named and after_use:  # USE <catalog>.<schema>: a location, not a table (the sandbox judges it)
            i += 1
            continue
        if (named and not _is_dot(tokens, i - 1)
                and _is_dot(tokens, i + 1) and _is_ident(tokens, i + 2) and _is_dot(tokens, i + 3)
                and _is_ident(tokens, i + 4) and not _is_dot(tokens, i + 5)
                and not (i + 5 < len(tokens) and tokens[i + 5].text == "(")):  # a function, not a table
            found.append((tokens[i].start, tokens[i + 4].end, named, tokens[i + 2].name, tokens[i + 4].name))
            i += 5
            continue
        if (named and short and named in short and not _is_dot(tokens, i - 1)
                and (after_keyword or named not in alone)
                and _is_dot(tokens, i + 1) and _is_ident(tokens, i + 2) and not _is_dot(tokens, i + 3)
                and not (i + 3 < len(tokens) and tokens[i + 3].text == "(")):
            found.append((tokens[i].start, tokens[i + 2].end, named, short[named], tokens[i + 2].name))
            i += 3
            continue
        if in_catalog and after_keyword and _is_ident(tokens, i):
            if (_is_dot(tokens, i + 1) and _is_ident(tokens, i + 2) and not _is_dot(tokens, i + 3)
                    and is_known(tokens[i].name, i + 2)):
                found.append((tokens[i].start, tokens[i + 2].end, current, tokens[i].name, tokens[i + 2].name))
                i += 3
                continue
            if not _is_dot(tokens, i + 1) and schema and is_known(schema, i):
                found.append((tokens[i].start, tokens[i].end, current, schema, tokens[i].name))
        i += 1
    return found


def _kind_of(name: str) -> Tuple[Optional[str], Optional[str]]:
    """(format or None, compression or None) from a file name's extensions."""
    lower = name.lower()
    compression = None
    for suffix, kind in _COMPRESSIONS.items():
        if lower.endswith(suffix):
            compression, lower = kind, lower[:-len(suffix)]
            break
    for suffix, kind in _EXTENSIONS.items():
        if lower.endswith(suffix):
            return kind, compression
    return None, compression


def _uncompressed(key: str) -> str:
    """``key`` without its compression suffix (``a.csv.zst`` → ``a.csv``)."""
    suffix = next((s for s in _COMPRESSIONS if key.lower().endswith(s)), "")
    return key[:-len(suffix)] if suffix else key


def _is_key(key: str) -> bool:
    try:
        check_key(key)
        return True
    except errors.EngineError:  # e.g. too long once a suffix is added
        return False


def _object_named(backend: Any, bucket: str, key: str) -> List[str]:
    """[the key] of the object ``key`` or, when it has no compression suffix and is absent, of its .zst/.gz copy;
    [] when there is neither."""
    info = backend.stat(bucket, key)
    if info is None and _kind_of(key)[1] is None:
        copies = [key + s for s in _COMPRESSIONS if _is_key(key + s)]
        info = next(filter(None, (backend.stat(bucket, k) for k in copies)), None)
    return [info.key] if info is not None else []


def _without_copies(keys: List[str]) -> List[str]:
    """``keys`` less the compressed copies whose original is among them (kept by ``compress(keep_original=
    True)``, or for a moment while it runs): each object's rows are read once."""
    present = set(keys)
    return [k for k in keys if _uncompressed(k) == k or _uncompressed(k) not in present]


def file_format(keys: List[str], pattern: str, kind: str = "") -> str:
    """The format (parquet, csv, tsv or json) of the objects ``keys``: ``kind`` (a named table's format) if
    given, else the pattern's extension, else the keys' (all of one kind). Compression is per object."""
    if kind:
        return kind
    found = _kind_of(pattern)[0]
    if found is not None:
        return found
    kinds = {_kind_of(k)[0] for k in keys}
    if len(kinds) == 1 and None not in kinds:
        return kinds.pop()  # type: ignore[return-value]
    if len(kinds) > 1 and None not in kinds:
        raise errors.invalid(f"objects matching {pattern!r} mix formats ({', '.join(sorted(kinds))}): give "
                             "the table a format, or use a glob matching one kind of file")
    raise errors.invalid(f"cannot tell the file format of {pattern!r}: use a .parquet, .csv, .tsv, .json "
                         "or .jsonl name (optionally .gz/.zst), or a glob matching one kind of file")


def table_files(keys: List[str], kind: str) -> Tuple[List[str], List[str]]:
    """(kept, skipped) objects under a named table's prefix: those of its format (``kind``; "" for any one
    table format), compressed variants included; others (a ``readme.txt``...) are skipped."""
    kept = [k for k in keys if _kind_of(k)[0] is not None and (not kind or _kind_of(k)[0] == kind)]
    chosen = set(kept)
    return kept, [k for k in keys if k not in chosen]


_AFTER_FROM = re.compile(r"(?i)\b(?:FROM|JOIN)\s*\Z")
_NEXT_WORD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_$]*|\")?")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_keywords: List[frozenset] = []


def _not_aliases() -> frozenset:
    """Words that cannot be a bare table alias in DuckDB (reserved and type/function keywords)."""
    if not _keywords:
        con = duckdb.connect()
        try:
            _keywords.append(frozenset(r[0].upper() for r in con.execute(
                "SELECT keyword_name FROM duckdb_keywords() "
                "WHERE keyword_category IN ('reserved', 'type_function')").fetchall()))
        finally:
            con.close()
    return _keywords[0]


# How a statement that writes a table starts, up to that table.
_WRITES = {("INSERT", "INTO"), ("INSERT", "OR", "REPLACE", "INTO"), ("INSERT", "OR", "IGNORE", "INTO"),
           ("UPDATE",), ("DELETE", "FROM"), ("TRUNCATE",), ("TRUNCATE", "TABLE")} | {
    (verb, kind) + tail for verb in ("DROP", "ALTER") for kind in ("TABLE", "VIEW") for tail in ((), ("IF", "EXISTS"))}
_KEEPING = {"VIEW", "MACRO", "FUNCTION"}  # what a CREATE makes that would read a table after the query


def _statement_heads(tokens: List[Token]) -> Callable[[int], List[Token]]:
    """``head(start)``: the tokens (of a text's ``tokens``) of the statement holding position ``start`` that come
    before it, at most the first :data:`_HEAD` of them (all :func:`check_read_only` reads), in constant time."""
    starts = [t.start for t in tokens]
    begins, begin = [], 0
    for i, token in enumerate(tokens):
        begins.append(begin)
        if token.text == ";":
            begin = i + 1

    def head(start: int) -> List[Token]:
        i = bisect.bisect_left(starts, start)  # the first token at or after ``start``
        first = begin if i == len(tokens) else begins[i]
        return tokens[first:i] if i - first <= _HEAD else tokens[first:first + _HEAD] + [_MORE]
    return head


_HEAD = 6
_MORE = Token("other", "...", -1, -1)  # stands for the tokens beyond the head: no pattern matches it


def check_read_only(statement: List[Token], reference: str) -> None:
    """INVALID_ARGUMENT when the statement whose tokens before the store table ``reference`` are ``statement``
    writes it, or creates a view or macro that would read it after the query: a store table is registered for one
    query, so DuckDB answered with the registered name ('__e6_dataset_4 is not an table'), or made a view that
    failed on every use."""
    words = [t.text.upper() for t in statement]
    if all(t.kind == "ident" for t in statement) and tuple(words) in _WRITES:
        raise errors.invalid(f"{reference} is read-only in SQL: a store's tables are written through its API "
                             "(datasets: publish a version with conn.datasets.update)")
    made = [w for w in words[1:5] if w not in ("OR", "REPLACE", "TEMP", "TEMPORARY")]
    if words[:1] == ["CREATE"] and made and made[0] in _KEEPING:
        raise errors.invalid(f"a view cannot read {reference}: a store's tables are read for the query that "
                             "names them; copy it (CREATE TABLE ... AS SELECT) or name it in each query")


def _qualifiers(tokens: List[Token], aliased: Dict[Tuple[str, str, str], str], catalog: str,
                catalogs: Tuple[str, ...]) -> List[Tuple[int, int, str]]:
    """(start, end, alias) of each column qualifier spelling a store table read under its own name
    (``datasets.main.sales.region``, or ``main.sales.region`` in the request's catalog, as SQLAlchemy writes a
    table with a schema): the qualifier becomes the alias, the table's registered name meaning nothing to
    DuckDB."""
    if not aliased:
        return []

    def part(j: int) -> str:
        return tokens[j].name.lower() if tokens[j].kind == "ident" else tokens[j].name

    def dotted(j: int, parts: int) -> bool:  # parts + 1 names from j, a dot between each two
        return all(_is_ident(tokens, j + 2 * k) and (k == 0 or _is_dot(tokens, j + 2 * k - 1))
                   for k in range(parts + 1))

    found = []
    for j in range(len(tokens)):
        if _is_dot(tokens, j - 1) or not _is_ident(tokens, j):
            continue
        for parts, key in ((3, lambda: (part(j), part(j + 2), part(j + 4))),
                           (2, lambda: (catalog, part(j), part(j + 2)))):
            end = j + 2 * parts  # the column's token
            if (dotted(j, parts) and not _is_dot(tokens, end + 1)
                    and not (end + 1 < len(tokens) and tokens[end + 1].text == "(")
                    and (parts == 3 or part(j) not in catalogs) and key() in aliased):
                found.append((tokens[j].start, tokens[end - 2].end, quote_identifier(aliased[key()])))
                break
    return found


def _needs_alias(sql: str, start: int, end: int, name: str, any_name: bool = False) -> bool:
    """Whether a table reference right after FROM/JOIN with a plain name (a dataset or registered table; any name
    when ``any_name``: a dataset's, ``"sales-2024@1"``) has no alias of its own: it then keeps its name as alias,
    so ``SELECT sales.id FROM sales`` binds."""
    if not (any_name or _PLAIN_NAME.match(name)) or not _AFTER_FROM.search(sql, 0, start):
        return False
    word = _NEXT_WORD.match(sql, end).group(1)
    return word is None or (word != '"' and word.upper() != "AS" and word.upper() in _not_aliases())


def metadata_table(visible: List[Tuple[Any, str]]) -> pa.Table:
    """``datasets.information.datasets``: one row per (DatasetInfo, access) of the datasets a user may read;
    ``namespace`` is the schema the dataset is addressed in besides ``main`` (its owner)."""
    infos = [i for i, _ in visible]
    return pa.table({
        "id": [i.id for i in infos], "name": [i.name for i in infos], "namespace": [i.owner for i in infos],
        "owner": [i.owner for i in infos], "description": [i.description for i in infos],
        "freshness": [i.freshness for i in infos], "version": [i.version for i in infos],
        "versions": [i.versions for i in infos], "rows": [i.rows for i in infos],
        "bytes": [i.bytes for i in infos], "checksum": [i.checksum for i in infos],
        "created": [round(i.created * 1_000_000) for i in infos],
        "updated": [round(i.updated * 1_000_000) for i in infos], "access": [a for _, a in visible],
        "downloads": [i.downloads for i in infos]},
        schema=METADATA_SCHEMA)


def listing_table(objects: List[ObjectInfo]) -> pa.Table:
    return pa.table({
        "key": [o.key for o in objects], "size": [o.size for o in objects], "etag": [o.etag for o in objects],
        "last_modified": [round(o.last_modified * 1_000_000) for o in objects],
        "content_type": [o.content_type for o in objects]}, schema=LISTING_SCHEMA)


class StoreCatalogs:
    """Rewrites ``objects.<bucket>.<name>`` (and ``datasets.main.<name>``) references for one user."""

    def __init__(self, stores: ObjectStores, datasets: Optional[DatasetStore] = None,
                 limits: Limits = DEFAULT_LIMITS, plugins: Sequence[SqlCatalog] = ()) -> None:
        self.stores = stores
        self.datasets = datasets
        self.limits = limits  # max_expanded_bytes of objects read whole (JSON)
        self.plugins: Dict[str, SqlCatalog] = {p.name: p for p in plugins}
        own = (CATALOG, DATASETS) if datasets is not None else (CATALOG,)
        self.catalogs: Tuple[str, ...] = own + tuple(self.plugins)
        self._short = {name: p.default_schema for name, p in self.plugins.items()}

    def handles(self, catalog: str) -> bool:
        return (catalog or "").lower() in self.catalogs

    def rewrite(self, sql: str, user: str, catalog: str = "", schema: str = "") -> Rewritten:
        tokens = sql_tokens(sql)  # read once by the reference finder, the read-only check and the qualifiers
        refs = find_references(sql, catalog, schema, self.catalogs, lambda c, s, n: self._known(user, c, s, n),
                               self._short, tokens)
        if not refs:
            return Rewritten(sql)
        tables: Dict[str, Any] = {}
        replaced: List[Tuple[int, int, str]] = []  # (start, end, text) of each span of sql replaced
        aliased: Dict[Tuple[str, str, str], str] = {}  # (catalog, schema, table) read under its own name → name
        leading = _statement_heads(tokens)
        for start, end, where, bucket, name in refs:
            check_read_only(leading(start), sql[start:end])
            if where in self.plugins:
                table = self.plugins[where].read(user, bucket, name)
                expression = quote_identifier(f"__e6_{where}_{next(_names)}")
            elif where == DATASETS:
                expression, table = self._dataset(user, bucket, name)
            else:
                expression, table = self._resolve(user, bucket, name)
            tables[expression.strip('"')] = table
            if _needs_alias(sql, start, end, name, any_name=where == DATASETS):
                expression += " AS " + quote_identifier(name)
                aliased[(where, bucket.lower(), name.lower())] = name
            replaced.append((start, end, expression))
        replaced += _qualifiers(tokens, aliased, (catalog or "").lower(), self.catalogs)
        out, copied = [], 0
        for start, end, text in sorted(replaced):
            out += [sql[copied:start], text]
            copied = end
        out.append(sql[copied:])
        return Rewritten("".join(out), tables)

    def _known(self, user: str, catalog: str, schema: str, name: str) -> bool:
        """Whether an unquoted relative name is one of this catalog's tables (else it stays DuckDB's)."""
        if catalog == DATASETS or catalog in self.plugins:
            return name.lower() in {t.lower() for t in self.tables(catalog, user, schema)}
        return self.stores.tables.get(schema, name.lower()) is not None

    def _resolve(self, user: str, bucket: str, name: str) -> Tuple[str, Any]:
        self.stores.bucket(user, bucket)
        if name == LISTING:
            table = listing_table(list(self.stores.backend.list(bucket)))
            return quote_identifier(f"__e6_objects_{next(_names)}"), table
        return quote_identifier(f"__e6_files_{next(_names)}"), self._files(bucket, name)

    def _files(self, bucket: str, name: str) -> Any:
        """The data of ``objects.<bucket>.<name>`` (access already checked): a named table's objects, else
        the object or glob ``name``."""
        backend = self.stores.backend
        named = self.stores.tables.get(bucket, name) or self.stores.tables.get(bucket, name.lower())
        pattern, kind = (named.pattern, named.format) if named is not None else (name, "")
        if named is not None and literal_prefix(pattern) == pattern:  # a prefix: its objects of the format
            keys, skipped = table_files([o.key for o in backend.list(bucket, pattern) if not o.key.endswith("/")],
                                        kind)
            if skipped:  # the protocol has no warning channel to the client: the server's log says it
                log.warning("table objects.%s.%s skips %d object(s) not of its format %s: %s", bucket, named.name,
                            len(skipped), kind or "(parquet/csv/tsv/json)", ", ".join(skipped[:20]))
        elif literal_prefix(pattern) == pattern:  # one object, or (once compressed) its .zst/.gz copy
            keys = _object_named(backend, bucket, check_key(pattern))
        else:
            if "\x00" in pattern or "\\" in pattern or pattern.startswith("/") or ".." in pattern.split("/"):
                check_key(pattern)  # same rules (and message) as keys
            # A key holding *, ? or [ ("br[1].csv") is read by its name: an object of exactly that name wins over
            # the glob (not a named table's), which could not match it (the class [1] matches "1", not "[1]").
            keys = _object_named(backend, bucket, pattern) if named is None and _is_key(pattern) else []
            if not keys:
                glob = compile_glob(pattern, self.limits)  # linear-time, length-capped (mock_server.objects.globs)
                keys = [o.key for o in backend.list(bucket, literal_prefix(pattern)) if glob.match(o.key)]
        keys = _without_copies(keys)
        if not keys:
            raise errors.invalid(f"no objects in bucket {bucket!r} match {pattern!r}")
        kind = file_format(keys, pattern, kind)
        files = [ObjectFile(backend.arrow_path(bucket, k), f"{bucket}/{k}", _kind_of(k)[1]) for k in keys]
        return object_data(backend.arrow_filesystem(), files, kind, self.limits)

    def _dataset(self, user: str, schema: str, name: str) -> Tuple[str, Any]:
        """``datasets.<schema>.<name>``: schema ``main`` or the dataset's owner, or the metadata table. A version
        is a decoded Arrow table (cached) or, when larger than the cache, an Arrow dataset decrypting only what the
        query reads (:meth:`DatasetStore.read`). Names are lower-case: SQL matches them in any case, as DuckDB
        matches its own identifiers."""
        schema, name = schema.lower(), name.lower()
        if schema == INFORMATION:
            if name != METADATA_TABLE:
                raise errors.invalid(f"schema {DATASETS}.{INFORMATION} has only table {METADATA_TABLE!r}")
            table = metadata_table(self.datasets.visible(user))
            return quote_identifier(f"__e6_dataset_metadata_{next(_names)}"), table
        base, _, version = name.partition("@")
        if version and not version.isdigit():
            raise errors.invalid(f"bad dataset version in {name!r}: use <name>@<number>")
        info, table = self.datasets.read(user, base, int(version or 0))
        if schema != DATASET_SCHEMA and schema != info.owner:
            raise errors.invalid(f"dataset {base!r} is not in schema {schema!r}: use {DATASETS}.{DATASET_SCHEMA}"
                                 f" or {DATASETS}.<owner>")
        return quote_identifier(f"__e6_dataset_{next(_names)}"), table

    # ------------------------------------------------------------------ browsing

    def schemas(self, catalog: str, user: str) -> List[str]:
        if catalog.lower() in self.plugins:
            return self.plugins[catalog.lower()].schemas(user)
        if catalog.lower() == DATASETS:
            owners = sorted({info.owner for info, _ in self.datasets.visible(user)} - {DATASET_SCHEMA, INFORMATION})
            return [INFORMATION, DATASET_SCHEMA] + owners
        return self.stores.visible_buckets(user)

    def tables(self, catalog: str, user: str, schema: str) -> List[str]:
        if catalog.lower() in self.plugins:
            return self.plugins[catalog.lower()].tables(user, schema)
        if catalog.lower() == DATASETS:
            schema = schema.lower()  # names in any case, as in SQL (_dataset)
            if schema == INFORMATION:
                return [METADATA_TABLE]
            return [info.name for info, _ in self.datasets.visible(user)
                    if schema in (DATASET_SCHEMA, info.owner)]
        if schema not in self.stores.visible_buckets(user):
            return []
        return [LISTING] + [t.name for t in self.stores.tables.in_bucket(schema)]

    def columns(self, catalog: str, user: str, schema: str, table: str) -> List[Tuple[str, str]]:
        """(name, getColumnsV2 type); empty for an unknown table or one whose objects cannot be read."""
        if catalog.lower() == DATASETS:
            schema, table = schema.lower(), table.lower()
        if table not in self.tables(catalog, user, schema):
            return []
        if catalog.lower() in self.plugins:
            data = self.plugins[catalog.lower()].read(user, schema, table)
            try:
                return _column_types(data.schema)
            finally:
                if isinstance(data, pa.RecordBatchReader):
                    data.close()  # only its schema was needed: release what the reader holds (a snapshot)
        if catalog.lower() == DATASETS and schema == INFORMATION:
            return _column_types(METADATA_SCHEMA)
        if catalog.lower() == DATASETS:  # the stored schema: reading the version would decode it into the cache
            stored = self.datasets.current_schema(self.datasets.require(user, table))
            return _column_types(stored) if stored is not None else []
        if table == LISTING:
            return list(LISTING_COLUMNS)
        try:
            return _column_types(self._files(schema, table).schema)
        except errors.EngineError as exc:  # no objects yet, or unreadable ones: nothing to describe
            log.info("no columns for objects.%s.%s: %s", schema, table, exc.message)
            return []


def _column_types(schema: pa.Schema) -> List[Tuple[str, str]]:
    """(name, getColumnsV2 type) of an Arrow schema as DuckDB sees it (same names as for local tables)."""
    con = duckdb.connect()
    try:
        relation = con.from_arrow(schema.empty_table())
        return [(n, field_type_name(t)) for n, t in zip(relation.columns, relation.types)]
    finally:
        con.close()
