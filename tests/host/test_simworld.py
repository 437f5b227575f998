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

