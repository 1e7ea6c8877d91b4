"""`bridge clicks import` and `bridge conversions import` on CSV files. SQLite and PostgreSQL."""

from click.testing import CliRunner
from sqlalchemy import select

from bridge.cli import main
from bridge.storage.models import Click, Event
from connectors.base import email_sha256
from tests.live import API_TOKEN, click_config, run_worker


def test_import_clicks_then_conversions_reach_the_network(
        write_config, database_url, redis_url, redis, network_server, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_API_TOKEN", API_TOKEN)
    rt = write_config(click_config(database_url, redis_url, network_server.url))
    clicks_csv = tmp_path / "clicks.csv"
    clicks_csv.write_text("click_id,click_param,email,clicked_at\n"
                          "A-1,aff_a,Ann@Example.com,2026-01-01T00:00:00Z\n"
                          "B-2,aff_b,bob@example.com,\n"
                          ",aff_b,nobody@example.com,\n")
    result = CliRunner().invoke(main, ["clicks", "import", str(clicks_csv)])
    assert result.exit_code == 1
    assert "2 stored, 1 error" in result.output and "line 4: click_id is missing" in result.output
    with rt.session() as session:
        rows = session.scalars(select(Click).order_by(Click.id)).all()
        assert [(c.click_id, c.network, c.email_sha256) for c in rows] == [
            ("A-1", "alpha", email_sha256("ann@example.com")),
            ("B-2", "beta", email_sha256("bob@example.com"))]
    conversions_csv = tmp_path / "conversions.csv"
    conversions_csv.write_text("txn_id,kind,amount,currency,email\n"
                               "crm-1,lead,0,EUR,BOB@example.com\ncrm-1,lead,0,EUR,bob@example.com\n")
    result = CliRunner().invoke(main, ["conversions", "import", str(conversions_csv)])
    assert result.exit_code == 0 and "1 accepted, 1 duplicate" in result.output
    run_worker(rt)
    [sent] = network_server.wait_for(1)
    assert (sent.path, sent.query["click"], sent.query["event"]) == ("/beta", ["B-2"], ["lead"])
    with rt.session() as session:
        event = session.scalars(select(Event)).one()
        assert (event.source, event.platform) == ("api", "api")
        assert "bob" not in str(event.payload)
