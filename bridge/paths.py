"""Where the bridge keeps its files: var/, the config file, var/bridge.env.

Standard library only: `bridge run`'s supervisor uses these and stays a small process."""

import os
from pathlib import Path


def var_dir() -> Path:
    return Path(os.environ.get("BRIDGE_VAR_DIR") or "var")


def config_path() -> Path:
    return Path(os.environ.get("BRIDGE_CONFIG") or "config/bridge.yaml")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of var/bridge.env (comments and blanks skipped)."""
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.strip().startswith("#")}


def load_env_file() -> None:
    """Put var/bridge.env into the environment without overriding what is already set."""
    for key, value in read_env_file(var_dir() / "bridge.env").items():
        os.environ.setdefault(key, value)
