"""The communities app's admin, one module per concern; importing this package registers
every model."""

from . import agreements, places
from .autocomplete import AutocompleteFilter, AutocompleteFilterMedia
from .counts import CitySizeList, EstimatedCountPaginator
from .history import ReadOnlyHistoryAdmin
from .readonly import ReadOnlyAdmin

__all__ = [
    "AutocompleteFilter",
    "AutocompleteFilterMedia",
    "CitySizeList",
    "EstimatedCountPaginator",
    "ReadOnlyAdmin",
    "ReadOnlyHistoryAdmin",
    "agreements",
    "places",
]
