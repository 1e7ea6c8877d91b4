"""The ingest benchmark's baselines, served by the same gunicorn settings as the bridge.

- `bench.apps:bare()`: a Flask endpoint that reads the body and answers 200 (the framework floor).
- `bench.apps:naive()`: what a merchant would otherwise write: verify the signature, then send the
  postback inline with `requests` (3 retries) before answering. NAIVE_NETWORK_URL is the network.
"""

import hashlib
import hmac
import json
import os

import requests
from flask import Flask, request
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from bench.payloads import SECRETS
from bridge import signing


def bare() -> Flask:
    app = Flask("bare")

    @app.post("/webhooks/<name>")
    def receive(name: str):
        request.get_data()
        return {"status": "ok"}

    return app


def _stripe_ok(raw: bytes, headers) -> bool:
    parts = dict(p.split("=", 1) for p in headers.get("Stripe-Signature", "").split(","))
    expected = signing.stripe_header(raw, SECRETS["stripe"], int(parts.get("t", 0)))
    return hmac.compare_digest(expected.encode(), f"t={parts['t']},v1={parts['v1']}".encode())


def _base64_ok(header: str, secret: str):
    def check(raw: bytes, headers) -> bool:
        return hmac.compare_digest(signing.base64_hmac(raw, secret), headers.get(header, ""))
    return check


VERIFY = {"stripe": _stripe_ok, "shop": _base64_ok("X-Shopify-Hmac-Sha256", SECRETS["shop"]),
          "woo": _base64_ok("X-WC-Webhook-Signature", SECRETS["woo"])}
CLICK = {"stripe": lambda body: body["data"]["object"]["client_reference_id"],
         "shop": lambda body: body["note_attributes"][0]["value"],
         "woo": lambda body: body["meta_data"][0]["value"]}


def _session() -> requests.Session:
    session = requests.Session()
    retry = Retry(total=3, backoff_factor=0.2, status_forcelist=(429, 500, 502, 503, 504))
    session.mount("http://", HTTPAdapter(max_retries=retry, pool_maxsize=64))
    return session


def naive() -> Flask:
    app, http, network = Flask("naive"), _session(), os.environ["NAIVE_NETWORK_URL"]

    @app.post("/webhooks/<name>")
    def receive(name: str):
        raw = request.get_data()
        if not VERIFY[name](raw, request.headers):
            return {"error": "bad signature"}, 401
        body = json.loads(raw)
        http.get(f"{network}/postback", params={"click_id": CLICK[name](body),
                                                "order": hashlib.sha1(raw).hexdigest()}, timeout=10)
        return {"status": "sent"}

    return app
