"""A burst of authenticated API requests, more at once than the database pool holds, is served
without waiting for the pool. (bench/api_load.py found a real `den serve` on SQLite stalled:
every worker thread waited for a pooled connection held by a request that waited for a worker
thread, until the pool's 30 s timeout.)"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.e2e.server import Server

CONCURRENT = 100  # simultaneous requests: well over the old pool (15) and the threads (40)


def test_a_burst_of_requests_is_served_without_waiting_for_the_pool(tmp_path: Path) -> None:
    server = Server(data_dir=tmp_path, serve_args=("--no-reconciler",)).start()
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(CONCURRENT) as pool:
            answers = list(pool.map(lambda _: server.call("GET", "/api/v1/trials").status_code,
                                    range(CONCURRENT * 5)))
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert answers == [200] * len(answers)
    assert elapsed < 20, f"{len(answers)} requests took {elapsed:.1f} s"
