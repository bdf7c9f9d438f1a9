"""Key globs matched without backtracking: ``*``/``?``/``[...]`` within a ``/`` level, ``**`` across levels.

A pattern is split into levels; a level is a list of items (a literal character, ``?``, a class, or ``*``)
and the pattern a list of levels or ``**``. Both lists are matched by the same greedy algorithm that only ever
returns to the most recent star, so matching costs at most (key length × pattern length) item comparisons —
never the exponential time a backtracking regex takes on ``*a*a*a…*b`` — and patterns are capped at
``max_glob_chars`` characters (``--max-glob-chars``). ``**`` glued to other text (``**.csv``, ``logs**``)
counts as ``**/*.csv`` and ``logs*/**``.
"""
from __future__ import annotations

from typing import Callable, List, Sequence, Tuple, TypeVar, Union

from mock_server.limits import DEFAULT_LIMITS, Limits, exceeded

MAX_GLOB_CHARS = DEFAULT_LIMITS.max_glob_chars  # the default of --max-glob-chars
WILDCARDS = "*?["

T = TypeVar("T")
_STAR = "*"
_ANY_LEVELS = "**"
# One level's item: a character, ``?`` as None, a class as (negate, ranges), or the star.
Item = Union[str, None, Tuple[bool, Tuple[Tuple[str, str], ...]]]


def literal_prefix(pattern: str) -> str:
    """The part of a glob before its first wildcard (to list only what can match)."""
    cut = min((pattern.find(c) for c in WILDCARDS if c in pattern), default=len(pattern))
    return pattern[:cut]


def is_glob(pattern: str) -> bool:
    return literal_prefix(pattern) != pattern


class Glob:
    """A compiled key glob; :meth:`match` tells whether a whole key matches."""

    def __init__(self, pattern: str, limits: Limits = DEFAULT_LIMITS) -> None:
        if len(pattern) > limits.max_glob_chars:
            raise exceeded(limits, "max_glob_chars", f"a glob of {len(pattern)} characters")
        self.pattern = pattern
        self._levels: List[Union[str, List[Item]]] = []
        for level in pattern.split("/"):
            if level == _ANY_LEVELS:
                self._add_any()
            elif level.startswith(_ANY_LEVELS):
                self._add_any()
                self._levels.append(_items("*" + level.lstrip("*")))
            elif level.endswith(_ANY_LEVELS):
                self._levels.append(_items(level.rstrip("*") + "*"))
                self._add_any()
            else:
                self._levels.append(_items(level))

    def _add_any(self) -> None:
        if not self._levels or self._levels[-1] != _ANY_LEVELS:
            self._levels.append(_ANY_LEVELS)

    def match(self, key: str) -> bool:
        return _match(self._levels, key.split("/"), _ANY_LEVELS, _level_matches)


def compile_glob(pattern: str, limits: Limits = DEFAULT_LIMITS) -> Glob:
    return Glob(pattern, limits)


def _items(level: str) -> List[Item]:
    items: List[Item] = []
    i, n = 0, len(level)
    while i < n:
        ch = level[i]
        if ch == "*":
            if not items or items[-1] != _STAR:
                items.append(_STAR)
            i += 1
        elif ch == "?":
            items.append(None)
            i += 1
        elif ch == "[" and "]" in level[i + 2:]:
            end = level.index("]", i + 2)
            body = level[i + 1:end]
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            ranges, j = [], 0
            while j < len(body):
                if j + 2 < len(body) and body[j + 1] == "-":
                    ranges.append((body[j], body[j + 2]))
                    j += 3
                else:
                    ranges.append((body[j], body[j]))
                    j += 1
            items.append((negate, tuple(ranges)))
            i = end + 1
        else:
            items.append(ch)
            i += 1
    return items


def _char_matches(item: Item, ch: str) -> bool:
    if item is None:
        return True
    if isinstance(item, str):
        return item == ch
    negate, ranges = item
    return any(low <= ch <= high for low, high in ranges) != negate


def _level_matches(items: object, level: str) -> bool:
    return _match(items, level, _STAR, _char_matches)  # type: ignore[arg-type]


def _match(pattern: Sequence, text: Sequence[T], star: object, item_matches: Callable[[object, T], bool]) -> bool:
    """Whether ``text`` matches ``pattern`` (items and stars); a star matches any run of text items.

    Greedy, remembering only the last star: when a later item fails, the last star takes one more text
    item and matching resumes after it. Earlier stars never need revisiting (what they could absorb, the
    last one can too), so this is O(len(text) × len(pattern)) without recursion.
    """
    p = t = 0
    star_p, star_t = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] != star and item_matches(pattern[p], text[t]):
            p += 1
            t += 1
        elif p < len(pattern) and pattern[p] == star:
            star_p, star_t = p, t
            p += 1
        elif star_p >= 0:
            star_t += 1
            t = star_t
            p = star_p + 1
        else:
            return False
    while p < len(pattern) and pattern[p] == star:
        p += 1
    return p == len(pattern)
