"""Counting queries and timing, and the line each target prints."""

import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connections


class QueryCounter:
    """Counts the statements a block sends to one database (through Django's execute
    wrapper, which costs nothing measurable, unlike a debug cursor keeping every SQL text)."""

    def __init__(self, using="default"):
        self.using = using
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    @contextmanager
    def counting(self):
        with connections[self.using].execute_wrapper(self):
            yield self


def count_queries(function, using="default"):
    """(result, number of queries) of one call."""
    counter = QueryCounter(using)
    with counter.counting():
        result = function()
    return result, counter.count


def median_time(function, *, repeat: int = 5, budget: float = 3.0, times=()) -> tuple[float, int]:
    """Median wall time in seconds of `repeat` calls, fewer when they would take longer than
    `budget` seconds together (a page that takes seconds needs no five samples to fail); returns
    (median, samples). `times` are samples already taken, which count among the `repeat`."""
    times = list(times)
    started = time.perf_counter() - sum(times)
    while len(times) < repeat:
        begin = time.perf_counter()
        function()
        times.append(time.perf_counter() - begin)
        if time.perf_counter() - started > budget:
            break
    return statistics.median(times), len(times)


@dataclass
class Line:
    """One target: what was measured, the figure, the target and whether it holds.

    `judged` is False for a figure shown but not judged (times below SCALE 1): its verdict is
    in parentheses, what it would be, and it never fails the run."""

    section: str
    name: str
    figure: str
    target: str
    ok: bool
    judged: bool = True
    note: str = ""

    @property
    def verdict(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        return verdict if self.judged else f"({verdict})"

    def text(self) -> str:
        note = f"  — {self.note}" if self.note else ""
        return (
            f"{self.verdict:6} {self.section:7} {self.name}: {self.figure}"
            f" (target {self.target}){note}"
        )


@dataclass
class Results:
    lines: list[Line] = field(default_factory=list)
    echo: bool = True

    def add(self, line: Line) -> Line:
        self.lines.append(line)
        if self.echo:
            print(line.text(), flush=True)
        return line

    @property
    def failed(self) -> list[Line]:
        return [line for line in self.lines if line.judged and not line.ok]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
