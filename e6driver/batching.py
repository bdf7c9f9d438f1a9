"""``executemany`` as few statements as possible: ``INSERT … VALUES (…)`` with many parameter sets becomes
multi-row INSERTs (bounded in bytes and rows); any other statement runs once per parameter set."""
from __future__ import annotations

import re
from typing import Iterator, List, Sequence

from .params import Params, bind, prepare_operation

# INSERT ... VALUES (<placeholders>)
_INSERT_VALUES = re.compile(
    r"(?is)\A(\s*INSERT\s+INTO\s.+?\bVALUES\s*)(\((?:\s*%(?:s|\([^)]+\)s)\s*,)*\s*%(?:s|\([^)]+\)s)\s*\))\s*\Z")
MULTI_ROW_LIMIT_BYTES = 2 * 1024 * 1024
MULTI_ROW_LIMIT_ROWS = 5000


def statements_for_many(operation: str, params_list: Sequence[Params]) -> Iterator[str]:
    """The SQL statements that run ``operation`` once for each of ``params_list``."""
    match = _INSERT_VALUES.match(operation.strip().rstrip(";"))
    if not match:
        for params in params_list:
            yield prepare_operation(operation, params)
        return
    head, row_template = bind(match.group(1), ()), match.group(2)  # unescapes %% in the head
    batch: List[str] = []
    size = 0
    for params in params_list:
        values = bind(row_template, params)
        batch.append(values)
        size += len(values) + 1
        if size >= MULTI_ROW_LIMIT_BYTES or len(batch) >= MULTI_ROW_LIMIT_ROWS:
            yield head + ",".join(batch)
            batch, size = [], 0
    if batch:
        yield head + ",".join(batch)
