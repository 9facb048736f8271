"""A minimal informer: one list, then one watch stream per kind of object, re-listing on
`410 Gone`, keeping a small summary of each object in memory.

The driver answers `poll`, `running_components` and `list_trial_ids` from these caches, so
observing N trials costs a fixed number of watch streams, never N requests per pass.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import structlog
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

log = structlog.get_logger("kubernetes.informer")
Key = tuple[str, str]  # (namespace, name)
Summary = dict[str, Any]


class Informer:
    def __init__(
        self, *, kind: str, list_fn: Callable[..., Any], selector: str, summarise: Callable[[Any], Summary]
    ) -> None:
        self.kind, self.list_fn, self.selector, self.summarise = kind, list_fn, selector, summarise
        self.items: dict[Key, Summary] = {}
        self.lock = threading.Lock()
        self.synced = threading.Event()
        self.healthy = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"informer-{kind}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def snapshot(self) -> list[Summary]:
        with self.lock:
            return list(self.items.values())

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                version = self._list()
                backoff = 0.5
                self._watch(version)
            except ApiException as exc:
                if exc.status != 410:  # 410 Gone: our version is too old, so list again
                    self._fail(exc, backoff)
                    backoff = min(backoff * 2, 30)
            except Exception as exc:  # the API server went away: keep trying, quietly
                self._fail(exc, backoff)
                backoff = min(backoff * 2, 30)

    def _fail(self, exc: Exception, backoff: float) -> None:
        self.healthy.clear()
        log.warning("informer_retry", kind=self.kind, error=str(exc)[:200], retry_in=backoff)
        self._stop.wait(backoff)

    def _list(self) -> str:
        answer = self.list_fn(label_selector=self.selector)
        fresh = {self._key(o): self.summarise(o) for o in answer.items}
        with self.lock:
            self.items = fresh
        self.synced.set()
        self.healthy.set()
        return str(answer.metadata.resource_version)

    def _watch(self, version: str) -> None:
        stream = watch.Watch()
        for event in stream.stream(
            self.list_fn,
            label_selector=self.selector,
            resource_version=version,
            timeout_seconds=240,
            allow_watch_bookmarks=True,
        ):
            if self._stop.is_set():
                stream.stop()
                return
            kind, obj = event["type"], event["object"]
            if kind == "BOOKMARK":
                continue
            with self.lock:
                if kind == "DELETED":
                    self.items.pop(self._key(obj), None)
                else:
                    self.items[self._key(obj)] = self.summarise(obj)

    @staticmethod
    def _key(obj: Any) -> Key:
        return (obj.metadata.namespace or "", obj.metadata.name)


def wait_synced(informers: list[Informer], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    return all(i.synced.wait(max(0.0, deadline - time.monotonic())) for i in informers)
