"""Loading and checking the YAML config: substitution, secrets, errors with key paths and lines."""

import subprocess
import sys

import pytest

from bridge import settings

GOOD = """\
server:
  public_url: https://bridge.example.com/
sources:
  - name: stripe
    platform: stripe
    secret: ${STRIPE_SECRET}
  - name: shop
    platform: shopify
    secret: [${SHOP_SECRET}, ${SHOP_SECRET_OLD:-}]
networks:
  - name: house
    url: "https://t.example/pb?c={click_id}&key=${HOUSE_KEY:-fallback-key}"
"""


def load(tmp_path, text, **env):
    path = tmp_path / "bridge.yaml"
    path.write_text(text)
    return settings.load(path, env=env)


def test_substitution_defaults_and_secret_lists(tmp_path):
    loaded = load(tmp_path, GOOD, STRIPE_SECRET="whsec_a", SHOP_SECRET="shp_b")
    config = loaded.config
    assert config.server.public_url == "https://bridge.example.com"
    assert config.source("stripe").secret == ["whsec_a"]
    assert config.source("shop").secret == ["shp_b"]  # the unset old secret is dropped
    assert config.network("house").url.endswith("key=fallback-key")
    assert {"whsec_a", "shp_b"} <= loaded.secret_values


def test_empty_secret_is_an_error_with_its_path_and_line(tmp_path):
    with pytest.raises(settings.ConfigError) as error:
        load(tmp_path, GOOD, SHOP_SECRET="shp_b")
    assert error.value.problems == [
        "sources[0].secret (line 6): is empty: a webhook secret is required "
        "(never 'accept everything') (${STRIPE_SECRET} not set)"]


def test_every_error_is_listed(tmp_path):
    text = GOOD.replace("platform: stripe", "platform: paypal").replace("    url:", "    ulr:")
    with pytest.raises(settings.ConfigError) as error:
        load(tmp_path, text, STRIPE_SECRET="a", SHOP_SECRET="b")
    problems = "\n".join(error.value.problems)
    assert ("sources[0].platform (line 5): Input should be 'stripe', 'shopify', "
            "'woocommerce' or 'api'") in problems
    assert "networks[0].ulr (line 12): unknown key" in problems
    assert len(error.value.problems) == 2


def test_inline_secret_warns(tmp_path):
    loaded = load(tmp_path, GOOD.replace("${STRIPE_SECRET}", "whsec_inline"), SHOP_SECRET="b")
    assert loaded.warnings == ["sources[0].secret (line 6): secret written inline; "
                               "use ${VAR} instead"]


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(settings.ConfigError, match="not valid YAML"):
        load(tmp_path, "sources: [\n")
    with pytest.raises(settings.ConfigError, match="cannot read"):
        settings.load(tmp_path / "missing.yaml")


def test_config_check_command(tmp_path):
    path = tmp_path / "bridge.yaml"
    path.write_text(GOOD)
    env = {"STRIPE_SECRET": "whsec_a", "SHOP_SECRET": "b", "PATH": "/usr/bin:/bin",
           "BRIDGE_VAR_DIR": str(tmp_path / "var")}
    ok = subprocess.run([sys.executable, "-m", "bridge", "config", "check", "--file", str(path)],
                        env=env, capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert "https://bridge.example.com/webhooks/stripe" in ok.stdout
    assert "house" in ok.stdout
    del env["STRIPE_SECRET"]
    bad = subprocess.run([sys.executable, "-m", "bridge", "config", "check", "--file", str(path)],
                         env=env, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1
    assert "sources[0].secret (line 6)" in bad.stderr


def test_values_to_mask_include_secret_lists_and_storage_urls(tmp_path):
    text = GOOD + "storage:\n  database_url: ${DATABASE_URL}\n"
    loaded = load(tmp_path, text, STRIPE_SECRET="whsec_a1", SHOP_SECRET="shp_b22",
                  DATABASE_URL="postgresql://u:pw@db/x")
    assert {"whsec_a1", "shp_b22", "postgresql://u:pw@db/x"} <= loaded.secret_values
