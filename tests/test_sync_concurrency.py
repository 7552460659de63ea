"""The engine's overlapped I/O: the prefetching pull (:class:`connector.sync.prefetch.Prefetcher`) and
concurrent write batches, which must not change what is recorded or when the cursor moves.

The prefetcher tests run on plain Python iterators (it is a generic helper, no HTTP involved);
the cursor-discipline tests run the real engine against the sandbox over HTTP, observing the
real adapter and state store from the outside.
"""

from __future__ import annotations

import threading
import time

import pytest
from sync_support import NAMES, prepare, small_bank, trained_model, wrong_values

from connector.records import Cursor
from connector.sandbox import Sandbox
from connector.state import StateStore
from connector.sync.prefetch import Prefetcher
from connector.sync.engine import run_sync

LEADS = 1500


# -- the prefetcher ---------------------------------------------------------------------------


def test_prefetched_pages_come_in_order_and_at_most_depth_ahead():
    produced: list[int] = []
    consumed: list[int] = []
    ahead: list[int] = []

    def pages():
        for n in range(20):
            produced.append(n)
            yield n

    with Prefetcher(pages(), depth=1) as prefetched:
        for page in prefetched:
            time.sleep(0.01)  # let the producer run as far ahead as it may
            consumed.append(page)
            ahead.append(len(produced) - len(consumed))
    assert consumed == list(range(20))
    # One page in the queue plus the one the producer holds while it waits for room.
    assert max(ahead) <= 2


def test_a_pull_error_is_raised_after_the_pages_before_it():
    def pages():
        yield 1
        yield 2
        raise RuntimeError("the CRM went away")

    seen = []
    with pytest.raises(RuntimeError, match="went away"), Prefetcher(pages()) as prefetched:
        for page in prefetched:
            seen.append(page)
    assert seen == [1, 2]


def test_closing_stops_the_pull_and_closes_it():
    closed = threading.Event()
    produced: list[int] = []

    def pages():
        try:
            for n in range(1000):
                produced.append(n)
                yield n
        finally:
            closed.set()

    with Prefetcher(pages(), depth=1) as prefetched:
        for page in prefetched:
            if page == 3:
                break
    assert closed.is_set()  # the generator was closed: no pull left running
    assert len(produced) <= 3 + 3


# -- concurrent writes keep the cursor discipline --------------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return {"hubspot": trained_model("hubspot", LEADS, tmp_path_factory.mktemp("models"))}


def test_concurrent_writes_record_each_page_after_its_writes_in_pull_order(models, tmp_path):
    """HubSpot pages are 200 records, so 1,500 leads make 8 pages; with 4 batches of 100 in
    flight the engine must still record page after page, each only once every record it
    confirms has been answered by the CRM, with the cursors in pull order."""
    with Sandbox(crms=("hubspot",), seed=small_bank(LEADS)) as box, \
            StateStore(tmp_path / "state.sqlite") as state:
        setup = prepare(box, "hubspot", tmp_path / "m", trained=models["hubspot"])
        crm = setup.open()
        crm.write_concurrency = 4
        lock = threading.Lock()
        answered: set[str] = set()
        in_flight, most = [0], [0]
        pulled_cursors: list[str] = []
        recorded_cursors: list[str] = []
        violations: list[str] = []

        write = crm.write

        def observed_write(batch):
            with lock:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
            try:
                time.sleep(0.05)  # widen the window in which batches overlap
                results = write(batch)
            finally:
                with lock:
                    in_flight[0] -= 1
            with lock:
                answered.update(r.record_id for r in results)
            return results

        crm.write = observed_write

        pull = crm.pull_changed

        def observed_pull(cursor, fields):
            for page in pull(cursor, fields):
                pulled_cursors.append(page.cursor.to_json())
                yield page

        crm.pull_changed = observed_pull

        record_page = state.record_page

        def observed_record(connection, run_id, page):
            with lock:
                early = [rid for rid, _ in page.confirmed if rid not in answered]
            if early:
                violations.append(f"recorded {len(early)} confirmations before their answer")
            if page.cursor is not None:
                recorded_cursors.append(page.cursor[1])
            return record_page(connection, run_id, page)

        state.record_page = observed_record
        try:
            summary = run_sync(setup.connection, crm, setup.model(), setup.mapping, state)
        finally:
            crm.close()

        assert summary.outcome == "ok" and summary.counts.failed == 0
        assert most[0] > 1  # batches really overlapped
        assert violations == []
        # Every page was recorded, in the order pulled (the last cursor clamped to the start).
        assert len(recorded_cursors) == len(pulled_cursors) >= 8
        assert recorded_cursors[:-1] == pulled_cursors[:-1]
        stamps = [Cursor.from_json(c) for c in recorded_cursors]
        assert stamps[-1].resume is None and all(c.resume for c in stamps[:-1])
        assert state.get_cursor(NAMES["hubspot"]) == recorded_cursors[-1]
        assert wrong_values(setup) == []
