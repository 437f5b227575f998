"""MicroPython side of `python -m tools.bench power` (runs in the unix port, not CPython).

argv: cases.json out_dir. For each case: a scenario world (tools/emulator/sim: simworld,
sim_waveforms behind the simulated machine.ADC), the firmware's CtSampler with its read_uv
calibration, PowerCalc and CtAverager, exactly as firmware/services/electric.py uses them,
over `bursts` bursts back to back (the default 10 s interval holds 20). Writes one JSON line
per case to out_dir/results.jsonl and the raw bursts to out_dir/case<i>.raw (for the EmonLib
reference, which runs on the host): per burst a header <I f f> (sets, CT skew, set period us)
then sets * 2 uint16 [V, I].
"""
import json
import struct
import sys
import time

import machine
import sim_waveforms
import simworld

from firmware import ctpower
from firmware.drivers.ct_sampler import CtAverager, CtSampler


def run_case(i, case, out_dir, bursts):
    scen = {
        "mains": {"vrms": case["vrms"], "freq_hz": case["freq"], "harmonics": case.get("vharm", [])},
        "ct": [{"input": 1, "real_power_w": case["p"], "pf": case["pf"], "harmonics": case.get("iharm", []),
                "phase_lead_deg": case["lead"]}],
        "adc": {"noise_lsb": case["noise"]},
    }
    simworld._world = simworld.World(scen, seed=1000 + i)
    sim_waveforms.reset()
    sim_waveforms.CT_BURDEN_OHM = case["burden"]
    v = machine.ADC(machine.Pin(36), atten=machine.ADC.ATTN_11DB)
    c = machine.ADC(machine.Pin(39), atten=machine.ADC.ATTN_11DB)
    s = CtSampler(v, [c], case.get("set_us", 250), case.get("burst_ms", 50))
    cal = s.calibrate()
    upc = cal[0] if cal else ctpower.ADC_UV_PER_COUNT
    bias = cal[1] if cal else ctpower.BIAS_COUNT
    ical = ctpower.CT_TURNS / case["burden"]
    pc = ctpower.PowerCalc(1, ical=[ical], ct_lead_deg=[case["lead"]], uv_per_count=upc, bias_count=bias,
                           nominal_hz=60.0 if case["freq"] > 55 else 50.0, noise_lsb=case["noise"], squelch=0)
    avg = CtAverager(1, [upc * 1e-6 * ical], upc * 1e-6 * pc.vratio, case["noise"])
    burst_us = []
    proc_us = []
    restarts = repaired = 0
    with open("%s/case%d.raw" % (out_dir, i), "wb") as raw:
        for _ in range(bursts):
            t0 = time.ticks_us()
            k = s.burst()
            t1 = time.ticks_us()
            burst_us.append(time.ticks_diff(t1, t0))
            restarts += s.restarts
            repaired += s.repaired
            if not k:
                avg.dropped += 1
                continue
            pc.skew[0] = s.skew[0]
            pc.prepare(s.buf, k, s.period_us)
            if avg.add_v(pc):
                pc.channel(0)
                avg.add_ct(pc, 0)
            proc_us.append(time.ticks_diff(time.ticks_us(), t1))
            raw.write(struct.pack("<Iff", k, s.skew[0], s.period_us))
            raw.write(memoryview(s.buf)[: 2 * k])
    p, irms, va, pf, st, ac = avg.ct(0, 240.0)
    truth = sim_waveforms._sig.truth(0)
    return {
        "case": i, "power": p, "irms": irms, "pf": pf, "status": st, "vrms": avg.vrms(), "freq": avg.freq(),
        "sets_per_cycle": avg.sets_per_cycle(), "window_sets": avg.w, "bursts": avg.bursts, "dropped": avg.dropped,
        "restarts": restarts, "repaired": repaired, "uv_per_count": upc,
        "burst_ms": sum(burst_us) / len(burst_us) / 1000.0, "burst_max_ms": max(burst_us) / 1000.0,
        "proc_ms": (sum(proc_us) / len(proc_us) / 1000.0) if proc_us else 0.0,
        "truth": truth,
    }


def main():
    cases_path, out_dir = sys.argv[1], sys.argv[2]
    with open(cases_path) as f:
        spec = json.load(f)
    with open(out_dir + "/results.jsonl", "w") as out:
        for i, case in enumerate(spec["cases"]):
            res = run_case(i, case, out_dir, spec["bursts"])
            out.write(json.dumps(res) + "\n")
            print("case %d done" % i)


main()
