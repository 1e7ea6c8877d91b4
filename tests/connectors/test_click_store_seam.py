"""Orders without a click in them are attributed from the click store by the keys they carry."""

from sqlalchemy import select

from bridge.app import create_app
from bridge.storage.models import Event
from tests import shop_events as ev

API_TOKEN = "api-token-for-tests"


def test_shopify_cart_token_and_woocommerce_email_find_the_stored_click(
        write_config, shop_config, monkeypatch):
    monkeypatch.setenv("TEST_API_TOKEN", API_TOKEN)
    config = shop_config(woo={"click_params": []})
    config["server"]["api_token"] = "${TEST_API_TOKEN}"
    config["attribution"] = {"click_params": ["click_id"]}  # awc (the session entry) unknown
    client = create_app(write_config(config)).test_client()
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    cart_token = "Z2NwLXVzLWVhc3QxOjAxSlo4UTBGQUtFMDAwNw"
    for click in ({"click_id": "store_clk_1", "cart_token": cart_token,
                   "clicked_at": "2026-07-03T10:00:00"},
                  {"click_id": "store_clk_2", "email": "Sophie.Muster@example.com",
                   "clicked_at": "2026-07-03T10:00:00"}):
        assert client.post("/api/clicks", json=click, headers=auth).status_code == 201
    ev.post_shopify(client, "orders_paid__no_click")
    ev.post_woo(client, "order.updated__session_entry_click")
    rt = client.application.config["RUNTIME"]
    with rt.session() as session:
        found = session.execute(select(Event.order_id, Event.click_id, Event.attribution)
                                .order_by(Event.id)).all()
    assert [tuple(r) for r in found] == [("5678901234567890129", "store_clk_1", "stored"),
                                         ("4822", "store_clk_2", "stored")]


def test_shopify_visitor_attribute_from_the_snippet_finds_the_click(
        write_config, shop_config, monkeypatch):
    """The snippet writes `_pbb_visitor` into the cart; the order carries it in note_attributes."""
    monkeypatch.setenv("TEST_API_TOKEN", API_TOKEN)
    config = shop_config()
    config["server"]["api_token"] = "${TEST_API_TOKEN}"
    client = create_app(write_config(config)).test_client()
    click = {"click_id": "vis_clk_1", "visitor_id": "v-123", "clicked_at": "2026-07-03T10:00:00"}
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    assert client.post("/api/clicks", json=click, headers=auth).status_code == 201
    order = ev.edited("shopify", "orders_paid__no_click", cart_token="unknown-cart",
                      note_attributes=[{"name": "_pbb_visitor", "value": "v-123"}])
    assert ev.post_shopify(client, order, topic="orders/paid").status_code == 200
    rt = client.application.config["RUNTIME"]
    with rt.session() as session:
        event = session.scalars(select(Event)).one()
        assert (event.click_id, event.attribution) == ("vis_clk_1", "stored")
        assert "visitor" in event.attribution_reason
