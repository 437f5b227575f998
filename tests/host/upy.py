"""Run a snippet of MicroPython on the unix port with the simulated hardware."""
import json
import os
import subprocess
import tempfile

from tools import paths


def run_upy(code, scenario=None, heap="2M", timeout=60, env=None):
    work = tempfile.mkdtemp(prefix="upy-")
    scen = os.path.join(work, "scenario.json")
    with open(scen, "w") as f:
        json.dump(scenario or {}, f)
    script = os.path.join(work, "snippet.py")
    with open(script, "w") as f:
        f.write(code)
    flash = os.path.join(work, "flash")
    os.makedirs(flash)
    full_env = dict(os.environ, MICROPYPATH=":".join([paths.SIM_DIR, paths.ROOT, os.path.join(paths.ROOT, "lib"),
                                                      paths.FROZEN_DIR, ".frozen"]),
                    HPMON_SCENARIO=scen, HPMON_SIM_DIR=work)
    full_env.update(env or {})
    result = subprocess.run([paths.venv_bin("micropython"), "-X", "heapsize=" + heap, script], cwd=flash,
                            env=full_env, capture_output=True, text=True, timeout=timeout)
    result.work = work
    return result
