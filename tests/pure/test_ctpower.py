"""firmware.ctpower: accuracy proven on synthesized sample arrays with known truth.

The synthesizer below is written independently of tools/emulator/sim/sim_waveforms.py.
Physics: v = sqrt2*V1*(sin wt + sum f_h sin(h wt + p_h)), i = sqrt2*I1*(sin(wt - phi1) +
sum g_h sin(h wt + q_h)); true P = V1*I1*(cos phi1 + sum f_h g_h cos(p_h - q_h)).
The CT output leads by `lead` at the fundamental and atan(tan(lead)/h) at harmonic h (first-order
magnetising model) with gain cos(lead_h)/cos(lead). Samples: V then each CT, reads evenly spaced
within a set, 12-bit over 0-3.1 V, bias 1.65 V, Gaussian noise, rounding, clipping.
"""

import math
from array import array

from firmware import ctpower
from firmware.ctpower import CTPowerError, PowerCalc

VRATIO = 460.0
ICAL = 2000 / 33.0
VH = ((3, 0.03, 20.0), (5, 0.04, 200.0), (7, 0.01, 90.0))  # mains harmonics [order, fraction, deg]
IH = ((3, 0.30, 60.0), (5, 0.20, 250.0), (7, 0.10, 10.0))  # CT current harmonics


class Rng:
    """xorshift32: same sequence under CPython and MicroPython."""

    def __init__(self, seed):
        self.s = (seed * 2654435761 + 12345) & 0xFFFFFFFF or 1

    def uniform(self):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s = x
        return (x + 0.5) / 4294967296.0

    def gauss(self):
        return math.sqrt(-2.0 * math.log(self.uniform())) * math.cos(2 * math.pi * self.uniform())


def true_power(vrms, vharm, p, pf, iharm):
    """(I1 rms, V1 rms) giving real power p for the given spectra."""
    v1 = vrms / math.sqrt(1 + sum(f * f for _, f, _ in vharm))
    k = pf
    for h, g, q in iharm:
        for hv, f, pv in vharm:
            if hv == h:
                k += f * g * math.cos(math.radians(pv - q))
    return p / (v1 * k), v1


CPV = 1e6 / ctpower.ADC_UV_PER_COUNT  # counts per volt of the default front end (4095 / 3.1 V)


def synth(nsets, spc, freq, cts, vrms=230.0, vharm=(), noise=1.0, seed=1, acac=True, counts_per_volt=CPV, adc_max=4095):
    """Interleaved array('H') [V, I1, I2, ...] * nsets and the set period in us.

    cts: list of dicts p (W), pf (displacement, lagging), lead (deg), harm, connected, pin_v."""
    nch = 1 + len(cts)
    sps = spc * freq
    w = 2 * math.pi * freq
    v1 = vrms / math.sqrt(1 + sum(f * f for _, f, _ in vharm))
    vcomp = [(1, math.sqrt(2) * v1, 0.0)] + [(h, math.sqrt(2) * v1 * f, math.radians(p)) for h, f, p in vharm]
    icomps = []
    for ct in cts:
        harm = ct.get("harm", ())
        i1, _ = true_power(vrms, vharm, ct["p"], ct["pf"], harm)
        lam = math.radians(ct.get("lead", 0.0))
        comps = [(1, i1, -math.acos(ct["pf"]))] + [(h, i1 * g, math.radians(q)) for h, g, q in harm]
        meas = []
        for h, a, ph in comps:
            lh = math.atan(math.tan(lam) / h)
            meas.append((h, math.sqrt(2) * a * math.cos(lh) / math.cos(lam), ph + lh))
        icomps.append(meas)
    buf = array("H", [0] * (nsets * nch))
    rng = Rng(seed)
    t0 = 0.00731
    for k in range(nsets):
        for c in range(nch):
            t = t0 + (k + c / nch) / sps
            if c == 0:
                if acac:
                    x = 0.0
                    for h, a, ph in vcomp:
                        x += a * math.sin(h * w * t + ph)
                    pin = 1.65 + x / VRATIO
                else:
                    pin = 1.65
            else:
                ct = cts[c - 1]
                if "pin_v" in ct:
                    pin = ct["pin_v"]
                else:
                    x = 0.0
                    for h, a, ph in icomps[c - 1]:
                        x += a * math.sin(h * w * t + ph)
                    pin = 1.65 + x / ICAL
            cnt = pin * counts_per_volt + (noise * rng.gauss() if noise else 0.0)
            cnt = int(math.floor(cnt + 0.5))
            buf[k * nch + c] = 0 if cnt < 0 else (adc_max if cnt > adc_max else cnt)
    return buf, 1e6 / sps


def limit(p):
    """Issue target: 0.5 % of reading above 200 W, 2 W below."""
    return 0.005 * abs(p) if abs(p) > 200 else 2.0


def run(p, pf, lead, freq=50.0, spc=33.37, cycles=40, harm=True, noise=1.0, seed=1, **kw):
    nsets = int(spc * (cycles + 1)) + 20
    ct = dict(p=p, pf=pf, lead=lead, harm=IH if harm else ())
    buf, per = synth(nsets, spc, freq, [ct], vharm=VH if harm else (), noise=noise, seed=seed)
    return PowerCalc(1, ct_lead_deg=[lead], **kw).compute(buf, nsets, per)


def test_synth_truth_matches_numeric_mean():
    # the test's own physics: numeric mean of v*i over whole cycles equals the analytic P
    i1, v1 = true_power(230.0, VH, 700.0, 0.3, IH)
    n = 4000
    acc = 0.0
    for k in range(n):
        wt = 2 * math.pi * k / n
        v = math.sqrt(2) * v1 * (math.sin(wt) + sum(f * math.sin(h * wt + math.radians(p)) for h, f, p in VH))
        i = math.sin(wt - math.acos(0.3)) + sum(g * math.sin(h * wt + math.radians(q)) for h, g, q in IH)
        i *= math.sqrt(2) * i1
        acc += v * i
    assert abs(acc / n - 700.0) < 1e-6


def test_pure_sine_exact_without_noise():
    for pf in (1.0, 0.5, 0.2):
        for lead in (0.0, 2.0, 6.0):
            pc = run(1000.0, pf, lead, harm=False, noise=0.0, cycles=12)
            err = pc.power[0] - 1000.0
            assert abs(err) < 0.5, (pf, lead, err)  # 0.05 %
            assert pc.status[0] == ctpower.OK
            assert pc.ac_ok and pc.vstatus == ctpower.OK


def test_targets_with_harmonics_noise_and_ct_lead():
    # loads 10 W..6 kW, PF 1..0.2, CT lead 2-6 deg, 3rd/5th/7th on V and I, 1 LSB noise, quantisation,
    # 49.5-60 Hz, 20-41 sets per cycle; apparent power kept inside the 33 ohm burden's range
    loads = (10.0, 50.0, 150.0, 250.0, 600.0, 1500.0, 3000.0, 6000.0)
    pfs = (1.0, 0.7, 0.5, 0.2)
    leads = (2.0, 4.0, 6.0)
    freqs = (49.5, 50.0, 50.5, 60.0)
    spcs = (21.37, 27.13, 33.37, 40.7)
    n = 0
    worst = 0.0
    for a in range(len(loads)):
        for b in range(len(pfs)):
            p = loads[a]
            pf = pfs[b]
            if p / pf > 6500:
                continue
            lead = leads[(a + b) % 3]
            freq = freqs[(a + 2 * b) % 4]
            spc = spcs[(3 * a + b) % 4]
            pc = run(p, pf, lead, freq=freq, spc=spc, cycles=1400 // int(spc), seed=a * 7 + b)
            err = pc.power[0] - p
            # with current harmonics the largest loads peak past 2.45 V: flagged, still measured
            assert pc.status[0] in (ctpower.OK, ctpower.NONLINEAR), (p, pf, pc.status[0])
            assert abs(err) <= limit(p), (p, pf, lead, freq, spc, err)
            worst = max(worst, abs(err) / limit(p))
            n += 1
    assert n >= 27
    assert worst > 0.0


def test_export_power_is_negative():
    pc = run(-1500.0, 0.8, 4.0)
    assert abs(pc.power[0] + 1500.0) <= limit(1500.0)
    assert pc.pf[0] < -0.5


def test_frequency_vrms_irms():
    for freq in (49.5, 50.5, 60.0):
        pc = run(2000.0, 0.9, 3.0, freq=freq, harm=False, cycles=20)
        assert abs(pc.freq - freq) < 0.01, pc.freq
        assert abs(pc.sets_per_cycle - 33.37) < 0.01
        assert abs(pc.vrms - 230.0) < 0.3
        irms = 2000.0 / (230.0 * 0.9)
        assert abs(pc.irms[0] - irms) < 0.005 * irms
        assert abs(pc.va[0] - 230.0 * irms) < 0.006 * 230.0 * irms
        assert abs(pc.pf[0] - 0.9) < 0.005
        assert pc.cycles >= 19


def test_vrms_includes_harmonics():
    pc = run(1000.0, 1.0, 2.0, harm=True, cycles=20)
    assert abs(pc.vrms - 230.0) < 0.3  # 230 V is the total RMS in the synthesizer


def test_skew_correction_is_needed_and_works():
    # same samples: the right skew passes at PF 0.2, treating the reads as simultaneous does not
    spc = 21.37
    nsets = int(spc * 40)
    buf, per = synth(nsets, spc, 50.0, [dict(p=500.0, pf=0.2, lead=3.0)], noise=0.5)
    good = PowerCalc(1, ct_lead_deg=[3.0]).compute(buf, nsets, per)
    bad = PowerCalc(1, ct_lead_deg=[3.0], skew=[0.0]).compute(buf, nsets, per)
    assert abs(good.power[0] - 500.0) <= limit(500.0)
    assert abs(bad.power[0] - 500.0) > 10 * limit(500.0)


def test_ct_lead_correction_is_needed_and_works():
    nsets = 1400
    buf, per = synth(nsets, 33.37, 50.0, [dict(p=400.0, pf=0.2, lead=5.0)], noise=0.5)
    good = PowerCalc(1, ct_lead_deg=[5.0]).compute(buf, nsets, per)
    none = PowerCalc(1, ct_lead_deg=[0.0]).compute(buf, nsets, per)
    assert abs(good.power[0] - 400.0) <= limit(400.0)
    assert abs(none.power[0] - 400.0) > 20 * limit(400.0)


def test_lead_models_agree_on_a_pure_sine():
    nsets = 1000
    buf, per = synth(nsets, 27.13, 50.0, [dict(p=800.0, pf=0.3, lead=6.0)], noise=0.0)
    hp1 = PowerCalc(1, ct_lead_deg=[6.0], lead_model=ctpower.LEAD_HP1).compute(buf, nsets, per)
    ph = PowerCalc(1, ct_lead_deg=[6.0], lead_model=ctpower.LEAD_PHASE).compute(buf, nsets, per)
    assert abs(hp1.power[0] - 800.0) < 1.0
    assert abs(ph.power[0] - 800.0) < 1.0


def test_three_cts_with_different_leads():
    cts = [
        dict(p=2500.0, pf=0.95, lead=2.0, harm=IH),
        dict(p=120.0, pf=0.3, lead=4.5),
        dict(p=900.0, pf=0.6, lead=6.0, harm=IH),
    ]
    spc = 25.3
    nsets = 1500
    buf, per = synth(nsets, spc, 50.0, cts, vharm=VH, noise=1.0, seed=5)
    pc = PowerCalc(3, ct_lead_deg=[2.0, 4.5, 6.0]).compute(buf, nsets, per)
    for j in range(3):
        assert pc.status[j] == ctpower.OK
        assert abs(pc.power[j] - cts[j]["p"]) <= limit(cts[j]["p"]), (j, pc.power[j])


def test_no_acac_falls_back_to_apparent_power():
    nsets = 1000
    buf, per = synth(nsets, 30.0, 50.0, [dict(p=1000.0, pf=0.5, lead=3.0)], acac=False, noise=1.0)
    pc = PowerCalc(1, fallback_vrms=240.0).compute(buf, nsets, per)
    assert not pc.ac_ok
    assert pc.vstatus == ctpower.NO_AC
    assert pc.vrms is None and pc.freq is None
    irms = 1000.0 / (230.0 * 0.5)
    assert abs(pc.irms[0] - irms) < 0.01 * irms
    assert abs(pc.power[0] - 240.0 * pc.irms[0]) < 1e-6
    assert pc.status[0] == ctpower.NO_AC
    assert pc.pf[0] is None


def test_disconnected_ct_reports_nothing():
    nsets = 600
    buf, per = synth(nsets, 30.0, 50.0, [dict(p=0.0, pf=1.0, pin_v=0.01), dict(p=500.0, pf=1.0)], noise=1.0)
    pc = PowerCalc(2).compute(buf, nsets, per)
    assert pc.status[0] == ctpower.DISCONNECTED
    assert pc.power[0] is None and pc.irms[0] is None
    assert pc.status[1] == ctpower.OK
    assert abs(pc.power[1] - 500.0) <= limit(500.0) + 1.0


def test_idle_ct_reads_zero_not_noise():
    nsets = 800
    buf, per = synth(nsets, 30.0, 50.0, [dict(p=0.0, pf=1.0)], noise=1.5, seed=9)
    pc = PowerCalc(1, noise_lsb=1.5).compute(buf, nsets, per)
    assert pc.status[0] == ctpower.OK
    assert pc.power[0] == 0.0
    raw = PowerCalc(1, squelch=0).compute(buf, nsets, per)
    assert raw.power[0] != 0.0 and abs(raw.power[0]) < 2.0


def test_saturated_input_is_flagged():
    nsets = 600
    buf, per = synth(nsets, 30.0, 50.0, [dict(p=20000.0, pf=1.0)], noise=0.0)  # 123 A peak: past the 88 A clip
    pc = PowerCalc(1).compute(buf, nsets, per)
    assert pc.status[0] == ctpower.SATURATED
    assert pc.power[0] < 20000.0


def test_nonlinear_region_is_flagged():
    nsets = 600
    buf, per = synth(nsets, 30.0, 50.0, [dict(p=9000.0, pf=1.0)], noise=0.0)  # 1.65 V +/- 0.91 V
    pc = PowerCalc(1).compute(buf, nsets, per)  # default linear range 150 mV .. 2450 mV
    assert pc.status[0] == ctpower.NONLINEAR
    assert abs(pc.power[0] - 9000.0) < 0.005 * 9000.0  # still measured (the sim ADC is linear)
    assert PowerCalc(1, lin_lo=0, lin_hi=4095).compute(buf, nsets, per).status[0] == ctpower.OK


def test_large_units_from_read_uv():
    # samples stored as read_uv()//100 (100 uV units, up to 33000): partial sums exceed small ints
    nsets = 900
    cpv = 10000.0  # counts per volt
    buf, per = synth(nsets, 29.3, 50.0, [dict(p=3000.0, pf=0.4, lead=3.0, harm=IH)], vharm=VH,
                     noise=3.0, counts_per_volt=cpv, adc_max=31000)
    pc = PowerCalc(1, ct_lead_deg=[3.0], uv_per_count=100.0, bias_count=16500, bias_tol=4000,
                   adc_max=31000, lin_lo=0, lin_hi=31000, noise_lsb=3.0).compute(buf, nsets, per)
    assert pc.status[0] == ctpower.OK
    assert abs(pc.power[0] - 3000.0) <= limit(3000.0)
    assert abs(pc.vrms - 230.0) < 0.3


def test_window_is_whole_cycles():
    nsets = 700
    spc = 31.7
    buf, per = synth(nsets, spc, 50.0, [dict(p=100.0, pf=1.0)], noise=0.0)
    pc = PowerCalc(1).compute(buf, nsets, per)
    assert pc.cycles == int((nsets - 2 * 8) / spc) or pc.cycles == int((nsets - 2 * 8) / spc) - 1
    assert abs(pc.sets_per_cycle - spc) < 0.01


def test_large_phase_shift_drops_cycles_or_gives_up():
    nsets = 600
    buf, per = synth(nsets, 100.0, 50.0, [dict(p=100.0, pf=1.0)], noise=0.0)
    # a 40 degree shift (EmonLibCM-style VT lead) at 100 sets/cycle moves V by 11 sets: the window
    # loses a cycle at the end if needed
    pc = PowerCalc(1, vt_lead_deg=-40.0, lead_model=ctpower.LEAD_PHASE).compute(buf, nsets, per)
    assert pc.status[0] == ctpower.OK
    assert abs(pc.power[0] - 100.0 * math.cos(math.radians(40.0))) < 1.0
    pc = PowerCalc(1, skew=[560.0]).compute(buf, nsets, per)  # 5.6 cycles: more than the burst
    assert pc.status[0] == ctpower.PHASE_RANGE
    assert pc.power[0] is None


def test_short_burst_raises():
    buf = array("H", [2180] * 40)
    try:
        PowerCalc(1).compute(buf, 20, 500.0)
    except CTPowerError:
        pass
    else:
        raise AssertionError("no error")
    try:
        PowerCalc(1).compute(array("H", [2180] * 100), 80, 500.0)  # buffer shorter than 80 sets x 2
    except CTPowerError:
        pass
    else:
        raise AssertionError("no error")


def test_config_errors():
    for kw in ({"n_ct": 0}, {"lead_model": "x"}, {"n_ct": 2, "ct_lead_deg": [1.0]}):
        try:
            PowerCalc(**kw)
        except CTPowerError:
            continue
        raise AssertionError(kw)


def test_taps_exact_at_fundamental():
    for f in (0.0, 0.25, 0.5, 0.9):
        for theta in (0.05, 0.2, 0.4):
            c = ctpower.taps(f, theta)
            re = sum(c[n] * math.cos((n - 2) * theta) for n in range(6))
            im = sum(c[n] * math.sin((n - 2) * theta) for n in range(6))
            assert abs(re - math.cos(f * theta)) < 1e-9
            assert abs(im - math.sin(f * theta)) < 1e-9
            # close to a pure delay at the 5th harmonic too when sampled 30 times a cycle
            if theta < 0.21:
                re = sum(c[n] * math.cos(5 * (n - 2) * theta) for n in range(6))
                im = sum(c[n] * math.sin(5 * (n - 2) * theta) for n in range(6))
                assert abs(re - math.cos(5 * f * theta)) < 0.01 and abs(im - math.sin(5 * f * theta)) < 0.01
    c = ctpower.taps(0.0, 0.3)
    assert max(abs(c[n] - (1.0 if n == 2 else 0.0)) for n in range(6)) < 1e-12


def test_linearize_piecewise():
    # a compressing curve above 2048: corrected = raw below, 2048 + 1.25 * (raw - 2048) above
    table = tuple(k * 256 if k * 256 <= 2048 else 2048 + (k * 256 - 2048) * 5 // 4 for k in range(17))
    buf = array("H", [0, 1000, 2048, 3000, 4095, 7])
    ctpower.linearize(buf, 1, 1, 4, table)
    assert list(buf) == [0, 1000, 2048, 2048 + (3000 - 2048) * 5 // 4, 2048 + (4095 - 2048) * 5 // 4, 7]


def test_adc_gain_and_ical():
    assert abs(ctpower.adc_gain(500000.0, 620.6) - 805.67) < 0.05
    assert ctpower.BIAS_COUNT == round(1650000 / ctpower.ADC_UV_PER_COUNT)
    assert abs(ctpower.ical(2000, 33.0) - 60.606) < 0.001
    try:
        ctpower.adc_gain(1.0, 0)
    except CTPowerError:
        pass
    else:
        raise AssertionError("no error")
