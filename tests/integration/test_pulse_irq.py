"""The S0 pulse input on firmware without machine.Counter (MicroPython < 1.26), end to end.

scenarios/elec-pulse-irq.json sets "micropython": {"counter": false}, so the firmware falls back to
Pin.irq; the simulated meter (tools/emulator/sim/sim_pulse.py) drives falling edges with contact
bounce on the pulse GPIO, delivered as soft IRQs. One emulated board runs the scenario (2 kW, the
load stops at 26 s, restarts at 38 s with the line cut from 36 s) while /api/state is recorded
every second; the tests compare the recording with the scenario's truth and the simulator's own
count of the edges it raised. A quick check in the unix port shows that without the switch the
same firmware counts with PCNT, so the switch is what selects the fallback.
"""
import json
import os
import subprocess
import sys

import pytest

from tests.integration.test_electric import Run, run_all
from tools import paths

SCENARIO = os.path.join(paths.ROOT, "scenarios", "elec-pulse-irq.json")
INTERVAL = 5  # scenario config interval_s
TIMEOUT_S = 10  # scenario config pulse.timeout_s
STOP_S = 26  # the load stops
CUT_S = 36  # pulse_disconnected
UNTIL_S = 52

if paths.SIM_DIR not in sys.path:
    sys.path.append(paths.SIM_DIR)
import simworld  # noqa: E402


class Recording:
    """A test_electric Run of the scenario, with what the simulated meter raised; readings' times
    in world seconds."""

    def __init__(self, run):
        self.board = run.board
        self.run = run
        self.states = run.states  # [(world seconds, /api/state)]
        with open(os.path.join(run.board.state_dir, "pulse_s0.json")) as f:
            self.sim = json.load(f)  # what the simulated meter raised
        self.text = run.console()

    def reports(self, name):
        """Distinct readings of a channel: [(world seconds of ts, value, status)]."""
        return [(self.run.wts(ts), value, st) for ts, value, st, _ws in self.run.reports(name)]

    def truth_wh(self, t0, t1):
        track = simworld.World(self.board.scenario)._track("pulse.power_w")
        return (track.integral(t1, True) - track.integral(t0, True)) / 3600.0


@pytest.fixture(scope="module")
def rec():
    return Recording(run_all([Run(SCENARIO, {}, until_s=UNTIL_S)])[0])


def test_firmware_counts_with_pin_irq(rec):
    assert "pulse: no machine.Counter in this firmware (< 1.26): counting with Pin.irq" in rec.text
    assert "counting with machine.Counter" not in rec.text
    for bad in ("MemoryError", "pulse: crashed", "pulse_counter.py", "Traceback"):
        assert bad not in rec.text, rec.text[-3000:]


def test_power_and_energy_follow_the_pulses(rec):
    reps = [x for x in rec.reports("pulse_power") if 8 < x[0] < STOP_S]
    assert len(reps) >= 3, reps
    for _t, value, st in reps:
        assert st == "ok" and abs(value - 2000.0) < 0.04 * 2000.0, reps  # as test_electric for PCNT
    wh = [x for x in rec.reports("pulse_wh") if x[0] < STOP_S]
    a, b = wh[0], wh[-1]
    want = rec.truth_wh(a[0], b[0])
    assert abs((b[1] - a[1]) - want) <= 2.0 + 2000.0 / 3600.0, (a, b, want)
    last = rec.states[-1][1]["channels"]
    assert last["heatpump_elec_wh"]["value"] == last["pulse_wh"]["value"]


def test_bounce_is_filtered(rec):
    sim = rec.sim
    # the meter bounced: every pulse raised its real edge and 3 bounce edges, none lost
    assert sim["bounce"] == 3 and sim["lost"] == 0, sim
    assert sim["irq_pulses"] >= 10 and sim["scheduled"] == 4 * sim["irq_pulses"], sim
    # ...and the firmware counted one Wh per pulse (the first may come before its first poll)
    wh = rec.states[-1][1]["channels"]["pulse_wh"]["value"]
    assert sim["irq_pulses"] - 1 <= wh <= sim["irq_pulses"], (wh, sim)


def test_power_decays_to_zero_when_the_load_stops(rec):
    stopped = [x for x in rec.reports("pulse_power") if STOP_S < x[0] < CUT_S]
    assert stopped and all(st in ("ok", "no_pulses") and v < 2000.0 * 1.04 for _t, v, st in stopped), stopped
    assert all(b[1] <= a[1] for a, b in zip(stopped, stopped[1:])), stopped  # decays, never rises
    after = [x for x in rec.reports("pulse_power") if x[0] > STOP_S + TIMEOUT_S + INTERVAL + 1]
    assert after and all(v == 0.0 and st == "no_pulses" for _t, v, st in after), after
    assert "pulse: no pulses for %d s" % TIMEOUT_S in rec.text


def test_cut_line_gives_no_false_energy(rec):
    assert rec.truth_wh(38, UNTIL_S - 1) > 5.0  # the load ran again behind the cut line
    assert rec.sim["missed"] >= 5, rec.sim  # the meter pulsed, nothing reached the pin
    whs = [v for t, v, _st in rec.reports("pulse_wh") if t > STOP_S + 1]
    assert whs and len(set(whs)) == 1, whs
    assert all(v == 0.0 for t, v, _st in rec.reports("pulse_power") if t > 40), rec.reports("pulse_power")


# ---------------------------------------------------------------- the switch itself, in the unix port

_PROBE = """
import sys
sys.path.insert(0, %r)
import machine
from firmware.board import Board
from firmware.config import DEFAULT_PINS
from firmware.drivers.pulse_counter import PulseInput
inp = PulseInput(Board(DEFAULT_PINS))
print("HAS_COUNTER", hasattr(machine, "Counter"), "MODE", inp.mode)
"""


def _probe(tmp_path, micropython):
    with open(SCENARIO) as f:
        scenario = json.load(f)
    if micropython is None:
        scenario.pop("micropython")
    else:
        scenario["micropython"] = micropython
    path = str(tmp_path / "scenario.json")
    with open(path, "w") as f:
        json.dump(scenario, f)
    env = dict(os.environ, HPMON_SCENARIO=path, HPMON_SIM_DIR=str(tmp_path), MICROPYPATH=paths.SIM_DIR + ":.frozen")
    out = subprocess.run([paths.venv_bin("micropython"), "-c", _PROBE % paths.ROOT], env=env, cwd=str(tmp_path),
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.split("HAS_COUNTER", 1)[1].split()


@pytest.mark.parametrize("switch, want", [(None, ["True", "MODE", "pcnt"]),
                                          ({"counter": True}, ["True", "MODE", "pcnt"]),
                                          ({"counter": False}, ["False", "MODE", "irq"])])
def test_switch_selects_counter_or_irq(tmp_path, switch, want):
    assert _probe(tmp_path, switch) == want
