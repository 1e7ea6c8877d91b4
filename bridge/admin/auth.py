"""Admin login (token form → signed session cookie, or HTTP basic), CSRF, security headers."""

import hmac
import secrets

from flask import current_app, flash, redirect, render_template, request, session, url_for
from werkzeug.exceptions import Forbidden, NotFound

OPEN_ENDPOINTS = {"admin.login", "admin.static"}
ADMIN_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
             "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
# rq-dashboard's pages carry inline scripts and styles; they stay same-origin only.
RQ_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
          "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
          "object-src 'none'")


def admin_token() -> str:
    return current_app.config["RUNTIME"].config.server.admin_token


def token_matches(candidate: str | None) -> bool:
    """Constant-time comparison with server.admin_token (never true when none is set)."""
    token = admin_token()
    return bool(token and candidate) and hmac.compare_digest(candidate.encode(), token.encode())


def signed_in() -> bool:
    """A session made by the login form, or HTTP basic auth with the token as password."""
    if session.get("admin") is True:
        return True
    basic = request.authorization
    return basic is not None and basic.type == "basic" and token_matches(basic.password)


def actor() -> str:
    """Who did it, for the audit log."""
    how = "session" if session.get("admin") is True else "basic"
    return f"admin({how})@{request.remote_addr or '?'}"


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    expected, given = session.get("csrf", ""), request.form.get("csrf_token", "")
    if not (expected and given and hmac.compare_digest(expected.encode(), given.encode())):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")


def check_same_origin() -> None:
    """rq-dashboard's own POSTs (AJAX, no token of ours): the browser's Origin must be ours."""
    origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
    if not (origin == request.host_url.rstrip("/") or origin.startswith(request.host_url)):
        raise Forbidden("cross-origin request refused")


def guard(blueprints: set[str]):
    """A before_request hook: no admin page without a login, no POST without CSRF proof."""
    def before():
        if request.blueprint not in blueprints:
            return None
        if not admin_token():
            raise NotFound("the dashboard is off: set server.admin_token to turn it on")
        if request.endpoint not in OPEN_ENDPOINTS and not signed_in():
            return redirect(url_for("admin.login", next=request.full_path))
        if request.method == "POST":
            check_same_origin() if request.blueprint == "rq_dashboard" else check_csrf()
        return None
    return before


def secure_headers(blueprints: set[str]):
    """An after_request hook: CSP, no framing, no referrer, no caching of admin pages."""
    def after(response):
        if request.blueprint not in blueprints:
            return response
        rq = request.blueprint == "rq_dashboard"
        response.headers["Content-Security-Policy"] = RQ_CSP if rq else ADMIN_CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        # rq-dashboard's AJAX needs an Origin header, which no-referrer would turn into "null".
        response.headers["Referrer-Policy"] = "same-origin" if rq else "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        if response.mimetype == "text/html" and not rq and not response.direct_passthrough:
            response.set_data(current_app.config["RUNTIME"].mask(response.get_data(as_text=True)))
        return response
    return after


def login():
    """GET: the token form. POST: check the token, start a session."""
    if request.method == "POST":
        if token_matches(request.form.get("token")):
            session.clear()
            session["admin"] = True
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")))
        flash("That token is not right.")
    return render_template("admin/login.html"), 200 if request.method == "GET" else 401


def logout():
    session.clear()
    return redirect(url_for("admin.login"))


def _safe_next(target: str | None) -> str:
    """Only same-site paths under /admin (no open redirect)."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return url_for("admin.overview")
