"""The emulated board boots the real firmware and reports the scenario's truth
over HTTP (/api/state) and MQTT (emon/<node>/<key>) through a real mosquitto."""
import json
import os

import pytest

from tests.helpers import Subscriber, console, get_json, start_board, truth, wait_state
from tools import paths

DEFAULT = os.path.join(paths.ROOT, "scenarios", "default.json")

with open(DEFAULT) as _f:
    _SCENARIO = json.load(_f)
FLOW_ROM = next(rom for rom, role in _SCENARIO["config"]["onewire"]["roles"].items() if role == "heatpump_flowT")


@pytest.fixture(scope="module")
def board(broker):
    # The default scenario runs every typical input plus analytics: a WROVER's heap.
    # The WROOM-32 stand-in (150K) is covered by test_wroom_heap.py.
    b = start_board(DEFAULT, broker_port=broker.port, heap="2M")
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
    flow = state["channels"]["heatpump_flowT"]
    expected = truth(board, "temperatures." + FLOW_ROM, flow["ts"])
    # 12-bit DS18B20: 1/16 °C steps; the conversion ran up to ~1 s before the
    # timestamp while the scenario ramps the flow temperature by 0.075 K/s.
    assert abs(flow["value"] - expected) <= 0.0625 + 0.1, (flow, expected)


def test_mqtt_publishes_plain_numbers_under_emon_node(board, broker):
    sub = Subscriber(broker.port, "emon/#", "hpmon/#")
    try:
        topic = "emon/hpmon/heatpump_flowT"
        assert sub.wait_for(lambda s: len(s.values(topic)) >= 2, timeout=40), console(board)[-3000:]
        received_at = [ts for t, _p, _r, ts in sub.messages if t == topic][-1]
        latest = sub.latest()
        expected = truth(board, "temperatures." + FLOW_ROM, received_at)
        # published at most one interval (10 s) after the reading, on a 0.075 K/s ramp
        assert abs(float(latest[topic]) - expected) <= 0.0625 + 0.075 * 11, (latest[topic], expected)
        assert float(latest["emon/hpmon/t_" + FLOW_ROM]) == float(latest[topic])
        assert latest.get("hpmon/hpmon/status") == "online"
    finally:
        sub.stop()


def test_values_change_over_time(board):
    # a reading with a wall-clock time (after NTP), then the next one
    first = wait_state(board.http_port, lambda s: s["channels"].get("heatpump_flowT", {}).get("ts") is not None)
    first_ts = first["channels"]["heatpump_flowT"]["ts"]
    later = wait_state(board.http_port, lambda s: s["channels"]["heatpump_flowT"]["ts"] != first_ts, timeout=25)
    assert later["channels"]["heatpump_flowT"]["ts"] > first_ts
    assert later["uptime_s"] >= first["uptime_s"]


def test_runs_without_memory_error(board):
    state = get_json(board.http_port)
    assert state["free_heap"] > 0
    text = console(board)
    assert "MemoryError" not in text
    assert "Traceback" not in text
