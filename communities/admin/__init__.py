"""The communities app's admin, one module per concern; importing this package registers
every model."""

from . import agreements, places
from .history import ReadOnlyHistoryAdmin

__all__ = ["ReadOnlyHistoryAdmin", "agreements", "places"]
