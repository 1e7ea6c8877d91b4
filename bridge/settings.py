"""The YAML config: loading, ${VAR} substitution, validation with key paths and lines."""

import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bridge import presets
from bridge.paths import config_path
from connectors.base import KINDS

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_PLACEHOLDER = "__bridge_var_"  # ${VAR} while the YAML is parsed (see _protect_variables)
SECRET_NAME = re.compile(r"secret|token|key|pass|auth|sid|credential", re.IGNORECASE)
Kind = Literal["sale", "lead", "renewal", "refund", "reversal"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Server(Strict):
    public_url: str = "http://127.0.0.1:8000"
    admin_token: str = ""
    api_token: str = ""
    secret_key: str = ""
    max_body_bytes: int = Field(1_048_576, ge=1024)

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


class Storage(Strict):
    database_url: str = Field(default_factory=lambda: os.environ.get("DATABASE_URL", ""))
    redis_url: str = Field(default_factory=lambda: os.environ.get("REDIS_URL", ""))
    retention_days: int = Field(90, ge=1)


class Attribution(Strict):
    window_days: int = Field(30, ge=0)
    click_params: list[str] = ["click_id"]
    redirect_hosts: list[str] = []
    store_origins: list[str] = []
    consent_mode: bool = False  # the snippet sets nothing until the page signals consent
    rate_limit_per_minute: int = Field(120, ge=0)  # per IP on /c and /clicks; 0 = off


class Source(Strict):
    name: str = Field(pattern=NAME)
    platform: Literal["stripe", "shopify", "woocommerce", "api"]
    secret: list[str] = Field(default_factory=list, validate_default=True)
    amount: Literal["net", "total"] = "net"
    topics: dict[str, Kind | Literal["ignore"]] = {}
    click_params: list[str] = []
    api_key: str = ""
    shop_domain: str = ""
    admin_token: str = ""
    site_url: str = ""
    paid_statuses: list[str] = ["processing", "completed"]
    consumer_key: str = ""
    consumer_secret: str = ""
    credit_on: Literal["paid", "create"] = "paid"  # shopify: orders/paid or orders/create
    presentment_currency: bool = False  # shopify: the buyer's currency instead of the shop's
    reversal_statuses: list[str] = ["cancelled", "failed"]  # woocommerce, after a sale
    deleted: Literal["ignore", "reversal"] = "ignore"  # woocommerce order.deleted
    api_base_url: str = ""  # connect/reconcile: another API host (self-hosted, tests)
    api_version: str = ""  # shopify Admin API version; default connectors.shopify_api's

    @field_validator("secret", mode="before")
    @classmethod
    def _secret_list(cls, value, info):
        values = value if isinstance(value, list) else [value]
        secrets = [str(v) for v in values if v not in (None, "")]
        if not secrets and info.data.get("platform") != "api":  # api: the api token signs
            raise ValueError("is empty: a webhook secret is required (never 'accept everything')")
        return secrets


class Retry(Strict):
    max_attempts: int = Field(8, ge=1, le=100)
    first_delay_s: float = Field(30, ge=0)
    max_delay_s: float = Field(3600, ge=0)
    max_age_h: float = Field(72, gt=0)


AMOUNT_BASES = ("net", "total", "subtotal", "subtotal_after_discounts")
REFUND_MODES = ("separate_request", "status_param", "negative_amount", "unsupported")


class Auth(Strict):
    """How a network authenticates us: HTTP Basic, a bearer token, or an API key header."""

    type: Literal["basic", "bearer", "header"]
    username: str = ""
    password: str = ""
    token: str = ""
    name: str = ""
    value: str = ""


class RequestSpec(Strict):
    """One request shape; empty fields fall back to the network's own."""

    url: str = ""
    method: Literal["GET", "POST"] | None = None
    headers: dict[str, str] = {}
    body: dict | str | None = None
    body_format: Literal["json", "form"] | None = None
    vars: dict[str, str | int] = {}


class Refund(RequestSpec):
    """How the network hears a refund (DESIGN: refunds follow their sale)."""

    mode: Literal[REFUND_MODES] = "status_param"
    partial: bool = True


class Rule(Strict):
    """A classifier rule: status codes (any when empty) and a body regex → an outcome."""

    status: list[int] = []
    body: str = ""
    outcome: Literal["delivered", "duplicate", "rejected", "retry"]
    reason: str = ""

    @field_validator("body")
    @classmethod
    def _compiles(cls, value: str) -> str:
        re.compile(value)
        return value


class Signing(Strict):
    scheme: Literal["standard_webhooks"] = "standard_webhooks"
    secret: str


class Breaker(Strict):
    """Pause a network after this many failures in a row; probe it again after cooldown_s."""
    failures: int = Field(5, ge=1)
    cooldown_s: float = Field(60, gt=0)


class Network(Strict):
    name: str = Field(pattern=NAME)
    preset: str = ""
    vars: dict[str, str | int] = {}
    required_vars: list[str] = []
    secret_vars: list[str] = []
    url: str = ""
    method: Literal["GET", "POST"] = "GET"
    body: dict | str | None = None
    body_format: Literal["json", "form"] = "json"
    headers: dict[str, str] = {}
    auth: Auth | None = None
    signing: Signing | None = None
    requests: dict[Kind, RequestSpec] = {}
    refund: Refund = Refund()
    classifier: list[Rule] = []
    test_mode: RequestSpec | None = None
    events: list[Kind] = list(KINDS)
    receives: Literal["all", "own"] = "own"
    click_params: list[str] = []
    sources: list[str] = []
    currencies: list[str] = []
    min_amount: Decimal | None = None
    window_days: int | None = Field(None, ge=0)
    amount: Literal[AMOUNT_BASES] | None = None
    amount_currency: Literal["shop", "presentment"] = "shop"
    retry: Retry = Retry()
    concurrency: int = Field(8, ge=1, le=256)
    breaker: Breaker = Breaker()
    delay_minutes: int = Field(0, ge=0)
    timeout_s: float = Field(10, gt=0, le=120)
    send_test: bool = False

    @model_validator(mode="after")
    def _has_request(self):
        if not self.url and not self.preset:
            raise ValueError("needs a url (or a preset)")
        return self

    def spec_for(self, kind: str, test: bool = False) -> RequestSpec:
        """The request shape for one kind of conversion, merged over the network's own."""
        layers = [self.requests.get(kind)]
        if kind in ("refund", "reversal") and self.refund.mode == "separate_request":
            layers = [self.refund]
        elif kind in ("refund", "reversal"):
            layers = [self.requests.get("sale"), self.refund]
        if test and self.test_mode is not None:
            layers.append(self.test_mode)
        return _merge(RequestSpec(url=self.url, method=self.method, headers=self.headers,
                                  body=self.body, body_format=self.body_format, vars=self.vars),
                      [layer for layer in layers if layer is not None])


def _merge(base: RequestSpec, layers: list[RequestSpec]) -> RequestSpec:
    """Later layers win field by field; headers and vars merge key by key."""
    merged = base.model_dump()
    for layer in layers:
        for key, value in layer.model_dump(exclude_unset=True).items():
            if key in ("headers", "vars"):
                merged[key] = {**merged[key], **value}
            elif key in RequestSpec.model_fields and value not in (None, ""):
                merged[key] = value
    return RequestSpec(**merged)


class Alerts(Strict):
    webhook_url: str = ""
    accuracy_threshold: float = Field(0.95, ge=0, le=1)
    no_worker_minutes: int = Field(5, ge=0)
    debounce_minutes: int = Field(60, ge=1)


class Worker(Strict):
    sweep_interval_s: float = Field(2, gt=0)
    lease_margin_s: float = Field(30, gt=0)  # a claimed delivery's lease: 2 × timeout_s + this
    queue: str = "postbacks"


class Config(Strict):
    server: Server = Server()
    storage: Storage = Storage()
    attribution: Attribution = Attribution()
    sources: list[Source] = []
    networks: list[Network] = []
    alerts: Alerts = Alerts()
    worker: Worker = Worker()

    @model_validator(mode="after")
    def _unique_names(self):
        for kind in ("sources", "networks"):
            names = [item.name for item in getattr(self, kind)]
            if len(names) != len(set(names)):
                raise ValueError(f"{kind}: names must be unique")
        return self

    def source(self, name: str) -> Source | None:
        return next((s for s in self.sources if s.name == name), None)

    def network(self, name: str) -> Network | None:
        return next((n for n in self.networks if n.name == name), None)

    def click_params(self) -> list[str]:
        """Every click parameter name: each network's, then the generic ones."""
        names = [p for n in self.networks for p in n.click_params] + self.attribution.click_params
        return list(dict.fromkeys(names))


@dataclass
class Loaded:
    """A validated config, the values that came from the environment (to mask), and warnings."""

    config: Config
    path: Path
    secret_values: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


class ConfigError(Exception):
    """A config that cannot be used; `problems` lists 'path (line N): message'."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def load(path: Path | None = None, env: dict | None = None) -> Loaded:
    """Read, substitute and validate a config file; ConfigError lists every problem."""
    path = Path(path or config_path())
    env = dict(os.environ if env is None else env)
    try:
        text, placeholders = _protect_variables(path.read_text())
        root = yaml.compose(text)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from None
    lines: dict[tuple, int] = {}
    secrets: set[str] = set()
    missing: list[str] = []
    data = _build(root, (), lines, env, secrets, missing, placeholders) if root else {}
    problems = [f"{_where(loc, lines)}: {text}" for loc, text in presets.expand_networks(data)]
    try:
        config = Config.model_validate(data or {})
    except ValidationError as exc:
        problems += [f"{_where(e['loc'], lines)}: {_message(e, missing)}" for e in exc.errors()]
    else:
        problems += _network_problems(config, root, lines)
    if problems:
        raise ConfigError(sorted(set(problems), key=problems.index))
    warnings = _inline_secrets(root, lines) + [
        f"{_where(loc, lines)}: {text}" for i, network in enumerate(config.networks)
        for loc, text in presets.plain_http_warnings(network, ("networks", i))]
    return Loaded(config, path, {s for s in secrets if len(s) >= 4}, warnings)


def _network_problems(config: Config, root, lines) -> list[str]:
    """Unknown macros and secrets written inline in the networks, each with its key path."""
    found = [problem for i, network in enumerate(config.networks)
             for problem in presets.check_network(network, ("networks", i))]
    found += [(path, "secret written inline; use ${VAR} instead")
              for path, raw in _scalars(root, ()) if _inline_network_secret(config, path, raw)]
    return [f"{_where(loc, lines)}: {text}" for loc, text in found]


def _inline_network_secret(config: Config, path: tuple, raw: str) -> bool:
    """A network credential (auth, key header, declared secret var) typed into the file."""
    if len(path) < 4 or path[0] != "networks" or not raw or _PLACEHOLDER in raw:
        return False
    network, key, name = config.networks[path[1]], path[2], str(path[3])
    return ((key == "auth" and name in ("password", "token", "value"))
            or (key == "signing" and name == "secret")
            or (key == "headers" and bool(SECRET_NAME.search(name) or name == "Authorization"))
            or (key == "vars" and name in network.secret_vars))


def _secret_path(name: str, path: tuple) -> bool:
    """Values to mask: secret-looking names or keys, and storage URLs (they carry passwords)."""
    return (bool(SECRET_NAME.search(name)) or path[:1] == ("storage",)
            or any(SECRET_NAME.search(str(part)) for part in path))


def _protect_variables(text: str) -> tuple[str, dict[str, str]]:
    """${VAR} → a plain-scalar placeholder, so `[${A}, ${B:-}]` is valid YAML (braces are not)."""
    placeholders: dict[str, str] = {}

    def hold(match):
        key = f"{_PLACEHOLDER}{len(placeholders)}__"
        placeholders[key] = match.group(0)
        return key

    return _VAR.sub(hold, text), placeholders


def _build(node, path, lines, env, secrets, missing, placeholders):
    """YAML node tree to plain data, recording each key path's line and substituting ${VAR}."""
    lines[path] = node.start_mark.line + 1
    build = lambda child, key: _build(child, path + (key,), lines, env, secrets, missing,
                                      placeholders)
    if isinstance(node, yaml.MappingNode):
        return {k.value: build(v, k.value) for k, v in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [build(v, i) for i, v in enumerate(node.value)]
    value = yaml.safe_load(yaml.serialize(node))
    if isinstance(value, str) and _PLACEHOLDER in value:
        value = re.sub(r"__bridge_var_\d+__", lambda m: placeholders[m.group(0)], value)
        return _substitute(value, path, env, secrets, missing)
    return value


def _substitute(value: str, path, env, secrets, missing) -> str:
    def replace(match):
        name, default = match.group(1), match.group(2)
        if env.get(name):
            if _secret_path(name, path):
                secrets.add(env[name])
            return env[name]
        if default is None:
            missing.append((path, name))
        return default or ""

    return _VAR.sub(replace, value)


def _inline_secrets(root, lines) -> list[str]:
    """Warn about secrets written into the file instead of ${VAR}."""
    warnings = []
    for path, raw in _scalars(root, ()):
        key = str(path[-1] if not isinstance(path[-1], int) else path[-2])
        if SECRET_NAME.search(key) and raw and _PLACEHOLDER not in raw:
            warnings.append(f"{_where(path, lines)}: secret written inline; use ${{VAR}} instead")
    return warnings


def _scalars(node, path):
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield from _scalars(v, path + (k.value,))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            yield from _scalars(v, path + (i,))
    elif node is not None and path:
        yield path, node.value


def _where(loc, lines) -> str:
    loc = tuple(loc)
    dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    while loc and loc not in lines:
        loc = loc[:-1]
    line = lines.get(loc)
    return f"{dotted or '(top)'} (line {line})" if line else dotted or "(top)"


def _message(error, missing) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    unset = [f"${{{var}}}" for path, var in missing if path[: len(error["loc"])] == error["loc"]]
    hint = f" ({', '.join(unset)} not set)" if unset else ""
    return error["msg"].removeprefix("Value error, ") + hint
