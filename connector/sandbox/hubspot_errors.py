"""HubSpot's error bodies and timestamp formats, shared by the portal and the HTTP layer.

Every failure the HubSpot emulator reports is a :class:`HubSpotError` carrying the status and the
exact JSON body HubSpot sends (``{"status": "error", "message", "correlationId", "category",
...}``, crm-api-notes 2.8). The portal raises them; ``hubspot_api`` renders them unchanged.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

# What HubSpot says when no usable bearer token came with the call (notes 2.1).
AUTH_MESSAGE = ("Authentication credentials not found. This API supports OAuth 2.0 authentication "
                "and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview")
BATCH_LIMIT_MESSAGE = ("The maximum number of inputs supported in a batch is {limit}. "
                       "Please reduce the number of items and try again")
HISTORY_LIMIT_MESSAGE = ("The maximum number of inputs supported in a batch request for property "
                         "histories is {limit}. Please reduce the number of items and try again")


def correlation_id() -> str:
    """A fresh correlation id, as HubSpot puts on every error (a UUID)."""
    return str(uuid.uuid4())


def iso_ms(moment: datetime) -> str:
    """``2024-05-01T10:00:00.123Z``: UTC, milliseconds, ``Z`` (HubSpot's datetime format)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, the form HubSpot search filters take for dates."""
    return int(moment.timestamp() * 1000)


class HubSpotError(Exception):
    """A failure to answer with HubSpot's own status and JSON body."""

    def __init__(self, status: int, category: str | None, message: str, *,
                 context: dict[str, list[str]] | None = None, sub_category: str | None = None,
                 extra: dict | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.category, self.message = status, category, message
        self.context, self.sub_category = context, sub_category
        self.extra = extra or {}
        self.headers = headers or {}
        self.correlation_id = correlation_id()

    def body(self) -> dict:
        """The JSON body HubSpot sends for this error, keys in HubSpot's order."""
        body: dict = {"status": "error", "message": self.message,
                      "correlationId": self.correlation_id}
        if self.context is not None:
            body["context"] = self.context
        if self.category is not None:
            body["category"] = self.category
        if self.sub_category is not None:
            body["subCategory"] = self.sub_category
        body.update(self.extra)
        return body


def validation_error(message: str, **kwargs) -> HubSpotError:
    """A 400 ``VALIDATION_ERROR`` with ``message``."""
    return HubSpotError(400, "VALIDATION_ERROR", message, **kwargs)


def invalid_json(message: str, line: int = 1, column: int = 1) -> HubSpotError:
    """A 400 for a body HubSpot's JSON reader rejects (malformed or of the wrong shape)."""
    return validation_error(f"Invalid input JSON on line {line}, column {column}: {message}")


def property_values_error(failures: list[dict]) -> HubSpotError:
    """The whole-request 400 for invalid property values (notes 2.4).

    ``failures`` are HubSpot's validation results (``isValid``, ``message``, ``error``, ``name``
    ...); HubSpot embeds them as a JSON string in the message.
    """
    text = json.dumps(failures, separators=(",", ":"))
    return validation_error(f"Property values were not valid: {text}")


def not_found(message: str, **kwargs) -> HubSpotError:
    """A 404 ``OBJECT_NOT_FOUND``."""
    return HubSpotError(404, "OBJECT_NOT_FOUND", message, **kwargs)


def unauthorized() -> HubSpotError:
    """The 401 HubSpot sends for a missing or unknown token, with its failure header."""
    return HubSpotError(401, "INVALID_AUTHENTICATION", AUTH_MESSAGE,
                        headers={"X-HubSpot-Auth-Failure": "401 Unauthorized"})
