"""A network's answer → what happens next (Standard Webhooks rules, DESIGN delivery statuses)."""

import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from bridge.storage.models import utcnow

DELIVERED, RETRYING, REJECTED, PAUSED = "delivered", "retrying", "rejected", "paused"
DUPLICATE = "duplicate"  # the network already has it: counts as delivered
RULE_OUTCOMES = {"delivered": DELIVERED, "duplicate": DUPLICATE, "rejected": REJECTED,
                 "retry": RETRYING}
RETRY_STATUSES = {408, 425, 429}
PAUSE_STATUSES = {401, 403, 404}  # the network's configuration is wrong: stop and tell


@dataclass(frozen=True)
class Outcome:
    status: str
    reason: str = ""
    retry_after_s: float | None = None


def classify(status_code: int, body: str, headers, rules=()) -> Outcome:
    """Classify an HTTP answer: the network's own rules first, then the HTTP status."""
    for rule in rules:
        outcome = match_rule(rule, status_code, body, headers)
        if outcome is not None:
            return outcome
    if 200 <= status_code < 300:
        return Outcome(DELIVERED, f"HTTP {status_code}")
    if status_code in RETRY_STATUSES or status_code >= 500:
        return Outcome(RETRYING, f"HTTP {status_code}", retry_after(headers))
    if status_code in PAUSE_STATUSES:
        return Outcome(PAUSED, f"HTTP {status_code}: check the network's URL and credentials")
    return Outcome(REJECTED, f"HTTP {status_code}: {body[:120]}")


def match_rule(rule, status_code: int, body: str, headers) -> Outcome | None:
    """A preset rule's outcome when status and body pattern match; `(?P<reason>…)` is quoted."""
    if rule.status and status_code not in rule.status:
        return None
    found = re.search(rule.body, body or "", re.IGNORECASE | re.DOTALL) if rule.body else None
    if rule.body and found is None:
        return None
    said = (found.groupdict().get("reason") or "").strip() if found else ""
    reason = ": ".join(part for part in (rule.reason or f"HTTP {status_code}", said) if part)
    status = RULE_OUTCOMES[rule.outcome]
    return Outcome(status, reason[:300], retry_after(headers) if status == RETRYING else None)


def classify_error(error: Exception) -> Outcome:
    """Timeouts and connection errors are worth another try."""
    return Outcome(RETRYING, f"{type(error).__name__}: {str(error)[:160]}")


def retry_after(headers) -> float | None:
    """Retry-After in seconds, from either of its two forms."""
    value = (headers or {}).get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value).replace(tzinfo=None)
    except (TypeError, ValueError):
        return None
    return max((moment - utcnow()).total_seconds(), 0.0)
