"""Macros, filters, and values that cannot leave their slot."""

import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from bridge.settings import Network
from workers import templating

VALUES = {"click_id": "a/b?c=d&e", "amount": "19.99", "currency": "EUR", "txn_id": "pi_1",
          "event": "sale", "timestamp": 1_763_900_000, "order_id": "1001", "is_test": 0}


def test_query_values_are_encoded_and_cannot_add_parameters():
    url = templating.render_url("https://t.example/pb?cid={click_id}&sum={amount}", VALUES, {})
    parts = urlsplit(url)
    assert parse_qs(parts.query) == {"cid": ["a/b?c=d&e"], "sum": ["19.99"]}
    assert parts.netloc == "t.example" and parts.path == "/pb"


def test_path_values_cannot_add_segments():
    url = templating.render_url("https://t.example/c/{click_id}/done", VALUES, {})
    assert urlsplit(url).path == "/c/a%2Fb%3Fc%3Dd%26e/done"


def test_vars_stand_in_raw_for_host_and_path():
    url = templating.render_url("https://{domain}/{key}/postback?subid={click_id}", VALUES,
                                {"domain": "trk.example.com", "key": "abc"})
    assert url == "https://trk.example.com/abc/postback?subid=a%2Fb%3Fc%3Dd%26e"


@pytest.mark.parametrize("macro, expected", [
    ("{amount|cents}", "1999"), ("{amount|decimals:3}", "19.990"), ("{currency|lower}", "eur"),
    ("{event|upper}", "SALE"), ("{timestamp|date:%Y-%m-%d}", "2025-11-23"),
    ("{txn_id|sha256}", hashlib.sha256(b"pi_1").hexdigest()),
])
def test_filters(macro, expected):
    assert templating.render_text(macro, VALUES) == expected


def test_cents_follow_the_currency_exponent():
    assert templating.render_text("{amount|cents}", {"amount": "1500", "currency": "JPY"}) == "1500"
    assert templating.render_text("{amount|cents}", {"amount": "12.340",
                                                     "currency": "KWD"}) == "12340"


def test_json_body_values_stay_strings_unless_number():
    body = templating.render_json({"id": "{click_id}", "amount": "{amount|number}",
                                   "meta": {"note": "x\"}, \"evil\": 1"}}, VALUES)
    assert body == {"id": "a/b?c=d&e", "amount": 19.99, "meta": {"note": "x\"}, \"evil\": 1"}}
    assert json.loads(json.dumps(body)) == body


def test_header_values_cannot_inject_lines():
    assert templating.render_text("Bearer {click_id}", {"click_id": "x\r\nX-Evil: 1"}) == \
        "Bearer x  X-Evil: 1"


def test_post_form_request():
    network = Network(name="n", url="https://t.example/pb", method="POST", body_format="form",
                      body={"ClickId": "{click_id}", "Amount": "{amount}"})
    request = templating.render(network, VALUES)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode()) == {"ClickId": ["a/b?c=d&e"], "Amount": ["19.99"]}


def test_unknown_macro_and_filter_are_refused():
    with pytest.raises(templating.TemplateError, match="unknown macro"):
        templating.check("https://x/?a={clickid}")
    with pytest.raises(templating.TemplateError, match="unknown filter"):
        templating.check("https://x/?a={amount|euros}")
    templating.check("https://{domain}/?a={amount|cents}", var_names={"domain"})
