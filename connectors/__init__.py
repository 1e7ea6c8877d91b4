"""One module per store platform, and the explicit registry of them."""

from connectors import stripe

CONNECTORS = {"stripe": stripe}
