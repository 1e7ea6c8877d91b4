"""Network presets (config/presets/<name>.yaml) and the load-time checks of every network."""

from pathlib import Path
from urllib.parse import urlsplit

import yaml

from workers import templating

PRESET_DIR = Path(__file__).resolve().parent.parent / "config" / "presets"
MERGED_KEYS = ("vars", "headers")  # the merchant's entries are added to the preset's
TEMPLATE_KEYS = ("url", "headers", "body")


def names() -> list[str]:
    """Every preset shipped in config/presets."""
    return sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))


def read(name: str) -> dict | None:
    """A preset's YAML as data, or None when there is no such preset."""
    path = PRESET_DIR / f"{name}.yaml"
    if name not in names():
        return None
    return yaml.safe_load(path.read_text()) or {}


def expand_networks(data: dict) -> list[tuple[tuple, str]]:
    """Replace each `preset:` network by the preset with the merchant's keys over it, in place."""
    problems = []
    networks = data.get("networks") if isinstance(data, dict) else None
    for index, network in enumerate(networks if isinstance(networks, list) else []):
        if isinstance(network, dict) and network.get("preset"):
            networks[index] = _expand(network, ("networks", index), problems)
    return problems


def _expand(network: dict, where: tuple, problems: list) -> dict:
    preset = read(str(network["preset"]))
    if preset is None:
        known = ", ".join(names())
        problems.append((where + ("preset",), f"unknown preset {network['preset']!r} ({known})"))
        return network
    merged = {**preset, **network}
    for key in MERGED_KEYS:
        merged[key] = {**preset.get(key, {}), **network.get(key, {})}
    for name in preset.get("required_vars", []):
        if merged["vars"].get(name) in (None, ""):
            merged["vars"][name] = ""  # reported once here, not again as an unknown macro
            problems.append((where + ("vars", name),
                             f"missing variable {name!r} required by preset {network['preset']!r}"))
    return merged


def check_network(network, where: tuple) -> list[tuple[tuple, str]]:
    """Unknown macros or filters in any of the network's templates, with their key paths."""
    problems = []
    for path, template, var_names in _templates(network):
        try:
            templating.check(template, var_names)
        except templating.TemplateError as error:
            problems.append((where + path, str(error)))
    return problems


def _templates(network):
    """(key path, template text, var names in scope) for every template of a network."""
    layers = [((), network)]
    layers += [(("requests", kind), spec) for kind, spec in network.requests.items()]
    layers += [(("refund",), network.refund)]
    layers += [(("test_mode",), network.test_mode)] if network.test_mode else []
    for prefix, spec in layers:
        var_names = {*network.vars, *spec.vars}
        for key in TEMPLATE_KEYS:
            for path, text in _strings(getattr(spec, key), prefix + (key,)):
                yield path, text, var_names
    for key, text in _auth_strings(network):
        yield key, text, set(network.vars)


def _auth_strings(network):
    if network.auth:
        for key in ("username", "password", "token", "name", "value"):
            yield ("auth", key), getattr(network.auth, key)
    if network.signing:
        yield ("signing", "secret"), network.signing.secret


def _strings(value, path):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, path + (index,))


def plain_http_warnings(network, where: tuple) -> list[tuple[tuple, str]]:
    """Postbacks carry order data: warn when a network's URL is not https."""
    urls = [((), network.url)] + [(("requests", k), s.url) for k, s in network.requests.items()]
    urls.append((("refund",), network.refund.url))
    return [(where + path + ("url",), "URL is not https: order data would travel in clear")
            for path, url in urls if url.startswith("http://") and not _loopback(url)]


def _loopback(url: str) -> bool:
    """A network on this machine (the built-in demo, a local relay) is not in the clear."""
    return urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")
