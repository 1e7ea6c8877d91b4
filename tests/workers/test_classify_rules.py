"""Each classifier rule of the presets, and the HTTP defaults after them."""

import pytest

from bridge import presets
from bridge.settings import Network
from workers import classify


def rules(name: str):
    return Network(name="n", **{k: v for k, v in presets.read(name).items()
                                if k in ("url", "classifier")}).classifier


@pytest.mark.parametrize("name,status,body,outcome,reason", [
    ("tune", 200, "success=true;", classify.DELIVERED, "HTTP 200"),
    ("tune", 200, "success=false; err_msg=Duplicate conversion;", classify.DUPLICATE,
     "TUNE: Duplicate conversion"),
    ("tune", 200, "success=false; err_msg=Invalid transaction id", classify.REJECTED,
     "TUNE refused the conversion: Invalid transaction id"),
    ("everflow", 204, "", classify.REJECTED,
     "Everflow answered 204: conversion rejected (the reason is in the Everflow UI)"),
    ("everflow", 200, "", classify.DELIVERED, "HTTP 200"),
    ("trcker", 200, '{"status": "duplicate"}', classify.DUPLICATE, "Trcker: duplicate txn_id"),
    ("trcker", 200, '{"status": "success"}', classify.DELIVERED, "HTTP 200"),
])
def test_preset_rule(name, status, body, outcome, reason):
    result = classify.classify(status, body, {}, rules(name))
    assert (result.status, result.reason) == (outcome, reason)


@pytest.mark.parametrize("status,outcome", [
    (500, classify.RETRYING), (429, classify.RETRYING), (408, classify.RETRYING),
    (401, classify.PAUSED), (403, classify.PAUSED), (404, classify.PAUSED),
    (400, classify.REJECTED), (410, classify.REJECTED), (202, classify.DELIVERED),
])
def test_http_defaults_apply_after_rules(status, outcome):
    assert classify.classify(status, "x", {}, rules("tune")).status == outcome


def test_retry_rule_honours_retry_after():
    network = Network(name="n", url="https://h.example/", classifier=[
        {"status": [200], "body": "try later", "outcome": "retry", "reason": "busy"}])
    result = classify.classify(200, "please try later", {"Retry-After": "120"}, network.classifier)
    assert (result.status, result.retry_after_s) == (classify.RETRYING, 120.0)
