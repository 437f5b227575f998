"""`python -m tools.bench power` works: its EmonLib reference is right on ideal samples, and a tiny
case set runs through the unix port end to end (figures are printed, not asserted on timing)."""
import math

from tools.bench import power


def _ideal(p, pf, n_cycles=2, spc=80):
    """Exact samples of V and I (no offset error, no skew, no lead): [V], [I] counts."""
    vk = 3100000.0 / 4095 * 1e-6 * 460.0
    ik = 3100000.0 / 4095 * 1e-6 * 2000.0 / 33.0
    vrms = 230.0
    irms = p / (vrms * pf)
    phi = math.acos(pf)
    v = []
    i = []
    for k in range(int(n_cycles * spc) + spc):
        w = 2 * math.pi * (k + 0.37) / spc
        v.append(2180 + vrms * math.sqrt(2) * math.sin(w) / vk)
        i.append(2180 + irms * math.sqrt(2) * math.sin(w - phi) / ik)
    return v, i, vk, ik


def test_emonlib_reference_is_right_on_ideal_samples():
    for p, pf in ((1000.0, 1.0), (500.0, 0.5)):
        v, i, vk, ik = _ideal(p, pf)
        ref = power.EmonLibCalcVI(vk, ik, phasecal=1.0, offset_v=2180.0, offset_i=2180.0)
        got, n = ref.calc_vi(v, i)
        assert n > 150
        assert abs(got - p) < 0.01 * p, (p, pf, got)


def test_emonlib_reference_phasecal_moves_v():
    v, i, vk, ik = _ideal(500.0, 0.5)
    i_late = i[1:] + i[-1:]  # I read one set later than V: PHASECAL 2 shifts V by one set
    ref = power.EmonLibCalcVI(vk, ik, phasecal=2.0, offset_v=2180.0, offset_i=2180.0)
    got, _n = ref.calc_vi(v, i_late)
    assert abs(got - 500.0) < 0.02 * 500.0, got
    plain = power.EmonLibCalcVI(vk, ik, phasecal=1.0, offset_v=2180.0, offset_i=2180.0).calc_vi(v, i_late)[0]
    assert abs(plain - 500.0) > 10.0


def test_case_set_covers_the_issue():
    cases = power.cases()
    ps = [c["p"] for c in cases]
    assert min(ps) == 10.0 and max(ps) == 7000.0
    assert {0.2, 1.0} <= {c["pf"] for c in cases}
    assert {49.5, 50.5, 60.0} <= {c["freq"] for c in cases}
    assert min(c["lead"] for c in cases) == 2.0 and max(c["lead"] for c in cases) == 6.0
    assert any(c["vharm"] and c["iharm"] for c in cases) and any(c["burden"] == 22.0 for c in cases)
    assert all(c["noise"] > 0 for c in cases)


def test_tiny_benchmark_runs_end_to_end():
    lines = []
    rows, summary = power.run(power.quick_cases(), bursts=4, out=lines.append)
    assert len(rows) == 2
    for r in rows:
        truth = r["truth"]["real_power_w"]
        assert r["power"] is not None and abs(r["power"] - truth) < 0.03 * truth + 2.0, r
        assert r["emonlib"] is not None and abs(r["emonlib"] - truth) < 0.1 * truth + 5.0, r
        assert r["sets_per_cycle"] and 60 < r["sets_per_cycle"] < 85  # 250 us sets at 50 or 60 Hz
        assert abs(r["uv_per_count"] - 757.0) < 2.0  # the read_uv calibration
    for key in ("worst", "worst_ref", "ratio", "hold_share", "sets_per_cycle_min", "burst_ms", "proc_ms"):
        assert key in summary
    text = "\n".join(lines)
    assert "EmonLib worst / hpmon worst" in text and "sample sets per mains cycle" in text
    assert "scheduler hold on the unix port" in text
