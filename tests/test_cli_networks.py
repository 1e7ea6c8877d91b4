"""`bridge networks test|pause|resume`: a harmless test conversion via the preset's test mode."""

from click.testing import CliRunner

from bridge.cli import main
from bridge.storage.models import NetworkState
from tests.conftest import base_config


def test_networks_test_uses_the_test_mode(write_config, database_url, redis_url, network_server):
    network = {"name": "awin", "preset": "awin", "vars": {"merchant_id": 7},
               "url": network_server.url + "/sread.php?merchant={merchant_id}&amount={amount}"
                                           "&testmode={testmode}&cks={click_id}"}
    write_config(base_config(database_url, redis_url, network_server.url, networks=[network]))
    result = CliRunner().invoke(main, ["networks", "test", "awin"])
    assert result.exit_code == 0, result.output
    assert "delivered" in result.output
    assert network_server.received[0].query == {
        "merchant": ["7"], "amount": ["1.00"], "testmode": ["1"], "cks": ["bridge-test-click"]}


def test_networks_test_refuses_without_test_mode(bridge, network_server):
    result = CliRunner().invoke(main, ["networks", "test", "house"])
    assert result.exit_code != 0 and "no test mode" in result.output
    assert network_server.received == []
    forced = CliRunner().invoke(main, ["networks", "test", "house", "--yes"])
    assert forced.exit_code == 0 and len(network_server.received) == 1


def test_pause_and_resume(bridge):
    assert CliRunner().invoke(main, ["networks", "pause", "house"]).exit_code == 0
    with bridge.session() as session:
        assert session.get(NetworkState, "house").paused
    assert CliRunner().invoke(main, ["networks", "resume", "house"]).exit_code == 0
    with bridge.session() as session:
        assert not session.get(NetworkState, "house").paused
