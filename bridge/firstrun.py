"""First `bridge run` on a fresh clone: config from the example, demo secrets in var/bridge.env."""

import os
import secrets
import shutil
from pathlib import Path

from bridge import paths

EXAMPLE = Path("config/bridge.example.yaml")
GENERATED = {
    "BRIDGE_ADMIN_TOKEN": lambda: secrets.token_urlsafe(24),
    "BRIDGE_API_TOKEN": lambda: secrets.token_urlsafe(24),
    "BRIDGE_SECRET_KEY": lambda: secrets.token_urlsafe(32),
    "DEMO_STRIPE_WEBHOOK_SECRET": lambda: "whsec_demo_" + secrets.token_hex(16),
}


def prepare(echo=print) -> None:
    """Create what a first run needs; print new secrets once. Never a real store's secret."""
    var = paths.var_dir()
    var.mkdir(parents=True, exist_ok=True)
    os.chmod(var, 0o700)
    path = paths.config_path()
    if not path.exists() and not os.environ.get("BRIDGE_CONFIG") and EXAMPLE.exists():
        shutil.copyfile(EXAMPLE, path)
        echo(f"Wrote {path} from {EXAMPLE}: edit it to add your stores and networks.")
    env_file = var / "bridge.env"
    present = paths.read_env_file(env_file)
    new = {k: make() for k, make in GENERATED.items() if k not in present and k not in os.environ}
    if new:
        with open(env_file, "a") as handle:
            handle.writelines(f"{k}={v}\n" for k, v in new.items())
        os.chmod(env_file, 0o600)
        echo(f"Generated in {env_file} (shown once, keep them safe):")
        for key, value in new.items():
            echo(f"  {key}={value}")
