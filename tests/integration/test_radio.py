"""RFM69 radio end to end on the emulated board (scenarios/radio.json, LowPowerLab format).

The simulated RFM69 hears emonTH nodes on a schedule: node 23 (good), node 24 (every
second packet corrupt, silent from 15 s), node 25 (JeeLib classic: another bit rate and
frequency), node 26 (wrong AES key) and node 8 (not an emonTH). The firmware publishes
emonth<node>_* in /api/state and over MQTT (a real mosquitto), maps emonth23_temp to
heatpump_roomT, and transmits its readings to the simulated emonPi (rf_tx.jsonl).
"""
import json
import os
import time

import pytest

from firmware import rf_packets as rp
from tests.helpers import Subscriber, console, get_json, start_board, truth, wait_state
from tools import paths

RADIO = os.path.join(paths.ROOT, "scenarios", "radio.json")
with open(RADIO) as _f:
    _SCENARIO = json.load(_f)
NODE24 = _SCENARIO["radio"]["nodes"][1]


@pytest.fixture(scope="module")
def board(broker):
    b = start_board(RADIO, broker_port=broker.port, heap="2M")
    yield b
    b.stop()


def _world_s(board):
    return board.world_time(board.virtual_now())


def _lines(board, name):
    try:
        with open(os.path.join(board.state_dir, name)) as f:
            return [json.loads(line) for line in f]
    except OSError:
        return []


def _value(state, name):
    return state["channels"].get(name, {}).get("value")


def test_emonth_channels_match_the_node_and_feed_the_role(board):
    # (packets before the first NTP sync carry no wall time: wait for one that does)
    state = wait_state(board.http_port, lambda s: s["channels"].get("emonth23_temp", {}).get("ts")
                       and _value(s, "emonth24_temp") is not None, timeout=30)
    ch = state["channels"]
    t23 = ch["emonth23_temp"]
    assert t23["unit"] == "°C" and t23["status"] == "ok" and t23["ts"]
    assert t23["value"] == truth(board, "radio.nodes.0.temp_c", t23["ts"])
    assert ch["emonth23_temp_ext"]["value"] == 4.5
    assert ch["emonth23_humidity"]["value"] == 52.3 and ch["emonth23_humidity"]["unit"] == "%"
    assert ch["emonth23_battery"]["value"] == 2.9 and ch["emonth23_battery"]["unit"] == "V"
    assert ch["emonth23_pulse"]["value"] == truth(board, "radio.nodes.0.pulses", t23["ts"])
    assert ch["emonth23_rssi"]["value"] == -62 and ch["emonth23_rssi"]["unit"] == "dBm"
    assert ch["heatpump_roomT"]["value"] == t23["value"]
    assert ch["emonth24_temp_ext"]["value"] == -3.5 and ch["emonth24_pulse"]["value"] == 1234


def test_corrupt_packets_are_never_published(board):
    seen = set()
    deadline = time.time() + 8
    while time.time() < deadline and _world_s(board) < 14:
        v = _value(get_json(board.http_port), "emonth24_temp")
        if v is not None:
            seen.add(v)
        time.sleep(0.1)
    assert seen == {NODE24["temp_c"]}
    air = [a for a in _lines(board, "rf_air.jsonl") if a["node"] == 24]
    bad = [a for a in air if a["corrupt"]]
    assert bad and all(a["result"] in ("received, bad CRC", "FIFO still full") for a in bad), air
    assert any(a["result"] == "received" for a in air if not a["corrupt"])


def test_other_formats_wrong_keys_and_other_nodes_are_not_decoded(board):
    wait_state(board.http_port, lambda s: _value(s, "emonth23_temp") is not None, timeout=30)
    chans = get_json(board.http_port)["channels"]
    assert not [n for n in chans if n.startswith(("emonth25", "emonth26", "emonth8_"))]
    air = _lines(board, "rf_air.jsonl")
    assert {a["result"] for a in air if a["node"] == 25} <= {"frequency", "receiver not in Rx"}
    # the wrong key decrypts to noise that passes the CRC: heard, but not published
    assert any(a["result"] == "received" for a in air if a["node"] == 26)
    assert any(a["result"] == "received" for a in air if a["node"] == 8)


def test_mqtt_publishes_emonth_channels_and_the_role(board, broker):
    sub = Subscriber(broker.port, "emon/#")
    try:
        assert sub.wait_for(lambda s: "emon/hpmon/emonth23_temp" in s.latest()
                            and "emon/hpmon/heatpump_roomT" in s.latest(), timeout=25), console(board)[-3000:]
        latest = sub.latest()
        assert float(latest["emon/hpmon/emonth23_temp"]) in (20.5, 21.3)
        assert float(latest["emon/hpmon/emonth23_humidity"]) == 52.3
        assert float(latest["emon/hpmon/emonth24_temp"]) == NODE24["temp_c"]
        assert "emon/hpmon/emonth26_temp" not in latest
    finally:
        sub.stop()


def test_transmitted_readings_are_decoded_by_the_emonpi(board):
    wait_state(board.http_port, lambda s: len(_lines(board, "rf_tx.jsonl")) >= 2, timeout=25)
    sent = _lines(board, "rf_tx.jsonl")
    assert all(p["ok"] and p["src"] == 1 and p["dest"] == 5 for p in sent), sent
    decoded = [rp.decode_tx(bytes.fromhex(p["payload"])) for p in sent]
    msgs = [d["msg"] for d in decoded]
    assert msgs == list(range(msgs[0], msgs[0] + len(msgs)))
    state = get_json(board.http_port)
    last = decoded[-1]
    assert last["heatpump_roomT"] in (20.5, 21.3)
    assert last["heatpump_outsideT"] == round(_value(state, "heatpump_outsideT"), 2)
    # the heat meter's register runs on between the packet and now (5 kW: 0.014 kWh per 10 s)
    assert abs(last["heatpump_heat_kwh"] - _value(state, "heatpump_heat_kwh")) < 0.05
    # about one packet per reporting interval (10 s)
    spacing = [b["t_ms"] - a["t_ms"] for a, b in zip(sent, sent[1:])]
    assert all(9000 <= s <= 11500 for s in spacing), spacing


def test_values_follow_the_node(board):
    state = wait_state(board.http_port, lambda s: _value(s, "emonth23_temp") == 21.3, timeout=45)
    ch = state["channels"]
    assert ch["emonth23_pulse"]["value"] == 25
    assert ch["heatpump_roomT"]["value"] == 21.3


def test_a_silent_node_becomes_unknown(board):
    state = wait_state(board.http_port, lambda s: s["channels"].get("emonth24_temp", {}).get("status") == "no packet",
                       timeout=45)
    for field in ("temp", "temp_ext", "humidity", "battery", "pulse", "rssi"):
        ch = state["channels"]["emonth24_" + field]
        assert ch["value"] is None and ch["status"] == "no packet"
    # radio.stale_s (30 s) after the node's last good packet
    good = [a["t_ms"] for a in _lines(board, "rf_air.jsonl") if a["node"] == 24 and a["result"] == "received"]
    assert good[-1] / 1000 + 30 <= _world_s(board) <= good[-1] / 1000 + 30 + 4
    assert _value(state, "emonth23_temp") is not None


def test_no_errors_on_the_console(board):
    text = console(board)
    assert "MemoryError" not in text
    assert "Traceback" not in text
    assert "radio: RFM69 listening, lpl format" in text
