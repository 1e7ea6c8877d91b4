"""The audit log: every manual action written down with who did it, when, and on what."""

import getpass

from bridge.storage.models import AuditEntry


def record(session, actor: str, action: str, target: str = "", detail: str = "") -> None:
    """Add one audit row in the caller's transaction (the action and its record commit together)."""
    session.add(AuditEntry(actor=actor[:128], action=action, target=str(target)[:255],
                           detail=detail))


def cli_actor() -> str:
    """Who ran a CLI command: the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except OSError:
        return "cli:unknown"
