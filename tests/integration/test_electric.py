"""Electrical inputs end to end on the emulated board: CT + AC-AC (three CTs, harmonics, the
ct_sum mapping), a Modbus SDM120 (with a silent spell and CRC errors) and S0 pulses (with the
line cut). Scenario -> simulated signals -> firmware -> /api/state and MQTT emon/hpmon/...,
compared with the scenario's truth (the simulator's own world and waveform models).

The boards run side by side while a thread records /api/state every second and a paho client
records MQTT; the tests then check the recordings.
"""
import os
import sys
import threading
import time

import pytest

from tests.helpers import Broker, Subscriber, console, get_json, session_build, start_board, write_scenario
from tools import paths

SCEN = os.path.join(paths.ROOT, "scenarios")
INTERVAL = 5

if paths.SIM_DIR not in sys.path:
    sys.path.append(paths.SIM_DIR)
import sim_waveforms  # noqa: E402, I001
import simworld  # noqa: E402


# ---------------------------------------------------------------- recording


class Run:
    """One emulated board with its own broker, recorded until world time `until_s`."""

    def __init__(self, scenario, overrides, until_s, heap="2M"):
        self.scenario_path = scenario
        self.overrides = overrides
        self.until_s = until_s
        self.heap = heap
        self.states = []  # (world seconds, /api/state)
        self.board = None
        self.broker = None
        self.sub = None
        self.error = None

    def start(self):
        self.broker = Broker()
        self.board = start_board(self.scenario_path, broker_port=self.broker.port, heap=self.heap,
                                 config_overrides=self.overrides)
        self.sub = Subscriber(self.broker.port, "emon/#", "hpmon/#")

    def world_s(self, t=None):
        return (time.time() if t is None else t) - self.board.epoch_ms / 1000.0

    def record(self):
        while self.world_s() < self.until_s:
            try:
                state = get_json(self.board.http_port, timeout=3)
                self.states.append((self.world_s(), state))
            except (OSError, ValueError):
                pass
            time.sleep(1.0)

    def stop(self):
        for part in (self.sub, self.board, self.broker):
            if part is not None:
                try:
                    part.stop()
                except Exception:  # keep stopping the rest
                    pass

    # ---- views of the recording
    def reports(self, name):
        """Distinct readings of a channel: [(ts, value, status, world seconds first seen)]."""
        out = []
        for ws, state in self.states:
            ch = state["channels"].get(name)
            if ch is None or ch["ts"] is None:
                continue
            item = (ch["ts"], ch["value"], ch["status"])
            if not out or out[-1][:3] != item:
                out.append(item + (ws,))
        return out

    def measured(self, reps):
        """reps less the readings published as unknown because not one burst of their interval
        could be paced (value None, status no_data): a loaded host can starve the emulated board
        of CPU for a whole interval, as an interrupt storm would a board, and unknown is then the
        right answer (a host that slow for a whole run fails the test: nothing was measured)."""
        kept = [x for x in reps if not (x[1] is None and x[2] == "no_data")]
        assert kept or not reps, reps
        return kept

    def snapshots(self, name):
        """[(world seconds, value, status)] of a channel at every poll."""
        return [(ws, s["channels"][name]["value"], s["channels"][name]["status"])
                for ws, s in self.states if name in s["channels"]]

    def last(self, name):
        for _ws, state in reversed(self.states):
            ch = state["channels"].get(name)
            if ch is not None:
                return ch
        return None

    def wts(self, ts):
        """World seconds of a reading's wall timestamp."""
        return ts - self.board.epoch_ms / 1000.0

    def integral_wh(self, path, t0, t1):
        track = simworld.World(self.board.scenario)._track(path)
        return (track.integral(t1) - track.integral(t0)) / 3600.0

    def console(self):
        return console(self.board)


def run_all(runs):
    """Start the boards side by side, record them all, stop them; returns the runs."""
    session_build()
    threads = [threading.Thread(target=_start, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in runs:
        if r.error:
            for x in runs:
                x.stop()
            raise r.error
    threads = [threading.Thread(target=r.record) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in runs:
        r.messages = list(r.sub.messages)
        r.stop()
    return runs


def _start(run):
    try:
        run.start()
    except Exception as exc:
        run.error = exc


def mqtt_values(run, name):
    topic = "emon/hpmon/" + name
    return [(run.world_s(t), float(p)) for tp, p, _r, t in run.messages if tp == topic]


def ct_truth(scenario, pos):
    """Truth for CT list position pos: real_power_w, vrms, irms, apparent_va, pf, freq_hz."""
    sig = sim_waveforms.Signals(scenario["mains"], scenario["ct"], scenario.get("adc"))
    return sig.truth(pos)


def assert_no_crash(run, services=("ct", "modbus", "pulse", "irda")):
    text = run.console()
    assert "MemoryError" not in text
    for name in services:
        assert "%s: crashed" % name not in text, text[-3000:]
    for mod in ("electric", "ct_sampler", "pulse_counter", "modbus_meter", "elster_reader"):
        assert mod + ".py" not in text, text[-3000:]  # no traceback through these files


# ---------------------------------------------------------------- the boards


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("elec")
    pulse_scen = write_scenario(
        str(tmp / "pulse.json"), os.path.join(SCEN, "default.json"),
        pulse={"wh_per_pulse": 1, "power_w": 2000.0}, timeline=[],
        faults=[{"kind": "pulse_disconnected", "at_s": 30}])
    rs = {
        "ct": Run(os.path.join(SCEN, "elec-ct.json"), {"interval_s": INTERVAL}, until_s=60),
        "modbus": Run(os.path.join(SCEN, "elec-modbus.json"), {"interval_s": INTERVAL}, until_s=62),
        "pulse": Run(pulse_scen, {"interval_s": INTERVAL, "ct": {"enabled": False},
                                  "pulse": {"enabled": True, "timeout_s": 12}, "elec": {"source": "pulse"}},
                     until_s=55),
    }
    run_all(list(rs.values()))
    yield rs


# ---------------------------------------------------------------- CT + AC-AC


def test_three_cts_read_the_truth(runs):
    r = runs["ct"]
    scen = r.board.scenario
    for pos, k in enumerate((1, 2, 3)):
        truth = ct_truth(scen, pos)
        reps = r.measured([x for x in r.reports("ct%d_power" % k) if 8 < r.wts(x[0]) < 44])
        assert len(reps) >= 4, (k, reps)
        p = truth["real_power_w"]
        if p == 0:
            assert all(value == 0.0 and status == "no_current" for _ts, value, status, _ws in reps), (k, reps)
            continue
        assert all(status == "ok" for _ts, _v, status, _ws in reps), (k, reps)
        # The target, max(0.5 %, 2 W), is measured on a quiet host by `tools.bench power`.
        # Here the typical reading (the median) must meet 1.5 x it (5 s reports average about half
        # the sets of the default 10 s ones) and every reading 3 x it: on a busy host a report may
        # rest on one or two bursts whose V-to-I skew the host's jitter has moved (1 degree is
        # 3 W of this 60 W load at PF 0.3), which a board's deterministic reads never see.
        target = max(0.005 * p, 2.0)
        values = sorted(x[1] for x in reps)
        assert abs(values[len(values) // 2] - p) <= 1.5 * target, (k, values, p)
        assert all(abs(v - p) <= 3 * target for v in values), (k, values, p)
        pf = sorted(x[1] for x in r.measured(r.reports("ct%d_pf" % k)) if 8 < r.wts(x[0]) < 44)
        irms = sorted(x[1] for x in r.measured(r.reports("ct%d_irms" % k)) if 8 < r.wts(x[0]) < 44)
        assert abs(pf[len(pf) // 2] - truth["pf"]) < 0.01 and all(abs(v - truth["pf"]) < 0.02 for v in pf), \
            (k, pf, truth["pf"])
        # Irms: 1 %, but not below 20 mA (one ADC count is 46 mA here: ical 60.6 A/V, 757 uV/count)
        tol = max(0.01 * truth["irms"], 0.02)
        assert abs(irms[len(irms) // 2] - truth["irms"]) < tol, (k, irms, truth["irms"])
        assert all(abs(v - truth["irms"]) < 2 * tol for v in irms), (k, irms, truth["irms"])
    vrms = [x[1] for x in r.measured(r.reports("vrms")) if r.wts(x[0]) > 8]
    freq = [x[1] for x in r.measured(r.reports("freq")) if r.wts(x[0]) > 8]
    assert vrms and all(abs(v - scen["mains"]["vrms"]) < 0.4 for v in vrms), vrms
    assert freq and all(abs(f - scen["mains"]["freq_hz"]) < 0.03 for f in freq), freq
    assert_no_crash(r)


def test_backup_heater_switching_on_is_seen_and_summed(runs):
    r = runs["ct"]
    on = r.measured([x for x in r.reports("ct3_power") if r.wts(x[0]) > 45 + INTERVAL + 1])
    assert on and all(abs(v - 3000.0) <= 1.5 * 15.0 and st == "ok" for _t, v, st, _w in on), on
    assert "ct3: ok again" in r.console()
    # heatpump_elec = ct1 + ct2 + ct3 of the same report; its Wh the sum of theirs
    for _ws, state in r.states:
        ch = state["channels"]
        if "heatpump_elec" not in ch or ch["heatpump_elec"]["value"] is None:
            continue
        parts = [ch["ct%d_power" % k] for k in (1, 2, 3)]
        if any(p["ts"] != ch["heatpump_elec"]["ts"] for p in parts):
            continue  # caught between two updates
        assert abs(ch["heatpump_elec"]["value"] - sum(p["value"] for p in parts)) < 1e-6
        wh = sum(ch["ct%d_wh" % k]["value"] for k in (1, 2, 3))
        assert ch["heatpump_elec_wh"]["value"] == wh
        assert abs(ch["heatpump_elec_kwh"]["value"] - wh / 1000.0) < 1e-9
    last = r.measured(r.reports("heatpump_elec"))[-1]
    assert abs(last[1] - (2000.0 + 60.0 + 3000.0)) < 1.5 * 0.005 * 5060.0, last


def test_ct_energy_follows_the_integral_of_the_truth(runs):
    r = runs["ct"]
    for k, path in ((1, "ct.0.real_power_w"), (3, "ct.2.real_power_w")):
        reps = r.reports("ct%d_wh" % k)
        a, b = reps[0], reps[-1]
        t0, t1 = r.wts(a[0]), r.wts(b[0])
        assert t1 - t0 > 30
        want = r.integral_wh(path, t0, t1)
        got = b[1] - a[1]
        # integer Wh at both ends, and 1 s timestamps at up to 5 kW
        assert abs(got - want) <= 2.0 + 0.01 * want + 5000.0 / 3600.0, (k, got, want)
        assert all(isinstance(x[1], int) and x[1] >= 0 for x in reps)
        assert [x[1] for x in reps] == sorted(x[1] for x in reps)  # never backwards


def test_ct_channels_reach_mqtt_as_plain_numbers(runs):
    r = runs["ct"]
    for name in ("ct1_power", "ct1_wh", "ct1_pf", "vrms", "freq", "heatpump_elec", "heatpump_elec_kwh"):
        vals = mqtt_values(r, name)
        assert len(vals) >= 3, name
    truth = ct_truth(r.board.scenario, 0)["real_power_w"]
    early = [v for ws, v in mqtt_values(r, "ct1_power") if 10 < ws < 44]
    assert early and all(abs(v - truth) <= 1.5 * 0.005 * truth for v in early), early
    # the standby backup heater reads a known 0, published as 0 (not unknown)
    assert any(v == 0.0 for ws, v in mqtt_values(r, "ct3_power") if ws < 44)


# ---------------------------------------------------------------- Modbus SDM120


def test_modbus_meter_values_follow_the_meter(runs):
    r = runs["modbus"]
    meter = r.board.scenario["modbus_meter"]
    world = simworld.World(r.board.scenario)
    good = [x for x in r.reports("modbus_power") if x[2] == "ok"]
    assert len(good) >= 5
    # a single-phase SDM120 has no line channels (the SDM630's: test_modbus_sdm630.py)
    assert not [k for k in r.states[-1][1]["channels"] if k.startswith("modbus_l")]
    for ts, value, _st, _ws in good:
        t = r.wts(ts)
        if abs(t - 12) < 3:
            continue  # the step: the read may have been either side of it
        assert value == world._track("modbus_meter.power_w").value(t), (t, value)
    for name, want in (("modbus_voltage", meter["voltage_v"]), ("modbus_pf", meter["pf"]),
                       ("modbus_freq", meter["freq_hz"])):
        vals = [x[1] for x in r.reports(name) if x[2] == "ok"]
        assert vals and all(abs(v - want) < 1e-3 for v in vals), (name, vals)
    cur = [x for x in r.reports("modbus_current") if x[2] == "ok" and r.wts(x[0]) > 16]
    assert cur and all(abs(v - 900.0 / 0.96 / 238.0) < 1e-3 for _t, v, _s, _w in cur)
    # the import register: initial + the integral of the meter's power up to the read
    for ts, wh, st, _ws in r.reports("modbus_import_wh"):
        if st != "ok":
            continue
        t = r.wts(ts)
        want = meter["import_wh_initial"] + r.integral_wh("modbus_meter.power_w", 0, t)
        assert isinstance(wh, int) and abs(wh - want) <= 2.0 + 1800.0 * 2.5 / 3600.0, (t, wh, want)
    exp = [x[1] for x in r.reports("modbus_export_wh") if x[2] == "ok"]
    assert exp and all(v == meter["export_wh_initial"] for v in exp)


def test_modbus_is_the_heatpump_elec_source_and_ct1_stays(runs):
    r = runs["modbus"]
    for _ws, state in r.states:
        ch = state["channels"]
        if "heatpump_elec" in ch and ch["modbus_power"]["ts"] == ch["heatpump_elec"]["ts"]:
            assert ch["heatpump_elec"]["value"] == ch["modbus_power"]["value"]
            assert ch["heatpump_elec_wh"]["value"] == ch["modbus_import_wh"]["value"]
            if ch["heatpump_elec_wh"]["value"] is not None:
                assert abs(ch["heatpump_elec_kwh"]["value"] * 1000 - ch["heatpump_elec_wh"]["value"]) < 1e-3
    kwh = mqtt_values(r, "heatpump_elec_kwh")
    assert kwh and all(3456.7 < v < 3457.0 for _ws, v in kwh)
    ct1 = [x[1] for x in r.measured(r.reports("ct1_power")) if 18 < r.wts(x[0])]
    assert ct1 and all(abs(v - 900.0) < 1.5 * 4.5 for v in ct1), ct1


def test_modbus_silence_and_crc_errors_give_a_status_and_no_false_energy(runs):
    r = runs["modbus"]
    snaps = r.snapshots("modbus_power")
    silent = [(ws, v) for ws, v, st in snaps if st == "no_answer"]
    crc = [(ws, v) for ws, v, st in snaps if st == "crc_error"]
    assert silent and all(20 <= ws <= 32 + INTERVAL + 8 and v is None for ws, v in silent), silent
    assert crc and all(40 <= ws <= 52 + INTERVAL + 8 and v is None for ws, v in crc), crc
    assert any(st == "ok" and ws > 58 for ws, v, st in snaps), snaps[-5:]
    hp = [st for ws, v, st in r.snapshots("heatpump_elec") if v is None]
    assert "no_answer" in hp and "crc_error" in hp
    text = r.console()
    assert "modbus: meter 7: no answer" in text and "modbus: meter 7: crc error" in text
    assert "modbus: ok again" in text
    # unknown is never published as 0 on MQTT, and the register never goes backwards
    assert all(v > 0 for _ws, v in mqtt_values(r, "modbus_power"))
    regs = [x[1] for x in r.reports("modbus_import_wh") if x[1] is not None]
    assert regs == sorted(regs)
    assert_no_crash(r)


# ---------------------------------------------------------------- pulses


def test_pulse_power_and_energy_follow_the_pulses(runs):
    r = runs["pulse"]
    reps = [x for x in r.reports("pulse_power") if 8 < r.wts(x[0]) < 30]
    assert len(reps) >= 3
    for _ts, value, st, _ws in reps:
        assert st == "ok" and abs(value - 2000.0) < 0.04 * 2000.0, reps
    wh = [x for x in r.reports("pulse_wh") if r.wts(x[0]) < 30]
    a, b = wh[0], wh[-1]
    got = b[1] - a[1]
    want = r.integral_wh("pulse.power_w", r.wts(a[0]), r.wts(b[0]))
    assert abs(got - want) <= 2.0 + 2000.0 / 3600.0, (got, want)  # whole pulses, 1 s timestamps
    hp = r.last("heatpump_elec_wh")
    assert hp["value"] == r.last("pulse_wh")["value"]
    assert "pulse: counting with machine.Counter (PCNT)" in r.console()


def test_pulses_stopping_decay_to_zero_without_false_energy(runs):
    r = runs["pulse"]
    after = [x for x in r.reports("pulse_power") if r.wts(x[0]) > 30 + 12 + INTERVAL + 1]
    assert after and all(v == 0.0 and st == "no_pulses" for _t, v, st, _w in after), after
    whs = [x[1] for x in r.reports("pulse_wh") if r.wts(x[0]) > 31]
    assert len(set(whs)) == 1  # nothing counted after the line was cut
    assert "pulse: no pulses for 12 s" in r.console()
    assert_no_crash(r)
