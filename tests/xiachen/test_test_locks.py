"""The suite's own locks (tests/conftest.py): a timed part of a test, `alone()`, waits for the
test another process is in and holds off the next one until it is over. Threads stand in for
the processes: flock locks belong to open files, so two threads conflict as two processes do."""

import fcntl
import threading
import time
import uuid

from tests import conftest


def _enter(folder, events, name, hold=0.0, entered=None):
    """A test of another process: through the turnstile into the room, shared."""
    with open(folder / "turnstile", "a") as turnstile, open(folder / "room", "a") as room:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(turnstile, fcntl.LOCK_UN)
        fcntl.flock(room, fcntl.LOCK_SH)
        events.append(f"{name} in")
        if entered is not None:
            entered.set()
        time.sleep(hold)
        events.append(f"{name} done")
        fcntl.flock(room, fcntl.LOCK_UN)


def test_a_timed_part_waits_for_the_other_test_and_holds_off_the_next(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", f"lock-test-{uuid.uuid4().hex}")
    folder = conftest._lock_folder()
    events = []
    with open(folder / "room", "a") as mine:
        fcntl.flock(mine, fcntl.LOCK_SH)  # this test's room, as pytest_runtest_protocol holds it
        monkeypatch.setattr(conftest, "_room", mine)
        entered = threading.Event()
        other = threading.Thread(target=_enter, args=(folder, events, "other", 0.5, entered))
        other.start()
        assert entered.wait(5)
        with conftest.alone():
            events.append("timed part")
            following = threading.Thread(target=_enter, args=(folder, events, "next"))
            following.start()
            time.sleep(0.5)
            events.append("timed part done")
        other.join(5)
        following.join(5)
    assert events == [
        "other in",
        "other done",
        "timed part",
        "timed part done",
        "next in",
        "next done",
    ]


def test_in_one_process_a_timed_part_takes_no_lock(monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_TESTRUNUID", raising=False)
    with conftest.alone():
        pass
