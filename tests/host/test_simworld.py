"""The scenario world's tracks (emulator, pure): the integrals the simulated meters' registers
count, checked against a fine numerical sum of the track's own values."""
import sys

from tools import paths

if paths.SIM_DIR not in sys.path:
    sys.path.append(paths.SIM_DIR)
import simworld  # noqa: E402

# heating, a defrost ramping down to -3000 W and back, heating again; repeating every 600 s
EVENTS = [(100.0, -3000.0, 20.0), (160.0, 5200.0, 30.0), (500.0, 0.0, 0.0)]


def _sum(track, t1, positive, dt=0.01):
    total = 0.0
    n = int(round(t1 / dt))
    for i in range(n):
        v = track.value((i + 0.5) * dt)
        total += (max(v, 0.0) if positive else v) * dt
    return total


def test_integrals_match_a_fine_sum_through_a_defrost():
    track = simworld._Track(5000.0, EVENTS, 600.0)
    for t1 in (50.0, 110.0, 120.0, 150.0, 170.0, 200.0, 600.0, 1375.5):
        for positive in (False, True):
            want = _sum(track, t1, positive)
            got = track.integral(t1, positive)
            assert abs(got - want) < 1e-3 * max(1.0, abs(want)), (t1, positive, got, want)


def test_the_heat_register_never_runs_back_in_a_defrost():
    track = simworld._Track(5000.0, EVENTS, 600.0)
    ts = [i * 0.5 for i in range(2 * 1300)]
    net = [track.integral(t) for t in ts]
    heat = [track.integral(t, positive=True) for t in ts]
    assert any(b < a for a, b in zip(net, net[1:]))  # the net energy does dip in a defrost
    assert all(b >= a for a, b in zip(heat, heat[1:]))
    assert heat[-1] - net[-1] > 0  # the defrosts' energy, not subtracted from the register



def test_prewarm_builds_every_track_the_simulators_can_ask_for():
    """The emulator charges the firmware's heap budget with nothing the simulator makes later:
    after prewarm(), reading any value of the scenario creates no new track."""
    import json
    import os
    with open(os.path.join(paths.ROOT, "scenarios", "default.json")) as f:
        scenario = json.load(f)
    world = simworld.World(scenario)
    world.prewarm()
    built = len(world._tracks)
    assert built > 10
    asked = ["mains.vrms", "mains.freq_hz", "ct.0.real_power_w", "ct.0.pf", "heat_meter.flowT"]
    asked += ["temperatures." + rom for rom in scenario["temperatures"]]
    asked += [path for event in scenario["timeline"] for path in event.get("set", {})]
    for path in asked:
        world.get(path)
    assert len(world._tracks) == built
