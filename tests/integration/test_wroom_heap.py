"""The WROOM-32 stand-in (--heap 150K): a board short of heap keeps measuring.

Issue 2's goal is the typical configuration (CT+ACAC, one M-Bus meter, four
DS18B20, MQTT + HA, dashboard) at 150K with >= 25 KB free; it does not fit yet
(`python -m tools.bench heap` prints each feature's cost and the gap). What is
held here: with the core and four DS18B20s at 150K the board measures, answers
HTTP, and never resets, even when a request runs out of heap. And with the default
configuration, which does not fit, the board does not limp on with every service
starved: it restarts, and after three such boots comes up in safe mode saying why.
With a firmware built with ROMFS (emulator --romfs: bytecode imported in place, not into
the heap) the core, four DS18B20 and MQTT with Home Assistant discovery run at 150K with
more than 25 KB free, no service crashing.

150K is issue 2's stand-in. Measured against a 32-bit MicroPython (`python -m tools.bench
heap32`, docs/reliability.md) it is kinder than a real WROOM-32 for a stock firmware, whose
heap is mostly imported code: there the chip's ~100 KB is worth about 122K.
"""
import json
import os
import tempfile
import time
import urllib.request

from tests.helpers import Broker, Subscriber, console, get_json, start_board, wait_state, write_scenario
from tools import paths

DEFAULT = os.path.join(paths.ROOT, "scenarios", "default.json")


def test_core_and_four_ds18b20_keep_measuring_at_wroom_heap():
    with open(DEFAULT) as f:
        config = json.load(f)["config"]
    for section in ("ct", "analytics", "mqtt", "mbus"):
        config.setdefault(section, {})["enabled"] = False
    scenario = write_scenario(os.path.join(tempfile.mkdtemp(), "wroom.json"), DEFAULT, config=config)
    board = start_board(scenario, heap="150K")
    try:
        first = wait_state(board.http_port, lambda s: s["channels"].get("heatpump_flowT", {}).get("ts"), timeout=40)
        time.sleep(21)
        answers = 0
        for _ in range(10):
            try:
                state = get_json(board.http_port)
                answers += 1
            except OSError:
                pass
            time.sleep(0.5)
        assert answers >= 8
        later = wait_state(board.http_port, lambda s: s["channels"]["heatpump_flowT"]["ts"]
                           > first["channels"]["heatpump_flowT"]["ts"] + 15)
        assert later["safe_mode"] is False and later.get("failed_services", {}) == {}
        assert board.boots == [1], console(board)[-2000:]  # never reset
        print("WROOM stand-in: free %d, min free %d" % (state["free_heap"], state["min_free_heap"]))
    finally:
        board.stop()


def test_default_configuration_too_big_for_wroom_ends_in_safe_mode_saying_why():
    board = start_board(DEFAULT, heap="150K")
    try:
        state = wait_state(board.http_port, lambda s: s["safe_mode"], timeout=60)
        errors = [e for e in state["config_errors"] if e.startswith("memory: not enough heap to start")]
        assert errors and "PSRAM" in errors[0], state["config_errors"]
        assert len(board.boots) == 4, board.boots  # three unhealthy boots, then safe mode
        text = console(board)
        assert "SAFE MODE (3 unhealthy boots)" in text and "access point hpmon-" in text
        # safe mode stays up: it answers and does not reset again
        time.sleep(5)
        assert get_json(board.http_port)["safe_mode"] is True and len(board.boots) == 4
    finally:
        board.stop()


def test_with_romfs_the_core_four_ds18b20_and_mqtt_run_at_wroom_heap():
    with open(DEFAULT) as f:
        config = json.load(f)["config"]
    for section in ("ct", "analytics", "mbus"):
        config.setdefault(section, {})["enabled"] = False
    scenario = write_scenario(os.path.join(tempfile.mkdtemp(), "wroom-romfs.json"), DEFAULT, config=config)
    broker = Broker()
    sub = Subscriber(broker.port, "emon/#", "homeassistant/#")
    board = start_board(scenario, heap="150K", broker_port=broker.port, romfs=True)
    try:
        state = wait_state(board.http_port, lambda s: s["uptime_s"] >= 25, timeout=60)
        full = get_json(board.http_port, "/api/state?full=1")
        text = console(board)
        assert board.boots == [1] and not state["safe_mode"] and full["failed_services"] == {}, text[-2000:]
        # a request may find no heap (a 503, or a streamed answer cut short: one log line); no
        # service may crash, nothing may print a traceback
        assert "crashed" not in text and "Traceback" not in text, text[-2000:]
        assert full["mqtt"]["connected"] and full["free_heap"] >= 25 * 1024, (full["mqtt"], full["free_heap"])
        topics = {m[0] for m in sub.messages}
        assert "emon/hpmon/heatpump_flowT" in topics and any(t.startswith("homeassistant/") for t in topics)
        # the dashboard's assets are served from the ROM image too
        with urllib.request.urlopen("http://127.0.0.1:%d/app.js" % board.http_port, timeout=5) as resp:
            assert resp.status == 200 and resp.headers["Content-Encoding"] == "gzip" and len(resp.read()) > 5000
        print("WROOM stand-in with ROMFS: free %d, min free %d" % (full["free_heap"], full["min_free_heap"]))
    finally:
        board.stop()
        sub.stop()
        broker.stop()
