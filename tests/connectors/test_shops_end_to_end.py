"""A signed Shopify order and a signed WooCommerce order each reach the network as a postback."""

import os
import subprocess
import sys

from rq import SimpleWorker

from tests import shop_events as ev


def test_shopify_order_reaches_the_network_through_a_worker(shop_client, shops, network_server):
    assert ev.post_shopify(shop_client, "orders_paid__basic").json["status"] == "accepted"
    SimpleWorker([shops.queue], connection=shops.redis).work(burst=True)
    [request] = network_server.wait_for(1)
    assert request.path == "/postback"
    assert request.query == {"click_id": ["shp_clk_1"], "amount": ["90.00"], "currency": ["USD"],
                             "txn_id": ["5678901234567890123"], "event": ["sale"]}


def test_woocommerce_order_and_refund_reach_the_network_through_a_worker_process(
        shop_client, shops, network_server):
    ev.post_woo(shop_client, "order.updated__processing")
    ev.post_woo(shop_client, "order.updated__partial_refund")
    subprocess.run([sys.executable, "-m", "bridge", "worker", "--burst"], check=True,
                   timeout=60, env=os.environ.copy(), capture_output=True)
    sale, refund = network_server.wait_for(2)
    assert (sale.query["event"], sale.query["amount"], sale.query["click_id"]) == (
        ["sale"], ["45.00"], ["woo_clk_1"])
    assert (refund.query["event"], refund.query["amount"], refund.query["txn_id"]) == (
        ["refund"], ["7.69"], ["4821"])
