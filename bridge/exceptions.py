"""The bridge's own error types, without HTTP knowledge (bridge.errors maps them to answers), so
that the workers raise and catch them without importing Flask."""


class UnknownSourceError(Exception):
    """No source of that name in the config."""


class InvalidInputError(ValueError):
    """A click or conversion from a browser or a merchant's backend that cannot be used."""


class UnauthorizedError(Exception):
    """Missing or wrong api token."""


class RateLimitedError(Exception):
    """Too many requests from one address this minute."""
