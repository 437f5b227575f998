"""firmware.ctpower over a wide grid (CPython only; the pure tests run a subset on the unix port),
and the electrical codecs compiled with the native emitter (what @micropython.native would do)."""

import itertools
import os
import subprocess

from firmware import ctpower
from tests.pure.test_ctpower import IH, VH, limit, synth
from tools import paths


def test_targets_over_a_wide_grid():
    loads = (10.0, 35.0, 120.0, 210.0, 450.0, 1100.0, 2600.0, 5000.0)
    pfs = (1.0, 0.8, 0.5, 0.3, 0.2)
    leads = (2.0, 3.5, 6.0)
    freqs = (49.5, 50.0, 50.5, 60.0)
    spcs = (22.3, 26.9, 31.7, 38.2)
    n = 0
    worst = 0.0
    for i, (p, pf, harm) in enumerate(itertools.product(loads, pfs, (False, True))):
        if p / pf > 5500:  # keep within the 33 ohm burden's range
            continue
        for seed in range(2):
            lead = leads[(i + seed) % 3]
            freq = freqs[(i + 2 * seed) % 4]
            spc = spcs[(i // 2 + seed) % 4]
            nsets = int(spc * (1400 // int(spc) + 1))
            ct = dict(p=p, pf=pf, lead=lead, harm=IH if harm else ())
            buf, per = synth(nsets, spc, freq, [ct], vharm=VH if harm else (), noise=1.0, seed=1000 * i + seed)
            pc = ctpower.PowerCalc(1, ct_lead_deg=[lead]).compute(buf, nsets, per)
            assert pc.status[0] in (ctpower.OK, ctpower.NONLINEAR)
            err = abs(pc.power[0] - p)
            assert err <= limit(p), (p, pf, lead, freq, spc, harm, pc.power[0])
            assert abs(pc.freq - freq) < 0.01
            worst = max(worst, err / limit(p))
            n += 1
    assert n >= 120
    print("ctpower grid: %d cases, worst error %.2f of the target" % (n, worst))


def test_pure_codecs_pass_with_the_native_emitter():
    env = dict(os.environ, MICROPYPATH=".:.frozen")
    mods = ["test_ctpower", "test_energy", "test_pulse", "test_elster", "test_modbus_rtu"]
    out = subprocess.run([paths.venv_bin("micropython"), "-X", "emit=native", "tests/upy_runner.py"] + mods,
                         cwd=paths.ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().endswith(" passed, 0 failed")
