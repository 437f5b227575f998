"""Bad electrical input on the emulated board: the AC-AC adapter unplugged, a CT unplugged, a
saturated CT, an exporting CT, an interrupt storm that spoils every CT burst for a while, and an
Elster IrDA meter read through noise. Each gives a status
on its channels, a log line, no crash and no false energy; the IrDA reader also reads the truth.
"""
import json
import os

import pytest

from tests.helpers import write_scenario
from tests.integration.test_electric import INTERVAL, SCEN, Run, assert_no_crash, ct_truth, mqtt_values, run_all

# Each fault spans two whole report intervals after the first, whatever their phase (a report
# interval is INTERVAL plus up to a burst period: one window of INTERVAL could hold no report)
ACAC = (10, 31)
UNPLUGGED = (35, 53)
STORM = (57, 69)  # the run stops at 87 s (reports after it)
GARBAGE = (25, 37)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("elec-faults")
    with open(os.path.join(SCEN, "elec-ct.json")) as f:
        base = json.load(f)
    cts = base["ct"]
    cts[1].update(real_power_w=25000.0, pf=1.0)  # far beyond the 33 ohm burden's range: clips
    cts[2].update(real_power_w=-800.0)  # exporting (PV)
    config = dict(base["config"], elec={"source": "ct1"})
    config["ct"] = dict(config["ct"], export=[False, False, True])
    scen = write_scenario(
        str(tmp / "ct-faults.json"), os.path.join(SCEN, "elec-ct.json"), ct=cts, timeline=[], config=config,
        faults=[{"kind": "acac_missing", "at_s": ACAC[0], "until_s": ACAC[1]},
                {"kind": "ct_unplugged", "target": 1, "at_s": UNPLUGGED[0], "until_s": UNPLUGGED[1]},
                {"kind": "irq_storm", "at_s": STORM[0], "until_s": STORM[1]}])
    rs = {
        "ct": Run(scen, {"interval_s": INTERVAL}, until_s=87),
        "irda": Run(os.path.join(SCEN, "elec-irda.json"), {"interval_s": INTERVAL, "ct": {"enabled": False},
                                                            "irda": {"enabled": True, "timeout_s": 12}},
                    until_s=52),
    }
    run_all(list(rs.values()))
    yield rs


def _inside(r, reps, window):
    """Consecutive report pairs whose whole interval lies inside the window (world s).

    A reading's ts is whole wall seconds: it was taken up to 1 s after it."""
    out = []
    for a, b in zip(reps, reps[1:]):
        if window[0] <= r.wts(a[0]) and r.wts(b[0]) + 1 <= window[1]:
            out.append((a, b))
    return out


def _during(r, reps, window):
    """Readings whose whole report interval lies inside the window."""
    return [x for x in reps if window[0] + INTERVAL + 1 < r.wts(x[0]) and r.wts(x[0]) + 1 <= window[1]]


def _clear_of_storm(r, reps):
    """Readings whose report interval does not touch the interrupt storm."""
    return [x for x in reps if r.wts(x[0]) + 1 <= STORM[0] or r.wts(x[0]) > STORM[1] + INTERVAL + 1]


def test_missing_acac_reads_apparent_power_flagged_and_counts_no_energy(runs):
    r = runs["ct"]
    scen = r.board.scenario
    # a whole report interval inside the fault, then shown (vrms keeps no timestamp while unknown)
    snaps = [(ws, v, st) for ws, v, st in r.snapshots("vrms") if ACAC[0] + 2 * INTERVAL + 1.5 < ws <= ACAC[1]]
    assert snaps and all(v is None and st in ("no_ac", "no_data") for _ws, v, st in snaps), snaps
    assert "no_ac" in [st for _ws, _v, st in snaps], snaps  # no_data: see Run.measured
    t1 = ct_truth(scen, 0)
    p1 = r.measured(_during(r, r.reports("ct1_power"), ACAC))
    assert p1, r.reports("ct1_power")
    for _ts, value, st, _ws in p1:
        # apparent power at ct.fallback_vrms (240 V) from the measured current
        assert st == "no_ac" and abs(value - 240.0 * t1["irms"]) < 0.01 * 240.0 * t1["irms"], (value, t1)
    for a, b in _inside(r, r.reports("ct1_wh"), ACAC):
        assert a[1] == b[1], (a, b)  # not counted
    assert all(v is None for _ws, v, st in r.snapshots("ct1_pf") if st == "no_ac")
    text = r.console()
    assert "vac: AC-AC signal no_ac" in text and "ct1: no AC-AC signal" in text and "vac: ok again" in text
    after = r.measured(_clear_of_storm(r, [x for x in r.reports("vrms") if r.wts(x[0]) > ACAC[1] + INTERVAL + 1]))
    assert after and all(st == "ok" and abs(v - 235.0) < 0.5 for _t, v, st, _w in after)


def test_unplugged_ct_reads_no_current_and_counts_nothing(runs):
    r = runs["ct"]
    p1 = r.measured(_during(r, r.reports("ct1_power"), UNPLUGGED))
    assert p1 and all(v == 0.0 and st == "no_current" for _t, v, st, _w in p1), p1
    pairs = _inside(r, r.reports("ct1_wh"), UNPLUGGED)
    assert pairs and all(a[1] == b[1] for a, b in pairs), pairs
    assert "ct1: no current (CT unplugged, or no load)" in r.console()
    # ct1 is the heatpump_elec source: the same reading and status
    hp = r.measured(_during(r, r.reports("heatpump_elec"), UNPLUGGED))
    assert hp and all(v == 0.0 and st == "no_current" for _t, v, st, _w in hp)
    late = [x for x in r.reports("ct1_power") if r.wts(x[0]) > UNPLUGGED[1] + INTERVAL + 1]
    late = r.measured(_clear_of_storm(r, late))
    truth = ct_truth(r.board.scenario, 0)["real_power_w"]
    assert late and all(st == "ok" and abs(v - truth) < 1.5 * 0.005 * truth for _t, v, st, _w in late), late


def test_saturated_ct_is_flagged(runs):
    r = runs["ct"]
    reps = [x for x in r.reports("ct2_power") if r.wts(x[0]) < ACAC[0] or r.wts(x[0]) > ACAC[1] + INTERVAL + 1]
    reps = r.measured(_clear_of_storm(r, reps))
    assert reps and all(st == "saturated" and v < 25000.0 for _t, v, st, _w in reps), reps
    assert "ct2: ADC saturated" in r.console()


def test_export_counts_only_with_export_configured(runs):
    r = runs["ct"]
    reps = r.measured(_clear_of_storm(r, [x for x in r.reports("ct3_power") if r.wts(x[0]) > UNPLUGGED[0]]))
    assert reps and all(st == "ok" and abs(v + 800.0) < 1.5 * 4.0 for _t, v, st, _w in reps), reps
    assert all(x[1] == 0 for x in r.reports("ct3_wh"))  # import never goes negative or counts export
    exp = [x for x in r.reports("ct3_export_wh") if r.wts(x[0]) > ACAC[1] + INTERVAL + 1]
    a, b = exp[0], exp[-1]
    want = 800.0 * (r.wts(b[0]) - r.wts(a[0])) / 3600.0
    assert abs((b[1] - a[1]) - want) <= 2.0 + 800.0 / 3600.0, (a, b, want)
    mq = mqtt_values(r, "ct3_export_wh")
    assert mq and mq == sorted(mq, key=lambda x: x[0]) and [v for _w, v in mq] == sorted(v for _w, v in mq)
    assert_no_crash(r)


def test_interrupt_storm_reads_unknown_and_loses_no_energy(runs):
    r = runs["ct"]
    # an interval with no paced burst: every CT reading unknown, never a stale or zero power
    for name in ("ct1_power", "ct3_power", "vrms"):
        snaps = [(ws, v, st) for ws, v, st in r.snapshots(name) if STORM[0] + INTERVAL + 1.5 < ws <= STORM[1]]
        assert snaps and any(v is None and st == "no_data" for _ws, v, st in snaps), (name, snaps)
        inside = [x for x in r.reports(name) if STORM[0] + INTERVAL + 1 < r.wts(x[0]) <= STORM[1]]
        assert not [x for x in inside if x[1] is not None], inside  # nothing measured in the storm
    assert "vac: no usable sample burst" in r.console()
    # the storm's time counts with the next measured interval: ct1's energy across it follows the truth
    reps = [x for x in r.reports("ct1_wh") if x[2] == "ok"]
    a = [x for x in reps if r.wts(x[0]) + 1 <= STORM[0]][-1]
    b = [x for x in reps if r.wts(x[0]) > STORM[1] + INTERVAL + 1][0]
    want = r.integral_wh("ct.0.real_power_w", r.wts(a[0]), r.wts(b[0]))
    assert abs((b[1] - a[1]) - want) <= 1.0 + 2000.0 / 3600.0, (a, b, want)
    late = [x for x in r.reports("ct1_power") if r.wts(x[0]) > STORM[1] + INTERVAL + 1]
    assert late and all(st == "ok" for _t, _v, st, _w in late), late


def test_irda_reads_the_meter_register_and_its_power(runs):
    r = runs["irda"]
    spec = r.board.scenario["irda"]
    good = [x for x in r.reports("irda_wh") if x[2] == "ok"]
    assert len(good) >= 4
    for ts, wh, _st, _ws in good:
        want = spec["import_wh_initial"] + r.integral_wh("irda.power_w", 0, r.wts(ts))
        assert isinstance(wh, int) and abs(wh - want) <= 2.0 + 1800.0 * 2.0 / 3600.0, (wh, want)
    pw = [x for x in r.reports("irda_power") if 12 < r.wts(x[0]) < GARBAGE[0]]
    assert pw and all(st == "ok" and abs(v - 1800.0) < 0.04 * 1800.0 for _t, v, st, _w in pw), pw
    hp = r.last("heatpump_elec_wh")
    assert hp["value"] == r.last("irda_wh")["value"]
    kwh = mqtt_values(r, "heatpump_elec_kwh")
    assert kwh and all(4321.0 <= v < 4321.1 for _ws, v in kwh)
    assert "irda: reading the meter (plain data)" in r.console()


def test_irda_garbage_gives_a_status_and_no_false_energy(runs):
    r = runs["irda"]
    spec = r.board.scenario["irda"]
    snaps = r.snapshots("irda_wh")
    bad = [(ws, v, st) for ws, v, st in snaps if st == "garbage"]
    assert bad and all(GARBAGE[0] <= ws <= GARBAGE[1] + 2 * INTERVAL + 2 for ws, _v, _st in bad), bad
    for ws, v, _st in snaps:
        if v is not None:  # never more than the meter's register
            assert v <= spec["import_wh_initial"] + r.integral_wh("irda.power_w", 0, ws) + 1, (ws, v)
    vals = [v for _ws, v, _st in snaps if v is not None]
    assert vals == sorted(vals)
    assert any(st == "ok" and ws > GARBAGE[1] + 2 * INTERVAL for ws, _v, st in snaps)
    text = r.console()
    assert "irda: no valid frame" in text and "irda: ok again" in text
    assert_no_crash(r)

