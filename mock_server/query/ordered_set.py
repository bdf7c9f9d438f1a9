"""Ordered-set percentiles as window functions, which DuckDB does not parse.

Standard SQL (and engines such as Snowflake, SQL Server, Oracle) accept
``percentile_disc(0.25) WITHIN GROUP (ORDER BY x) OVER (...)``; DuckDB accepts the aggregate form only and has
the same computation as ``quantile_disc(x, 0.25) OVER (...)``. Tools emit the window form for engines they do
not know (jupysql's ``%sqlplot boxplot``), so the engine rewrites it after :func:`sql_dialect.rewrite`.

Only the unambiguous shape is rewritten: one ascending ORDER BY key followed by OVER. Everything else (the
aggregate form DuckDB already runs, DESC, several keys) is left for DuckDB to accept or refuse.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

from mock_server.query.sql_dialect import Token, tokens

_FUNCTIONS = {"percentile_disc": "quantile_disc", "percentile_cont": "quantile_cont"}


def _closing(toks: List[Token], open_index: int) -> Optional[int]:
    """Index of the ``)`` matching the ``(`` at ``open_index``, or None."""
    depth = 0
    for index in range(open_index, len(toks)):
        text = toks[index].text
        if toks[index].kind == "other" and text == "(":
            depth += 1
        elif toks[index].kind == "other" and text == ")":
            depth -= 1
            if depth == 0:
                return index
    return None


def _is(toks: List[Token], index: int, word: str) -> bool:
    return index < len(toks) and toks[index].kind == "ident" and toks[index].text.lower() == word


def _is_char(toks: List[Token], index: int, char: str) -> bool:
    return index < len(toks) and toks[index].kind == "other" and toks[index].text == char


def _one_ascending_key(toks: List[Token], first: int, last: int) -> Optional[int]:
    """Index of the last token of the ORDER BY key spanning ``toks[first:last]`` (``ASC`` dropped), or None
    when the key list is not one ascending expression."""
    depth = 0
    for index in range(first, last):
        if _is_char(toks, index, "("):
            depth += 1
        elif _is_char(toks, index, ")"):
            depth -= 1
        elif depth == 0 and (_is_char(toks, index, ",") or _is(toks, index, "desc") or _is(toks, index, "nulls")):
            return None
    end = last - 1
    if _is(toks, end, "asc"):
        end -= 1
    return end if end >= first else None


def window_percentiles(sql: str) -> str:
    """``sql`` with every ``percentile_disc|cont(f) WITHIN GROUP (ORDER BY x) OVER`` as ``quantile_…(x, f) OVER``."""
    lowered = sql.lower()
    if "percentile_" not in lowered or "over" not in lowered:
        return sql
    toks = tokens(sql)
    edits: List[Tuple[int, int, str]] = []
    index = 0
    while index < len(toks):
        token = toks[index]
        target = _FUNCTIONS.get(token.text.lower()) if token.kind == "ident" else None
        if target is None or not _is_char(toks, index + 1, "("):
            index += 1
            continue
        args_close = _closing(toks, index + 1)
        order_open = None if args_close is None else args_close + 3
        if args_close is None or args_close == index + 2 or not (
                _is(toks, args_close + 1, "within") and _is(toks, args_close + 2, "group")
                and _is_char(toks, order_open, "(") and _is(toks, order_open + 1, "order")
                and _is(toks, order_open + 2, "by")):
            index += 1
            continue
        order_close = _closing(toks, order_open)
        key_end = None if order_close is None else _one_ascending_key(toks, order_open + 3, order_close)
        if key_end is None or not _is(toks, order_close + 1, "over"):
            index += 1
            continue
        fraction = sql[toks[index + 2].start:toks[args_close - 1].end]
        key = sql[toks[order_open + 3].start:toks[key_end].end]
        edits.append((token.start, toks[order_close].end, f"{target}({key}, {fraction})"))
        index = order_close + 1
    for start, end, replacement in reversed(edits):
        sql = sql[:start] + replacement + sql[end:]
    return sql
