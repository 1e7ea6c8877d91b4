"""Shopify Admin API: webhook subscriptions (GraphQL, via ShopifyAPI) and orders for reconcile."""

import json
from contextlib import contextmanager
from datetime import datetime

import requests
import shopify

from connectors import shopify as connector
from connectors.base import Webhook, load_json
from connectors.errors import ConnectorError, IgnoredEventError, InvalidPayloadError

API_VERSION = "2026-04"  # pinned; `api_version` on the source overrides it
TIMEOUT_S = 30
PAID_STATES = {"paid", "partially_refunded", "refunded"}

SUBSCRIPTIONS = """
query { webhookSubscriptions(first: 100) { edges { node { id topic uri } } } }
"""
CREATE = """
mutation($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
    webhookSubscription { id topic uri } userErrors { field message } } }
"""
UPDATE = """
mutation($id: ID!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionUpdate(id: $id, webhookSubscription: $sub) {
    webhookSubscription { id topic uri } userErrors { field message } } }
"""


class ShopifyAPIError(ConnectorError):
    """The Admin API refused or answered something we cannot use."""

    reason = "api_error"


def topics(source) -> list[str]:
    """The webhook topics this source needs."""
    extra = ["orders/create"] if source.credit_on == "create" else []
    return connector.TOPICS_TO_REGISTER + extra


def _enum(topic: str) -> str:
    return topic.replace("/", "_").upper()


def api_version(source) -> str:
    return source.api_version or API_VERSION


def admin_base(source) -> str:
    """https://<shop>/admin/api/<version>, or the same path on `api_base_url`."""
    host = source.api_base_url.rstrip("/") or f"https://{source.shop_domain}"
    return f"{host}/admin/api/{api_version(source)}"


@contextmanager
def session(source):
    """A ShopifyAPI session; its client hard-codes https://<shop>, so api_base_url overrides."""
    if not (source.shop_domain and source.admin_token):
        raise ShopifyAPIError("the source needs shop_domain and admin_token")
    with shopify.Session.temp(source.shop_domain, api_version(source), source.admin_token):
        shopify.ShopifyResource.set_site(admin_base(source))
        yield


def graphql(source, query: str, variables=None) -> dict:
    """One GraphQL call; top-level errors raise."""
    with session(source):
        try:
            answer = json.loads(shopify.GraphQL().execute(query, variables))
        except OSError as exc:
            raise ShopifyAPIError(f"Shopify Admin API: {exc}") from None
    if answer.get("errors"):
        raise ShopifyAPIError(f"Shopify Admin API: {str(answer['errors'])[:300]}")
    return answer["data"]


def subscriptions(source) -> list[dict]:
    data = graphql(source, SUBSCRIPTIONS)
    return [edge["node"] for edge in data["webhookSubscriptions"]["edges"]]


def connect(source, webhook_url: str, check: bool = False) -> list[str]:
    """Create each missing subscription, move ours that point elsewhere; report each topic."""
    existing = subscriptions(source)
    lines = []
    for topic in topics(source):
        mine = [s for s in existing if s["topic"] == _enum(topic) and _ours(s, webhook_url, source)]
        exact = [s for s in mine if s["uri"] == webhook_url]
        if exact:
            lines.append(f"ok       {topic} → {webhook_url}")
        elif check:
            lines.append(f"missing  {topic}" + (f" (points at {mine[0]['uri']})" if mine else ""))
        elif mine:
            _mutate(source, UPDATE, "webhookSubscriptionUpdate",
                    {"id": mine[0]["id"], "sub": {"uri": webhook_url, "format": "JSON"}})
            lines.append(f"updated  {topic} → {webhook_url}")
        else:
            _mutate(source, CREATE, "webhookSubscriptionCreate",
                    {"topic": _enum(topic), "sub": {"uri": webhook_url, "format": "JSON"}})
            lines.append(f"created  {topic} → {webhook_url}")
    return lines


def _ours(subscription: dict, webhook_url: str, source) -> bool:
    """This bridge's subscription, even at an older public URL."""
    uri = subscription.get("uri") or ""
    return uri == webhook_url or uri.rstrip("/").endswith(f"/webhooks/{source.name}")


def _mutate(source, mutation: str, name: str, variables: dict) -> dict:
    result = graphql(source, mutation, variables)[name]
    if result.get("userErrors"):
        raise ShopifyAPIError(f"{name}: {result['userErrors']}")
    return result["webhookSubscription"]


def orders_since(source, since: datetime):
    """Every order updated since `since` (REST shape, as webhooks carry it), page by page."""
    url = f"{admin_base(source)}/orders.json"
    params = {"status": "any", "limit": 250, "updated_at_min": since.isoformat() + "Z"}
    headers = {"X-Shopify-Access-Token": source.admin_token, "Accept": "application/json"}
    while url:
        try:
            response = requests.get(url, params=params, headers=headers, timeout=TIMEOUT_S)
        except requests.RequestException as exc:
            raise ShopifyAPIError(f"GET orders: {exc}") from None
        if not response.ok:
            raise ShopifyAPIError(f"GET orders: HTTP {response.status_code}")
        yield from load_json(response.content).get("orders") or []  # exact ids, Decimal numbers
        url, params = response.links.get("next", {}).get("url"), None


def webhooks_for(order: dict, source, click_params) -> list[Webhook]:
    """What the webhooks of one order would have said: its sale, refunds and cancellation."""
    sale_topic = "orders/create" if source.credit_on == "create" else "orders/paid"
    paid = source.credit_on == "create" or order.get("financial_status") in PAID_STATES
    resources = [(sale_topic, order)] if paid else []
    resources += [("refunds/create", refund) for refund in order.get("refunds") or []]
    if order.get("cancelled_at"):
        resources.append(("orders/cancelled", order))
    return [w for w in (_webhook(t, r, source, click_params) for t, r in resources) if w]


def _webhook(topic: str, resource: dict, source, click_params) -> Webhook | None:
    try:
        conversions = connector.convert(topic, resource, source, click_params)
    except (IgnoredEventError, InvalidPayloadError):
        return None
    key = f"reconcile:{topic}:{resource.get('id')}"
    return Webhook(key, topic, tuple(conversions), resource, snapshot=True)
