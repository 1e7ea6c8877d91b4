"""Values from payloads are encoded for their slot and cannot leave it; amounts per basis."""

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from bridge.settings import Network
from tests.workers import preset_cases as pc
from workers import templating

EVIL = 'a&b=c/../"x\r\nX-Injected: 1'


def values(**overrides):
    return {"click_id": EVIL, "amount": "20.00", "currency": "EUR", "txn_id": "t/1?x#y",
            templating.MESSAGE_ID: "msg_1", **overrides}


def test_query_and_path_slots():
    network = Network(name="n", url="https://h.example/p/{txn_id}/x?c={click_id}&a={amount}")
    url = templating.render(network, values()).url
    parts = urlsplit(url)
    assert parts.path == "/p/t%2F1%3Fx%23y/x" and parts.fragment == ""
    assert parse_qs(parts.query) == {"c": [EVIL], "a": ["20.00"]}


def test_header_slot_drops_line_breaks():
    network = Network(name="n", url="https://h.example/", headers={"X-Click": "{click_id}"})
    headers = templating.render(network, values()).headers
    assert headers == {"X-Click": 'a&b=c/../"x  X-Injected: 1'}


def test_form_slots():
    network = Network(name="n", url="https://h.example/", method="POST", body_format="form",
                      body={"c": "{click_id}", "a": "{amount}"})
    body = templating.render(network, values()).body.decode()
    assert parse_qs(body) == {"c": [EVIL.replace("\r\n", "  ")], "a": ["20.00"]}
    string = Network(name="n", url="https://h.example/", method="POST", body_format="form",
                     body="c={click_id}&a={amount}")
    assert parse_qs(templating.render(string, values()).body.decode()) == {
        "c": [EVIL], "a": ["20.00"]}


def test_json_slots_mapping_and_string():
    mapping = Network(name="n", url="https://h.example/", method="POST",
                      body={"c": "{click_id}", "a": "{amount|number}", "m": "{amount|cents}"})
    body = templating.render(mapping, values()).body
    assert json.loads(body, parse_float=Decimal) == {"c": EVIL, "a": Decimal("20.00"), "m": 2000}
    string = Network(name="n", url="https://h.example/", method="POST",
                     body='{"c": "{click_id}", "a": "{amount}"}')
    assert json.loads(templating.render(string, values()).body) == {"c": EVIL, "a": "20.00"}


def test_amount_bases_and_presentment():
    event = pc.sale()
    event.money = {**event.money, "subtotal": "25.00", "discounts": "5.00",
                   "presentment": {"currency": "USD", "total": "30.40", "net": "21.70"}}
    expected = {"total": "28.00", "net": "20.00", "subtotal": "25.00",
                "subtotal_after_discounts": "20.00"}
    for basis, amount in expected.items():
        network = Network(name="n", url="https://h.example/", amount=basis)
        assert templating.values_for(event, None, network)["amount"] == amount
    foreign = Network(name="n", url="https://h.example/", amount="total",
                      amount_currency="presentment")
    found = templating.values_for(event, None, foreign)
    assert (found["amount"], found["currency"]) == ("30.40", "USD")


def test_negative_amount_refund():
    network = Network(name="n", url="https://h.example/?a={amount}&c={amount|cents}",
                      refund={"mode": "negative_amount"})
    event = pc.refund()
    url = templating.render(network, templating.values_for(event, None, network), "refund").url
    assert url.endswith("?a=-5.00&c=-500")
