"""One module per store platform, and the explicit registry of them."""

from connectors import shopify, stripe, woocommerce

CONNECTORS = {"stripe": stripe, "shopify": shopify, "woocommerce": woocommerce}
