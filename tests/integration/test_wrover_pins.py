"""The recommended board, an ESP32-WROVER, uses GPIO 16 and 17 for its PSRAM; the default pin
map (a WROOM-32 DevKit as a HeatpumpMonitor V2) puts M-Bus there. On the emulated WROVER
(scenario "board": {"psram": true}: driving those pins panics the chip, as on the real one):

- with the default pin map the board does not panic or reset: M-Bus does not start, the status
  says why, and everything else measures;
- with the WROVER wiring of hardware/pinout.md (M-Bus TX on GPIO 2 instead of the LED, RX on
  GPIO 35 instead of CT3) the heat meter is read.
"""
import json
import os
import tempfile

from tests.helpers import console, start_board, wait_state, write_scenario
from tools import paths

DEFAULT = os.path.join(paths.ROOT, "scenarios", "default.json")
WROVER_MBUS_PINS = {"led": -1, "mbus_tx": 2, "ct3": -1, "mbus_rx": 35}


def _wrover(pins=None):
    with open(DEFAULT) as f:
        config = json.load(f)["config"]
    config["mqtt"] = {"enabled": False}
    if pins:
        config["pins"] = pins
    return write_scenario(os.path.join(tempfile.mkdtemp(), "wrover.json"), DEFAULT, board={"psram": True},
                          config=config)


def _value(state, name):
    return state["channels"].get(name, {}).get("value")


def test_default_pins_on_a_wrover_leave_mbus_off_and_say_why_without_a_panic():
    board = start_board(_wrover(), heap="2M")
    try:
        state = wait_state(board.http_port, lambda s: _value(s, "heatpump_flowT") is not None
                           and _value(s, "heatpump_elec") is not None, timeout=60)
        failed = state["failed_services"]
        assert list(failed) == ["mbus"], failed
        assert "pins.mbus_tx: GPIO 17 drives the PSRAM on this module (ESP32-WROVER)" in failed["mbus"], failed
        assert "mbus_1_power" not in state["channels"] or _value(state, "mbus_1_power") is None, state
        text = console(board)
        assert "Guru Meditation" not in text and "Traceback" not in text, text[-2000:]
        assert "mbus: could not start" in text
        assert board.boots == [1], board.boots
    finally:
        board.stop()


def test_the_wrover_wiring_of_the_pin_map_reads_the_heat_meter():
    with open(DEFAULT) as f:
        pins = json.load(f)["config"].get("pins", {})
    board = start_board(_wrover(dict(pins, **WROVER_MBUS_PINS)), heap="2M")
    try:
        state = wait_state(board.http_port, lambda s: s["channels"].get("mbus_1_power", {}).get("status") == "ok"
                           and _value(s, "heatpump_flowT") is not None, timeout=60)
        assert _value(state, "mbus_1_energy_wh") is not None, state["channels"].get("mbus_1_energy_wh")
        assert state["failed_services"] == {} and state["config_errors"] == [], (state["failed_services"],
                                                                                state["config_errors"])
        text = console(board)
        assert "Guru Meditation" not in text and board.boots == [1], text[-2000:]
    finally:
        board.stop()
