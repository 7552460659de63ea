"""HubSpot full loads through the list API and search at once, over HTTP against the sandbox:
every record once, both rate buckets used, no 429, and a crash resumes both sweeps."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from connector.records import Cursor, FieldSpec, RecordWrite


def _score_spec():
    return [FieldSpec("ls_score", "Lead score", "number")]


def test_a_full_load_reads_from_both_ends_and_meets_in_the_middle(hubspot):
    ids = hubspot.admin.create(3_000)
    crm = hubspot.connect()
    crm.ensure_fields(_score_spec())
    before = hubspot.admin.stats()
    delivered: list[str] = []
    pages = []
    # Like a sync run: each page is written back while the next ones are read.
    for page in crm.pull_changed(None, ["email"]):
        pages.append(page)
        delivered += [r.id for r in page.records]
        results = crm.write([RecordWrite(r.id, {"ls_score": 1}) for r in page.records[:100]])
        assert all(r.ok for r in results)
    stats = hubspot.admin.stats()
    assert len(delivered) == len(set(delivered)) == 3_000 and set(delivered) == set(ids)
    searches = stats["search_calls"] - before["search_calls"]
    lists = (stats["api_calls"] - before["api_calls"]) - searches - (
        stats["write_requests"] - before["write_requests"])
    # Both buckets carried reads (how they share the work depends on timing), the 10-second
    # one (shared with the writes) fewer than the 30 pages of the list API alone, and where
    # the sweeps meet at most a call of each is wasted (plus partial last pages).
    assert lists >= 1 and searches >= 1 and lists < 30
    assert lists * 100 + searches * 200 <= 3_000 + 600
    assert stats["http_429"] == before["http_429"]
    assert all(p.cursor.resume["mode"] == "split" for p in pages[:-1])
    assert pages[-1].cursor.resume is None and pages[-1].cursor.stamp is not None


def test_an_interrupted_full_load_resumes_both_sweeps(hubspot):
    ids = hubspot.admin.create(2_000)
    crm = hubspot.connect()
    first: list[str] = []
    pull = crm.pull_changed(None, ["email"])
    for page in pull:
        first += [r.id for r in page.records]
        if len(first) >= 600:
            break
    pull.close()  # the run died here; its cursor was stored with the page
    stored = Cursor.from_json(page.cursor.to_json())
    assert stored.resume["mode"] == "split"
    again = hubspot.connect()
    rest = [r.id for p in again.pull_changed(stored, ["email"]) for r in p.records]
    assert set(first) | set(rest) == set(ids)
    assert len(first) + len(rest) == 2_000  # nothing delivered twice across the crash


def _calls(stats: dict, before: dict) -> tuple[int, int]:
    """(list pages, searches) answered between ``before`` and ``stats`` (no writes between)."""
    searches = stats["search_calls"] - before["search_calls"]
    return stats["api_calls"] - before["api_calls"] - searches, searches


def test_both_sweeps_read_ahead_while_the_consumer_holds_a_page(hubspot):
    """The engine writes back one page while the next are read: both sweeps keep calls in
    flight meanwhile (neither waits for the consumer), and still meet exactly once."""
    ids = hubspot.admin.create(3_000)
    crm = hubspot.connect()
    before = hubspot.admin.stats()
    pull = crm.pull_changed(None, ["email"])
    held = next(pull)  # the consumer is busy with this page and asks for no other
    deadline = time.monotonic() + 60  # a bound on waiting, not on speed
    while time.monotonic() < deadline:
        lists, searches = _calls(hubspot.admin.stats(), before)
        if lists * 100 + searches * 200 >= 3_000 and lists > 2 and searches > 2:
            break
        time.sleep(0.05)
    # Every id was read by the two sweeps while the first page was still held.
    assert lists > 2 and searches > 2 and lists * 100 + searches * 200 >= 3_000
    delivered = [r.id for r in held.records] + [r.id for p in pull for r in p.records]
    assert len(delivered) == len(set(delivered)) == 3_000 and set(delivered) == set(ids)
    lists, searches = _calls(hubspot.admin.stats(), before)
    # They met once: past the meeting, at most the call each had in flight (and the partial
    # last pages) read ids the other had.
    assert lists * 100 + searches * 200 <= 3_000 + 600
    assert hubspot.admin.stats()["http_429"] == before["http_429"]


def test_full_load_records_match_the_sdk_models(hubspot):
    """The sweeps parse their pages as plain JSON (no SDK models): ids, values and stamps come
    out as the SDK's own models give them (batch read)."""
    ids = hubspot.admin.create(250, lastname="Ng")
    crm = hubspot.connect()
    fields = ["email", "lastname", "firstname", "phone"]
    pulled = {r.id: r for p in crm.pull_changed(None, fields) for r in p.records}
    assert set(pulled) == set(ids)
    for start in range(0, 250, 100):
        for record in crm.read(ids[start:start + 100], fields):
            assert pulled[record.id] == record


def test_answers_cut_mid_body_are_read_again(hubspot):
    """The sweeps read their answers' bodies themselves (plain JSON): a connection cut halfway
    through one is retried like any dropped connection, and no contact is lost or repeated."""
    ids = hubspot.admin.create(2_000)
    crm = hubspot.connect()
    hubspot.sandbox.set_faults("hubspot.list:cut:0.2,hubspot.search:cut:0.2,seed:3")
    before = hubspot.admin.stats()
    delivered = [r.id for p in crm.pull_changed(None, ["email"]) for r in p.records]
    hubspot.sandbox.set_faults("")
    assert len(delivered) == len(set(delivered)) == 2_000 and set(delivered) == set(ids)
    assert hubspot.sleeps.delays  # some answers were cut, and read again after a pause
    assert hubspot.admin.stats()["http_429"] == before["http_429"]


def test_full_loads_left_by_earlier_versions_finish_as_they_started(hubspot):
    """Cursors left mid-way by a list-API load (``mode: list``, an opaque ``after``) or a keyset
    search load (``mode: search``, the last id) finish that way: the rest, each contact once."""
    ids = hubspot.admin.create(700)
    first = hubspot.admin.client.crm.contacts.basic_api.get_page(limit=100)
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    crm = hubspot.connect()
    for resume in ({"mode": "list", "after": first.paging.next.after},
                   {"mode": "search", "after_id": first.results[-1].id}):
        pages = list(crm.pull_changed(Cursor(resume={**resume, "started": started.isoformat()}),
                                      ["email"]))
        rest = [r.id for p in pages for r in p.records]
        assert rest == ids[100:]
        assert all(p.cursor.resume["mode"] == resume["mode"] for p in pages[:-1])
        assert pages[-1].cursor.resume is None and pages[-1].cursor.stamp == started
