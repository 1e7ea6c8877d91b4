"""SQL storage: the source of truth for events, deliveries and attempts."""
