"""One line per event to stdout, with the logger's name and level."""

import logging
import sys


def configure(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(getattr(h, "_bridge", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler._bridge = True
    root.addHandler(handler)
    root.setLevel(level)
