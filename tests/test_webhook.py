"""The callback webhook against a real HTTP server on 127.0.0.1: retried with backoff until it
answers 2xx, dead after ``max_attempts`` (counted for ``leadscore status``), never sent twice."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connector.config import Webhook
from connector.errors import ConfigError
from connector.state import StateStore
from connector.state.pilot import Callback
from connector.sync.webhook import WebhookSender, retry_delay


class Endpoint:
    """A webhook receiver that answers the queued statuses in turn (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses, self.bodies = list(statuses), []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the stdlib's name)
                length = int(self.headers["Content-Length"])
                endpoint.bodies.append(json.loads(self.rfile.read(length)))
                status = endpoint.statuses.pop(0) if endpoint.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def clock():
    now = [datetime(2026, 5, 2, 9, 0, tzinfo=UTC)]
    tick = lambda: now[0]  # noqa: E731
    tick.advance = lambda seconds: now.__setitem__(0, now[0] + timedelta(seconds=seconds))
    return tick


def _callback(number: int) -> tuple[Callback, str]:
    cb = Callback(f"00Q{number:015d}", "new", f"ls-{number}", "Hot", None, 87, "005A",
                  "Call back: Hot lead (score 87)", datetime(2026, 5, 2, 9, 0, tzinfo=UTC),
                  id=number)
    return cb, f"00T{number}"


def _sender(state, url: str, clock, attempts: int = 5) -> WebhookSender:
    state.ensure_connection("sf", "salesforce")
    return WebhookSender(Webhook(url_env="HOT_HOOK", max_attempts=attempts), state, "sf",
                         "salesforce", {"HOT_HOOK": url}, clock)


def test_a_failing_webhook_is_retried_with_backoff_until_it_answers(tmp_path, clock):
    endpoint = Endpoint([500, 503])
    with StateStore(tmp_path / "s.db", clock=clock) as state:
        sender = _sender(state, endpoint.url, clock)
        sender.queue([_callback(1)])
        sender.queue([_callback(1)])  # queued once per callback, whatever happens
        assert sender.deliver() == 0 and len(endpoint.bodies) == 1
        assert sender.deliver() == 0 and len(endpoint.bodies) == 1  # not due yet: 30 s
        clock.advance(retry_delay(1).total_seconds())
        assert sender.deliver() == 0 and len(endpoint.bodies) == 2
        clock.advance(retry_delay(2).total_seconds())
        assert sender.deliver() == 1 and len(endpoint.bodies) == 3
        clock.advance(3600)
        assert sender.deliver() == 0 and len(endpoint.bodies) == 3  # sent once, never again
        assert state.pilot.webhook_counts("sf") == {"pending": 0, "sent": 1, "dead": 0}
        body = endpoint.bodies[-1]
        assert (body["record_id"], body["task_id"], body["tier"], body["score"]) == (
            "00Q000000000000001", "00T1", "Hot", 87)
        assert body["text"].startswith("Call back: Hot lead (score 87)")
        sender.close()
    endpoint.close()
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 10)] == [30, 60, 120, 3600]


def test_a_webhook_that_never_answers_2xx_becomes_a_dead_letter(tmp_path, clock):
    endpoint = Endpoint([500] * 10)
    with StateStore(tmp_path / "s.db", clock=clock) as state:
        sender = _sender(state, endpoint.url, clock, attempts=3)
        sender.queue([_callback(1), _callback(2)])
        for _ in range(5):
            sender.deliver()
            clock.advance(3600)
        assert len(endpoint.bodies) == 6  # 3 attempts each, then dead
        assert state.pilot.webhook_counts("sf") == {"pending": 0, "sent": 0, "dead": 2}
        sender.close()
    endpoint.close()


def test_an_unreachable_webhook_is_retried_like_an_error(tmp_path, clock):
    endpoint = Endpoint([])
    url = endpoint.url
    endpoint.close()  # nothing listens there any more
    with StateStore(tmp_path / "s.db", clock=clock) as state:
        sender = _sender(state, url, clock, attempts=2)
        sender.queue([_callback(1)])
        sender.deliver()
        assert state.pilot.webhook_counts("sf")["pending"] == 1
        clock.advance(60)
        sender.deliver()
        assert state.pilot.webhook_counts("sf")["dead"] == 1


def test_a_missing_webhook_url_is_a_config_error(tmp_path, clock):
    with StateStore(tmp_path / "s.db", clock=clock) as state:
        with pytest.raises(ConfigError, match="HOT_HOOK, which is not set"):
            WebhookSender(Webhook(url_env="HOT_HOOK"), state, "sf", "salesforce", {}, clock)
