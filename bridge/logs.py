"""One line per event to stdout, with the logger's name and level; secrets masked."""

import logging
import sys
from collections.abc import Callable


class MaskingFilter(logging.Filter):
    """Hide configured secrets in every line and traceback before it is written."""

    def __init__(self, mask: Callable[[str], str]):
        super().__init__()
        self.mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.mask(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        return True


def configure(level: str = "INFO", mask: Callable[[str], str] | None = None) -> None:
    """Log to stdout once per process; `mask` (Runtime.mask) replaces any earlier one."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_bridge", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        handler._bridge = True
        root.addHandler(handler)
        root.setLevel(level)
    if mask is not None:
        for old in [f for f in handler.filters if isinstance(f, MaskingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(MaskingFilter(mask))
