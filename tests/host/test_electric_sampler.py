"""The CT sampler on the unix port against the simulated front end, and the native-code build:
the board's xtensawin .mpy plus the x64 twin that the emulated board falls back to."""
import os
import subprocess
import tempfile

from tests.host.upy import run_upy
from tools import paths

SCENARIO = {"mains": {"vrms": 240.0, "freq_hz": 50.0},
            "ct": [{"input": 1, "real_power_w": 1450.0, "pf": 0.97, "phase_lead_deg": 4.2}],
            "adc": {"noise_lsb": 1.0}}

SNIPPET = r"""
import machine
from firmware import ctpower
from firmware.drivers import ct_sampler
from firmware.drivers.ct_sampler import CtAverager, CtSampler
print("kernel", ct_sampler._kernels().__name__)
v = machine.ADC(machine.Pin(36), atten=machine.ADC.ATTN_11DB)
c = machine.ADC(machine.Pin(39), atten=machine.ADC.ATTN_11DB)
s = CtSampler(v, [c])
cal = s.calibrate()
print("cal", cal[0], cal[1])
pc = ctpower.PowerCalc(1, ct_lead_deg=[4.2], uv_per_count=cal[0], bias_count=cal[1], squelch=0)
avg = CtAverager(1, [cal[0] * 1e-6 * pc.ical[0]], cal[0] * 1e-6 * pc.vratio)
for _ in range(12):
    k = s.burst()
    if k:
        pc.skew[0] = s.skew[0]
        pc.prepare(s.buf, k, s.period_us)
        if avg.add_v(pc):
            pc.channel(0)
            avg.add_ct(pc, 0)
p, irms, va, pf, st, ac = avg.ct(0, 240.0)
print("result", p, pf, st, avg.vrms(), avg.freq(), avg.bursts, s.skew[0])
"""


def _values(out, tag):
    for line in out.splitlines():
        if line.startswith(tag + " "):
            return line.split()[1:]
    raise AssertionError("no %r line in:\n%s" % (tag, out))


def test_sampler_measures_the_simulated_front_end_from_the_sources():
    res = run_upy(SNIPPET, scenario=SCENARIO, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert _values(res.stdout, "kernel")[0] == "firmware.drivers.ct_sampler_native"
    upc, bias = (float(x) for x in _values(res.stdout, "cal"))
    assert abs(upc - 3100000.0 / 4095) < 0.5 and bias == 2180
    p, pf, st, vrms, freq, bursts, skew = _values(res.stdout, "result")
    assert st == "ok" and int(bursts) >= 6
    assert abs(float(p) - 1450.0) < 0.0075 * 1450.0
    assert abs(float(pf) - 0.97) < 0.005 and abs(float(vrms) - 240.0) < 0.5 and abs(float(freq) - 50.0) < 0.02
    assert 0.0 < float(skew) < 0.5  # the CT read follows the V read within the set


def test_no_acac_cannot_calibrate_and_reads_apparent_power():
    scen = dict(SCENARIO, mains={"vrms": 240.0, "freq_hz": 50.0, "acac": False})
    code = SNIPPET.replace('cal = s.calibrate()', 'print("nocal", s.calibrate())\ncal = (757.02, 2180)')
    res = run_upy(code, scenario=scen, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert _values(res.stdout, "nocal")[0] == "None"
    p, pf, st = _values(res.stdout, "result")[:3]
    assert st == "no_ac" and pf == "None"
    irms = 1450.0 / 0.97 / 240.0
    assert abs(float(p) - 240.0 * irms) < 0.01 * 240.0 * irms


def test_build_has_the_board_kernel_and_the_emulator_twin():
    from tools.build import build

    out = build(os.path.join(tempfile.mkdtemp(prefix="hpmon-build-"), "build"), update_repo_lib=False)
    drivers = os.path.join(out, "firmware", "drivers")
    with open(os.path.join(drivers, "ct_sampler_native.mpy"), "rb") as f:
        head = f.read(4)
    with open(os.path.join(drivers, "ct_sampler_native_x64.mpy"), "rb") as f:
        head64 = f.read(4)
    # mpy header: 'M', version 6, then the native architecture in the top 6 bits of byte 2
    assert head[:2] == b"M\x06" and head[2] >> 2 == 10  # xtensawin (ESP32)
    assert head64[:2] == b"M\x06" and head64[2] >> 2 == 2  # x64 (the unix port)
    env = dict(os.environ, MICROPYPATH=":".join([paths.SIM_DIR, out, os.path.join(out, "lib"), paths.FROZEN_DIR,
                                                 ".frozen"]))
    code = ("from firmware.drivers import ct_sampler\n"
            "print(ct_sampler._kernels().__name__)\n")
    res = subprocess.run([paths.venv_bin("micropython"), "-c", code], env=env, capture_output=True, text=True,
                         timeout=60, cwd=tempfile.mkdtemp())
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "firmware.drivers.ct_sampler_native_x64"
