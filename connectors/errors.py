"""What a connector can say about a request. No HTTP here: bridge/errors.py maps them."""


class ConnectorError(Exception):
    """Base: carries a short machine reason (a metric label) and what we know of the event."""

    reason = "error"

    def __init__(self, message: str = "", *, event_id: str = "", topic: str = ""):
        super().__init__(message or self.reason)
        self.event_id = event_id
        self.topic = topic


class SignatureError(ConnectorError):
    """Missing, malformed or wrong signature, stale timestamp, or a body from another shop."""

    reason = "bad_signature"


class InvalidPayloadError(ConnectorError):
    """Signed, but the body cannot become a conversion (not JSON, wrong shape, absurd amount)."""

    reason = "invalid"


class IgnoredEventError(ConnectorError):
    """Signed and well-formed, but a topic or state that is not a conversion."""

    reason = "ignored"


class PingError(ConnectorError):
    """A platform's set-up ping (WooCommerce): answer 200 and do nothing else."""

    reason = "ping"
