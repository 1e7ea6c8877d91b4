"""What the bridge forgets: raw payloads after storage.retention_days, and one customer on request.

GDPR asks both: keep personal data no longer than needed, and erase a person's data when asked.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, null, or_, select, update

from bridge import audit
from bridge.exceptions import InvalidInputError
from bridge.storage.models import Attempt, Click, Delivery, Event, InboxWebhook, utcnow
from connectors.base import email_sha256

ERASED = "[erased]"


@dataclass
class Forgotten:
    """How many rows one erasure touched."""

    events: int = 0
    clicks: int = 0
    attempts: int = 0


def purge_payloads(session, retention_days: int, now: datetime | None = None) -> int:
    """Drop the stored payloads of events received more than retention_days ago, and the inbox
    rows (keys only by then) of webhooks processed before it; how many payloads."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    result = session.execute(update(Event).where(Event.received_at < cutoff,
                                                 Event.payload.is_not(None))
                             .values(payload=null()))
    session.execute(delete(InboxWebhook).where(InboxWebhook.processed_at < cutoff))
    return result.rowcount or 0


def forget_email(session, email: str, actor: str) -> Forgotten:
    """Erase what the bridge holds about the customer with this email, and audit it."""
    digest = email_sha256(email)
    if not digest:
        raise InvalidInputError(f"{email[:80]!r} is not an email address")
    events = session.scalars(select(Event).where(Event.email_sha256 == digest)).all()
    customers = {e.customer_id for e in events if e.customer_id}
    done = Forgotten(events=len(events), attempts=_erase_from_attempts(session, events, digest))
    for event in events:
        event.email_sha256, event.customer_id, event.payload = "", "", None
    done.clicks = session.execute(delete(Click).where(or_(
        Click.email_sha256 == digest, Click.customer_id.in_(customers)))).rowcount or 0
    audit.record(session, actor, "forget", "a customer (by email)",
                 f"{done.events} events, {done.clicks} clicks, {done.attempts} attempts erased")
    return done


def _erase_from_attempts(session, events: list[Event], digest: str) -> int:
    """The email hash may have been sent to a network ({email_sha256}): blank it in the log."""
    ids = [e.id for e in events]
    attempts = session.scalars(select(Attempt).join(Delivery).where(
        Delivery.event_id.in_(ids), or_(Attempt.url.contains(digest),
                                        Attempt.body.contains(digest)))).all() if ids else []
    for attempt in attempts:
        attempt.url = attempt.url.replace(digest, ERASED)
        attempt.body = attempt.body.replace(digest, ERASED)
    return len(attempts)
