"""Load-time checks of networks: each problem with its YAML key path and line."""

import pytest

from bridge import settings

CONFIG = """\
networks:
  - name: typo
    url: "https://h.example/p?c={clik_id}"
  - name: nopreset
    preset: evrflow
  - name: ef
    preset: everflow
    vars: {tracking_domain: trk.example.com}
  - name: kt
    preset: keitaro
    vars: {domain: kt.example.com, postback_key: abc123secret}
  - name: inline
    url: "https://h.example/p"
    auth: {type: bearer, token: literal-token}
  - name: badfilter
    url: "https://h.example/p"
    method: POST
    body: {amount: "{amount|rounded}"}
"""


def problems(tmp_path, text: str, env=None) -> list[str]:
    path = tmp_path / "bridge.yaml"
    path.write_text(text)
    with pytest.raises(settings.ConfigError) as caught:
        settings.load(path, env=env or {})
    return caught.value.problems


def test_each_problem_has_its_path_and_line(tmp_path):
    found = problems(tmp_path, CONFIG)
    assert "networks[0].url (line 3): unknown macro {clik_id}" in found
    assert any(p.startswith("networks[1].preset (line 5): unknown preset 'evrflow'")
               for p in found)
    assert ("networks[2].vars.nid (line 8): missing variable 'nid' required by preset "
            "'everflow'") in found
    assert ("networks[3].vars.postback_key (line 11): secret written inline; use ${VAR} "
            "instead") in found
    assert ("networks[4].auth.token (line 14): secret written inline; use ${VAR} instead"
            in found)
    assert "networks[5].body.amount (line 18): unknown filter |rounded" in found
    assert len(found) == 6


def test_plain_http_is_a_warning(tmp_path):
    path = tmp_path / "bridge.yaml"
    path.write_text('networks:\n  - name: h\n    url: "http://h.example/p?c={click_id}"\n')
    loaded = settings.load(path, env={})
    assert loaded.warnings == [
        "networks[0].url (line 3): URL is not https: order data would travel in clear"]


def test_preset_with_secrets_from_environment_loads(tmp_path):
    path = tmp_path / "bridge.yaml"
    path.write_text("networks:\n  - name: kt\n    preset: keitaro\n"
                    "    vars: {domain: kt.example.com, postback_key: \"${KT_KEY}\"}\n")
    loaded = settings.load(path, env={"KT_KEY": "k-from-env"})
    network = loaded.config.network("kt")
    assert network.vars["postback_key"] == "k-from-env" and "k-from-env" in loaded.secret_values
    assert network.refund.mode == "status_param" and network.click_params == ["subid"]
