"""DEMO ONLY: a stand-in affiliate network inside the bridge, so the first loop works offline.

The example config's `demo` network posts here. Replace it with your real networks.
"""

import logging

from flask import Blueprint, request

from bridge.errors import answer

bp = Blueprint("demo", __name__)
log = logging.getLogger("bridge.demo")


@bp.route("/demo/network/postback", methods=["GET", "POST"])
def postback():
    """Answer like a tracker that accepted the conversion."""
    log.info("demo network received a postback: %s", request.query_string.decode()[:300])
    return answer(200, status="ok", demo=True, received=request.args.to_dict())
