"""Totals across a watchdog reset and a power cut on the emulated board (sped up).

The heat pump runs steadily (scenarios/day.json with its running values as the base):
- heatpump_elec_wh (Modbus import register) and heatpump_heat_wh (M-Bus register) must go on
  exactly as the meters' registers: the same after a reboot as the truth, never backwards,
  never doubled;
- pulse_wh is integrated on the board (a counter from 0 at each boot): after a watchdog reset
  (RTC memory kept) it continues from where it was; after a power cut (RTC memory lost) it
  continues from its last flash write, losing at most max(min_change_wh, P x min_interval_s)
  plus one interval, and never goes backwards beyond that or counts anything twice;
- today's analytics continue: the compressor run survives a watchdog reset without a new start.
"""
import json
import os
import random
import signal
import sys
import time

import pytest

from firmware import config
from tests.helpers import console, get_json, start_board, write_scenario
from tools import paths

DAY = os.path.join(paths.ROOT, "scenarios", "day.json")
SPEED = 30
ELEC_W, HEAT_W = 1500.0, 5000.0
MIN_INTERVAL_S = config.defaults()["totals"]["min_interval_s"]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    with open(DAY) as f:
        base = json.load(f)
    cfg = base["config"]
    cfg["interval_s"] = 10
    cfg["watchdog_s"] = 30  # 1 s of real time at SPEED: a hang is detected quickly
    cfg["pulse"] = {"enabled": True, "wh_per_pulse": 1.0, "poll_ms": 500}
    meter = dict(base["modbus_meter"], power_w=ELEC_W)
    heat = dict(base["heat_meter"], power_w=HEAT_W, flow_m3h=0.86, flowT=38.0, returnT=33.0)
    path = str(tmp_path_factory.mktemp("scn") / "running.json")
    return write_scenario(path, DAY, config=cfg, timeline=[], modbus_meter=meter, heat_meter=heat,
                          pulse={"wh_per_pulse": 1, "power_w": ELEC_W}, start_time="2026-03-10T10:00:00Z")


def _world(scenario_dict):
    if paths.SIM_DIR not in sys.path:
        sys.path.append(paths.SIM_DIR)
    import simworld
    return simworld.World(scenario_dict)


def _snap(board):
    s = get_json(board.http_port)
    ch = s["channels"]
    out = {"cause": s["reset_cause"], "uptime": s["uptime_s"]}
    for name in ("heatpump_elec_wh", "heatpump_heat_wh", "pulse_wh", "heatpump_starts_today",
                 "heatpump_runtime_today"):
        c = ch.get(name, {})
        out[name] = (c.get("ts"), c.get("value"))
    return out


def _wait(board, pred, timeout=40):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = _snap(board)
            if pred(last):
                return last
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise AssertionError("timeout; last %r\n%s" % (last, console(board)[-3000:]))


def _ready(s):
    """Every total read since this boot (a total restored at boot has no timestamp yet)."""
    return all(s[k][1] is not None and s[k][0] is not None
               for k in ("heatpump_elec_wh", "heatpump_heat_wh", "pulse_wh", "heatpump_starts_today"))


def _check_registers(board, snap, world):
    for name, path, initial in (("heatpump_elec_wh", "modbus_meter.power_w",
                                 board.scenario["modbus_meter"]["import_wh_initial"]),
                                ("heatpump_heat_wh", "heat_meter.power_w",
                                 board.scenario["heat_meter"]["energy_wh_initial"])):
        ts, value = snap[name]
        truth = initial + world._track(path).integral(board.world_time(ts), positive=True) / 3600.0
        # the register is read up to a couple of (virtual) seconds before its timestamp
        assert -10 <= value - truth <= 2, (name, value, truth)


@pytest.fixture(scope="module")
def board(broker, scenario):
    b = start_board(scenario, broker_port=broker.port, heap="2M", speed=SPEED)
    yield b
    b.stop()


def test_watchdog_reset_loses_nothing(board):
    world = _world(board.scenario)
    _wait(board, lambda s: _ready(s) and s["pulse_wh"][1] >= 30)
    before = _snap(board)
    assert before["heatpump_starts_today"][1] == 1
    os.kill(board.process.pid, signal.SIGSTOP)  # a hang: nothing feeds the watchdog any more
    after = _wait(board, lambda s: s["cause"] == "watchdog" and _ready(s)
                  and s["pulse_wh"][0] and s["pulse_wh"][0] > before["pulse_wh"][0], timeout=60)
    _check_registers(board, before, world)
    _check_registers(board, after, world)
    assert after["heatpump_elec_wh"][1] >= before["heatpump_elec_wh"][1]
    # pulse_wh: what was counted before the hang is all there (RTC memory), plus what the
    # new boot counted; the pulses of the hang itself were never seen by the board
    gained = after["pulse_wh"][1] - before["pulse_wh"][1]
    elapsed_wh = ELEC_W * (after["pulse_wh"][0] - before["pulse_wh"][0] + 2) / 3600.0
    print("watchdog reset: pulse_wh %s -> %s (gained %s <= %.1f)" % (before["pulse_wh"], after["pulse_wh"],
                                                                   gained, elapsed_wh))
    assert 0 <= gained <= elapsed_wh, (before, after)
    # the run goes on: no second start for the same compressor run, run time continued
    assert after["heatpump_starts_today"][1] == 1, after
    assert after["heatpump_runtime_today"][1] >= before["heatpump_runtime_today"][1]
    assert board.boots[-1] == 3


def test_power_cut_at_a_random_moment(board):
    world = _world(board.scenario)
    _wait(board, _ready)
    time.sleep(random.uniform(0.5, 8.0))  # up to ~4 virtual minutes: any phase of the throttle
    before = _snap(board)
    board.power_cut()
    after = _wait(board, lambda s: s["cause"] == "power on" and _ready(s)
                  and s["uptime"] >= 15, timeout=60)
    # the meter registers win: exactly the truth, so the same as if the board had never
    # been off (never backwards, never the outage counted twice)
    _check_registers(board, before, world)
    _check_registers(board, after, world)
    outage_wh = ELEC_W * (after["heatpump_elec_wh"][0] - before["heatpump_elec_wh"][0]) / 3600.0
    assert abs((after["heatpump_elec_wh"][1] - before["heatpump_elec_wh"][1]) - outage_wh) <= 12
    # the integrated counter restarts from its last flash write
    bound = max(10, ELEC_W * (MIN_INTERVAL_S + 10) / 3600.0)
    # never doubled: no more than all the energy from the first reading to the second (the
    # board may have saved a little more than p0 to flash between the snapshot and the cut,
    # so the energy since the new boot alone is no bound)
    span_wh = ELEC_W * (after["pulse_wh"][0] - before["pulse_wh"][0] + 2) / 3600.0
    p0, p1 = before["pulse_wh"][1], after["pulse_wh"][1]
    print("power cut: pulse_wh %s -> %s (bound %.0f Wh), elec_wh %s -> %s" % (
        before["pulse_wh"], after["pulse_wh"], bound, before["heatpump_elec_wh"], after["heatpump_elec_wh"]))
    assert p1 >= p0 - bound, (before, after, bound)
    assert p1 <= p0 + span_wh, (before, after, span_wh)
    assert "Traceback" not in console(board)
