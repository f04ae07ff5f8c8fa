"""The suite's own order (tests/conftest.py): the files holding a long test are handed out first
under pytest-xdist, whole, and the rest keep the order they were collected in."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import long_first


def item(path: str, *, long: bool = False):
    marker = pytest.mark.long.mark if long else None
    return SimpleNamespace(
        path=Path(path),
        name=path,
        get_closest_marker=lambda name: marker if name == "long" else None,
    )


def test_a_long_tests_file_comes_first_whole_and_the_rest_keep_their_order():
    items = [
        item("a.py"),
        item("b.py"),
        item("c.py"),
        item("c.py", long=True),
        item("d.py"),
        item("e.py", long=True),
    ]
    long_first(items)
    assert [each.name for each in items] == ["c.py", "c.py", "e.py", "a.py", "b.py", "d.py"]
    assert items[1].get_closest_marker("long")  # c.py's long test went with its file


def test_the_collected_suite_starts_with_the_long_tests_files(request):
    """This run's own collection, ordered by the hook: every file with a long test comes before
    every file without one."""
    paths = [each.path for each in request.session.items]
    long_files = {each.path for each in request.session.items if each.get_closest_marker("long")}
    if not long_files:
        pytest.skip("this run selected no long test")
    first_other = next((i for i, path in enumerate(paths) if path not in long_files), len(paths))
    assert all(path not in long_files for path in paths[first_other:])
