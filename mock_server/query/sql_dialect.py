"""Rewrite the e6data SQL surface (backslash escapes in string literals, spec §10) into DuckDB SQL.

The scanner walks the text once. Comments, ``"identifiers"``, dollar-quoted text and ``E''`` literals are
copied verbatim; every plain ``'...'`` literal is decoded with backslash-escape rules and re-emitted in
standard form (quotes doubled), so a crafted value can never end its literal early once rewritten. An
unterminated literal, identifier, dollar quote or block comment is rejected instead of being passed on,
because DuckDB would split it differently.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List

import grpc

from mock_server.errors import CodedError

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}  # any other \x means x (docs/engine-contract.md)
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$")
# An integer literal cast with "::" right after a unary minus: see _signed_cast_end.
_CAST_NUMBER = re.compile(r"\s*(\d[\d_]*)(?![\w.])\s*::")
# What may stand before a minus that is surely unary: an operator or opening bracket, or a reserved keyword
# that is followed by an expression (none of them can be an operand, unlike NULL or CURRENT_DATE).
_BEFORE_UNARY = set("(,=<>+-*/%|&^~[!")
_UNARY_KEYWORDS = {"select", "where", "and", "or", "not", "then", "else", "when", "case", "having", "on",
                   "limit", "offset", "returning", "in", "distinct", "all", "any", "some", "qualify", "by"}


class DialectError(CodedError, ValueError):
    """The SQL text cannot be rewritten safely (e.g. an unterminated string literal)."""

    code = grpc.StatusCode.INVALID_ARGUMENT


def _is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_" or ord(ch) >= 0x80


def _scan_plain_literal(sql: str, start: int) -> tuple:
    """Decode a backslash-escaped literal whose opening quote is at ``start``; return (text, end)."""
    out = []
    i, n = start + 1, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "\\":
            if i + 1 >= n:
                break
            nxt = sql[i + 1]
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
        elif ch == "'":
            if i + 1 < n and sql[i + 1] == "'":
                out.append("'")
                i += 2
            else:
                return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise DialectError("unterminated quoted string in SQL text")


def skip_standard_literal(sql: str, start: int, backslash: bool) -> int:
    """End index of a literal copied verbatim (``E''`` when ``backslash``, else ``X''``/``B''``)."""
    i, n = start + 1, len(sql)
    while i < n:
        ch = sql[i]
        if backslash and ch == "\\":
            i += 2
        elif ch == "'":
            if i + 1 < n and sql[i + 1] == "'":
                i += 2
            else:
                return i + 1
        else:
            i += 1
    raise DialectError("unterminated quoted string in SQL text")


def skip_quoted_identifier(sql: str, start: int) -> int:
    """End index of the ``"identifier"`` whose opening quote is at ``start`` (``""`` inside is a quote)."""
    end = start + 1
    while True:
        end = sql.find('"', end)
        if end < 0:
            raise DialectError("unterminated quoted identifier in SQL text")
        if end + 1 < len(sql) and sql[end + 1] == '"':
            end += 2
            continue
        return end + 1


def skip_block_comment(sql: str, start: int) -> int:
    """End index of the (nestable) ``/* ... */`` comment that opens at ``start``."""
    depth, i, n = 1, start + 2, len(sql)
    while i < n:
        if sql.startswith("/*", i):
            depth += 1
            i += 2
        elif sql.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    raise DialectError("unterminated block comment in SQL text")


def quote_literal(text: str) -> str:
    """A standard SQL string literal for ``text``."""
    return "'" + text.replace("'", "''") + "'"


_LINE_END = re.compile(r"[\r\n]")


def _line_comment_end(sql: str, start: int) -> int:
    """Where the ``--`` comment at ``start`` ends: after its \\n or \\r, as DuckDB's tokenizer ends it (a scanner
    that waited for \\n would take the SQL after a \\r for comment text that DuckDB runs)."""
    end = _LINE_END.search(sql, start)
    return len(sql) if end is None else end.end()


def quote_identifier(name: str) -> str:
    """A double-quoted SQL identifier for ``name``."""
    return '"' + name.replace('"', '""') + '"'


def _signed_cast_end(sql: str, minus: int) -> int:
    """End of the numeric literal when the unary ``-`` at ``minus`` applies to a literal cast with ``::``
    (``-128::TINYINT``), else -1.

    ``::`` binds tighter than the minus, so DuckDB (like PostgreSQL) casts the positive literal first and the
    smallest value of each signed type overflows: ``-170141183460469231731687303715884105728::HUGEINT`` failed.
    Folding the sign into a nonzero integer gives the same value for every cast that succeeded before; a zero
    or a fraction is left alone (``-0.0::DOUBLE`` is -0.0, ``(-0.0)::DOUBLE`` would be 0.0), no minimum needs it.
    """
    match = _CAST_NUMBER.match(sql, minus + 1)
    return -1 if match is None or not match.group(1).strip("0_") else match.end(1)


def rewrite(sql: str) -> str:
    """Rewrite backslash-escaped string literals to standard SQL, put the sign of a negative literal cast with
    ``::`` inside the cast, and drop one trailing ``;``."""
    out = []
    i, n = 0, len(sql)
    copied = 0  # sql[copied:i] is pending verbatim text
    unary = True  # a "-" here would be a unary minus (set by the last token; comments and spaces keep it)
    while i < n:
        ch = sql[i]
        after_operand = False
        if ch == "-" and sql.startswith("--", i):
            i = _line_comment_end(sql, i)
            continue
        elif ch == "/" and sql.startswith("/*", i):
            i = skip_block_comment(sql, i)
            continue
        elif ch.isspace():
            i += 1
            continue
        elif ch == '"':
            i = skip_quoted_identifier(sql, i)
            after_operand = True
        elif ch == "$" and (i == 0 or not _is_ident_char(sql[i - 1])):
            match = _DOLLAR_TAG.match(sql, i)
            if match is None:
                i += 1
                continue
            end = sql.find(match.group(0), match.end())
            if end < 0:
                raise DialectError("unterminated dollar-quoted string in SQL text")
            i = end + len(match.group(0))
            after_operand = True
        elif ch == "'":
            after_operand = True
            prefix_start = i
            while prefix_start > 0 and _is_ident_char(sql[prefix_start - 1]):
                prefix_start -= 1
            prefix = sql[prefix_start:i].upper()
            if prefix == "E":
                i = skip_standard_literal(sql, i, backslash=True)
            elif prefix in ("X", "B"):
                i = skip_standard_literal(sql, i, backslash=False)
            else:
                text, end = _scan_plain_literal(sql, i)
                out.append(sql[copied:i])
                out.append(quote_literal(text))
                i = copied = end
        elif ch == "-" and unary and (end := _signed_cast_end(sql, i)) >= 0:
            out.append(sql[copied:i])
            out.append("(-" + sql[i + 1:end].lstrip() + ")")
            i = copied = end
            after_operand = True
        elif _is_ident_char(ch):
            start = i
            i += 1
            while i < n and _is_ident_char(sql[i]):
                i += 1
            unary = sql[start:i].lower() in _UNARY_KEYWORDS
            continue
        else:
            i += 1
        unary = not after_operand and ch in _BEFORE_UNARY
    out.append(sql[copied:])
    return strip_trailing_semicolon("".join(out))


def strip_trailing_semicolon(sql: str) -> str:
    """Drop surrounding whitespace and one trailing ``;``."""
    sql = sql.strip()
    if sql.endswith(";"):
        sql = sql[:-1].rstrip()
    return sql


@dataclass
class Token:
    """One token of :func:`tokens`; ``name`` is an identifier's text, unquoted."""

    kind: str  # ident | qident | dot | other
    text: str
    start: int
    end: int

    @property
    def name(self) -> str:
        return self.text[1:-1].replace('""', '"') if self.kind == "qident" else self.text


def tokens(sql: str) -> List[Token]:
    """Identifiers, dots and everything else (a string literal is one ``other`` token), skipping comments:
    how DuckDB splits standard SQL (after :func:`rewrite`). Shared by the store catalogs' name resolution and
    the SQL sandbox."""
    out: List[Token] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch.isspace():
            i += 1
        elif sql.startswith("--", i):
            i = _line_comment_end(sql, i)
        elif sql.startswith("/*", i):
            i = skip_block_comment(sql, i)
        elif ch == '"':
            end = skip_quoted_identifier(sql, i)
            out.append(Token("qident", sql[i:end], i, end))
            i = end
        elif ch == "'":
            escaped = bool(out) and out[-1].kind == "ident" and out[-1].end == i and out[-1].text in "eE"
            end = skip_standard_literal(sql, i, backslash=escaped)
            out.append(Token("other", sql[i:end], i, end))
            i = end
        elif ch.isalpha() or ch == "_" or ord(ch) >= 0x80:
            end = i + 1
            while end < n and (sql[end].isalnum() or sql[end] in "_$" or ord(sql[end]) >= 0x80):
                end += 1
            out.append(Token("ident", sql[i:end], i, end))
            i = end
        elif ch == ".":
            out.append(Token("dot", ".", i, i + 1))
            i += 1
        else:
            out.append(Token("other", ch, i, i + 1))
            i += 1
    return out
