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


# The start of a unix-port script that runs a service the way firmware/app.py does: a
# Context with the default configuration plus an overlay, a store, log, clock and board.
SERVICE_CONTEXT = r'''
from firmware import config
from firmware.board import Board
from firmware.clock import Clock
from firmware.log import Log
from firmware.store import Store

class Ctx:
    pass

def make(overlay):
    cfg = config.defaults()
    errors = []
    config.merge(cfg, overlay, errors)
    errors += config.validate(cfg)
    assert not errors, errors
    ctx = Ctx()
    ctx.cfg = cfg
    ctx.store = Store()
    ctx.log = Log(echo=False)
    ctx.clock = Clock()
    ctx.board = Board(cfg["pins"])
    ctx.services = {}
    return ctx
'''
