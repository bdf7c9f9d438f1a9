"""Rows of one fetched piece of a result, the same for the blocking and the asyncio cursor."""
from __future__ import annotations

import datetime
from typing import Any, List, Optional, Sequence, Tuple

from . import _impl
from .errors import DataError

Row = Tuple[Any, ...]


def to_time(text: Optional[str]) -> Optional[datetime.time]:
    if text is None:
        return None
    try:
        return datetime.time.fromisoformat(text)
    except ValueError:
        raise DataError(f"TIME value {text!r} cannot be represented as datetime.time") from None


def piece_rows(piece: Any, column_count: int, time_columns: Sequence[int]) -> List[Row]:
    """Row tuples of a piece: a chunk's bytes (or a view of the answer that brought it), or an Arrow batch fetched
    for a columnar reader that stopped early (``columnar.ipc_batches``; its types convert to the values the
    decoders give)."""
    if isinstance(piece, (bytes, memoryview)):
        return chunk_rows(piece, column_count, time_columns)
    from . import columnar

    return columnar.batch_rows(piece)


def chunk_rows(data: bytes, column_count: int, time_columns: Sequence[int]) -> List[Row]:
    """Decode a chunk into row tuples; TIME travels as text, so those columns are converted first."""
    if time_columns:
        size, columns = _impl.decode_chunk_columns(data)
        if size and len(columns) != column_count:
            raise DataError(f"chunk has {len(columns)} columns but the result has {column_count}")
        for index in time_columns:
            columns[index] = [to_time(v) for v in columns[index]]
        return list(zip(*columns)) if columns else [()] * size
    rows = _impl.decode_chunk(data)
    if rows and len(rows[0]) != column_count:
        raise DataError(f"chunk has {len(rows[0])} columns but the result has {column_count}")
    return rows
