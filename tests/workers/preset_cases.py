"""One fixed conversion (and its partial refund), and every preset set up as a merchant would."""

from datetime import datetime
from decimal import Decimal

from bridge.storage.models import Delivery, Event

SECRETS = {"IMPACT_TOKEN": "imp-secret-token", "PS_SECRET": "ps-secret-key",
           "FP_KEY": "fp-api-key", "TAP_KEY": "tap-api-key", "RFSN_SECRET": "rfsn-secret-key",
           "KEITARO_KEY": "kt-postback-key",
           "SIGNING_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}

PRESET_VARS = {
    "everflow": {"tracking_domain": "www.example-trk.com", "nid": 42},
    "tune": {"network_id": "demo", "offer_id": 26},
    "cake": {"domain": "trk.example-cake.com", "offer_id": 12, "event_id": 3},
    "voluum": {"domain": "example.trk.voluum.com"},
    "redtrack": {"domain": "trk.example-rt.com"},
    "binom": {"domain": "binom.example.com"},
    "keitaro": {"domain": "kt.example.com", "postback_key": "${KEITARO_KEY}"},
    "affise": {"domain": "offers-example.affise.com"},
    "bemob": {"domain": "example.bemobtrcks.com"},
    "trcker": {"brand": "acme", "offer": "summer"},
    "awin": {"merchant_id": 1001},
    "cj": {"cid": 1500000, "action_id": 400001},
    "shareasale": {"merchant_id": 98765},
    "impact": {"account_sid": "IRabc123", "auth_token": "${IMPACT_TOKEN}", "campaign_id": 1000,
               "event_type_id": 2000},
    "partnerstack": {"public_key": "pk_live_1", "secret_key": "${PS_SECRET}"},
    "firstpromoter": {"api_key": "${FP_KEY}", "account_id": "acc_77"},
    "tapfiliate": {"api_key": "${TAP_KEY}"},
    "refersion": {"public_key": "pub_rfsn", "secret_key": "${RFSN_SECRET}"},
    "post_affiliate_pro": {"pap_domain": "aff.example.com"},
    "taboola": {},
    "generic_get": {"base_url": "https://track.example.net/postback"},
    "generic_post_json": {"endpoint": "https://hooks.example.net/conversions",
                          "signing_secret": "${SIGNING_SECRET}"},
}


def networks_config() -> list[dict]:
    """Every preset as one network named after it."""
    return [{"name": name.replace("_", "-"), "preset": name, "vars": variables}
            for name, variables in PRESET_VARS.items()]


def sale() -> Event:
    """A 28.00 EUR order: 20.00 net, 3.00 tax, 5.00 shipping, coupon SPRING10, click clk_123."""
    return Event(source="stripe", platform="stripe", kind="sale", txn_id="pi_3Q8xYz",
                 order_id="cs_test_a1", refund_id="", currency="EUR", amount=Decimal("20.00"),
                 money={"total": "28.00", "net": "20.00", "subtotal": "20.00", "discounts": "0",
                        "tax": "3.00", "shipping": "5.00"},
                 coupons=["SPRING10"], email_sha256="", customer_id="cus_Q1", click_id="clk_123",
                 is_test=False, occurred_at=datetime(2026, 1, 15, 12, 30, 0))


def refund() -> Event:
    """A partial refund of that order: 7.00 gross, 5.00 net."""
    event = sale()
    event.kind, event.refund_id, event.amount = "refund", "re_9", Decimal("5.00")
    event.money = {"total": "7.00", "net": "5.00"}
    return event


def delivery(event: Event, network: str) -> Delivery:
    key = f"{network}|{event.source}|{event.txn_id}|{event.kind}|{event.refund_id}"
    return Delivery(network=network, kind=event.kind, idempotency_key=key)
