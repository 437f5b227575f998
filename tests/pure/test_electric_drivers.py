"""Electrical-input drivers' arithmetic: CT burst averaging (CtAverager on PowerCalc results),
pulse interval power, Elster polarity detection and power from the register, exact Modbus Wh.

The sampling kernels themselves need ticks_us and an ADC: tests/host/test_electric_sampler.py runs
them on the unix port against the simulated front end.
"""
import math
import struct
from array import array

from test_ctpower import synth

from firmware import ctpower
from firmware.drivers.ct_sampler import NO_CURRENT, CtAverager
from firmware.drivers.elster_reader import ElsterInput, RegisterRate
from firmware.drivers.modbus_meter import float_to_milli
from firmware.drivers.pulse_counter import PulseMeter

IK = ctpower.ADC_UV_PER_COUNT * 1e-6 * ctpower.CT_TURNS / ctpower.CT_BURDEN_OHM
VK = ctpower.ADC_UV_PER_COUNT * 1e-6 * ctpower.VT_RATIO


def run_bursts(cts, nbursts=6, nsets=125, spc=50.0, freq=50.0, noise=1.0, acac=True, seed=1):
    """PowerCalc over nbursts synthetic bursts, averaged like the CT service does."""
    n = len(cts)
    pc = ctpower.PowerCalc(n, ct_lead_deg=[ct.get("lead", 0.0) for ct in cts], squelch=0, fallback_vrms=240.0)
    avg = CtAverager(n, [IK] * n, VK, noise_lsb=noise)
    for b in range(nbursts):
        buf, per = synth(nsets, spc, freq, cts, noise=noise, seed=seed + 17 * b, acac=acac)
        pc.prepare(buf, nsets, per)
        if avg.add_v(pc):
            for j in range(n):
                pc.channel(j)
                avg.add_ct(pc, j)
    return avg


def test_average_of_short_bursts_is_accurate():
    cts = [dict(p=1450.0, pf=0.97, lead=4.2), dict(p=150.0, pf=0.4, lead=3.0)]
    avg = run_bursts(cts)
    assert avg.bursts == 6 and avg.dropped == 0
    assert avg.w >= 6 * 50  # at least one whole cycle of 50 sets per burst
    p, irms, va, pf, st, ac = avg.ct(0, 240.0)
    assert st == ctpower.OK and ac
    assert abs(p - 1450.0) <= 0.005 * 1450.0, p
    assert abs(pf - 0.97) < 0.01
    p2, irms2, _, pf2, st2, _ = avg.ct(1, 240.0)
    assert abs(p2 - 150.0) <= 2.0, p2
    assert abs(avg.vrms() - 230.0) < 0.5 and abs(avg.freq() - 50.0) < 0.05
    assert abs(avg.sets_per_cycle() - 50.0) < 0.1


def test_noise_is_taken_out_of_irms_at_low_load():
    # 12 W standby at PF 0.97: 0.054 A, about the RMS of 1 LSB of noise (0.046 A)
    avg = run_bursts([dict(p=12.0, pf=0.97)], nbursts=8, noise=1.0)
    p, irms, va, pf, st, ac = avg.ct(0, 240.0)
    true_i = 12.0 / 0.97 / 230.0
    assert st == ctpower.OK
    assert abs(irms - true_i) < 0.2 * true_i, (irms, true_i)
    assert abs(p - 12.0) <= 2.0
    assert pf > 0.75  # without the noise correction it reads about 0.7


def test_ct_at_the_bias_reads_no_current_and_zero_power():
    avg = run_bursts([dict(p=0.0, pf=1.0, connected=False, pin_v=1.65), dict(p=800.0, pf=0.9)], noise=1.0)
    p, irms, va, pf, st, ac = avg.ct(0, 240.0)
    assert st == NO_CURRENT and p == 0.0 and pf is None
    p2, _, _, _, st2, _ = avg.ct(1, 240.0)
    assert st2 == ctpower.OK and abs(p2 - 800.0) < 4.0


def test_no_acac_gives_apparent_power_at_the_fallback_voltage():
    avg = run_bursts([dict(p=1000.0, pf=0.5)], acac=False)
    assert avg.w == 0 and avg.wn > 0 and avg.vrms() is None
    p, irms, va, pf, st, ac = avg.ct(0, 240.0)
    assert not ac and st == ctpower.NO_AC and pf is None
    true_i = 1000.0 / 0.5 / 230.0
    assert abs(irms - true_i) < 0.01 * true_i
    assert abs(p - 240.0 * irms) < 1e-6


def test_disconnected_input_is_unknown():
    avg = run_bursts([dict(p=0.0, pf=1.0, pin_v=0.2)])
    p, irms, va, pf, st, ac = avg.ct(0, 240.0)
    assert st == ctpower.DISCONNECTED and p is None and irms is None


def test_burst_without_a_whole_cycle_is_dropped_not_taken_for_no_ac():
    pc = ctpower.PowerCalc(1, squelch=0)
    avg = CtAverager(1, [IK], VK)
    buf, per = synth(40, 40.0, 50.0, [dict(p=500.0, pf=1.0)])  # one cycle: at most one crossing
    pc.prepare(buf, 40, per)
    assert pc.v_present and not pc.ac_ok
    assert avg.add_v(pc) is False
    assert avg.dropped == 1 and avg.bursts == 0
    assert avg.ct(0, 240.0)[4] == "no_data"


def test_worst_status_wins():
    assert CtAverager._worse(ctpower.OK, ctpower.SATURATED) == ctpower.SATURATED
    assert CtAverager._worse(ctpower.NONLINEAR, ctpower.SATURATED) == ctpower.SATURATED
    assert CtAverager._worse(ctpower.DISCONNECTED, ctpower.NO_AC) == ctpower.DISCONNECTED
    assert CtAverager._worse(None, ctpower.OK) == ctpower.OK


class FakeInput:
    """Stands in for PulseInput: a count and, optionally, the edge time."""

    def __init__(self):
        self.count = 0
        self.edge = None

    def read(self):
        return self.count, self.edge


def test_pulse_interval_power_from_polled_counts():
    inp = FakeInput()
    m = PulseMeter(inp, wh_per_pulse=1.0, timeout_ms=60000)
    # 1450 W at 1 Wh/pulse: a pulse every 2482.76 ms; polled every 100 ms, reported every 10 s
    period = 3600000.0 / 1450.0
    t = 0
    reports = []
    while t <= 60000:
        inp.count = int(t / period)
        m.poll(t)
        if t and t % 10000 == 0:
            reports.append(m.interval_power())
        t += 100
    assert reports[0] is not None
    for p in reports[1:]:
        assert abs(p - 1450.0) < 0.03 * 1450.0, reports
    assert m.wh == int(60000 / period)


def test_pulse_interval_power_with_irq_edge_times_is_exact_and_decays():
    inp = FakeInput()
    m = PulseMeter(inp, imp_per_kwh=1000, timeout_ms=30000)
    for k in range(1, 6):
        inp.count = k
        inp.edge = 1000 * k  # 1 Wh a second: 3600 W
        m.poll(1000 * k + 37)
    assert abs(m.interval_power() - 3600.0) < 1e-6
    inp.count = 6
    inp.edge = 7000  # 2 s later: 1800 W over that one pulse interval
    m.poll(7050)
    assert abs(m.interval_power() - 1800.0) < 1e-6
    m.poll(17000)  # no pulse for 10 s: at most 1 Wh / 10 s
    assert m.interval_power() <= 360.0 + 1e-6
    m.poll(40000)  # past the timeout
    assert m.interval_power() == 0.0


def elster_frame(wh):
    data = bytearray(104)
    data[0:12] = b"Elster A100C"
    v = wh
    for i in range(4, -1, -1):
        d = v % 100
        v //= 100
        data[45 + i] = ((d // 10) << 4) | (d % 10)
    body = bytearray(b"\x01\x00\x68\x02") + data + b"\x03"
    return bytes(body) + bytes((sum(body) & 0xFF,))


def test_elster_input_finds_the_data_polarity():
    for invert in (False, True):
        inp = ElsterInput()
        got = []
        for k in range(4):
            f = elster_frame(5000 + k)
            if invert:
                f = bytes(b ^ 0xFF for b in f)
            v = inp.feed(b"\x55\xaa" + f)
            if v is not None:
                got.append(v)
        assert inp.inverted is invert
        assert got and got[-1] == 5003
        assert inp.counts()[0] >= 3


def test_register_rate_from_one_wh_steps_on_one_second_frames():
    r = RegisterRate(window_ms=60000, timeout_ms=120000)
    wh0 = 10000000
    e = 0.0
    p = None
    for s in range(1, 121):  # 1800 W for 2 minutes, a frame a second
        e += 1800.0 / 3600.0
        r.update(wh0 + int(e), s * 1000)
        if s >= 70:
            p = r.power(s * 1000 + 500)
            assert abs(p - 1800.0) < 0.05 * 1800.0, (s, p)
    assert p is not None
    # the load stops: the estimate decays once no step comes for twice the usual spacing
    assert r.power(121000 + 1500) > 1000.0
    assert r.power(121000 + 30000) <= 3600000.0 / 30000 + 1e-6
    assert r.power(121000 + 130000) == 0.0
    r.update(5, 300000)  # a smaller register (meter replaced): start again
    assert r.power(300500) is None


def test_register_rate_low_power_uses_the_spacing_of_steps():
    r = RegisterRate(window_ms=60000, timeout_ms=600000)
    for k in range(5):
        r.update(100 + k, 300000 * k)  # 1 Wh every 5 min: 12 W
    assert abs(r.power(1200000 + 1000) - 12.0) < 0.1


def test_float_to_milli_is_exact():
    for v in (0.0, 1.0, 12345.678, 101.2345, 16777.215, 98765.43, 0.001, -3.5, 1e-30):
        b = struct.pack(">f", v)
        f32 = struct.unpack(">f", b)[0]
        # exact value of the float32 times 1000, rounded half up, from its integer parts
        m, e = math.frexp(abs(f32))
        mant = int(m * (1 << 24))
        sh = e - 24
        x = mant * 1000
        want = x << sh if sh >= 0 else (x + (1 << (-sh - 1))) >> -sh
        want = -want if f32 < 0 else want
        assert float_to_milli(b, 0) == want, (v, float_to_milli(b, 0), want)
    assert float_to_milli(struct.pack(">f", 12345.678), 0) == 12345678
    assert float_to_milli(b"\x7f\xc0\x00\x00", 0) is None  # NaN
    assert float_to_milli(b"\x00\x00" + struct.pack(">f", 2.5), 1) == 2500


def test_repair_fills_isolated_bad_sets_from_their_neighbours():
    from firmware.drivers.ct_sampler import repair

    nch = 2
    n = 120
    buf = array("H", [0] * (n * nch))
    for k in range(n):
        buf[2 * k] = int(2180 + 900 * math.sin(2 * math.pi * k / 80.0) + 0.5)
        buf[2 * k + 1] = int(2180 + 300 * math.sin(2 * math.pi * k / 80.0 - 0.5) + 0.5)
    good = array("H", buf)
    bad = array("H", [0] * 8)
    for i, k in enumerate((10, 40, 41, 42, 77, 79)):  # 77 and 79: one good set between, one run
        buf[2 * k] = 0
        buf[2 * k + 1] = 4095
        bad[i] = k
    assert repair(buf, nch, n, bad, 6) == n
    for k in range(n):
        for c in range(nch):
            assert abs(buf[2 * k + c] - good[2 * k + c]) <= 1, (k, c, buf[2 * k + c], good[2 * k + c])


def test_repair_cuts_the_burst_before_a_run_it_cannot_fill():
    from firmware.drivers.ct_sampler import repair

    buf = array("H", [2000] * 200)
    bad = array("H", [50, 98, 0, 0])
    assert repair(buf, 2, 100, bad, 2) == 98  # too close to the end
    bad = array("H", [30, 31, 32, 33, 34, 35])
    assert repair(buf, 2, 100, bad, 6) == 30  # six in a row: too long to interpolate
    bad = array("H", [1])
    assert repair(buf, 2, 100, bad, 1) == 0


class FakeBoard:
    """A board without machine.Counter (MicroPython < 1.26): the pin IRQ is all there is."""

    def __init__(self):
        self.handler = None

    def pulse_counter(self):
        return None

    def pulse_irq(self, handler):
        self.handler = handler
        return "pin"


def test_pulse_irq_fallback_filters_bounces_and_times_edges():
    from firmware.drivers.pulse_counter import PulseInput

    board = FakeBoard()
    now = [1000]
    inp = PulseInput(board, min_period_ms=40, clock=lambda: now[0])
    assert inp.mode == "irq" and inp.counter is None
    for t in (1000, 1003, 1010, 2000, 2030, 2039, 3000):  # contact bounce within 40 ms is dropped
        now[0] = t
        board.handler("pin")
    assert inp.read() == (3, 3000)
    assert inp.filter.rejected == 4
    m = PulseMeter(inp, wh_per_pulse=1.0)
    m.poll(3100)
    for t, poll in ((4000, 4250), (5000, 5300)):
        now[0] = t
        board.handler("pin")
        m.poll(poll)
    # the IRQ's own edge times are used, not the poll times: 1 Wh in 1000 ms = 3600 W
    assert abs(m.pp.power - 3600.0) < 1e-6
    assert abs(m.interval_power() - 3600.0) < 1e-6
