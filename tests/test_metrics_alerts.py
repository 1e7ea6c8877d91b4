"""GET /metrics (also across processes) and alerts to a Slack-compatible webhook."""

import json
import os
import subprocess
import sys

from rq import SimpleWorker

from bridge import alerts
from bridge.app import create_app
from tests import stripe_events as se
from tests.conftest import base_config
from tests.netserver import NetworkServer, Reply
from workers import sweeper


def sample(text: str, name: str, **labels) -> float | None:
    """The value of one sample in Prometheus text format."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def deliver_all(rt) -> None:
    sweeper.sweep(rt)
    SimpleWorker([rt.queue], connection=rt.redis).work(burst=True)


def test_metrics_count_webhooks_deliveries_latency_and_queue(client, bridge):
    before = client.get("/metrics").get_data(as_text=True)
    accepted = sample(before, "bridge_webhooks_total", source="stripe", result="accepted") or 0
    delivered = sample(before, "bridge_deliveries_total", network="house",
                       outcome="delivered") or 0
    se.post(client, se.checkout_session())
    se.post(client, se.checkout_session(), secret="whsec_wrong")
    bridge.queue.enqueue("builtins.len", "waiting")
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "bridge_webhooks_total", source="stripe", result="accepted") == accepted + 1
    assert sample(text, "bridge_webhooks_total", source="stripe", result="bad_signature") >= 1
    assert sample(text, "bridge_queue_jobs", state="queued") == 2
    deliver_all(bridge)
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "bridge_deliveries_total", network="house",
                  outcome="delivered") == delivered + 1
    assert sample(text, "bridge_attempt_latency_seconds_count", network="house") >= 1
    assert sample(text, "bridge_queue_jobs", state="queued") == 0


def test_metrics_add_up_across_processes(bridge, tmp_path):
    """Several gunicorn workers: each process writes its files, /metrics sums them."""
    (tmp_path / "prometheus").mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus")}
    count = "from bridge import metrics; metrics.webhook('shop', 'accepted')"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, check=True, timeout=30)
    scrape = ("from bridge.app import create_app; "
              "print(create_app().test_client().get('/metrics').get_data(as_text=True))")
    out = subprocess.run([sys.executable, "-c", scrape], env=env, check=True, timeout=30,
                         capture_output=True, text=True).stdout
    assert sample(out, "bridge_webhooks_total", source="shop", result="accepted") == 2


def alerting_config(bridge_url_parts, alert_url: str, **retry) -> dict:
    config = base_config(*bridge_url_parts)
    config["alerts"] = {"webhook_url": alert_url + "/slack", "debounce_minutes": 30,
                        "no_worker_minutes": 1}
    config["networks"][0]["retry"].update(retry)
    return config


def test_dead_delivery_alerts_once_with_a_link(write_config, database_url, redis_url, redis,
                                               network_server):
    with NetworkServer() as slack:
        rt = write_config(alerting_config((database_url, redis_url, network_server.url),
                                          slack.url, max_attempts=1))
        network_server.script([], default=Reply(500, "down"))
        client = create_app(rt).test_client()
        se.post(client, se.checkout_session(event_id="evt_a", payment_intent="pi_a"))
        se.post(client, se.checkout_session(event_id="evt_b", payment_intent="pi_b"))
        deliver_all(rt)
        sent = slack.wait_for(1)
        assert len(network_server.received) == 2 and len(sent) == 1  # debounced
        text = json.loads(sent[0].body)["text"]
        assert "a postback to house went dead" in text
        assert "http://127.0.0.1:9/admin/deliveries/" in text


def test_paused_network_alerts(write_config, database_url, redis_url, redis, network_server):
    with NetworkServer() as slack:
        rt = write_config(alerting_config((database_url, redis_url, network_server.url),
                                          slack.url))
        network_server.script([Reply(401, "bad credentials")])
        se.post(create_app(rt).test_client(), se.checkout_session())
        deliver_all(rt)
        text = json.loads(slack.wait_for(1)[0].body)["text"]
        assert "network house was paused" in text and "/admin/deliveries?network=house" in text


def test_no_worker_for_n_minutes_and_accuracy_alerts(write_config, database_url, redis_url,
                                                     redis, network_server):
    from tests import prepared
    with NetworkServer() as slack:
        rt = write_config(alerting_config((database_url, redis_url, network_server.url),
                                          slack.url))
        with rt.session() as session:
            prepared.order(session, {"house": "dead"})
        assert alerts.check(rt) == ["accuracy"]  # no worker seen just now: not yet alerted
        redis.delete(alerts.KEY.format("check"))
        redis.set(alerts.NO_WORKER_SINCE, "2000-01-01T00:00:00")
        assert alerts.check(rt) == ["no-worker"]  # accuracy was alerted already (debounced)
        texts = [json.loads(r.body)["text"] for r in slack.wait_for(2)]
        assert "delivered in 24 h" in texts[0] and "/admin/accuracy" in texts[0]
        assert "no worker has run for 1 minutes" in texts[1]


def test_the_web_tier_alerts_when_no_worker_runs(write_config, database_url, redis_url, redis,
                                                 network_server):
    """Every worker down (so no sweeper either): gunicorn's own watch still raises the alert."""
    from bridge.embedded_redis import free_port
    from bridge.runner import gunicorn_command
    from tests.test_run import wait_ready

    with NetworkServer() as slack:
        config = base_config(database_url, redis_url, network_server.url)
        config["alerts"] = {"webhook_url": slack.url + "/hook", "no_worker_minutes": 0}
        write_config(config)
        port = free_port()
        env = {**os.environ, "BRIDGE_ALERT_WATCH_S": "0.3"}
        web = subprocess.Popen(gunicorn_command(port, workers=1, threads=2), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, text=True)
        try:
            wait_ready(f"http://127.0.0.1:{port}", web)
            [alert] = slack.wait_for(1, timeout_s=15)
        finally:
            web.terminate()
            web.wait(30)
    assert "no worker has run for 0 minutes" in json.loads(alert.body)["text"]
