"""The optional webhook: a JSON POST for every callback task created (e.g. a chat's incoming
webhook), delivered from an outbox in the state store.

Each created task is queued once (``webhook_outbox``, keyed by the callback). Every run tries
the deliveries that are due, one attempt each, so a slow or failing endpoint never holds a sync
up: a 2xx answer marks it sent; anything else (an error status, a timeout, a refused connection)
schedules a retry after 30 s, 1, 2, 4... minutes (at most an hour), and after ``max_attempts``
the delivery is dead: counted in ``leadscore status`` as a dead letter, never sent again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import requests

from connector.config import Webhook
from connector.errors import ConfigError
from connector.state import StateStore
from connector.state.pilot import Callback

FIRST_RETRY_S, MAX_RETRY_S = 30.0, 3600.0


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed delivery (30 s, 60 s, 120 s ... 1 h)."""
    return timedelta(seconds=min(FIRST_RETRY_S * 2 ** max(attempts - 1, 0), MAX_RETRY_S))


def payload(connection: str, crm: str, cb: Callback, task_id: str) -> dict:
    """The JSON body for one created task: ids, tier and score only (no lead values), plus a
    ``text`` line that chat webhooks show as is."""
    return {"text": f"{cb.subject} ({crm} lead {cb.record_id})", "connection": connection,
            "crm": crm, "record_id": cb.record_id, "tier": cb.tier,
            "previous_tier": cb.previous_tier, "score": cb.score, "owner_id": cb.owner_id,
            "task_id": task_id, "subject": cb.subject, "due_at": cb.due_at.isoformat()}


class WebhookSender:
    """Delivers the due webhook posts of one connection (see the module docstring)."""

    def __init__(self, settings: Webhook, state: StateStore, connection: str, crm: str,
                 environ: Mapping[str, str], clock: Callable[[], datetime]) -> None:
        url = environ.get(settings.url_env)
        if not url or not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"connection {connection!r}: webhook.url_env names {settings.url_env}, which is "
                f"{'not set' if not url else 'not an http(s) URL'}",
                hint=f"Set {settings.url_env} to the webhook's URL (in the environment or .env),"
                     " or remove the webhook table.")
        self.settings, self.state, self.name, self.crm = settings, state, connection, crm
        self.url, self.clock = url, clock
        self.session = requests.Session()

    def queue(self, created: list[tuple[Callback, str]]) -> None:
        """Queue one post per created task."""
        self.state.pilot.enqueue_webhooks(self.name, [
            (cb.id, payload(self.name, self.crm, cb, task_id)) for cb, task_id in created])

    def deliver(self) -> int:
        """Try every due delivery once; return how many were sent."""
        sent = 0
        for callback_id, body, attempts in self.state.pilot.due_webhooks(self.name, self.clock()):
            error = self._post(body)
            tries = attempts + 1
            if error is None:
                status, sent = "sent", sent + 1
            else:
                status = "dead" if tries >= self.settings.max_attempts else "pending"
            self.state.pilot.webhook_attempted(callback_id, status=status, error=error,
                                               next_at=self.clock() + retry_delay(tries))
        return sent

    def _post(self, body: dict) -> str | None:
        try:
            response = self.session.post(self.url, json=body,
                                         timeout=self.settings.timeout_seconds)
        except requests.RequestException as error:
            return f"{type(error).__name__}: {error}"[:500]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}: {response.text[:200]}"

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self.session.close()
