"""The click store: record a captured click, find it again for an order, purge expired ones."""

import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select

from bridge.exceptions import InvalidInputError
from bridge.storage.models import Click, utcnow
from connectors.base import email_sha256

# A click may be stamped a little after the order it led to (clocks of store and bridge differ).
CLOCK_SKEW = timedelta(minutes=15)
# Keep expired clicks a few days: a late or reconciled order can still say "outside window".
PURGE_GRACE = timedelta(days=3)
LOOKUP_KEYS = {"visitor_id": "visitor id", "cart_token": "cart token",
               "checkout_token": "checkout token", "customer_id": "customer id",
               "email_sha256": "email"}
MAX_KEY = 255
# Networks' click ids are tokens (hex, base64url, ids joined by '_' or ':'); nothing else passes,
# so no click id can carry markup, spaces or URL delimiters anywhere it is shown or sent.
CLICK_ID = re.compile(r"[A-Za-z0-9._~:=+/|*@!$,;-]{1,255}")
CLICK_ID_RULE = "letters, digits and . _ ~ : = + / | * @ ! $ , ; - (at most 255)"


@dataclass(frozen=True)
class CapturedClick:
    """A click as it arrives (redirect, snippet, API, import), before it is stored."""

    click_id: str
    via: str
    click_param: str = ""
    network: str = ""
    visitor_id: str = ""
    cart_token: str = ""
    checkout_token: str = ""
    customer_id: str = ""
    email_sha256: str = ""
    landing_url: str = ""
    clicked_at: datetime | None = None


def from_mapping(data: dict, via: str, allow_email: bool) -> CapturedClick:
    """A click from JSON or a CSV row; a plain email is hashed at once, or refused."""
    if not isinstance(data, dict):
        raise InvalidInputError("expected a JSON object")
    if data.get("email") and not allow_email:
        raise InvalidInputError("a plain email is never accepted here; send email_sha256")
    values = {f.name: text_field(data.get(f.name)) for f in fields(CapturedClick)
              if f.name not in ("via", "clicked_at")}
    values["email_sha256"] = email_sha256(data.get("email")) or values["email_sha256"].lower()
    return CapturedClick(**values, via=via, clicked_at=parse_time(data.get("clicked_at")))


def text_field(value) -> str:
    """A short value (text or integer id), stripped; InvalidInputError for anything else."""
    if value is None:
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise InvalidInputError(f"{str(value)[:32]!r} is not text")
    text = str(value).strip()
    if len(text) > 2048:
        raise InvalidInputError("a value is longer than 2048 characters")
    return text


def parse_time(value) -> datetime | None:
    """ISO 8601 (naive = UTC) or unix seconds to naive UTC; empty is None."""
    if value in (None, ""):
        return None
    try:
        moment = (datetime.fromtimestamp(int(value), UTC) if str(value).isdigit()
                  else datetime.fromisoformat(str(value).strip()))
    except (ValueError, OverflowError):
        raise InvalidInputError(f"{str(value)[:40]!r} is not a time (ISO 8601 or unix)") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def network_for(config, click_param: str, network: str = "") -> str:
    """The network named (it must exist), else the one that owns the parameter, else ''."""
    if network:
        if config.network(network) is None:
            raise InvalidInputError(f"unknown network {network!r}")
        return network
    return next((n.name for n in config.networks if click_param in n.click_params), "")


def window_days(config, network: str) -> int:
    """The attribution window: the network's own when it sets one, else attribution's."""
    own = config.network(network).window_days if network else None
    return config.attribution.window_days if own is None else own


def record(session, config, click: CapturedClick) -> Click:
    """Store a click, or fill in new keys on the same click already stored."""
    _check(click, config.click_params())
    network = network_for(config, click.click_param, click.network)
    row = _same_click(session, click, network)
    if row is None:
        created = click.clicked_at or utcnow()
        days = window_days(config, network)
        row = Click(network=network, click_id=click.click_id, click_param=click.click_param,
                    via=click.via, created_at=created,
                    expires_at=created + timedelta(days=days) if days else None)
        session.add(row)
    for key in (*LOOKUP_KEYS, "landing_url"):
        if getattr(click, key):
            setattr(row, key, getattr(click, key))
    session.flush()
    return row


def _check(click: CapturedClick, known_params: list[str]) -> None:
    if not click.click_id:
        raise InvalidInputError("click_id is missing")
    if not CLICK_ID.fullmatch(click.click_id):
        raise InvalidInputError(f"click_id {click.click_id[:40]!r} is not a click id: only "
                                f"{CLICK_ID_RULE}")
    if click.click_param and click.click_param not in known_params:
        raise InvalidInputError(f"click_param {click.click_param!r} is not a configured "
                                f"click parameter ({', '.join(known_params)})")
    too_long = [k for k in ("click_id", *LOOKUP_KEYS) if len(getattr(click, k)) > MAX_KEY]
    if too_long or len(click.visitor_id) > 64 or len(click.email_sha256) not in (0, 64):
        raise InvalidInputError(f"bad value for {(too_long or ['visitor_id/email_sha256'])[0]}")


def _same_click(session, click: CapturedClick, network: str) -> Click | None:
    return session.scalars(select(Click).where(
        Click.click_id == click.click_id, Click.network == network,
        Click.visitor_id == click.visitor_id).order_by(Click.id.desc()).limit(1)).first()


def newest_with_ids(session, click_ids: set[str]) -> dict[str, Click]:
    """The newest stored click of each id (its network and time), in one query for a batch of
    orders: {click id: click}."""
    newest = {}
    if not click_ids:
        return newest
    for click in session.scalars(select(Click).where(Click.click_id.in_(click_ids))
                                 .order_by(Click.created_at, Click.id)):
        newest[click.click_id] = click  # the later one wins
    return newest


def find(session, keys: dict, at: datetime) -> tuple[Click | None, str]:
    """The most recent click unexpired at `at`, by the first key that has one; else why not."""
    present = [k for k in LOOKUP_KEYS if keys.get(k)]
    if not present:
        return None, "no click id in the order, and no visitor, cart, customer or email to look up"
    expired = []
    for key in present:
        column = getattr(Click, key)
        candidates = select(Click).where(column == keys[key], Click.created_at <= at + CLOCK_SKEW)
        newest = candidates.order_by(Click.created_at.desc(), Click.id.desc()).limit(1)
        row = session.scalars(newest.where(
            or_(Click.expires_at.is_(None), Click.expires_at > at))).first()
        if row is not None:
            return row, f"stored click matched by {LOOKUP_KEYS[key]}"
        if session.scalars(newest).first() is not None:
            expired.append(LOOKUP_KEYS[key])
    if expired:
        return None, f"outside the attribution window: clicks for its {', '.join(expired)} expired"
    labels = ", ".join(LOOKUP_KEYS[k] for k in present)
    return None, f"no click id in the order, and no stored click for its {labels}"


def purge_expired(session, now: datetime | None = None) -> int:
    """Delete clicks expired longer ago than the grace period; how many."""
    cutoff = (now or utcnow()) - PURGE_GRACE
    result = session.execute(delete(Click).where(Click.expires_at < cutoff))
    return result.rowcount or 0
