"""Click capture from browsers: the GET /c redirect, GET /snippet.js and POST /clicks."""

import hashlib
import json
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, current_app, redirect, request

from bridge import clickstore, ratelimit
from bridge.errors import answer
from bridge.exceptions import InvalidInputError
from connectors.base import find_click

bp = Blueprint("clicks", __name__)
SNIPPET = (Path(__file__).parent / "static" / "snippet.js").read_text()
SNIPPET_FIELDS = ("click_id", "click_param", "visitor_id", "cart_token", "checkout_token",
                  "landing_url")
COOKIE_DAYS_WITHOUT_EXPIRY = 400  # browsers cap cookie lifetime at 400 days


@bp.get("/c", defaults={"network": ""})
@bp.get("/c/<network>")
def redirect_click(network: str):
    runtime = current_app.config["RUNTIME"]
    ratelimit.check(runtime, "c", request.remote_addr or "")
    destination = allowed_destination(runtime.config, request.args.get("to", ""))
    passed = [(k, v) for k, v in request.args.items(multi=True) if k != "to"]
    click_id, param = find_click(passed, runtime.config.click_params())
    if network and runtime.config.network(network) is None:
        raise InvalidInputError(f"unknown network {network!r} in /c/{network}")
    landing = with_query(destination, passed)
    if click_id:
        click = clickstore.CapturedClick(click_id, "redirect", param, network, landing_url=landing)
        with runtime.session() as session:
            clickstore.record(session, runtime.config, click)
    return redirect(landing, 302)


def allowed_destination(config, url: str) -> str:
    """The landing URL if its host is in attribution.redirect_hosts (no open redirect)."""
    if not url:
        raise InvalidInputError("missing 'to': the landing page URL to send the visitor to")
    parts = urlsplit(url)
    if any(c in url for c in "\\\r\n\t") or parts.scheme not in ("http", "https"):
        raise InvalidInputError("'to' must be an http(s) URL")
    hosts = [h.lower() for h in config.attribution.redirect_hosts]
    if (parts.hostname or "") not in hosts or parts.username or parts.password:
        raise InvalidInputError(f"'to' host {parts.hostname!r} is not in "
                                "attribution.redirect_hosts")
    return url


def with_query(url: str, pairs: list[tuple[str, str]]) -> str:
    """The URL with these query parameters set (replacing its own of the same name)."""
    parts = urlsplit(url)
    names = {k for k, _ in pairs}
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in names]
    return urlunsplit(parts._replace(query=urlencode(query + pairs)))


@bp.get("/snippet.js")
def snippet():
    runtime = current_app.config["RUNTIME"]
    body = SNIPPET.replace("__BRIDGE_SETTINGS__", json.dumps(snippet_settings(runtime)))
    response = Response(body, mimetype="application/javascript")
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.set_etag(hashlib.sha256(body.encode()).hexdigest()[:32])
    return response.make_conditional(request)


def snippet_settings(runtime) -> dict:
    """What the snippet needs: the parameters to read, the cookie lifetime, consent mode."""
    config = runtime.config
    windows = [clickstore.window_days(config, n.name) for n in config.networks]
    windows.append(config.attribution.window_days)
    days = COOKIE_DAYS_WITHOUT_EXPIRY if 0 in windows else max(windows)
    return {"params": runtime.config.click_params(), "days": days,
            "consent": config.attribution.consent_mode}


@bp.route("/clicks", methods=["POST", "OPTIONS"], provide_automatic_options=False)
def capture():
    runtime = current_app.config["RUNTIME"]
    origin = request.headers.get("Origin", "")
    if origin not in runtime.config.attribution.store_origins:
        return answer(403, error="origin not in attribution.store_origins")
    if request.method == "OPTIONS":
        return with_cors(Response(status=204), origin, preflight=True)
    ratelimit.check(runtime, "clicks", request.remote_addr or "")
    click = clickstore.from_mapping(_snippet_fields(), "snippet", allow_email=False)
    with runtime.session() as session:
        row = clickstore.record(session, runtime.config, click)
        stored = answer(201, status="stored", network=row.network)
    return with_cors(stored, origin)


def _snippet_fields():
    """The fields a browser may set (anything else is dropped); `email` kept only to refuse it."""
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        return data
    return {k: v for k, v in data.items() if k in SNIPPET_FIELDS or k == "email"}


def with_cors(response, origin: str, preflight: bool = False):
    """Let exactly this (configured) store origin read the answer."""
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    if preflight:
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "86400"
    return response
