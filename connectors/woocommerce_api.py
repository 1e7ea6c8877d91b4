"""WooCommerce REST API (wc/v3) through the `woocommerce` client: webhooks and orders."""

from datetime import datetime

from requests import RequestException
from woocommerce import API

from connectors import woocommerce as connector
from connectors.base import Webhook, load_json
from connectors.errors import ConnectorError, IgnoredEventError, InvalidPayloadError

TIMEOUT_S = 30
PAGE_SIZE = 100


class WooCommerceAPIError(ConnectorError):
    """The REST API refused or answered something we cannot use."""

    reason = "api_error"


def client(source) -> API:
    """Basic auth over https, OAuth 1.0a query signing over plain http (the client decides)."""
    if not (source.consumer_key and source.consumer_secret):
        raise WooCommerceAPIError("the source needs consumer_key and consumer_secret")
    url = source.api_base_url or source.site_url
    if not url:
        raise WooCommerceAPIError("the source needs site_url (or api_base_url)")
    return API(url=url, consumer_key=source.consumer_key, consumer_secret=source.consumer_secret,
               version="wc/v3", timeout=TIMEOUT_S)


def call(api: API, method: str, endpoint: str, data=None, params=None):
    """One REST call → (parsed JSON, response); HTTP errors raise."""
    try:
        if method in ("post", "put"):
            response = getattr(api, method)(endpoint, data, params=params)
        else:
            response = getattr(api, method)(endpoint, params=params)
    except RequestException as exc:
        raise WooCommerceAPIError(f"{method.upper()} {endpoint}: {exc}") from None
    if not response.ok:
        raise WooCommerceAPIError(f"{method.upper()} {endpoint}: HTTP {response.status_code} "
                                  f"{response.text[:200]}")
    return load_json(b'{"items":' + response.content + b"}")["items"], response


def webhooks(api: API) -> list[dict]:
    hooks, _ = call(api, "get", "webhooks", params={"per_page": PAGE_SIZE})
    return hooks


def connect(source, webhook_url: str, check: bool = False) -> list[str]:
    """One active webhook per topic at our URL, signed with the source's secret."""
    api = client(source)
    existing = webhooks(api)
    lines = []
    for topic in connector.TOPICS_TO_REGISTER:
        mine = [h for h in existing if h.get("topic") == topic and _ours(h, webhook_url, source)]
        if mine and _current(mine[0], webhook_url):
            lines.append(f"ok       {topic} → {webhook_url}")
        elif check:
            state = f" ({mine[0].get('status')}, {mine[0].get('delivery_url')})" if mine else ""
            lines.append(f"missing  {topic}{state}")
        else:
            body = {"name": f"Postback Bridge {topic}", "topic": topic,
                    "delivery_url": webhook_url, "secret": source.secret[0], "status": "active"}
            if mine:
                call(api, "put", f"webhooks/{mine[0]['id']}", body)
            else:
                call(api, "post", "webhooks", body)
            lines.append(f"{'updated' if mine else 'created':<8} {topic} → {webhook_url}")
    return lines


def _ours(hook: dict, webhook_url: str, source) -> bool:
    url = str(hook.get("delivery_url") or "")
    return url == webhook_url or url.rstrip("/").endswith(f"/webhooks/{source.name}")


def _current(hook: dict, webhook_url: str) -> bool:
    """At our URL and active (WooCommerce disables a webhook after repeated failures)."""
    return hook.get("delivery_url") == webhook_url and hook.get("status") == "active"


def orders_since(source, since: datetime):
    """Every order modified since `since`, page by page."""
    api = client(source)
    page, pages = 1, 1
    while page <= pages:
        params = {"modified_after": since.strftime("%Y-%m-%dT%H:%M:%S"), "dates_are_gmt": "true",
                  "per_page": PAGE_SIZE, "page": page, "orderby": "modified", "order": "asc"}
        orders, response = call(api, "get", "orders", params=params)
        pages = int(response.headers.get("X-WP-TotalPages") or 1)
        yield from orders
        page += 1


def webhooks_for(order: dict, source, click_params) -> list[Webhook]:
    """The order's state, as an order.updated delivery would carry it."""
    try:
        conversions = connector.convert("order.updated", order, source, click_params)
    except (IgnoredEventError, InvalidPayloadError):
        return []
    key = "reconcile:" + connector.event_key("order.updated", order)
    return [Webhook(key, "order.updated", tuple(conversions), order, snapshot=True)]
