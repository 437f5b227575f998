"""The emulated board boots the real firmware and reports the scenario's truth
over HTTP (/api/state) and MQTT (emon/<node>/<key>) through a real mosquitto."""
import json
import os

import pytest

from tests.helpers import Subscriber, console, get_json, start_board, wait_state
from tools import paths

DEFAULT = os.path.join(paths.ROOT, "scenarios", "default.json")

with open(DEFAULT) as _f:
    _SCENARIO = json.load(_f)
FLOW_ROM = next(rom for rom, role in _SCENARIO["config"]["onewire"]["roles"].items() if role == "heatpump_flowT")


@pytest.fixture(scope="module")
def board(broker):
    b = start_board(DEFAULT, broker_port=broker.port, heap="150K")
    yield b
    b.stop()


def test_api_state_reports_every_sensor_with_units(board):
    def all_read_with_time(s):
        chans = s["channels"]
        return all(chans.get("t_" + rom, {}).get("ts") for rom in _SCENARIO["temperatures"])

    state = wait_state(board.http_port, all_read_with_time, timeout=40)
    assert state["node"] == "hpmon"
    assert state["version"]
    assert state["config_errors"] == []
    assert state["safe_mode"] is False
    for rom in _SCENARIO["temperatures"]:
        ch = state["channels"]["t_" + rom]
        assert ch["unit"] == "°C"
        assert ch["status"] == "ok"
        assert ch["ts"] is not None  # NTP synced through the simulated station
    flow = state["channels"]["heatpump_flowT"]["value"]
    # 12-bit DS18B20: 1/16 °C steps; the scenario's flow temperature is 38.0 at t=0..420 s
    assert abs(flow - 38.0) <= 0.0625


def test_mqtt_publishes_plain_numbers_under_emon_node(board, broker):
    sub = Subscriber(broker.port, "emon/#", "hpmon/#")
    try:
        assert sub.wait_for(lambda s: "emon/hpmon/heatpump_flowT" in s.latest(), timeout=30), console(board)[-3000:]
        latest = sub.latest()
        assert abs(float(latest["emon/hpmon/heatpump_flowT"]) - 38.0) <= 0.0625
        assert float(latest["emon/hpmon/t_" + FLOW_ROM]) == float(latest["emon/hpmon/heatpump_flowT"])
        assert latest.get("hpmon/hpmon/status") == "online"
    finally:
        sub.stop()


def test_runs_at_wroom_heap_without_memory_error(board):
    state = get_json(board.http_port)
    assert state["free_heap"] > 0
    text = console(board)
    assert "MemoryError" not in text
    assert "Traceback" not in text
