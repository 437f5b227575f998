"""Simulated electrical devices (sim_waveforms, sim_sdm, sim_elster) against the firmware codecs.

A small stand-in World provides the API the emulator's World offers to devices. The last test runs
the same device code under the MicroPython unix port.
"""

import math
import os
import random
import subprocess
import sys
from array import array

from firmware import ctpower, elster
from firmware import modbus_rtu as mb
from tools import paths

ROOT = paths.ROOT

SIM = os.path.join(ROOT, "tools", "emulator", "sim")
if SIM not in sys.path:
    sys.path.insert(0, SIM)

import sim_elster  # noqa: E402
import sim_sdm  # noqa: E402
import sim_waveforms  # noqa: E402


class StubWorld:
    def __init__(self, values=None, energy=None, faults=(), seed=1):
        self.values = dict(values or {})
        self.energy = dict(energy or {})
        self.faults = set(faults)
        self.t = 0
        self.rng = random.Random(seed)

    def now_ms(self):
        return self.t

    def get(self, path, default=None):
        return self.values.get(path, default)

    def energy_wh(self, path):
        return self.energy.get(path, 0.0)

    def fault(self, kind, target=None):
        return kind in self.faults


# ---------------------------------------------------------------- waveforms


VH = [[3, 0.03, 20], [5, 0.04, 200], [7, 0.01, 90]]
IH = [[3, 0.3, 60], [5, 0.2, 250], [7, 0.1, 10]]


def test_truth_equals_numeric_mean_of_true_signals():
    s = sim_waveforms.Signals({"vrms": 240.0, "freq_hz": 50.0, "harmonics": VH},
                              [{"real_power_w": 800.0, "pf": 0.3, "harmonics": IH, "phase_lead_deg": 5.0}])
    n = 6000
    p = vv = ii = 0.0
    for k in range(n):
        t = k / (n * 50.0)
        v = s.volts(t, measured=False)
        i = s.amps(0, t, measured=False)
        p += v * i
        vv += v * v
        ii += i * i
    tr = s.truth(0)
    assert abs(p / n - 800.0) < 1e-6 and abs(tr["real_power_w"] - 800.0) < 1e-9
    assert abs(math.sqrt(vv / n) - 240.0) < 1e-6
    assert abs(math.sqrt(ii / n) - tr["irms"]) < 1e-9
    assert abs(tr["pf"] - 800.0 / (240.0 * tr["irms"])) < 1e-12


def test_ct_model_leads_with_unit_fundamental_gain():
    s = sim_waveforms.Signals({"vrms": 230.0, "freq_hz": 50.0},
                              [{"real_power_w": 2300.0, "pf": 1.0, "phase_lead_deg": 4.0}])
    # fundamental of the measured current: amplitude unchanged, phase advanced by 4 degrees
    n = 2000
    re = im = 0.0
    for k in range(n):
        wt = 2 * math.pi * k / n
        i = s.amps(0, wt / (2 * math.pi * 50.0))
        re += i * math.sin(wt) * 2 / n
        im += i * math.cos(wt) * 2 / n
    amp = math.hypot(re, im)
    assert abs(amp - 10.0 * math.sqrt(2)) < 1e-9
    assert abs(math.degrees(math.atan2(im, re)) - 4.0) < 1e-9


def test_front_end_counts():
    s = sim_waveforms.Signals({"vrms": 230.0}, [{"real_power_w": 0.0}], {"noise_lsb": 0.0})
    bias = round(1650 * 4095 / 3100)
    assert bias == ctpower.BIAS_COUNT
    assert s.v_count(0.0) == bias  # zero crossing at t = 0 sits on the bias
    peak = s.v_count(0.005)  # 50 Hz peak
    assert peak == round((1.65 + 230 * math.sqrt(2) / 460.0) * 1000 * 4095 / 3100)
    assert sim_waveforms.counts(5.0) == 4095 and sim_waveforms.counts(-1.0) == 0
    off = sim_waveforms.Signals({"acac": False}, [{"real_power_w": 1000.0, "connected": False}])
    assert off.v_count(0.005) == bias and off.i_count(0, 0.005) == bias
    rng = random.Random(3)
    xs = [sim_waveforms.counts(1.65, 2.0, rng) for _ in range(4000)]
    mean = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs))
    assert abs(mean - 1650 * 4095 / 3100) < 0.2 and abs(sd - 2.0) < 0.15


def sample_burst(sig, n_ct, nsets, sps, rng, t0=1.234):
    """What the board's sampler does: V then each CT, reads evenly spaced in a set."""
    nch = 1 + n_ct
    buf = array("H", [0] * (nsets * nch))
    for k in range(nsets):
        for c in range(nch):
            t = t0 + (k + c / nch) / sps
            buf[k * nch + c] = sig.v_count(t, rng) if c == 0 else sig.i_count(c - 1, t, rng)
    return buf, 1e6 / sps


def test_end_to_end_sim_to_ctpower_meets_targets():
    cases = [
        (10.0, 1.0, 2.0, 50.0), (120.0, 0.2, 6.0, 60.0), (250.0, 0.5, 3.0, 49.5),
        (1200.0, 0.2, 5.0, 50.5), (4000.0, 0.9, 4.0, 50.0), (6500.0, 1.0, 2.5, 60.0),
    ]
    rng = random.Random(11)
    for p, pf, lead, f in cases:
        sig = sim_waveforms.Signals({"vrms": 235.0, "freq_hz": f, "harmonics": VH},
                                    [{"real_power_w": p, "pf": pf, "harmonics": IH, "phase_lead_deg": lead}],
                                    {"noise_lsb": 1.0})
        sps = 29.1 * f
        buf, per = sample_burst(sig, 1, 1500, sps, rng)
        pc = ctpower.PowerCalc(1, ct_lead_deg=[lead]).compute(buf, 1500, per)
        tr = sig.truth(0)
        lim = 0.005 * p if p > 200 else 2.0
        assert pc.status[0] == (ctpower.NONLINEAR if p > 6000 else ctpower.OK)  # 6.5 kW + harmonics > 2.45 V
        assert abs(pc.power[0] - tr["real_power_w"]) <= lim, (p, pf, pc.power[0])
        assert abs(pc.vrms - 235.0) < 0.5 and abs(pc.freq - f) < 0.02


def test_adapter_phase_lead_is_corrected():
    rng = random.Random(5)
    for vt, pf in ((1.5, 1.0), (3.0, 0.5), (3.0, 0.2), (2.0, 0.2)):
        sig = sim_waveforms.Signals({"vrms": 230.0, "freq_hz": 50.0, "harmonics": VH, "vt_phase_lead_deg": vt},
                                    [{"real_power_w": 1000.0, "pf": pf, "harmonics": IH, "phase_lead_deg": 4.0}],
                                    {"noise_lsb": 1.0})
        buf, per = sample_burst(sig, 1, 1500, 29.1 * 50, rng)
        good = ctpower.PowerCalc(1, ct_lead_deg=[4.0], vt_lead_deg=vt).compute(buf, 1500, per)
        assert abs(good.power[0] - sig.truth(0)["real_power_w"]) <= 5.0, (vt, pf, good.power[0])
        if pf < 0.5:
            bad = ctpower.PowerCalc(1, ct_lead_deg=[4.0]).compute(buf, 1500, per)
            assert abs(bad.power[0] - sig.truth(0)["real_power_w"]) > 40.0


class ScenarioWorld(StubWorld):
    """get() on dotted paths of a scenario dict (lists indexed by number), faults with targets."""

    def __init__(self, scenario, seed=2):
        StubWorld.__init__(self, seed=seed)
        self.scenario = scenario

    def get(self, path, default=None):
        node = self.scenario
        for part in path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return default
        return node

    def fault(self, kind, target=None):
        for f in self.scenario.get("faults", ()):
            if f["kind"] == kind and (target is None or "target" not in f or str(f["target"]) == str(target)):
                return True
        return False


def adc_raw(mv):
    """As the emulator's machine.ADC does at 11 dB."""
    raw = int(mv * 4095 / 3100 + 0.5)
    return 0 if raw < 0 else (4095 if raw > 4095 else raw)


def test_millivolts_entry_point_end_to_end():
    scen = {
        "mains": {"vrms": 228.0, "freq_hz": 50.2, "harmonics": VH},
        "ct": [
            {"input": 2, "real_power_w": 300.0, "pf": 0.25, "harmonics": IH, "phase_lead_deg": 4.0},
            {"input": 1, "real_power_w": 2200.0, "pf": 0.97, "phase_lead_deg": 2.0},
        ],
        "adc": {"noise_lsb": 1.2},
    }
    w = ScenarioWorld(scen)
    sim_waveforms.reset()
    sps = 2 * 1000.0  # 2000 sets per second, V ct1 ct2 ct3 read 125 us apart
    nsets = 1800
    buf = array("H", [0] * (nsets * 4))
    t0 = 1700000000.123456  # wall-clock-like microseconds are fine
    for k in range(nsets):
        for c, sig in enumerate(("vac", "ct1", "ct2", "ct3")):
            t_us = t0 * 1e6 + (k + c / 4.0) * 1e6 / sps
            buf[k * 4 + c] = adc_raw(sim_waveforms.millivolts(w, sig, t_us))
    pc = ctpower.PowerCalc(3, ct_lead_deg=[2.0, 4.0, 0.0]).compute(buf, nsets, 1e6 / sps)
    assert abs(pc.power[0] - 2200.0) <= 0.005 * 2200.0  # ct1 is the list's second entry ("input": 1)
    assert abs(pc.power[1] - 300.0) <= 0.005 * 300.0
    assert pc.power[2] == 0.0 and pc.status[2] == ctpower.OK  # no CT on input 3: bias only
    assert abs(pc.freq - 50.2) < 0.01 and abs(pc.vrms - 228.0) < 0.4


def test_millivolts_faults_and_phase_continuity():
    scen = {"mains": {"vrms": 230.0, "freq_hz": 50.0}, "ct": [{"real_power_w": 1000.0}],
            "faults": [{"kind": "ct_unplugged", "target": 1}]}
    w = ScenarioWorld(scen)
    sim_waveforms.reset()
    assert sim_waveforms.millivolts(w, "ct1", 5000) == 1650.0
    scen["faults"] = [{"kind": "acac_missing"}]
    w.t = 1000
    assert sim_waveforms.millivolts(w, "vac", 5000) == 1650.0
    assert abs(sim_waveforms.millivolts(w, "ct1", 10000) - 1650.0) > 100.0  # CT still there
    # a frequency step keeps the fundamental's phase continuous
    scen["faults"] = []
    w.t = 2000
    sim_waveforms.millivolts(w, "vac", 1000000)
    before = sim_waveforms._sig.angle(1.0)
    scen["mains"]["freq_hz"] = 60.0
    w.t = 2200
    sim_waveforms.millivolts(w, "vac", 1000000)
    assert abs(sim_waveforms._sig.angle(1.0) - before % (2 * math.pi)) < 1e-9
    assert sim_waveforms._sig.freq == 60.0


# ---------------------------------------------------------------- SDM Modbus meter


def sdm_world(**extra):
    values = {"modbus_meter.power_w": 1850.0, "modbus_meter.voltage_v": 238.5, "modbus_meter.pf": 0.92,
              "modbus_meter.freq_hz": 49.97}
    values.update(extra)
    return StubWorld(values, {"modbus_meter.power_w": 1234.5})


def ask(dev, req, now=0):
    return dev.write(req, now)


def test_sdm120_answers_with_world_values():
    w = sdm_world()
    dev = sim_sdm.Device(w, {"model": "sdm120", "address": 3, "import_wh_initial": 100000})
    dev.configure(2400, 8, None, 1, 0)
    start, count = mb.read_plan("sdm120")[0]
    reply, delay = ask(dev, mb.read_request(3, start, count))
    assert delay > 0
    data = mb.parse_read_response(reply, 3, 4, count)
    d = mb.decode("sdm120", start, data)
    assert abs(d["power_w"] - 1850.0) < 1e-3
    assert abs(d["voltage_v"] - 238.5) < 1e-4
    assert abs(d["pf"] - 0.92) < 1e-6
    assert abs(d["va"] - 1850.0 / 0.92) < 1e-2
    assert abs(d["current_a"] - 1850.0 / 0.92 / 238.5) < 1e-5
    assert abs(d["freq_hz"] - 49.97) < 1e-4
    assert abs(d["import_kwh"] - 101.2345) < 1e-4
    assert d["export_kwh"] == 0.0


def test_sdm_negative_energy_counts_as_export():
    w = StubWorld({"modbus_meter.power_w": -500.0}, {"modbus_meter.power_w": -250.0})
    dev = sim_sdm.Device(w, {"export_wh_initial": 1000})
    dev.configure(2400, 8, None, 1, False)
    reply, _ = ask(dev, mb.read_request(1, 0x48, 4))
    d = mb.decode("sdm120", 0x48, mb.parse_read_response(reply, 1, 4, 4))
    assert d["import_kwh"] == 0.0 and abs(d["export_kwh"] - 1.25) < 1e-6


def test_sdm630_per_phase_and_totals():
    w = sdm_world(**{"modbus_meter.phases.1.power_w": 1000.0})
    dev = sim_sdm.Device(w, {"model": "sdm630"})
    dev.configure(9600, 8, None, 1, False)
    start, count = mb.read_plan("sdm630")[0]
    reply, _ = ask(dev, mb.read_request(1, start, count))
    d = mb.decode("sdm630", start, mb.parse_read_response(reply, 1, 4, count))
    assert abs(d["power_w"] - 1850.0) < 1e-3
    assert abs(d["l1_power_w"] - 1850.0 / 3) < 1e-3
    assert abs(d["l2_power_w"] - 1000.0) < 1e-3
    assert abs(d["l3_voltage_v"] - 238.5) < 1e-4 and abs(d["voltage_v"] - 238.5) < 1e-4


def test_sdm_protocol_errors_and_silence():
    dev = sim_sdm.Device(sdm_world(), {"address": 2})
    dev.configure(2400, 8, None, 1, False)
    assert ask(dev, mb.read_request(5, 0, 2))[0] == b""  # another address
    req = bytearray(mb.read_request(2, 0, 2))
    req[-1] ^= 0xFF
    assert ask(dev, bytes(req))[0] == b""  # bad CRC: no answer
    for func, code in ((3, 2),):
        reply, _ = ask(dev, mb.read_request(2, 0, 2, func=func))
        try:
            mb.parse_read_response(reply, 2, func, 2)
        except mb.ModbusException as e:
            assert e.code == code
        else:
            raise AssertionError("no exception")
    reply, _ = ask(dev, mb.read_request(2, 0, 100))
    try:
        mb.parse_read_response(reply, 2, 4, 100)
    except mb.ModbusException as e:
        assert e.code == 3
    # split request across writes
    r = mb.read_request(2, 0, 2)
    assert ask(dev, r[:3])[0] == b""
    reply, _ = ask(dev, r[3:])
    assert mb.parse_read_response(reply, 2, 4, 2)
    # wrong serial settings: garbage reaches the meter, no answer
    dev.configure(9600, 8, None, 1, False)
    assert ask(dev, mb.read_request(2, 0, 2))[0] == b""


def test_sdm_faults():
    w = sdm_world()
    dev = sim_sdm.Device(w, {})
    dev.configure(2400, 8, None, 1, False)
    w.faults = {"modbus_silent"}
    assert ask(dev, mb.read_request(1, 0, 2))[0] == b""
    w.faults = {"modbus_crc"}
    reply, _ = ask(dev, mb.read_request(1, 0, 2))
    assert len(reply) == 9 and not mb.crc_ok(reply)
    f = mb.Framer(1, 4)
    assert f.feed(reply) is None


# ---------------------------------------------------------------- Elster IrDA


def run_stream(dev, w, ms, step=37):
    out = b""
    while w.t < ms:
        w.t += step
        out += dev.stream(w.t)
    return out


def test_elster_stream_decodes_with_raw_uart():
    w = StubWorld(energy={"irda.power_w": 12.7})
    dev = sim_elster.Device(w, {"import_wh_initial": 4321000})
    dev.configure(2400, 8, None, 1, 0)  # UART not inverting: bytes arrive inverted
    data = run_stream(dev, w, 5000)
    assert 4 * 110 <= len(data) <= 5 * 110 + 1
    r = elster.Reader(invert=True)
    assert r.feed(data) == 4321012
    assert r.frames >= 4 and r.bad_frames == 0
    assert elster.Reader().feed(data) is None


def test_elster_stream_with_inverting_uart_and_rate():
    w = StubWorld(energy={"irda.power_w": 0.0})
    dev = sim_elster.Device(w, {"import_wh_initial": 7})
    dev.configure(2400, 8, None, 1, 1)
    r = elster.Reader()
    got = []
    t = 0
    while t < 10000:
        t += 100
        w.t = t
        w.energy["irda.power_w"] = t / 1000.0  # 1 Wh per second
        chunk = dev.stream(t)
        assert len(chunk) <= 25  # 2400 baud: 24 bytes per 100 ms
        v = r.feed(chunk)
        if v is not None:
            got.append(v)
    assert got and got == sorted(got) and got[-1] >= 7 + 8
    assert all(7 <= v <= 7 + 10 for v in got)


def test_elster_wrong_baud_and_garbage_fault_give_no_false_energy():
    w = StubWorld(energy={"irda.power_w": 50.0})
    dev = sim_elster.Device(w, {"import_wh_initial": 1000})
    dev.configure(9600, 8, None, 1, 1)
    r = elster.Reader()
    assert r.feed(run_stream(dev, w, 5000)) is None and r.wh is None
    w2 = StubWorld(energy={"irda.power_w": 50.0}, faults={"irda_garbage"}, seed=4)
    dev2 = sim_elster.Device(w2, {"import_wh_initial": 1000})
    dev2.configure(2400, 8, None, 1, 1)
    r2 = elster.Reader()
    values = []
    while w2.t < 120000:
        w2.t += 50
        v = r2.feed(dev2.stream(w2.t))
        if v is not None:
            values.append(v)
    assert all(v == 1050 for v in values)
    assert r2.bad_frames > 0


# ---------------------------------------------------------------- MicroPython


UPY_SCRIPT = r"""
import sys
sys.path.insert(0, "tools/emulator/sim")
import sim_waveforms, sim_sdm, sim_elster
from firmware import modbus_rtu as mb, elster

class Rng:
    def __init__(self): self.s = 1
    def getrandbits(self, n):
        self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
        return self.s >> (31 - n)
    def random(self): return self.getrandbits(24) / 16777216.0

class W:
    def __init__(self): self.t = 0; self.rng = Rng()
    def now_ms(self): return self.t
    def get(self, p, d=None): return {"modbus_meter.power_w": 900.0}.get(p, d)
    def energy_wh(self, p): return 55.0
    def fault(self, k, t=None): return False

w = W()
ct = {"real_power_w": 500, "pf": 0.5, "phase_lead_deg": 3}
s = sim_waveforms.Signals({"vrms": 230, "harmonics": [[3, 0.03, 0]]}, [ct], {"noise_lsb": 1})
print("counts", s.v_count(0.005, w.rng), s.i_count(0, 0.004, w.rng), round(s.truth(0)["real_power_w"], 3))
d = sim_sdm.Device(w, {"model": "sdm630"})
d.configure(9600, 8, None, 1, 0)
rep, dl = d.write(mb.read_request(1, 0, 0x4C), 0)
print("sdm", round(mb.decode("sdm630", 0, mb.parse_read_response(rep, 1, 4, 0x4C))["power_w"], 3))
e = sim_elster.Device(w, {"import_wh_initial": 100})
e.configure(2400, 8, None, 1, True)
r = elster.Reader()
v = None
while w.t < 3000:
    w.t += 40
    x = r.feed(e.stream(w.t))
    if x is not None: v = x
print("elster", v)
"""


def test_sim_devices_run_under_micropython():
    upy = paths.venv_bin("micropython")
    env = dict(os.environ, MICROPYPATH=".:.frozen")
    out = subprocess.run([upy, "-c", UPY_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr + out.stdout
    lines = out.stdout.split("\n")
    assert lines[0].startswith("counts ") and lines[0].endswith(" 500.0")
    assert lines[1] == "sdm 900.0"
    assert lines[2] == "elster 155"
