"""The expression language of update expressions, conditions and scan filters: tokenized, parsed and
evaluated here in Python against one item's attributes; nothing a user writes ever reaches SQL text.

Grammar (keywords case-insensitive)::

    update     := statement (';' statement)* [';']
    statement  := ['SET'] name '=' expr  |  'REMOVE' name (',' name)*
    condition  := expr                                  (must be true or false)
    expr       := and ('OR' and)*
    and        := not ('AND' not)*
    not        := 'NOT' not | comparison
    comparison := sum [('=' | '==' | '!=' | '<>' | '<' | '<=' | '>' | '>=') sum | 'IN' '(' expr (',' expr)* ')']
    sum        := product (('+' | '-') product)*
    product    := unary (('*' | '/' | '%') unary)*
    unary      := '-' unary | primary
    primary    := number | 'string' | TRUE | FALSE | name | function '(' args ')' | '(' expr ')'
    function   := exists(name) | if_not_exists(name, expr) | length(expr) | starts(expr, expr)
                  | ends(expr, expr) | contains(expr, expr)

Strings are single-quoted (``''`` is a quote inside one). ``__name`` is the item's key (read-only).
Semantics: statements of an update run in order, each seeing the ones before. An attribute the item lacks
is *missing*: arithmetic on it stays missing, every comparison with it is false (``!=`` too), assigning it
is an error (use ``if_not_exists``). ``+`` adds numbers or joins two strings (or two bytes); ``/`` gives a
float; integers stay 64-bit (overflow is an error). Values of different types are never equal and never
ordered (numbers compare with numbers). Text is at most :data:`MAX_CHARS` characters, nesting
:data:`MAX_DEPTH` levels.
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import grpc

from mock_server import errors
from mock_server.kv.names import KEY_COLUMN, RESERVED, check_attribute
from mock_server.kv.values import INT64_MAX, INT64_MIN, Attributes

MAX_CHARS = 16384
MAX_DEPTH = 32

_TOKEN = re.compile(r"""\s*(?:
    (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^']|'')*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|!=|==|<=|>=|[=<>+\-*/%(),;])
  )""", re.VERBOSE)
_COMPARE = {"=": operator.eq, "==": operator.eq, "!=": operator.ne, "<>": operator.ne, "<": operator.lt,
            "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_NOT_EQUAL = ("!=", "<>")


class Missing:
    """The value of an attribute the item lacks (it remembers which, for error messages)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


@dataclass
class Env:
    """What an expression is evaluated against: the item's key and attributes (updated in place by updates)."""
    key: str
    attributes: Attributes
    max_chars: int = 1 << 20  # the longest string or bytes value an expression may build
    removed: List[str] = field(default_factory=list)


Fn = Callable[[Env], Any]


@dataclass
class Token:
    kind: str  # number | string | name | op | end
    text: str
    pos: int


def _error(message: str) -> errors.EngineError:
    return errors.invalid(message)


def tokenize(text: str) -> List[Token]:
    if len(text) > MAX_CHARS:
        raise _error(f"expression of {len(text)} characters: at most {MAX_CHARS}")
    out, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            out.append(Token("end", "", pos))
            return out
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            if text[pos] == "'":
                raise _error(f"unterminated string at position {pos}")
            raise _error(f"unexpected character {text[pos]!r} at position {pos}")
        kind = match.lastgroup or "op"
        out.append(Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()


# ------------------------------------------------------------------ evaluation helpers

def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string", bytes: "bytes"}.get(type(value), "value")


def _checked_int(value: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise errors.EngineError(grpc.StatusCode.OUT_OF_RANGE, "integer overflow: the result is outside 64 bits")
    return value


def _arithmetic(op: str, a: Any, b: Any, env: Env) -> Any:
    if isinstance(a, Missing):
        return a
    if isinstance(b, Missing):
        return b
    if op == "+" and type(a) is type(b) and isinstance(a, (str, bytes)):
        if len(a) + len(b) > env.max_chars:
            raise errors.EngineError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                     f"expression builds a value over {env.max_chars} characters (max_kv_item_bytes)")
        return a + b
    if not (_is_number(a) and _is_number(b)):
        raise _error(f"cannot apply {op} to {_type_name(a)} and {_type_name(b)}")
    if op in "/%" and b == 0:
        raise _error("division by zero")
    if op == "+":
        result = a + b
    elif op == "-":
        result = a - b
    elif op == "*":
        result = a * b
    elif op == "/":
        result = a / b
    else:
        result = a % b
    if isinstance(result, int):
        return _checked_int(result)
    if not math.isfinite(result) and math.isfinite(a) and math.isfinite(b):
        raise errors.EngineError(grpc.StatusCode.OUT_OF_RANGE, "float overflow")
    return result


def _compare(op: str, a: Any, b: Any) -> bool:
    if isinstance(a, Missing) or isinstance(b, Missing):
        return False
    if not (_is_number(a) and _is_number(b)) and type(a) is not type(b):
        return op in _NOT_EQUAL
    return bool(_COMPARE[op](a, b))


def truth(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, Missing):
        return False
    raise _error(f"{where} needs true or false, not a {_type_name(value)}")


def _text_test(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def run(a: Any, b: Any) -> bool:
        return type(a) is type(b) and isinstance(a, (str, bytes)) and test(a, b)
    return run


def _length(value: Any) -> Any:
    if isinstance(value, Missing):
        return value
    if not isinstance(value, (str, bytes)):
        raise _error(f"length() needs a string or bytes, not a {_type_name(value)}")
    return len(value)


_TESTS = {"starts": _text_test(lambda a, b: a.startswith(b)), "ends": _text_test(lambda a, b: a.endswith(b)),
          "contains": _text_test(lambda a, b: b in a)}


# ------------------------------------------------------------------ parser

class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    # -------------------------------------------------------------- token helpers

    @property
    def token(self) -> Token:
        return self.tokens[self.i]

    def keyword(self, *words: str) -> bool:
        return self.token.kind == "name" and self.token.text.lower() in words

    def take(self) -> Token:
        token = self.token
        self.i += 1
        return token

    def expect(self, text: str) -> None:
        if self.token.text != text or self.token.kind != "op":
            raise self.unexpected(f"expected {text!r}")

    def unexpected(self, what: str) -> errors.EngineError:
        found = repr(self.token.text) if self.token.kind != "end" else "the end"
        return _error(f"{what} at position {self.token.pos}, found {found}")

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _error(f"expression nested deeper than {MAX_DEPTH} levels")

    def attribute_name(self) -> str:
        token = self.token
        if token.kind != "name" or token.text.lower() in RESERVED:
            raise self.unexpected("expected an attribute name")
        self.take()
        return token.text

    # -------------------------------------------------------------- grammar

    def update(self) -> List[Callable[[Env], None]]:
        statements = []
        while self.token.kind != "end":
            statements.extend(self.statement())
            if self.token.text == ";" and self.token.kind == "op":
                self.take()
            elif self.token.kind != "end":
                raise self.unexpected("expected ';' between statements")
        if not statements:
            raise _error("empty update expression")
        return statements

    def statement(self) -> List[Callable[[Env], None]]:
        if self.keyword("remove"):
            self.take()
            names = [self._target(self.attribute_name())]
            while self.token.text == "," and self.token.kind == "op":
                self.take()
                names.append(self._target(self.attribute_name()))
            return [_remover(name) for name in names]
        if self.keyword("set"):
            self.take()
        name = self._target(self.attribute_name())
        self.expect("=")
        self.take()
        return [_assigner(name, self.expr())]

    def _target(self, name: str) -> str:
        if name == KEY_COLUMN:
            raise _error(f"{KEY_COLUMN} is the item's key and cannot be changed")
        return check_attribute(name)

    def condition(self) -> Fn:
        fn = self.expr()
        if self.token.kind != "end":
            raise self.unexpected("unexpected text after the condition")
        return fn

    def expr(self) -> Fn:
        parts = [self.conjunction()]
        while self.keyword("or"):
            self.take()
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda env: any(truth(p(env), "OR") for p in parts)

    def conjunction(self) -> Fn:
        parts = [self.negation()]
        while self.keyword("and"):
            self.take()
            parts.append(self.negation())
        if len(parts) == 1:
            return parts[0]
        return lambda env: all(truth(p(env), "AND") for p in parts)

    def negation(self) -> Fn:
        if not self.keyword("not"):
            return self.comparison()
        self.take()
        self.nested()
        inner = self.negation()
        self.depth -= 1
        return lambda env: not truth(inner(env), "NOT")

    def comparison(self) -> Fn:
        left = self.sum()
        if self.token.kind == "op" and self.token.text in _COMPARE:
            op = self.take().text
            right = self.sum()
            return lambda env: _compare(op, left(env), right(env))
        if self.keyword("in"):
            self.take()
            options = self.arguments()
            return lambda env: any(_compare("=", left(env), o(env)) for o in options)
        return left

    def sum(self) -> Fn:
        return self._chain(self.product, "+-")

    def product(self) -> Fn:
        return self._chain(self.unary, "*/%")

    def _chain(self, operand: Callable[[], Fn], ops: str) -> Fn:
        first = operand()
        rest: List[Tuple[str, Fn]] = []
        while self.token.kind == "op" and self.token.text in ops and len(self.token.text) == 1:
            op = self.take().text
            rest.append((op, operand()))
        if not rest:
            return first

        def run(env: Env) -> Any:  # a loop, not nested closures: long chains cannot exhaust the stack
            value = first(env)
            for op, fn in rest:
                value = _arithmetic(op, value, fn(env), env)
            return value
        return run

    def unary(self) -> Fn:
        if not (self.token.kind == "op" and self.token.text == "-"):
            return self.primary()
        self.take()
        if self.token.kind == "number":  # a negative literal (so -9223372036854775808 fits)
            value = self._number(self.take(), negative=True)
            return lambda env: value
        self.nested()
        inner = self.unary()
        self.depth -= 1
        return lambda env: _arithmetic("-", 0, inner(env), env)

    def _number(self, token: Token, negative: bool = False) -> Any:
        text = ("-" if negative else "") + token.text
        if any(c in token.text for c in ".eE"):
            value = float(text)
            if not math.isfinite(value):
                raise _error(f"number {token.text[:40]} is out of range")
            return value
        value = int(text)
        if not INT64_MIN <= value <= INT64_MAX:
            raise errors.EngineError(grpc.StatusCode.OUT_OF_RANGE,
                                     f"integer {text[:40]} does not fit in 64 bits")
        return value

    def primary(self) -> Fn:
        token = self.token
        if token.kind == "number":
            value = self._number(self.take())
            return lambda env: value
        if token.kind == "string":
            text = self.take().text[1:-1].replace("''", "'")
            return lambda env: text
        if token.kind == "op" and token.text == "(":
            self.take()
            self.nested()
            inner = self.expr()
            self.depth -= 1
            self.expect(")")
            self.take()
            return inner
        if self.keyword("true", "false"):
            value = self.take().text.lower() == "true"
            return lambda env: value
        if token.kind == "name" and self.tokens[self.i + 1].text == "(":
            return self.function()
        name = self.attribute_name()
        if name == KEY_COLUMN:
            return lambda env: env.key
        if name.startswith("__"):
            raise _error(f"unknown system attribute {name!r} (only {KEY_COLUMN})")
        return lambda env: env.attributes.get(name, Missing(name))

    def arguments(self) -> List[Fn]:
        self.expect("(")
        self.take()
        self.nested()
        args = [self.expr()]
        while self.token.text == "," and self.token.kind == "op":
            self.take()
            args.append(self.expr())
        self.depth -= 1
        self.expect(")")
        self.take()
        return args

    def function(self) -> Fn:
        token = self.take()
        name = token.text.lower()
        if name in ("exists", "if_not_exists"):
            self.expect("(")
            self.take()
            attribute = self.attribute_name()
            fallback: Optional[Fn] = None
            if name == "if_not_exists":
                self.expect(",")
                self.take()
                self.nested()
                fallback = self.expr()
                self.depth -= 1
            self.expect(")")
            self.take()
            if fallback is None:
                return lambda env: attribute in env.attributes or attribute == KEY_COLUMN
            return lambda env: env.attributes[attribute] if attribute in env.attributes else fallback(env)
        args = self.arguments()
        if name == "length" and len(args) == 1:
            return lambda env: _length(args[0](env))
        if name in _TESTS and len(args) == 2:
            test = _TESTS[name]
            return lambda env: test(args[0](env), args[1](env))
        raise _error(f"unknown function {token.text}() with {len(args)} argument(s) at position {token.pos}: "
                     "exists(a), if_not_exists(a, v), length(x), starts(x, p), ends(x, s), contains(x, s)")


def _assigner(name: str, fn: Fn) -> Callable[[Env], None]:
    def run(env: Env) -> None:
        value = fn(env)
        if isinstance(value, Missing):
            raise _error(f"attribute {value.name!r} is not set (use if_not_exists({value.name}, <default>))")
        if isinstance(value, int) and not isinstance(value, bool):
            _checked_int(value)
        env.attributes[name] = value
    return run


def _remover(name: str) -> Callable[[Env], None]:
    def run(env: Env) -> None:
        env.attributes.pop(name, None)
        env.removed.append(name)
    return run


# ------------------------------------------------------------------ entry points

_cache: Dict[Tuple[str, str], Any] = {}
_CACHE_SIZE = 256


def _compiled(kind: str, text: str) -> Any:
    """Parsed expressions by text (a scan parses its filter once per page; a hot counter once)."""
    found = _cache.get((kind, text))
    if found is None:
        parser = _Parser(text)
        found = parser.update() if kind == "update" else parser.condition()
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[(kind, text)] = found
    return found


def condition(text: str) -> Callable[[Env], bool]:
    """A condition or filter; calling it on an :class:`Env` says whether the item passes."""
    fn = _compiled("condition", text)
    return lambda env: truth(fn(env), "a condition")


def update(text: str) -> Callable[[Env], None]:
    """An update expression; calling it applies its statements to ``env.attributes`` in order."""
    statements = _compiled("update", text)

    def run(env: Env) -> None:
        for statement in statements:
            statement(env)
    return run
