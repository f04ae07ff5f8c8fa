"""`reverse()` of a page by one id at the price of a string format: lists link each of their
rows (an activity, a concern, a building's record form), and each reverse cost 20–60 µs."""

from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

# An id no row has: reversed once, it shows where a page's address holds its id.
MARKER = 2147483647

# (name, current app, URL conf, script prefix) → (before the id, after it), or None when the
# address is not the id written as it is (then every call reverses).
_PARTS: dict[tuple, tuple[str, str] | None] = {}


def _parts(name, current_app):
    try:
        url = reverse(name, args=[MARKER], current_app=current_app)
    except NoReverseMatch:
        return None
    head, found, tail = url.partition(str(MARKER))
    if not found or str(MARKER) in tail:
        return None
    # The same pattern for every id: another id reverses to the same parts.
    try:
        other = reverse(name, args=[7], current_app=current_app)
    except NoReverseMatch:
        return None
    return (head, tail) if other == f"{head}7{tail}" else None


def id_url(name, pk, current_app=None) -> str:
    """`reverse(name, args=[pk], current_app=current_app)`; for an id (an int ≥ 0), the page's
    address before and after its id are found once per process."""
    if type(pk) is not int or pk < 0:
        return reverse(name, args=[pk], current_app=current_app)
    key = (name, current_app, settings.ROOT_URLCONF, get_urlconf(), get_script_prefix())
    try:
        parts = _PARTS[key]
    except KeyError:
        parts = _PARTS[key] = _parts(name, current_app)
    if parts is None:
        return reverse(name, args=[pk], current_app=current_app)
    return f"{parts[0]}{pk}{parts[1]}"
