"""python -m tools.bench power [--quick] [--bursts N] [--cases a,b,..]: CT + AC-AC real-power accuracy.

Each case (load 10 W - 7 kW, PF 0.2 - 1, 3rd/5th/7th harmonics on V and I, 49.5 - 60 Hz,
ADC noise and quantisation, CT phase lead 2 - 6 deg; a 22 ohm burden where the VA would clip
the default 33 ohm one) is played by the emulator's simulated front end
(tools/emulator/sim/sim_waveforms.py behind machine.ADC) and measured by the firmware's own
sampler and maths (CtSampler with its read_uv calibration, PowerCalc, CtAverager) in the
MicroPython unix port, over the bursts of one default 10 s interval (20). The raw bursts are
then also given to a straight re-implementation of EmonLib's calcVI (below; a reference only,
not firmware), so both errors come from the same samples.

Targets (issue 3): |error| <= 0.5 % of reading above 200 W and <= 2 W below, at every PF >= 0.2,
and a worst case (error / target) at least 2x lower than the EmonLib reference's.

It also prints the sample sets per mains cycle and the share of wall time the sampler holds
the scheduler at the default 10 s interval (bursts every 500 ms): (burst + processing time)
per burst x 20 / 10 s, measured on the unix port (bursts are wall-time bound, so the burst
part holds on the board too; processing is ~30-50x slower there and is split by awaits).
These are figures, not pass/fail: timing depends on the host.
"""
import argparse
import json
import math
import os
import shutil
import struct
import subprocess
import tempfile
from array import array

from tools import paths

VH = [[3, 0.02, 10], [5, 0.04, 190], [7, 0.015, 70]]
IH = [[3, 0.25, 200], [5, 0.12, 30], [7, 0.06, 110]]

BURSTS = 20  # 10 s interval / 500 ms burst period (config ct.burst_period_ms)
INTERVAL_S = 10.0


def _case(p, pf, lead=4.0, freq=50.0, vrms=230.0, noise=1.0, harm=False, burden=33.0):
    return {"p": p, "pf": pf, "lead": lead, "freq": freq, "vrms": vrms, "noise": noise,
            "vharm": VH if harm else [], "iharm": IH if harm else [], "burden": burden}


def cases():
    """The standard set: every PF at several loads, harmonics, frequencies, leads and noise."""
    out = []
    loads = (10.0, 25.0, 60.0, 150.0, 210.0, 500.0, 1200.0, 2500.0, 4500.0, 7000.0)
    pfs = (1.0, 0.9, 0.7, 0.5, 0.2)
    freqs = (50.0, 49.5, 50.5, 60.0)
    leads = (2.0, 3.0, 4.2, 5.0, 6.0)
    noises = (0.5, 1.0, 2.0)
    i = 0
    for p in loads:
        for pf in pfs:
            va = p / pf
            burden = 33.0 if va <= 5500 else 22.0
            if va > 9500:  # beyond the 22 ohm burden's linear range (about 11 kVA at 230 V)
                continue
            harm = (i % 3) != 0
            out.append(_case(p, pf, lead=leads[i % len(leads)], freq=freqs[i % len(freqs)], noise=noises[i % 3],
                             harm=harm, burden=burden, vrms=(230.0, 240.0, 220.0)[i % 3]))
            i += 1
    return out


def quick_cases():
    """Two cases for a smoke test of the pipeline."""
    return [_case(1200.0, 0.7, lead=4.2, harm=True), _case(25.0, 0.2, lead=3.0, freq=60.0, noise=1.0)]


def limit(p):
    return 0.005 * abs(p) if abs(p) > 200.0 else 2.0


# ---------------------------------------------------------------- EmonLib reference


class EmonLibCalcVI:
    """A straight re-implementation of EmonLib's calcVI() on a stream of [V, I] samples.

    DC offsets are tracked by a first-order filter offset += (sample - offset) / ADC_COUNTS
    (4096 for a 12-bit ADC), kept from call to call; phase correction is EmonLib's
    phaseShiftedV = lastFilteredV + PHASECAL * (filteredV - lastFilteredV); a call starts at the
    first V sample within 45-55 % of the ADC range and integrates until `crossings` crossings
    of that starting level; realPower = V_RATIO * I_RATIO * sum(v * i) / n. Calibration here
    is ideal: the true volts/amps per count, the offsets start at the signals' true means, and
    PHASECAL moves V by the V-to-I read delay plus the CT's lead at the nominal frequency.
    """

    ADC_COUNTS = 4096

    def __init__(self, vk, ik, phasecal, offset_v, offset_i, crossings=4):
        self.vk = vk
        self.ik = ik
        self.phasecal = phasecal
        self.offset_v = offset_v
        self.offset_i = offset_i
        self.crossings = crossings

    def calc_vi(self, v, i):
        n0 = len(v)
        k = 0
        while k < n0 and not (self.ADC_COUNTS * 0.45 < v[k] < self.ADC_COUNTS * 0.55):
            k += 1
        if k >= n0:
            return None, 0
        start_v = v[k]
        k += 1
        cross = 0
        n = 0
        sum_p = 0.0
        filtered_v = last_filtered_v = 0.0
        check = last_check = False
        while cross < self.crossings and k < n0:
            n += 1
            last_filtered_v = filtered_v
            sv = v[k]
            si = i[k]
            self.offset_v += (sv - self.offset_v) / self.ADC_COUNTS
            filtered_v = sv - self.offset_v
            self.offset_i += (si - self.offset_i) / self.ADC_COUNTS
            filtered_i = si - self.offset_i
            shifted_v = last_filtered_v + self.phasecal * (filtered_v - last_filtered_v)
            sum_p += shifted_v * filtered_i
            last_check = check
            check = sv > start_v
            if n == 1:
                last_check = check
            if last_check != check:
                cross += 1
            k += 1
        if n == 0:
            return None, 0
        return self.vk * self.ik * sum_p / n, n


def read_raw(path):
    bursts = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos + 12 <= len(data):
        k, skew, period = struct.unpack_from("<Iff", data, pos)
        pos += 12
        buf = array("H")
        buf.frombytes(data[pos:pos + 4 * k])
        pos += 4 * k
        bursts.append((list(buf[0::2]), list(buf[1::2]), skew, period))
    return bursts


def emonlib_power(case, bursts):
    """Mean realPower over one calcVI call per burst (the second pass: offsets settled)."""
    if not bursts:
        return None
    upc = 3100000.0 / 4095
    vk = upc * 1e-6 * 460.0
    ik = upc * 1e-6 * 2000.0 / case["burden"]
    nominal = 60.0 if case["freq"] > 55 else 50.0
    skew = sum(b[2] for b in bursts) / len(bursts)
    period = bursts[0][3]
    spc = 1e6 / (period * nominal)
    phasecal = 1.0 + skew + case["lead"] / 360.0 * spc
    allv = [x for b in bursts for x in b[0]]
    alli = [x for b in bursts for x in b[1]]
    ref = EmonLibCalcVI(vk, ik, phasecal, sum(allv) / len(allv), sum(alli) / len(alli))
    powers = []
    for _pass in range(2):
        powers = []
        for v, i, _s, _p in bursts:
            p, n = ref.calc_vi(v, i)
            if p is not None:
                powers.append(p)
    return sum(powers) / len(powers) if powers else None


# ---------------------------------------------------------------- runner


def run(case_list, bursts=BURSTS, out=print, timeout=None):
    """Measure every case; returns (rows, summary). Prints a table through out()."""
    work = tempfile.mkdtemp(prefix="bench-power-")
    try:
        spec = os.path.join(work, "cases.json")
        with open(spec, "w") as f:
            json.dump({"cases": case_list, "bursts": bursts}, f)
        flash = os.path.join(work, "flash")
        os.makedirs(flash)
        env = dict(os.environ, MICROPYPATH=":".join([paths.SIM_DIR, paths.ROOT, paths.FROZEN_DIR, ".frozen"]),
                   HPMON_SIM_DIR=work, HPMON_SCENARIO=os.path.join(work, "none.json"))
        with open(env["HPMON_SCENARIO"], "w") as f:
            f.write("{}")
        script = os.path.join(paths.ROOT, "tools", "bench", "power_upy.py")
        res = subprocess.run([paths.venv_bin("micropython"), "-X", "heapsize=4M", script, spec, work], cwd=flash,
                             env=env, capture_output=True, text=True,
                             timeout=timeout or 60 + 10 * bursts * len(case_list))
        if res.returncode != 0:
            raise RuntimeError("unix port failed:\n" + res.stdout[-2000:] + res.stderr[-3000:])
        rows = []
        with open(os.path.join(work, "results.jsonl")) as f:
            for line in f:
                r = json.loads(line)
                case = case_list[r["case"]]
                r["spec"] = case
                r["emonlib"] = emonlib_power(case, read_raw(os.path.join(work, "case%d.raw" % r["case"])))
                rows.append(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows, report(rows, bursts, out)


def report(rows, bursts, out=print):
    out("%-44s %9s | %10s %8s %7s | %10s %8s %7s" % ("case", "truth W", "hpmon W", "err W", "err/tgt",
                                                     "EmonLib W", "err W", "err/tgt"))
    worst = worst_ref = 0.0
    worst_case = worst_ref_case = ""
    spcs = []
    hold = []
    proc = []
    for r in rows:
        c = r["spec"]
        truth = r["truth"]["real_power_w"]
        lim = limit(truth)
        name = "%.0fW pf%.1f %s%.1fHz lead%.1f n%.1f %.0fohm" % (
            c["p"], c["pf"], "h " if c["vharm"] else "", c["freq"], c["lead"], c["noise"], c["burden"])
        p = r["power"]
        e = (p - truth) if p is not None else float("nan")
        pe = r["emonlib"]
        ee = (pe - truth) if pe is not None else float("nan")
        out("%-44s %9.2f | %10.2f %8.2f %7.2f | %10.2f %8.2f %7.2f" % (
            name, truth, p if p is not None else float("nan"), e, abs(e) / lim,
            pe if pe is not None else float("nan"), ee, abs(ee) / lim))
        if not abs(e) / lim <= worst:
            worst = abs(e) / lim if e == e else float("inf")
            worst_case = name
        if not abs(ee) / lim <= worst_ref:
            worst_ref = abs(ee) / lim if ee == ee else float("inf")
            worst_ref_case = name
        if r["sets_per_cycle"]:
            spcs.append(r["sets_per_cycle"])
        hold.append(r["burst_ms"] + r["proc_ms"])
        proc.append(r["proc_ms"])
    per_interval = INTERVAL_S * 1000.0 / 500.0
    share = (sum(hold) / len(hold)) * per_interval / (INTERVAL_S * 1000.0) if hold else float("nan")
    summary = {
        "cases": len(rows), "worst": worst, "worst_case": worst_case, "worst_ref": worst_ref,
        "worst_ref_case": worst_ref_case, "ratio": (worst_ref / worst) if worst > 0 else float("inf"),
        "sets_per_cycle_min": min(spcs) if spcs else None, "sets_per_cycle_max": max(spcs) if spcs else None,
        "hold_share": share, "burst_ms": sum(r["burst_ms"] for r in rows) / len(rows) if rows else None,
        "proc_ms": sum(proc) / len(proc) if proc else None,
        "window_sets": sum(r["window_sets"] for r in rows) / len(rows) if rows else None,
        "within_target": worst <= 1.0,
    }
    out("")
    out("worst hpmon error: %.2f x target (%s)" % (worst, worst_case))
    out("worst EmonLib calcVI error on the same samples: %.2f x target (%s)" % (worst_ref, worst_ref_case))
    out("EmonLib worst / hpmon worst: %.1f (target >= 2)" % summary["ratio"])
    if spcs:
        out("sample sets per mains cycle: %.1f - %.1f; window sets per report (%d bursts): %.0f on average"
            % (min(spcs), max(spcs), bursts, summary["window_sets"]))
    out("scheduler hold on the unix port: burst %.1f ms + processing %.2f ms per burst, x %d bursts per %.0f s "
        "interval = %.1f %% of wall time (board: the same bursts, processing ~30-50x slower, split by awaits)"
        % (summary["burst_ms"] or 0, summary["proc_ms"] or 0, per_interval, INTERVAL_S, 100.0 * share))
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.bench power", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="two cases only (a smoke test)")
    parser.add_argument("--bursts", type=int, default=BURSTS, help="bursts per case (default %d)" % BURSTS)
    parser.add_argument("--cases", default=None, help="comma-separated case numbers of the standard set")
    args = parser.parse_args(argv)
    case_list = quick_cases() if args.quick else cases()
    if args.cases:
        case_list = [case_list[int(x)] for x in args.cases.split(",")]
    print("%d cases, %d bursts each (the default 10 s interval), MicroPython unix port" % (len(case_list), args.bursts),
          flush=True)
    _rows, summary = run(case_list, args.bursts)
    return 0 if math.isfinite(summary["worst"]) else 1
