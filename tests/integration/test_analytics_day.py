"""A simulated day on the emulated board, time-compressed (--speed): scenarios/day.json from
23:50 on 2026-03-09 to just after midnight on 2026-03-11, class-1 meters (Modbus elec, M-Bus
heat in Wh). The daily summary of 2026-03-10 (MQTT hpmon/<node>/daily, retained) is compared
with the scenario's truth: COP within 0.5 %, starts and defrosts exact, the day's energies
within 0.3 %; the persistent totals (heatpump_elec_wh/heat_wh) follow the meters' registers
and their increase over the day is within 0.1 % of the truth."""
import datetime
import json
import os
import sys
import time

import pytest

from tests.helpers import Subscriber, console, get_json, start_board
from tools import paths

SCENARIO = os.path.join(paths.ROOT, "scenarios", "day.json")
SPEED = 900  # 24 h in ~100 s; the host keeps up at interval_s 60 (docs/scenario.md)
DAY = datetime.date(2026, 3, 10)  # GMT: no DST change near it


def _world(scenario):
    if paths.SIM_DIR not in sys.path:
        sys.path.append(paths.SIM_DIR)
    import simworld
    return simworld.World(scenario)


def _day_bounds(board):
    start = datetime.datetime(DAY.year, DAY.month, DAY.day, tzinfo=datetime.timezone.utc).timestamp()
    return board.world_time(start), board.world_time(start + 86400)


def _crossings(track, t0, t1, level, upward):
    """Times the truth crosses level (1 s grid) in [t0, t1)."""
    n = 0
    prev = track.value(t0 - 1)
    t = t0
    while t < t1:
        v = track.value(t)
        if (upward and prev < level <= v) or (not upward and prev > level >= v):
            n += 1
        prev = v
        t += 1
    return n


@pytest.fixture(scope="module")
def day_run(broker):
    # subscribed before the board boots: at 900 x its first midnight can come within a second
    # of boot, and a summary published before the subscription would never reach the test
    sub = Subscriber(broker.port, "hpmon/+/daily")
    board = start_board(SCENARIO, broker_port=broker.port, heap="2M", speed=SPEED)
    try:
        first = _wait_totals(board)
        end = datetime.datetime(2026, 3, 11, 0, 2, tzinfo=datetime.timezone.utc).timestamp()
        deadline = time.time() + (end - board.virtual_now()) / SPEED + 60
        state = None
        while time.time() < deadline:
            try:
                state = get_json(board.http_port)
            except (OSError, ValueError):  # ValueError: a cut-off document, once, on a loaded host
                state = None
            if state and state.get("time") and state["time"] >= end and _daily(sub, str(DAY)):
                break
            time.sleep(1)
        last = _wait_totals(board)
        yield {"board": board, "sub": sub, "first": first, "last": last, "state": state}
    finally:
        sub.stop()
        board.stop()


def _wait_totals(board, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            s = get_json(board.http_port)
        except (OSError, ValueError):
            s = None
        ch = (s or {}).get("channels", {})
        e, h = ch.get("heatpump_elec_wh", {}), ch.get("heatpump_heat_wh", {})
        if e.get("value") is not None and h.get("value") is not None and e.get("ts") and h.get("ts"):
            return {"elec": (e["ts"], e["value"]), "heat": (h["ts"], h["value"]),
                    "kwh": ch["heatpump_elec_kwh"]["value"]}
        time.sleep(0.3)
    raise AssertionError("no totals:\n" + console(board)[-3000:])


def _daily(sub, date):
    for payload in sub.values("hpmon/hpday/daily"):
        msg = json.loads(payload)
        if msg.get("date") == date:
            return msg
    return None


def test_daily_summary_matches_the_truth(day_run):
    board = day_run["board"]
    msg = _daily(day_run["sub"], str(DAY))
    assert msg is not None, console(board)[-4000:]
    world = _world(board.scenario)
    t0, t1 = _day_bounds(board)
    elec = world._track("modbus_meter.power_w")
    heat = world._track("heat_meter.power_w")
    elec_wh = (elec.integral(t1) - elec.integral(t0)) / 3600.0
    heat_wh = (heat.integral(t1) - heat.integral(t0)) / 3600.0
    print("day %s: elec %d Wh (truth %.1f, %+.3f %%), heat %d Wh (truth %.1f, %+.3f %%), COP %.4f (truth %.4f)"
          % (msg["date"], msg["elec_wh"], elec_wh, 100 * (msg["elec_wh"] / elec_wh - 1), msg["heat_wh"], heat_wh,
             100 * (msg["heat_wh"] / heat_wh - 1), msg["heat_wh"] / msg["elec_wh"], heat_wh / elec_wh))
    # The day's sums integrate 60-s power readings of 30-s defrost ramps, and at 900 x a host
    # stall of 30 ms moves a reading by 27 s of the board's time: errors seen -0.09..+0.06 %,
    # allowed 0.3 %. The totals (meter registers) meet 0.1 % in
    # test_totals_follow_the_meter_registers.
    assert abs(msg["elec_wh"] - elec_wh) <= 0.003 * elec_wh, (msg, elec_wh)
    assert abs(msg["heat_wh"] - heat_wh) <= 0.003 * heat_wh, (msg, heat_wh)
    cop = msg["heat_wh"] / msg["elec_wh"]
    assert abs(cop - heat_wh / elec_wh) <= 0.005 * heat_wh / elec_wh, (cop, heat_wh / elec_wh)
    starts = _crossings(elec, t0, t1, 150, True)
    defrosts = _crossings(heat, t0, t1, -200, False)
    assert starts == 12 and defrosts == 12  # the scenario is built for that
    assert msg["starts"] == starts, msg
    assert msg["defrosts"] == defrosts, msg
    assert msg["quality_elec"] >= 99.0 and msg["quality_heat"] >= 99.0, msg
    assert msg["hours"] == 24.0
    assert msg["outsideT"] is not None and 4.0 < msg["outsideT"] < 6.5, msg
    assert msg["carnot_pct"] is not None and 20 < msg["carnot_pct"] < 80, msg


def test_the_first_midnight_closed_the_partial_day_and_yesterday_is_published(day_run):
    board = day_run["board"]
    first = _daily(day_run["sub"], "2026-03-09")
    assert first is not None and first["starts"] == 0 and first["quality_elec"] < 1.0, first
    last = _daily(day_run["sub"], str(DAY))
    state = get_json(board.http_port)
    ch = state["channels"]
    assert ch["heatpump_cop_yesterday"]["value"] == last["cop"], (ch["heatpump_cop_yesterday"], last)
    # retained: a client that subscribes now still gets the newest summary
    import paho.mqtt.client as mqtt
    got = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="late-%d" % os.getpid())
    client.on_message = lambda c, u, m: got.append((m.payload.decode(), m.retain))
    client.connect("127.0.0.1", board.mqtt_port)
    client.subscribe("hpmon/hpday/daily")
    client.loop_start()
    try:
        deadline = time.time() + 10
        while not got and time.time() < deadline:
            time.sleep(0.1)
        assert got, "no retained daily summary"
        payload, retain = got[0]
        assert retain and json.loads(payload)["date"] == str(DAY), got
    finally:
        client.loop_stop()
        client.disconnect()


def test_totals_follow_the_meter_registers(day_run):
    board = day_run["board"]
    world = _world(board.scenario)
    first, last = day_run["first"], day_run["last"]
    for key, path, initial in (("elec", "modbus_meter.power_w", board.scenario["modbus_meter"]["import_wh_initial"]),
                               ("heat", "heat_meter.power_w", board.scenario["heat_meter"]["energy_wh_initial"])):
        track = world._track(path)
        (ta, wa), (tb, wb) = first[key], last[key]
        # registers count only positive energy: a defrost does not run a heat meter back
        truth_a = initial + track.integral(board.world_time(ta), positive=True) / 3600.0
        truth_b = initial + track.integral(board.world_time(tb), positive=True) / 3600.0
        # a register is read before its timestamp: at this speed up to ~20 virtual s before
        lag_wh = 5200 * 30 / 3600.0
        for got, want in ((wa, truth_a), (wb, truth_b)):
            assert -lag_wh <= got - want <= 2, (key, got, want)
        assert abs((wb - wa) - (truth_b - truth_a)) <= 0.001 * (truth_b - truth_a), key
    assert abs(last["kwh"] * 1000 - last["elec"][1]) < 1
    assert "Traceback" not in console(board)
