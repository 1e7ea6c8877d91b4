"""Stripe API through the `stripe` library: the WebhookEndpoint, and events for reconcile."""

import json
from datetime import UTC, datetime

import stripe

from connectors import stripe as connector
from connectors.base import Webhook
from connectors.errors import ConnectorError, IgnoredEventError, InvalidPayloadError


class StripeAPIError(ConnectorError):
    """Stripe refused or could not be reached."""

    reason = "api_error"


def client(source) -> stripe.StripeClient:
    if not source.api_key:
        raise StripeAPIError("the source needs api_key")
    addresses = {"api": source.api_base_url.rstrip("/")} if source.api_base_url else None
    return stripe.StripeClient(source.api_key, base_addresses=addresses, max_network_retries=0)


def events_to_register(source) -> list[str]:
    optional = [t for t, kind in source.topics.items() if kind != "ignore"]
    return list(dict.fromkeys(connector.EVENTS_TO_REGISTER + optional))


def connect(source, webhook_url: str, check: bool = False) -> list[str]:
    """One endpoint at our URL with every needed event; the signing secret only on creation."""
    api = client(source)
    try:
        return _connect(api, source, webhook_url, check)
    except stripe.StripeError as exc:
        raise StripeAPIError(f"Stripe: {exc.user_message or exc}") from None


def _connect(api, source, webhook_url: str, check: bool) -> list[str]:
    endpoints = api.v1.webhook_endpoints.list(params={"limit": 100}).data
    mine = [e for e in endpoints if e.url == webhook_url
            or e.url.rstrip("/").endswith(f"/webhooks/{source.name}")]
    if mine:
        return _update(api, mine[0], events_to_register(source), webhook_url, check)
    if check:
        return [f"missing  endpoint for {webhook_url}"]
    created = api.v1.webhook_endpoints.create(params={
        "url": webhook_url, "enabled_events": events_to_register(source),
        "description": "Postback Bridge"})
    return [f"created  endpoint {created.id} → {webhook_url}",
            f"secret   {created.secret}   (put it in the variable behind this source's `secret`)"]


def _update(api, endpoint, needed: list[str], webhook_url: str, check: bool) -> list[str]:
    """Our endpoint: add missing events, move it to our URL, enable it; the secret stays."""
    have = set(endpoint.enabled_events)
    missing = [] if "*" in have else [e for e in needed if e not in have]
    if endpoint.url == webhook_url and not missing and endpoint.status == "enabled":
        return [f"ok       endpoint {endpoint.id} → {webhook_url}"]
    if check:
        return [(f"missing  events {', '.join(missing) or '-'} on endpoint {endpoint.id} "
                 f"({endpoint.status}, {endpoint.url})")]
    events = ["*"] if "*" in have else sorted(have | set(needed))
    api.v1.webhook_endpoints.update(endpoint.id, params={
        "url": webhook_url, "enabled_events": events, "disabled": False})
    return [f"updated  endpoint {endpoint.id} → {webhook_url} (secret unchanged)"]


def events_since(source, since: datetime):
    """Every event of the types we use since `since` (Stripe keeps 30 days)."""
    created = int(since.replace(tzinfo=UTC).timestamp())
    params = {"created": {"gte": created}, "types": events_to_register(source), "limit": 100}
    try:
        yield from client(source).v1.events.list(params=params).auto_paging_iter()
    except stripe.StripeError as exc:
        raise StripeAPIError(f"Stripe: {exc.user_message or exc}") from None


def webhooks_for(event, source, click_params) -> list[Webhook]:
    """An event from the API goes through the same parse as a signed delivery."""
    raw = json.dumps(event.to_dict()).encode()
    try:
        webhook = connector.parse(raw, {}, source, click_params)
    except (IgnoredEventError, InvalidPayloadError):
        return []
    return [Webhook(webhook.event_id, webhook.topic, webhook.conversions, webhook.payload,
                    snapshot=True)]
