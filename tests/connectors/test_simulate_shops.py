"""`bridge simulate` sends correctly signed Shopify and WooCommerce orders to a running bridge."""

import threading
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from werkzeug.serving import make_server

from bridge import simulate
from bridge.cli import main
from bridge.app import create_app
from bridge.storage.models import Event
from workers import inbox


@pytest.fixture
def running(shops):
    server = make_server("127.0.0.1", 0, create_app(shops), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.parametrize("source, currency, amount", [
    ("shop", "KWD", "12.340"), ("woo", "JPY", "1500"), ("stripe", "EUR", "19.99")])
def test_simulated_order_is_accepted_as_a_test_sale(shops, running, source, currency, amount):
    response = simulate.send(shops.config.source(source), running, "clk_sim_1",
                             Decimal(amount), currency)
    assert (response.status_code, response.json()["status"]) == (200, "accepted")
    assert inbox.drain(shops) == 1  # what the worker's inbox job does
    with shops.session() as session:
        event = session.scalars(select(Event)).one()
        assert (event.kind, event.click_id, event.currency, event.is_test) == (
            "sale", "clk_sim_1", currency, True)
        assert str(event.amount) == amount


def test_an_unknown_currency_is_a_usage_error_not_a_traceback(shops, running):
    result = CliRunner().invoke(main, ["simulate", "shop", "--click-id", "abc", "--amount", "5",
                                       "--currency", "ZZZ", "--url", running])
    assert result.exit_code == 2 and "unknown currency 'ZZZ'" in result.output
    assert "Traceback" not in result.output
    with shops.session() as session:
        assert session.scalars(select(Event)).all() == []
