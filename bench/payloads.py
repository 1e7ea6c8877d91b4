"""Signed, realistic webhooks (the test fixtures, made unique per request) as raw HTTP requests."""

import json
import time
import uuid
from pathlib import Path

from bridge import signing

FIXTURES = Path(__file__).parent.parent / "tests" / "fixtures"
SECRETS = {"stripe": "whsec_bench_secret", "shop": "shpss_bench_secret", "woo": "wc_bench_secret"}


def stripe(n: int, click: str, secret: str) -> tuple[bytes, dict]:
    raw = (FIXTURES / "stripe" / "checkout.session.completed__paid.json").read_bytes()
    raw = _swap(raw, {"evt_": f"evt_b{n}x", "pi_3RkT9aLq2vXbPbk10Fq8mZ3d": f"pi_bench_{n}",
                      "clk_abc123": click, "cs_test_": f"cs_b{n}x",
                      # live mode: the bridge skips test-mode sales for networks
                      '"livemode": false': '"livemode": true'})
    return raw, {"Content-Type": "application/json",
                 "Stripe-Signature": signing.stripe_header(raw, secret, int(time.time()))}


def shopify(n: int, click: str, secret: str) -> tuple[bytes, dict]:
    order = json.loads((FIXTURES / "shopify" / "orders_paid__basic.json").read_bytes())
    order["id"] = 7_000_000_000_000_000_000 + n
    order["note_attributes"] = [{"name": "click_id", "value": click}]
    raw = json.dumps(order, separators=(",", ":")).encode()
    return raw, {"Content-Type": "application/json", "X-Shopify-Topic": "orders/paid",
                 "X-Shopify-Hmac-Sha256": signing.base64_hmac(raw, secret),
                 "X-Shopify-Shop-Domain": "bench.myshopify.com",
                 "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                 "X-Shopify-Triggered-At": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def woocommerce(n: int, click: str, secret: str) -> tuple[bytes, dict]:
    order = json.loads((FIXTURES / "woocommerce" / "order.updated__processing.json").read_bytes())
    order["id"] = 900_000 + n
    order["meta_data"] = [{"id": 1, "key": "click_id", "value": click}]
    raw = json.dumps(order, separators=(",", ":")).encode()
    return raw, {"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.updated",
                 "X-WC-Webhook-Resource": "order", "X-WC-Webhook-Event": "updated",
                 "X-WC-Webhook-Signature": signing.base64_hmac(raw, secret),
                 "X-WC-Webhook-ID": "7", "X-WC-Webhook-Delivery-ID": str(n),
                 "X-WC-Webhook-Source": "https://shop.example.com/"}


BUILDERS = {"stripe": stripe, "shop": shopify, "woo": woocommerce}


def _swap(raw: bytes, replacements: dict[str, str]) -> bytes:
    for old, new in replacements.items():
        raw = raw.replace(old.encode(), new.encode())
    return raw


def requests_for(sources: list[str], count: int, tag: str,
                 start: int = 0) -> list[tuple[str, bytes]]:
    """`count` distinct signed requests, round-robin over sources: (click id, raw HTTP request);
    orders numbered from `start`, so runs against one database do not repeat each other."""
    made = []
    for n in range(start, start + count):
        source = sources[n % len(sources)]
        click = f"clk-{tag}-{n}"
        body, headers = BUILDERS[source](n, click, SECRETS[source])
        made.append((click, http_request(f"/webhooks/{source}", body, headers)))
    return made


def http_request(path: str, body: bytes, headers: dict) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
