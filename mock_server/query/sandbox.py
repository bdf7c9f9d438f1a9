"""What a tenant may not run: checked on every statement DuckDB's own parser split out, before execution.

The engine shares one DuckDB database between all users, so statements that change the database itself,
the server's settings, its files or its extensions are refused with PERMISSION_DENIED, for every user (the
admin included: administration goes through AdminService and the command line, not SQL):

* statement kinds (``duckdb.extract_statements``): ATTACH, DETACH, LOAD/INSTALL, PRAGMA (also IMPORT
  DATABASE and COPY FROM DATABASE), EXPORT DATABASE, CREATE/DROP SECRET, FORCE CHECKPOINT;
* SET/RESET/USE: only ``SET [SESSION|LOCAL] <name>`` / ``RESET [SESSION|LOCAL] <name>`` of the per-session
  settings in :data:`SESSION_SETTINGS`, ``SET VARIABLE`` (a small constant) and ``RESET VARIABLE``, and
  ``USE`` of a schema of catalog ``local``;
  never ``SET GLOBAL``, never another setting, never another catalog;
* functions and system views that read or write the server's files, settings, logs, secrets or extensions,
  show other sessions' activity, or run or bind SQL text out of a string (``query()``, ``json_serialize_plan``,
  the external-resource functions, which call a table function named in a string), named anywhere outside
  literals and comments (:data:`DENIED_FUNCTIONS`, :data:`DENIED_NAMES`); ``current_setting`` only of a
  per-session setting;
* CREATE MACRO/FUNCTION/TYPE named like one of DuckDB's own (:func:`builtin_names`): it would replace that
  function or type in every user's statements.

Statements are split into words by DuckDB's own tokenizer (``duckdb.tokenize``), so what is a literal or a
comment here is exactly what it is to DuckDB: a scanner of our own disagreed on ``$$...$$`` strings and on
``--`` comments ending at a carriage return, and names hidden that way ran unchecked. A dotted name of more
than :data:`MAX_NAME_PARTS` parts is refused (INVALID_ARGUMENT): DuckDB binds it in quadratic time.

On top of this the engine locks DuckDB's configuration (``lock_configuration``) once its own settings are
made, allowing only :data:`SESSION_SETTINGS` to change, and keeps ``enable_external_access`` off.
"""
from __future__ import annotations

import functools
import re
from typing import Iterable, List, Set, Tuple

import duckdb
import grpc

from mock_server.errors import EngineError, invalid

#: Settings a statement may change for its own session (lower case), and DuckDB's names for them.
SESSION_SETTINGS = {"timezone": "TimeZone", "calendar": "Calendar", "search_path": "search_path",
                    "schema": "schema"}
#: Per-connection settings the engine itself makes on each session's connection (never tenants' SQL: ``check``
#: refuses every setting outside SESSION_SETTINGS).
ENGINE_SESSION_SETTINGS = ("streaming_buffer_size",)
#: The catalog tenants' SQL may USE (the store catalogs are not DuckDB catalogs).
SQL_CATALOG = "local"

DENIED_KINDS = {"ATTACH", "DETACH", "LOAD", "PRAGMA", "EXPORT", "COPY_DATABASE"}
DENIED_FUNCTIONS = frozenset({
    "enable_logging", "disable_logging", "truncate_duckdb_logs", "enable_profiling", "disable_profiling",
    "query", "query_table", "json_execute_serialized_sql", "getenv", "force_checkpoint", "which_secret",
    "install_extension", "load_extension", "pragma_storage_info", "pragma_metadata_info",
    "pragma_database_size", "pragma_user_agent", "pragma_platform",
    # SQL text or a table function's name in a string, bound or run outside the sandbox's sight:
    # destroy_external_resource('query', 'SELECT ...') ran any SELECT, json_serialize_plan folds
    # current_setting(...) into the plan it returns.
    "json_serialize_plan", "create_external_resource", "destroy_external_resource",
    "register_external_resource", "register_external_resource_type", "deregister_external_resource",
    "add_grammar_extension", "remove_grammar_extension",  # the parser of every session
})
DENIED_NAMES = frozenset({
    "duckdb_logs", "duckdb_log_contexts", "duckdb_settings", "duckdb_secrets", "duckdb_extensions",
    "duckdb_databases", "duckdb_temporary_files", "duckdb_external_file_cache", "duckdb_prepared_statements",
    "pg_settings",  # every server setting with its value (temp_directory, memory_limit ...)
    "pragma_database_list", "database_list",  # the database file's absolute path
    "duckdb_extension_repositories",  # its error names the server's home directory
    "duckdb_live_query_metrics",  # other sessions' running queries
    "duckdb_external_resources", "duckdb_external_resource_types", "duckdb_profiling_settings",
})
_SCOPES = {"session", "local", "global"}
#: Parts of one dotted name (catalog.schema.table.column.field...). DuckDB binds a chain of n parts in time
#: growing with n squared: 4000 parts took 7 s, the 400 000 a 4 MiB statement holds would hold a worker for
#: hours (interruptible by nothing: the query has no id yet).
MAX_NAME_PARTS = 32
#: SET VARIABLE: the longest constant, and how many variables one session may hold (their values live outside
#: DuckDB's memory limit).
MAX_VARIABLE_CHARS = 1024
MAX_SESSION_VARIABLES = 64
_CONSTANT_WORDS = frozenset({"true", "false", "null", "interval", "date", "time", "timestamp", "timestamptz"})
_E_ESCAPE = re.compile(r"\\(.)|''", re.S)
_E_CHARS = {"n": "\n", "t": "\t", "r": "\r"}


def words(sql: str) -> List[Tuple[str, str]]:
    """(kind, text) of each token of ``sql`` as DuckDB's tokenizer splits it, comments skipped: ``word`` (an
    identifier or keyword, lower-cased, quoted ones unquoted), ``literal`` (a string's content) or ``punct``."""
    out: List[Tuple[str, str]] = []
    found = duckdb.tokenize(sql)
    raw = sql.encode("utf-8")  # the tokenizer's positions are UTF-8 byte offsets
    for index, (start, kind) in enumerate(found):
        end = found[index + 1][0] if index + 1 < len(found) else len(raw)
        text = raw[start:end].decode("utf-8").rstrip()
        name = kind.name
        if name == "comment":
            continue
        if name in ("identifier", "keyword"):
            if text.startswith('"') and text.endswith('"') and len(text) >= 2:
                text = text[1:-1].replace('""', '"')
            out.append(("word", text.lower()))
        elif name == "string_const":
            out.append(("literal", _literal_text(text)))
        else:
            out.append(("punct", text))
    return out


def _literal_text(text: str) -> str:
    """The content of a string constant as DuckDB wrote it: '...', E'...' (backslash escapes), X'...', B'...'
    or $tag$...$tag$."""
    if text.startswith("$"):
        tag = text[:text.index("$", 1) + 1]
        return text[len(tag):len(text) - len(tag)]
    quote = text.find("'")
    body = text[quote + 1:-1]
    if quote == 1 and text[0] in "eE":
        return _E_ESCAPE.sub(lambda m: "'" if m.group(0) == "''" else _E_CHARS.get(m.group(1), m.group(1)), body)
    return body.replace("''", "'")


def lock(con: "duckdb.DuckDBPyConnection") -> None:
    """Lock ``con``'s database configuration, except the per-session settings (call after the engine's own)."""
    allowed = ", ".join("'" + name + "'" for name in (*SESSION_SETTINGS.values(), *ENGINE_SESSION_SETTINGS))
    con.execute(f"SET allowed_configs = [{allowed}]")
    con.execute("SET lock_configuration = true")


def refused(what: str) -> EngineError:
    return EngineError(grpc.StatusCode.PERMISSION_DENIED,
                       f"{what} is not allowed: the engine is shared, so SQL cannot change the database, its "
                       "settings, files, logs or extensions (docs/engine-contract.md, \"Threat model\")")


def check(statements: Iterable[object]) -> None:
    """Raise PERMISSION_DENIED if any of ``statements`` (from ``duckdb.extract_statements``) is refused."""
    for statement in statements:
        kind = statement.type.name  # type: ignore[attr-defined]
        found = words(statement.query)  # type: ignore[attr-defined]
        first = found[0][1].upper() if found else kind
        if kind in DENIED_KINDS or first in ("PRAGMA", "IMPORT", "EXPORT", "INSTALL", "LOAD", "ATTACH",
                                             "DETACH", "FORCE"):
            raise refused(f"{first} statement" if first.isalpha() else f"{kind} statement")
        if kind == "SET":
            _check_set(found)
        if kind in ("CREATE", "DROP"):
            _check_secret(found)
        if kind == "CREATE":
            _check_shadowing(found)
        _check_names(found)
        _check_name_parts(found)


def _check_set(words: List[Tuple[str, str]]) -> None:
    verb = words[0][1] if words else ""
    if verb == "use":
        names = [text for kind, text in words[1:] if kind == "word"]
        if len(names) >= 2 and names[0] != SQL_CATALOG:
            raise refused(f"USE of catalog {names[0]!r} (only {SQL_CATALOG!r})")
        if len(names) == 1 and names[0] in ("memory", "system", "temp"):
            raise refused(f"USE of catalog {names[0]!r} (only {SQL_CATALOG!r})")
        return
    if verb not in ("set", "reset"):
        raise refused("this SET statement")
    rest = words[1:]
    scope = rest[0][1] if rest and rest[0][0] == "word" and rest[0][1] in _SCOPES else ""
    if scope:
        rest = rest[1:]
    if rest and rest[0] == ("word", "variable"):  # the session's own variables
        if verb == "set":
            _check_variable(rest[1:])
        return  # RESET VARIABLE frees one (a session holds at most MAX_SESSION_VARIABLES)
    name = rest[0][1] if rest and rest[0][0] in ("word", "literal") else ""
    if scope == "global":
        raise refused(f"{verb.upper()} GLOBAL {name}")
    if name.lower() not in SESSION_SETTINGS:
        raise refused(f"{verb.upper()} {name or '(nothing)'}"
                      f" (allowed for one's own session: {', '.join(sorted(SESSION_SETTINGS.values()))})")
    if name.lower() in ("search_path", "schema"):
        for kind, text in rest[1:]:
            if kind == "literal":
                for part in text.split(","):
                    catalog = part.strip().strip('"').split(".")[0].lower() if "." in part else SQL_CATALOG
                    if catalog != SQL_CATALOG:
                        raise refused(f"SET {name} to catalog {catalog!r} (only {SQL_CATALOG!r})")


def _check_variable(words: List[Tuple[str, str]]) -> None:
    """``SET VARIABLE name = <constant>``: a variable's value lives outside DuckDB's memory limit (12 variables
    of (SELECT list(range) FROM range(8000000)) took 4.6 GB beside a 256 MiB limit), so only a constant of at
    most MAX_VARIABLE_CHARS characters may be kept: literals, numbers, lists, structs and casts of them."""
    value = words[2:] if len(words) > 1 and words[1] in (("punct", "="), ("word", "to")) else words[1:]
    size = 0
    for index, (kind, text) in enumerate(value):
        size += len(text) + (2 if kind == "literal" else 0)
        typed = index > 0 and value[index - 1] == ("punct", "::")
        if kind == "word" and text not in _CONSTANT_WORDS and not typed:
            raise invalid("SET VARIABLE takes a constant (literals, numbers, lists, structs, casts), not "
                          f"{text!r}: a variable's value is held outside the engine's memory limit")
    if size > MAX_VARIABLE_CHARS:
        raise invalid(f"SET VARIABLE with a value of {size} characters (at most {MAX_VARIABLE_CHARS}): a "
                      "variable's value is held outside the engine's memory limit")


def variables_changed(statements: Iterable[object]) -> Tuple[Set[str], Set[str]]:
    """(names set, names reset), lower case, of the session variables ``statements`` change."""
    changed: Tuple[Set[str], Set[str]] = (set(), set())
    for statement in statements:
        if statement.type.name == "SET":  # type: ignore[attr-defined]
            found = [w for w in words(statement.query) if w[1] not in _SCOPES]  # type: ignore[attr-defined]
            if len(found) > 2 and found[0][1] in ("set", "reset") and found[1] == ("word", "variable"):
                changed[found[0][1] == "reset"].add(found[2][1])
    return changed


@functools.lru_cache(maxsize=1)
def builtin_names() -> Tuple[frozenset, frozenset]:
    """(function and macro names, type names) DuckDB itself defines, lower case."""
    con = duckdb.connect(":memory:")
    try:
        functions = con.execute("SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
                                "WHERE database_name = 'system'").fetchall()
        types = con.execute("SELECT DISTINCT lower(type_name) FROM duckdb_types() WHERE database_name = 'system'")
        return frozenset(r[0] for r in functions), frozenset(r[0] for r in types.fetchall())
    finally:
        con.close()


def _check_shadowing(words: List[Tuple[str, str]]) -> None:
    """CREATE MACRO/FUNCTION/TYPE named like one of DuckDB's own: in catalog ``local`` it replaces that name in
    every user's statements (a macro upper(x) that setval()s a sequence read another user's private dataset
    values as they were upper-cased; a type json changed every '...'::json)."""
    for index, (kind, text) in enumerate(words[1:6], 1):
        if kind == "word" and text in ("macro", "function", "type"):
            rest = words[index + 1:]
            while rest and rest[0][0] == "word" and rest[0][1] in ("if", "not", "exists"):
                rest = rest[1:]
            name = ""
            while rest and rest[0][0] in ("word", "literal"):
                name = rest[0][1].lower()
                if len(rest) < 2 or rest[1] != ("punct", "."):
                    break
                rest = rest[2:]
            functions, types = builtin_names()
            if name in (types if text == "type" else functions):
                what = "types" if text == "type" else "functions"
                raise refused(f"CREATE {text.upper()} {name} (a name of DuckDB's own {what}, which it would "
                              "replace in every user's statements)")
            return


def _check_secret(words: List[Tuple[str, str]]) -> None:
    for kind, text in words[1:6]:  # CREATE [OR REPLACE] [PERSISTENT|TEMPORARY] SECRET
        if kind == "word" and text == "secret":
            raise refused(f"{words[0][1].upper()} SECRET")


def _check_name_parts(words: List[Tuple[str, str]]) -> None:
    parts = 0
    for index, (kind, _) in enumerate(words):
        if kind != "word":
            continue
        # a continuation only right after "<word>.": a method call's "f(x).g" starts a chain of its own
        if index >= 2 and words[index - 1] == ("punct", ".") and words[index - 2][0] == "word":
            parts += 1
            if parts > MAX_NAME_PARTS:
                raise invalid(f"a dotted name of more than {MAX_NAME_PARTS} parts (a.b.c...) is refused: "
                              "binding it takes time growing with the square of its length")
        else:
            parts = 1


def _check_names(words: List[Tuple[str, str]]) -> None:
    for index, (kind, text) in enumerate(words):
        if kind != "word":
            continue
        called = index + 1 < len(words) and words[index + 1] == ("punct", "(")
        if text in DENIED_NAMES or (called and text in DENIED_FUNCTIONS):
            raise refused(f"{text}")
        if called and text == "current_setting":
            argument = words[index + 2] if index + 2 < len(words) else ("", "")
            if argument[0] != "literal" or argument[1].lower() not in SESSION_SETTINGS:
                raise refused("current_setting of a server setting "
                              f"(readable: {', '.join(sorted(SESSION_SETTINGS.values()))})")
