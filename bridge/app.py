"""The Flask app factory (gunicorn: `bridge.app:create_app()`)."""

import logging

from flask import Flask

from bridge import (admin, api, clicks, demo, errors, health, logs, metrics_endpoint, runtime,
                    webhooks)


def create_app(rt: runtime.Runtime | None = None) -> Flask:
    """Build the web app around a Runtime (default: from the environment)."""
    rt = runtime.install(rt) if rt else runtime.current()
    logs.configure(mask=rt.mask)
    app = Flask(__name__)
    app.config.update(RUNTIME=rt, MAX_CONTENT_LENGTH=rt.config.server.max_body_bytes,
                      SECRET_KEY=rt.config.server.secret_key or None)
    for blueprint in (health.bp, demo.bp, clicks.bp, api.bp, metrics_endpoint.bp):
        app.register_blueprint(blueprint)
    admin.register(app)
    errors.register(app)
    app.wsgi_app = webhooks.WebhookEndpoint(app.wsgi_app, rt)
    for warning in rt.loaded.warnings:
        logging.getLogger("bridge.config").warning(warning)
    return app
