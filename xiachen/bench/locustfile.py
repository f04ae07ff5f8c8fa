"""The load test `make bench` runs: the demo accounts' pages over loopback, back to back.

XIACHEN_BENCH_PAGES names a JSON file written by xiachen/bench/load.py: {"accounts": {username:
{"session": session key, "urls": [url, ...]}}, "warmup": seconds, "result": path}. The sessions
are made by the bench beforehand (signing in 8 × 11 times would spend the run hashing
passwords); each simulated user takes the accounts in turn, so that eight users make the mixed
workload of all of them. The figures are the pages' own: requests in the first `warmup` seconds
are left out, and the summary is written to `result` when the run stops.
"""

import itertools
import json
import math
import os
import random
import statistics
import time

from locust import constant, events, task
from locust.contrib.fasthttp import FastHttpUser

with open(os.environ["XIACHEN_BENCH_PAGES"]) as _file:
    PLAN = json.load(_file)
SAMPLES: list[tuple[float, float, bool, str]] = []


class DemoAccounts(FastHttpUser):
    wait_time = constant(0)

    def on_start(self):
        accounts = list(PLAN["accounts"].items())
        random.shuffle(accounts)
        self.turns = itertools.cycle(accounts)

    @task
    def page(self):
        _username, account = next(self.turns)
        url = random.choice(account["urls"])
        headers = {"Cookie": f"sessionid={account['session']}"}
        with self.client.get(
            url, name=url.split("?")[0], headers=headers, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")


@events.request.add_listener
def _sample(name, response_time, exception, **_kwargs):
    SAMPLES.append((time.monotonic(), response_time, exception is None, name))


@events.test_stop.add_listener
def _summary(**_kwargs):
    stop = time.monotonic()
    errors = sum(1 for _, _, ok, _ in SAMPLES if not ok)
    start = (SAMPLES[0][0] if SAMPLES else stop) + PLAN["warmup"]
    times = sorted(ms for at, ms, _, _ in SAMPLES if at >= start)
    p95 = times[math.ceil(0.95 * len(times)) - 1] if times else None
    by_page: dict[str, list[float]] = {}
    for at, ms, _, name in SAMPLES:
        if at >= start:
            by_page.setdefault(name, []).append(ms)
    summary = {
        "requests": len(times),
        "seconds": stop - start,
        "per_second": len(times) / (stop - start) if stop > start else 0,
        "p95_ms": p95,
        "errors": errors,
        "all_requests": len(SAMPLES),
        # Each page's share of the time, so that the report can say where it goes.
        "pages": {
            name: {
                "requests": len(page),
                "total_ms": sum(page),
                "median_ms": statistics.median(page),
            }
            for name, page in by_page.items()
        },
    }
    with open(PLAN["result"], "w") as file:
        json.dump(summary, file)
