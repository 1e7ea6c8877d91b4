"""Every preset renders the fixed sale (and refund, where the network takes one) exactly as the
network's docs describe it (source link at the top of each config/presets/<name>.yaml)."""

import base64
import json
from datetime import UTC, datetime

import pytest
import yaml
from standardwebhooks.webhooks import Webhook

from bridge import presets, settings
from tests.workers import preset_cases as pc
from workers import templating

EF, KT = "https://www.example-trk.com", "https://kt.example.com/kt-postback-key/postback"
GET_SALES = {
    "everflow": f"{EF}/?nid=42&transaction_id=clk_123&amount=20.00&order_id=pi_3Q8xYz"
                "&coupon_code=SPRING10",
    "tune": "https://demo.go2cloud.org/aff_lsr?offer_id=26&transaction_id=clk_123&amount=20.00"
            "&adv_sub=pi_3Q8xYz&status=approved",
    "cake": "https://trk.example-cake.com/p.ashx?o=12&e=3&f=pb&r=clk_123&t=pi_3Q8xYz&p=20.00",
    "voluum": "https://example.trk.voluum.com/postback?cid=clk_123&payout=20.00&txid=pi_3Q8xYz"
              "&currency=EUR",
    "redtrack": "https://trk.example-rt.com/postback?clickid=clk_123&sum=20.00&type=Purchase"
                "&status=Approved&rdtk_event_id=pi_3Q8xYz&currency=EUR",
    "binom": "https://binom.example.com/click.php?cnv_id=clk_123&payout=20.00&cnv_status=sale"
             "&cnv_currency=EUR",
    "keitaro": f"{KT}?subid=clk_123&status=sale&payout=20.00&tid=pi_3Q8xYz&currency=EUR",
    "affise": "https://offers-example.affise.com/postback?clickid=clk_123&action_id=pi_3Q8xYz"
              "&goal=1&sum=20.00&status=1&promo_code=SPRING10",
    "bemob": "https://example.bemobtrcks.com/postback?cid=clk_123&payout=20.00&txid=pi_3Q8xYz"
             "&status=approved",
    "trcker": "https://app.trcker.io/api/postback/acme/summer?click_id=clk_123&amount=20.00"
              "&txn_id=pi_3Q8xYz&event=sale&currency=EUR&coupon_code=SPRING10",
    "awin": "https://www.awin1.com/sread.php?tt=ss&tv=2&merchant=1001&amount=20.00&ch=aw"
            "&parts=DEFAULT:20.00&vc=SPRING10&cr=EUR&ref=pi_3Q8xYz&testmode=0&cks=clk_123",
    "cj": "https://www.emjcd.com/u?CID=1500000&TYPE=400001&METHOD=S2S&CJEVENT=clk_123"
          "&eventTime=2026-01-15T12%3A30%3A00Z&OID=pi_3Q8xYz&CURRENCY=EUR&COUPON=SPRING10"
          "&ITEM1=order&AMT1=20.00&QTY1=1",
    "shareasale": "https://www.shareasale.com/sale.cfm?tracking=pi_3Q8xYz&amount=20.00"
                  "&merchantID=98765&transtype=sale&currency=EUR&couponcode=SPRING10"
                  "&sscid=clk_123",
    "post_affiliate_pro": "https://aff.example.com/scripts/sale.php?AccountId=default1"
                          "&TotalCost=20.00&OrderID=pi_3Q8xYz&ActionCode=sale&Currency=EUR"
                          "&Coupon=SPRING10&visitorId=clk_123",
    "taboola": "https://trc.taboola.com/actions-handler/log/3/s2s-action?click-id=clk_123"
               "&name=purchase&revenue=20.00&currency=EUR&orderid=pi_3Q8xYz",
    "generic_get": "https://track.example.net/postback?click_id=clk_123&amount=20.00&currency=EUR"
                   "&txn_id=pi_3Q8xYz&event=sale&refund_id=",
}
GET_REFUNDS = {
    "everflow": f"{EF}/reversal?nid=42&transaction_id=clk_123&event_id=0",
    "tune": "https://demo.go2cloud.org/aff_lsr?offer_id=26&transaction_id=clk_123&amount=5.00"
            "&adv_sub=pi_3Q8xYz&status=rejected",
    "redtrack": "https://trk.example-rt.com/postback?clickid=clk_123&sum=5.00&type=Purchase"
                "&status=Declined&rdtk_event_id=pi_3Q8xYz&currency=EUR",
    "binom": "https://binom.example.com/click.php?cnv_id=clk_123&payout=5.00&cnv_status=rejected"
             "&cnv_currency=EUR",
    "keitaro": f"{KT}?subid=clk_123&status=rejected&payout=5.00&tid=pi_3Q8xYz&currency=EUR",
    "affise": "https://offers-example.affise.com/postback?clickid=clk_123&action_id=pi_3Q8xYz"
              "&goal=1&sum=5.00&status=3&promo_code=SPRING10",
    "bemob": "https://example.bemobtrcks.com/postback?cid=clk_123&payout=5.00&txid=pi_3Q8xYz"
             "&status=declined",
    "generic_get": "https://track.example.net/postback?click_id=clk_123&amount=5.00&currency=EUR"
                   "&txn_id=pi_3Q8xYz&event=refund&refund_id=re_9",
}
UNSUPPORTED = {"cake", "voluum", "trcker", "awin", "cj", "shareasale", "impact", "tapfiliate",
               "refersion", "post_affiliate_pro", "taboola"}
JSON_TYPE = {"Content-Type": "application/json"}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


POSTS = {
    ("impact", "sale"): (
        "https://api.impact.com/Advertisers/IRabc123/Conversions",
        {"Accept": "application/json", "Authorization": basic("IRabc123", "imp-secret-token"),
         "Content-Type": "application/x-www-form-urlencoded"},
        (b"CampaignId=1000&EventTypeId=2000&EventDate=2026-01-15T12%3A30%3A00Z&OrderId=pi_3Q8xYz"
        b"&ClickId=clk_123&CurrencyCode=EUR&OrderPromoCode=SPRING10&ItemSku1=order"
        b"&ItemQuantity1=1&ItemSubTotal1=20.00")),
    ("partnerstack", "sale"): (
        "https://api.partnerstack.com/api/v2/transactions",
        {"Authorization": basic("pk_live_1", "ps-secret-key"), **JSON_TYPE},
        b'{"customer_key": "cus_Q1", "amount": 2000, "currency": "EUR", "key": "pi_3Q8xYz"}'),
    ("partnerstack", "refund"): (
        "https://api.partnerstack.com/api/v2/transactions",
        {"Authorization": basic("pk_live_1", "ps-secret-key"), **JSON_TYPE},
        (b'{"customer_key": "cus_Q1", "amount": -500, "currency": "EUR", '
        b'"key": "pi_3Q8xYz-refund-re_9"}')),
    ("firstpromoter", "sale"): (
        "https://api.firstpromoter.com/api/v2/track/sale",
        {"Account-ID": "acc_77", "Authorization": "Bearer fp-api-key", **JSON_TYPE},
        b'{"uid": "cus_Q1", "event_id": "pi_3Q8xYz", "amount": 2000, "currency": "EUR"}'),
    ("firstpromoter", "refund"): (
        "https://api.firstpromoter.com/api/v2/track/refund",
        {"Account-ID": "acc_77", "Authorization": "Bearer fp-api-key", **JSON_TYPE},
        (b'{"uid": "cus_Q1", "event_id": "pi_3Q8xYz-refund-re_9", "sale_event_id": "pi_3Q8xYz", '
        b'"amount": 500, "currency": "EUR"}')),
    ("tapfiliate", "sale"): (
        "https://api.tapfiliate.com/1.6/conversions/", {"X-Api-Key": "tap-api-key", **JSON_TYPE},
        (b'{"click_id": "clk_123", "external_id": "pi_3Q8xYz", "amount": 20.00, "currency": "EUR", '
        b'"customer_id": "cus_Q1"}')),
    ("refersion", "sale"): (
        "https://inbound-webhooks.refersion.com/tracker/orders/paid",
        {"Refersion-Public-Key": "pub_rfsn", "Refersion-Secret-Key": "rfsn-secret-key",
         **JSON_TYPE},
        (b'{"cart_id": "clk_123", "order_id": "pi_3Q8xYz", "currency_code": "EUR", '
        b'"discount_code": "SPRING10", "items": [{"sku": "order", "quantity": 1, '
        b'"price": 20.00}]}')),
}


@pytest.fixture(scope="module")
def networks(tmp_path_factory):
    path = tmp_path_factory.mktemp("presets") / "bridge.yaml"
    path.write_text(yaml.safe_dump({"networks": pc.networks_config()}, sort_keys=False))
    loaded = settings.load(path, env=pc.SECRETS)
    return {n.preset: n for n in loaded.config.networks}


def rendered(network, event):
    values = templating.values_for(event, pc.delivery(event, network.name), network)
    return templating.render(network, values, event.kind)


def test_every_preset_is_covered():
    named = set(GET_SALES) | {name for name, _kind in POSTS} | {"generic_post_json"}
    assert set(presets.names()) == named
    assert len(presets.names()) >= 22


def test_every_preset_names_its_source():
    for name in presets.names():
        text = (presets.PRESET_DIR / f"{name}.yaml").read_text()
        assert "# Source" in text and ("http" in text or ".md" in text), name


@pytest.mark.parametrize("name", sorted(GET_SALES))
def test_get_preset_sale(networks, name):
    request = rendered(networks[name], pc.sale())
    assert (request.method, request.url, request.headers, request.body) == (
        "GET", GET_SALES[name], {}, None)


@pytest.mark.parametrize("name", sorted(GET_REFUNDS))
def test_get_preset_refund(networks, name):
    request = rendered(networks[name], pc.refund())
    assert (request.method, request.url, request.body) == ("GET", GET_REFUNDS[name], None)


@pytest.mark.parametrize("name,kind", sorted(POSTS))
def test_post_preset(networks, name, kind):
    event = pc.sale() if kind == "sale" else pc.refund()
    request = rendered(networks[name], event)
    url, headers, body = POSTS[name, kind]
    assert (request.method, request.url, request.headers, request.body) == (
        "POST", url, headers, body)


def test_refund_modes_match_the_docs(networks):
    unsupported = {name for name, n in networks.items() if n.refund.mode == "unsupported"}
    assert unsupported == UNSUPPORTED
    assert networks["partnerstack"].refund.mode == "negative_amount"
    assert networks["everflow"].refund.mode == "separate_request"
    assert not networks["everflow"].refund.partial and networks["firstpromoter"].refund.partial


def test_generic_post_json_is_signed_the_standard_webhooks_way(networks):
    network = networks["generic_post_json"]
    request = rendered(network, pc.sale())
    assert request.url == "https://hooks.example.net/conversions"
    verified = Webhook(pc.SECRETS["SIGNING_SECRET"]).verify(request.body, request.headers)
    assert verified == {"type": "conversion.sale", "click_id": "clk_123", "txn_id": "pi_3Q8xYz",
                        "order_id": "cs_test_a1", "refund_id": "", "amount": "20.00",
                        "currency": "EUR", "coupons": "SPRING10", "source": "stripe",
                        "is_test": 0, "timestamp": 1768480200}
    again = rendered(network, pc.sale())
    assert again.headers["webhook-id"] == request.headers["webhook-id"]  # same on every retry


def test_awin_test_mode_sets_testmode(networks):
    network = networks["awin"]
    values = templating.values_for(pc.sale(), None, network)
    request = templating.render(network, values, "sale", test=True)
    assert "&testmode=1&" in request.url


def test_click_params_declared(networks):
    expected = {"everflow": "transaction_id", "impact": "irclickid", "cj": "cjevent",
                "awin": "awc", "shareasale": "sscid", "redtrack": "clickid", "keitaro": "subid",
                "voluum": "cid", "taboola": "tblci"}
    for name, param in expected.items():
        assert param in networks[name].click_params, name


def test_signature_timestamp_is_now():
    network = settings.Network(name="x", url="https://h.example/p", method="POST",
                               body={"a": "{click_id}"}, signing={"secret": "whsec_AAAA"})
    moment = datetime(2026, 1, 15, tzinfo=UTC)
    request = templating.render(network, {"click_id": "c", templating.MESSAGE_ID: "msg_1"},
                                now=moment)
    assert request.headers["webhook-timestamp"] == str(int(moment.timestamp()))
    assert json.loads(request.body) == {"a": "c"}
