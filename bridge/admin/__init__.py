"""/admin: the merchant's dashboard, and rq-dashboard at /admin/rq, behind one login."""

import hashlib
import hmac

import rq_dashboard
from flask import Blueprint

from bridge.admin import auth

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
               static_folder="static")
GUARDED = {"admin", "rq_dashboard"}


def register(app) -> None:
    """Mount the dashboard (and rq-dashboard when Redis is configured) with auth and headers."""
    from bridge.admin import views  # noqa: F401  (attaches the pages to bp)
    rt = app.config["RUNTIME"]
    if not app.secret_key and rt.config.server.admin_token:
        # Without server.secret_key, derive one every web process agrees on.
        app.secret_key = hmac.new(rt.config.server.admin_token.encode(), b"bridge-admin-session",
                                  hashlib.sha256).hexdigest()
    app.config.update(SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_NAME="bridge_admin",
                      SESSION_COOKIE_SECURE=rt.config.server.public_url.startswith("https://"))
    app.register_blueprint(bp)
    if rt.redis_url:
        app.config["RQ_DASHBOARD_REDIS_URL"] = rt.redis_url
        rq_dashboard.web.setup_rq_connection(app)
        app.register_blueprint(rq_dashboard.blueprint, url_prefix="/admin/rq")
    app.before_request(auth.guard(GUARDED))
    app.after_request(auth.secure_headers(GUARDED))
