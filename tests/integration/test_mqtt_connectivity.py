"""MQTT end to end on the emulated board against a real mosquitto (with passwords):
broker down at boot, HA discovery, commands, a dead link (broker frozen), a broker
crash and restart with backfill, and a restart command. One board, in order."""
import json
import os
import tempfile
import time

import pytest

from tests.helpers import console, get_json, start_board, truth, wait_state
from tests.integration.conn_helpers import ControlledBroker, Sub, gaps, scenario
from tests.pure.test_ha_discovery import check_entity, energy_dashboard_ok

INTERVAL = 5
USERS = {"hpmon": "board-pass-1", "tester": "tester-pass"}
FLOW_ROM = "28ff641e821603e2"
# The scheduler budget: the board runs MicroPython 30-50x slower than this host and must
# not be held for more than ~50 ms, i.e. ~1-2 ms of host CPU per step (what
# `python -m tools.bench` reports). Steps are timed by the wall clock, so a busy host
# (preemption, a loaded CI machine) lengthens some of them: here most must stay under 2 ms
# and none may come near a blocking call, which holds the scheduler for seconds
# (connect_timeout_s is 3 s; a DNS lookup as long). Tighter figures made this test fail on
# a loaded host without any change in the firmware. The supervisor's stall is for the whole
# board, including the CT sampler's 50 ms bursts (issue 3).
FAST_SHARE = 0.8
MAX_STEP_MS = 300
MAX_STALL_MS = 1000


def _check_scheduler(st):
    m = st["mqtt"]
    hist = m["step_hist"]
    assert (hist[0] + hist[1] + hist[2]) >= FAST_SHARE * sum(hist), json.dumps(m)
    assert m["longest_step_ms"] < MAX_STEP_MS, json.dumps(m)
    assert st["longest_stall_ms"] < MAX_STALL_MS, st["longest_stall_ms"]


@pytest.fixture(scope="module")
def env():
    broker = ControlledBroker(users=USERS)  # not started: the broker is down at boot
    path = scenario(os.path.join(tempfile.mkdtemp(), "mqtt.json"), config={
        "interval_s": INTERVAL,
        "mqtt": {"user": "hpmon", "password": USERS["hpmon"], "keepalive_s": 6, "connect_timeout_s": 3,
                 "retry_max_s": 5},
        "ssr": {"enabled": True, "timeout_s": 8},
    })
    board = start_board(path, broker_port=broker.port)
    sub = None
    try:
        yield {"broker": broker, "board": board, "subs": []}
    finally:
        board.stop()
        broker.close()
        del sub


def _sub(env, *filters):
    s = Sub(env["broker"].port, *filters, user="tester", password=USERS["tester"])
    env["subs"].append(s)
    return s


def _state(env):
    return get_json(env["board"].http_port)


def _record_times(sub):
    """Times of every reading delivered: live state JSON and backfilled emon/<node> JSON."""
    out = []
    for topic, payload, _r, _t in sub.all():
        if topic in ("hpmon/hpmon/state", "emon/hpmon"):
            doc = json.loads(payload)
            if doc.get("time") is not None:
                out.append(doc["time"])
    return out


def _backfill(sub):
    return [json.loads(p) for t, p, _r, _ts in sub.all("emon/hpmon")]


def test_broker_down_at_boot_then_up_backfills_from_boot(env):
    board = env["board"]
    state = wait_state(board.http_port, lambda s: s.get("mqtt", {}).get("failures", 0) >= 2
                       and s.get("forward", {}).get("mqtt", {}).get("pending", 0) >= 1, timeout=40)
    assert state["mqtt"]["connected"] is False
    assert state["mqtt"]["error"]
    env["broker"].start()
    sub = _sub(env, "#")
    env["all"] = sub
    wait_state(board.http_port, lambda s: s["mqtt"]["connected"], timeout=15)
    assert sub.wait_for(lambda s: _backfill(s), timeout=15), console(board)[-3000:]
    st = wait_state(board.http_port, lambda s: s["forward"]["mqtt"]["pending"] == 0, timeout=15)
    assert st["forward"]["mqtt"]["dropped"] == 0
    assert sub.wait_for(lambda s: len(s.values("hpmon/hpmon/state")) >= 2, timeout=15)
    times = _record_times(sub)
    first_backfill = min(d["time"] for d in _backfill(sub))
    # the first record was made before the broker was up: backfilled with its time
    assert first_backfill < min(json.loads(p)["time"] for p in sub.values("hpmon/hpmon/state"))
    assert gaps(times, INTERVAL) == [], sorted(set(times))
    assert sub.values("hpmon/hpmon/status")[-1] == "online"
    # backlog drained: the live per-key topics run again
    assert sub.wait_for(lambda s: s.values("emon/hpmon/heatpump_flowT"), timeout=INTERVAL * 2 + 2)
    assert float(sub.values("emon/hpmon/heatpump_flowT")[-1]) > 0


def test_home_assistant_discovery_is_retained_valid_and_resent(env):
    board = env["board"]
    sub = _sub(env, "homeassistant/#")
    assert sub.wait_for(lambda s: len(s.all()) >= 8, timeout=20)
    time.sleep(1.0)
    configs = {t: p for t, p, r, _ts in sub.all() if r and t.endswith("/config")}
    assert configs, "no retained discovery configs"
    state = json.loads(env["all"].values("hpmon/hpmon/state")[-1])
    devices = set()
    keys = {}
    for topic, payload in configs.items():
        component = topic.split("/")[1]
        doc = check_entity(topic, payload, "hpmon", component)
        devices.add(json.dumps(doc["device"], sort_keys=True))
        if component == "sensor":
            key = doc["value_template"].split("'")[1]
            keys[key] = doc
            assert key in state, key  # the template finds its key in the state JSON
            if doc.get("device_class") == "energy":
                assert energy_dashboard_ok(doc), doc
    assert len(devices) == 1  # one device for every entity
    assert keys["heatpump_flowT"]["device_class"] == "temperature"
    assert keys["t_" + FLOW_ROM]["unit_of_measurement"] == "°C"
    assert any(t.startswith("homeassistant/switch/") for t in configs)  # the SSR
    assert any(t.startswith("homeassistant/button/") for t in configs)  # restart
    # HA restarts and announces itself: the configs come again (live, not only retained)
    before = len(sub.all())
    sub.publish("homeassistant/status", "online")
    assert sub.wait_for(lambda s: len([m for m in s.all()[before:] if m[0].endswith("/config")]) >= len(configs),
                        timeout=12), console(board)[-2000:]


def _command(env, sub, what, payload, retain=False):
    n = len(sub.values("hpmon/hpmon/ack"))
    sub.publish("hpmon/hpmon/set/" + what, payload, retain=retain)
    assert sub.wait_for(lambda s: len(s.values("hpmon/hpmon/ack")) > n, timeout=5), what
    return json.loads(sub.values("hpmon/hpmon/ack")[n])


def test_commands_are_validated_and_acknowledged(env):
    board = env["board"]
    sub = _sub(env, "hpmon/hpmon/ack", "hpmon/hpmon/state")
    time.sleep(0.5)
    ack = _command(env, sub, "ssr", "on")
    assert ack == {"cmd": "ssr", "ok": True, "value": "on"}
    st = wait_state(board.http_port, lambda s: s["channels"]["ssr"]["value"] == 1, timeout=5)
    assert st["ssr"]["mode"] == "command"
    for what, payload, error in (("interval", "abc", "whole seconds"), ("interval", "0", "between"),
                                 ("ssr", "maybe", "on or off"), ("reboot", "1", "unknown command"),
                                 ("restart", "please", "send restart"), ("dhw", "x" * 80, "longer")):
        ack = _command(env, sub, what, payload)
        assert ack["ok"] is False and error in ack["error"], (what, ack)
    ack = _command(env, sub, "dhw", "on")
    assert ack["ok"] is True
    assert sub.wait_for(lambda s: any(json.loads(p).get("heatpump_dhw") == 1 for p in s.values("hpmon/hpmon/state")),
                        timeout=INTERVAL + 3)
    ack = _command(env, sub, "read", "")
    assert ack["cmd"] == "read" and (ack["ok"] or "on-demand" in ack["error"])
    ack = _command(env, sub, "interval", str(INTERVAL))
    assert ack == {"cmd": "interval", "ok": True, "value": INTERVAL}
    # published with retain: live subscribers get it as a normal message (MQTT 3.1.1
    # §3.3.1.3) and it acts now; after the next reconnect it must not act again
    ack = _command(env, sub, "ssr", "on", retain=True)
    assert ack["ok"] is True
    env["retained_acks"] = len(sub.values("hpmon/hpmon/ack"))
    env["ack_sub"] = sub
    # no command for ssr.timeout_s (8 s): back to the safe state (off)
    st = wait_state(board.http_port, lambda s: s["ssr"]["mode"] == "safe", timeout=15)
    assert st["channels"]["ssr"]["value"] == 0 and st["ssr"]["on"] is False
    assert get_json(board.http_port)["mqtt"]["commands"] >= 10


def test_dead_link_is_detected_by_keepalive_and_nothing_is_lost(env):
    board, broker, sub = env["board"], env["broker"], env["all"]
    wait_state(board.http_port, lambda s: s["mqtt"]["connected"], timeout=10)
    t0 = time.time()
    broker.freeze()  # TCP stays up, nothing answers: only the keepalive can tell
    try:
        st = wait_state(board.http_port, lambda s: not s["mqtt"]["connected"], timeout=20)
        detected = time.time() - t0
        assert detected <= 6 * 2 + 2, detected  # keepalive 6 s: ping every 3 s, 3 s to answer
        assert "PINGREQ" in st["mqtt"]["error"] or "draining" in st["mqtt"]["error"], st["mqtt"]
        time.sleep(4)
    finally:
        broker.thaw()
    wait_state(board.http_port, lambda s: s["mqtt"]["connected"] and s["forward"]["mqtt"]["pending"] == 0,
               timeout=30)
    t1 = time.time()
    assert sub.wait_for(lambda s: any(t > t1 + 1 for t in _record_times(s)), timeout=INTERVAL * 3)
    times = [t for t in _record_times(sub) if t >= t0 - 2 * INTERVAL]
    assert gaps(times, INTERVAL) == [], sorted(set(times))
    # reconnecting to a frozen broker (no CONNACK ever) never blocked the board
    _check_scheduler(get_json(board.http_port))
    # the retained ssr command came again with the new subscription: refused, not acted on
    acks = [json.loads(p) for p in env["ack_sub"].values("hpmon/hpmon/ack")[env["retained_acks"]:]]
    assert any(a["cmd"] == "ssr" and not a["ok"] and "retained" in a["error"] for a in acks), acks
    env["ack_sub"].publish("hpmon/hpmon/set/ssr", "", retain=True)  # clear it from the broker


def test_broker_crash_and_restart_backfills_every_reading_with_its_values(env):
    board, broker, sub = env["board"], env["broker"], env["all"]
    wait_state(board.http_port, lambda s: s["mqtt"]["connected"], timeout=10)
    n_backfill = len(_backfill(sub))
    t0 = time.time()
    broker.stop()
    st = wait_state(board.http_port, lambda s: s["forward"]["mqtt"]["pending"] >= 3, timeout=30)
    assert st["mqtt"]["connected"] is False
    broker.start()
    st = wait_state(board.http_port, lambda s: s["mqtt"]["connected"] and s["forward"]["mqtt"]["pending"] == 0,
                    timeout=30)
    t1 = time.time()
    assert sub.wait_for(lambda s: any(t > t1 + 1 for t in _record_times(s)), timeout=INTERVAL * 3)
    backfilled = _backfill(sub)[n_backfill:]
    assert len(backfilled) >= 3
    times = [t for t in _record_times(sub) if t >= t0 - 2 * INTERVAL]
    assert gaps(times, INTERVAL) == [], sorted(set(times))
    # the backfilled values are the readings of their time (the scenario's truth)
    for doc in backfilled:
        expected = truth(board, "temperatures." + FLOW_ROM, doc["time"])
        # a 12-bit DS18B20 reading taken up to one interval before the record, on a ramp
        assert abs(doc["heatpump_flowT"] - expected) <= 0.0625 + 0.075 * (INTERVAL + 1), (doc, expected)
        assert doc["t_" + FLOW_ROM] == doc["heatpump_flowT"]
    assert st["forward"]["mqtt"]["dropped"] == 0
    # never held the scheduler: this task's steps, and the supervisor's longest stall
    _check_scheduler(st)


def test_restart_command_restarts_gracefully(env):
    board, sub = env["board"], env["all"]
    boots = len(board.boots)
    n_status = len(sub.values("hpmon/hpmon/status"))
    sub.publish("hpmon/hpmon/set/restart", "restart")
    deadline = time.time() + 20
    while len(board.boots) == boots and time.time() < deadline:
        time.sleep(0.2)
    assert len(board.boots) > boots, console(board)[-2000:]
    assert sub.wait_for(lambda s: s.values("hpmon/hpmon/status")[n_status:][:2] == ["offline", "online"],
                        timeout=30), sub.values("hpmon/hpmon/status")[n_status:]
    state = wait_state(board.http_port, lambda s: s.get("mqtt", {}).get("connected"), timeout=20)
    assert state["uptime_s"] < 30
    assert "Traceback" not in console(board)
