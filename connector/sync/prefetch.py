"""Pulling the next page while the current one is processed: a bounded background iterator."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from connector.records import Page

PREFETCH_PAGES = 1  # pages pulled ahead of the one being processed (memory: 2-3 pages at most)
PREFETCH_JOIN_S = 120.0  # how long closing waits for a pull still in flight


class Prefetcher:
    """Iterate ``pages`` in a background thread, at most ``depth`` pages ahead of the consumer.

    Pages come out in the order the pull yields them; an error raised by the pull is raised by
    the consumer's iteration at the position it happened (the pages before it are delivered
    first). :meth:`close` stops the pull after the page in flight and waits for it, so nothing
    keeps using the CRM client after the run.
    """

    _PAGE, _END, _ERROR = "page", "end", "error"

    def __init__(self, pages: Iterable[Page], *, depth: int = PREFETCH_PAGES) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max(1, depth))
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(iter(pages),), daemon=True,
                                        name="leadscore-prefetch")
        self._thread.start()

    def _produce(self, pages: Iterator[Page]) -> None:
        try:
            for page in pages:
                if not self._put((self._PAGE, page)):
                    return
            self._put((self._END, None))
        except BaseException as error:  # handed to the consumer, raised there
            self._put((self._ERROR, error))
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Page]:
        while True:
            kind, value = self._queue.get()
            if kind == self._END:
                return
            if kind == self._ERROR:
                raise value
            yield value

    def close(self) -> None:
        """Stop pulling (after the page in flight) and wait for the background thread."""
        self._closed.set()
        while True:  # unblock a producer waiting for room
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(PREFETCH_JOIN_S)

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
