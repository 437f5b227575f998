"""Boot modes of the emulated board: never a boot loop, always a way in."""
import json
import os
import re
import tempfile

from tests.helpers import console, get_json, start_board, wait_state, wait_until, write_scenario
from tools import paths

DEFAULT = os.path.join(paths.ROOT, "scenarios", "default.json")


def _state_dir_with_config(text):
    state_dir = tempfile.mkdtemp(prefix="hpmon-board-")
    os.makedirs(os.path.join(state_dir, "flash"))
    with open(os.path.join(state_dir, "flash", "config.json"), "w") as f:
        f.write(text)
    return state_dir


def test_corrupt_config_boots_defaults_with_access_point_and_says_why():
    state_dir = _state_dir_with_config('{"node": "loft", "mqtt": {"host": ')
    board = start_board(DEFAULT, state_dir=state_dir)
    try:
        state = wait_state(board.http_port, lambda s: s["uptime_s"] >= 1)
        assert state["node"] == "hpmon"  # defaults
        assert any("not valid JSON" in e for e in state["config_errors"])
        assert state["wifi"]["ap_active"] is True
        assert state["wifi"]["ap_ssid"] == "hpmon-b2c3"
        # the file is left for the user to fix or replace, not overwritten
        with open(os.path.join(state_dir, "flash", "config.json")) as f:
            assert f.read().startswith('{"node": "loft"')
        assert board.boots == [1]  # no reboot loop
    finally:
        board.stop()


def test_invalid_config_lists_every_error():
    state_dir = _state_dir_with_config(json.dumps({"interval_s": 0, "pins": {"ct1": 7}, "colour": 1}))
    board = start_board(DEFAULT, state_dir=state_dir)
    try:
        errors = wait_state(board.http_port, lambda s: s["config_errors"])["config_errors"]
        text = "\n".join(errors)
        assert "interval_s: must be between 1 and 3600" in text
        assert "pins.ct1: GPIO 7 does not exist" in text
        assert "colour: unknown setting" in text
    finally:
        board.stop()


def test_boot_button_held_starts_safe_mode_without_drivers():
    scenario = write_scenario(os.path.join(tempfile.mkdtemp(), "button.json"), DEFAULT, pins={"0": 0})
    board = start_board(scenario)
    try:
        state = wait_state(board.http_port, lambda s: s["uptime_s"] >= 3)
        assert state["safe_mode"] is True
        assert state["wifi"]["ap_active"] is True
        assert state["channels"] == {}  # no drivers in safe mode
        assert "SAFE MODE" in console(board)
    finally:
        board.stop()


def test_first_boot_without_wifi_opens_wpa2_access_point():
    scenario = write_scenario(os.path.join(tempfile.mkdtemp(), "nowifi.json"), DEFAULT, wifi={"networks": []})
    board = start_board(scenario)
    try:
        state = wait_state(board.http_port, lambda s: s["uptime_s"] >= 1)
        assert state["wifi"]["ap_active"] is True
        assert state["wifi"]["sta_connected"] is False
        log = console(board)
        assert "access point hpmon-b2c3 up at http://192.168.4.1 (password " in log
        # sampling does not need the network
        state = wait_state(board.http_port, lambda s: s["channels"].get("heatpump_flowT", {}).get("value") is not None)
        assert state["channels"]["heatpump_flowT"]["ts"] is None  # no NTP, so no wall time: never a fake one
        # the password is the board's own random secret: kept across a power cut...
        first = _ap_passwords(log)
        assert len(first) == 1 and len(first[0]) == 12, first
        # a secret: on the serial console only, never in what the network can read
        for path in ("/api/system", "/api/state?full=1", "/api/state"):
            assert first[0] not in json.dumps(get_json(board.http_port, path)), path
        board.power_cut()
        assert wait_until(lambda: len(_ap_passwords(console(board))) == 2, timeout=30), console(board)[-2000:]
        assert _ap_passwords(console(board)) == first * 2
    finally:
        board.stop()
    # ...and not derived from the chip ID (public: the AP's BSSID): the same chip, flashed anew
    other = start_board(scenario)
    try:
        assert wait_until(lambda: _ap_passwords(console(other)), timeout=30)
        assert _ap_passwords(console(other)) != first
    finally:
        other.stop()


def _ap_passwords(log):
    return re.findall(r"access point hpmon-b2c3 up at http://192\.168\.4\.1 \(password ([a-z2-9]+)\)", log)


def test_absent_broker_never_blocks_sampling():
    from tests.helpers import free_port
    board = start_board(DEFAULT, broker_port=free_port())  # nothing listens there
    try:
        first = wait_state(board.http_port, lambda s: s["channels"].get("heatpump_flowT", {}).get("ts"))
        first_ts = first["channels"]["heatpump_flowT"]["ts"]
        later = wait_state(board.http_port, lambda s: s["channels"]["heatpump_flowT"]["ts"] > first_ts, timeout=25)
        assert later["mqtt"]["connected"] is False
        assert later["mqtt"]["failures"] >= 1
        assert get_json(board.http_port)["uptime_s"] >= later["uptime_s"]
    finally:
        board.stop()
