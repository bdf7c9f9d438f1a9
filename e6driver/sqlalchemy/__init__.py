"""SQLAlchemy dialect for e6data-protocol engines: ``e6driver://`` and ``e6data+e6driver://`` URLs."""
from .dialect import E6Dialect
from .dml import Insert, insert

__all__ = ["E6Dialect", "Insert", "insert"]
