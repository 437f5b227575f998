"""Wi-Fi and emoncms end to end on the emulated board: posting to a recording emoncms
stand-in, an emoncms outage and a Wi-Fi outage (router reboot) both backfilled with
input/bulk so the feeds have no gaps, the button-held access point that stays while a
phone is on it, and the fallback access point. One board, in timeline order."""
import json
import os
import tempfile
import time

import pytest

from tests.helpers import Broker, console, get_json, start_board, truth, wait_state
from tests.integration.conn_helpers import Emoncms, gaps, scenario

INTERVAL = 5
FLOW_ROM = "28ff641e821603e2"
BUTTON = (8, 11)  # world seconds: BOOT held
CLIENT = (9, 26)  # a phone on the AP
WIFI_DOWN = (44, 58)  # the router reboots


@pytest.fixture(scope="module")
def env():
    server = Emoncms()
    broker = Broker()
    path = scenario(
        os.path.join(tempfile.mkdtemp(), "wifi.json"),
        config={"interval_s": INTERVAL,
                "wifi": {"ap_after_s": 10, "ap_hold_s": 10, "button_hold_s": 2},
                "mqtt": {"keepalive_s": 10, "retry_max_s": 5},
                "emoncms": {"enabled": True, "url": "http://127.0.0.1:%d/emoncms" % server.port,
                            "apikey": server.apikey, "retry_max_s": 5}},
        faults=[{"kind": "wifi_down", "at_s": WIFI_DOWN[0], "until_s": WIFI_DOWN[1]}],
        timeline=[{"at_s": BUTTON[0], "set": {"pins.0": 0}}, {"at_s": BUTTON[1], "set": {"pins.0": 1}},
                  {"at_s": CLIENT[0], "set": {"wifi.ap_clients": 1}},
                  {"at_s": CLIENT[1], "set": {"wifi.ap_clients": 0}}],
        wifi={"ap_clients": 0}, pins={"0": 1})
    board = start_board(path, broker_port=broker.port)
    try:
        yield {"server": server, "board": board}
    finally:
        board.stop()
        broker.stop()
        server.close()


def _world(board):
    return time.time() - board.epoch_ms / 1000.0


def _until(board, world_s):
    delay = world_s - _world(board)
    if delay > 0:
        time.sleep(delay)


def test_input_post_with_the_api_key_in_a_header(env):
    server, board = env["server"], env["board"]
    wait_state(board.http_port, lambda s: s.get("emoncms", {}).get("posts", 0) >= 1, timeout=30)
    first = server.requests[0]
    assert first["path"] == "/emoncms/input/post"
    assert first["headers"]["Authorization"] == "Bearer " + server.apikey
    assert first["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    for r in server.requests:
        assert server.apikey not in r["query"] + r["body"], r  # never in the URL or the form
        assert "apikey" not in r["query"] + r["body"]
    form = first["form"]
    assert form["node"] == "hpmon"
    values = json.loads(form["fulljson"])
    assert abs(int(form["time"]) - time.time()) < 30
    assert "time" not in values
    assert isinstance(values["heatpump_flowT"], (int, float))


def test_emoncms_outage_backfilled_with_bulk_and_button_access_point(env):
    """Two things at once to keep the run short: emoncms is down from world 14 s to 25 s
    while the access point, opened by the button at ~10 s, has a phone on it."""
    server, board = env["server"], env["board"]
    st = wait_state(board.http_port, lambda s: s["wifi"]["ap_active"], timeout=BUTTON[1] + 10)
    assert st["wifi"]["ap_reason"] == "button" and st["wifi"]["sta_connected"]
    assert "access point hpmon-b2c3 up" in console(board)
    _until(board, 14)
    server.down = True
    _until(board, 25)
    st = get_json(board.http_port)
    # the hold time (10 s) has passed, but a phone is still on the AP
    assert st["wifi"]["ap_active"] and st["wifi"]["ap_clients"] == 1
    assert st["forward"]["emoncms"]["pending"] >= 2, st["forward"]
    assert st["emoncms"]["ok"] is False and st["emoncms"]["failures"] >= 1
    server.down = False
    st = wait_state(board.http_port, lambda s: s["emoncms"]["bulk_posts"] >= 1
                    and s["forward"]["emoncms"]["pending"] == 0, timeout=15)
    bulk = [r for r in server.requests if r["path"] == "/emoncms/input/bulk" and not r["down"]]
    assert bulk, [r["path"] for r in server.requests]
    form = bulk[0]["form"]
    assert form["time"] == "0"  # absolute timestamps
    data = json.loads(form["data"])
    assert len(data) >= 2 and all(item[1] == "hpmon" for item in data)
    assert [item[0] for item in data] == sorted(item[0] for item in data)  # oldest first
    # the phone left at 26 s: the AP closes once unused for ap_hold_s (10 s)
    wait_state(board.http_port, lambda s: not s["wifi"]["ap_active"], timeout=max(1, 40 - _world(board)))
    assert _world(board) >= CLIENT[1] + 9


def test_wifi_outage_reconnects_falls_back_to_ap_and_loses_nothing(env):
    server, board = env["server"], env["board"]
    _until(board, WIFI_DOWN[0] + 2)
    st = wait_state(board.http_port, lambda s: not s["wifi"]["sta_connected"], timeout=5)
    n_requests = len(server.requests)
    # no way out: the fallback AP comes up after ap_after_s (10 s)
    st = wait_state(board.http_port, lambda s: s["wifi"]["ap_active"], timeout=WIFI_DOWN[1] - _world(board))
    assert st["wifi"]["ap_reason"] == "fallback"
    assert st["mqtt"]["connected"] is False
    assert st["forward"]["emoncms"]["pending"] >= 1 and st["forward"]["mqtt"]["pending"] >= 1
    assert len(server.requests) == n_requests  # nothing was sent while offline
    # the router is back: rejoined without a restart, and the backlog goes out
    st = wait_state(board.http_port, lambda s: s["wifi"]["sta_connected"] and s.get("mqtt", {}).get("connected")
                    and s["forward"]["emoncms"]["pending"] == 0 and s["forward"]["mqtt"]["pending"] == 0,
                    timeout=40)
    assert st["wifi"]["reconnects"] >= 1 and st["reset_cause"] == "power on"
    assert any(r["path"].endswith("/input/bulk") and r["t"] > board.epoch_ms / 1000.0 + WIFI_DOWN[1]
               for r in server.requests)
    recs = server.records()
    times = [t for t, _v in recs]
    assert gaps(times, INTERVAL) == [], sorted(set(times))
    assert min(times) <= board.epoch_ms / 1000.0 + 2 * INTERVAL  # from boot on
    for t, values in recs:
        if WIFI_DOWN[0] <= t - board.epoch_ms / 1000.0 <= WIFI_DOWN[1]:
            expected = truth(board, "temperatures." + FLOW_ROM, t)
            assert abs(values["heatpump_flowT"] - expected) <= 0.0625 + 0.075 * (INTERVAL + 1), (t, values)
    assert st["forward"]["emoncms"]["dropped"] == 0 and st["emoncms"]["rejected"] == 0
    assert "Traceback" not in console(board)
