"""Carnot COP, smoothed COP, the last-hour ring and the 7/30-day windows."""
import math

from firmware.analytics_cop import (
    H_ELEC,
    H_HEAT,
    H_STARTS,
    DayWindows,
    HourRing,
    SmoothedCop,
    carnot_cop,
    ratio,
)


def close(a, b, tol=1e-4):
    return a is not None and abs(a - b) <= tol * max(1.0, abs(b))


def test_carnot_cop_my_heatpump_offsets():
    # flow 35 -> condensing 37 C = 310.15 K; outside 5 -> evaporating -1 C; lift 38 K
    assert close(carnot_cop(35.0, 5.0), 310.15 / 38.0)
    # the 2016 blog convention: +4 K / -6 K
    assert close(carnot_cop(35.0, 5.0, cond_k=4.0), 312.15 / 40.0)
    assert carnot_cop(None, 5.0) is None and carnot_cop(35.0, None) is None
    assert carnot_cop(-7.5, 0.0) is None  # lift 0.5 K: meaningless
    assert carnot_cop(-7.0, 0.0) is not None  # lift exactly 1 K


def test_ratio_guards():
    assert ratio(350, 100) == 3.5
    assert ratio(1, 3) == 0.33
    assert ratio(5, 0) is None and ratio(None, 5) is None and ratio(5, -1) is None


def test_smoothed_cop_step_response():
    s = SmoothedCop(tau_s=300)
    assert s.cop() is None
    s.update(10, 1000, 3000)
    assert s.cop() == 3.0  # first reading seeds the averages
    s.update(300, 1000, 4000)  # one time constant: 1 - 1/e of the step
    assert close(s.heat, 3000 + 1000 * (1 - math.exp(-1)), 1e-5)
    assert s.cop() == round((3000 + 1000 * (1 - math.exp(-1))) / 1000, 2)
    s.update(10, None, 5000)  # unknown input changes nothing
    assert s.cop() == 3.63
    s.reset()
    assert s.cop() is None


def test_smoothed_cop_averages_powers_not_ratios():
    s = SmoothedCop(tau_s=10)
    s.update(10, 2000, 6000)
    s.update(10, 0, 0)  # a zero reading pulls both averages down alike: the ratio stays 3
    assert close(s.elec, 2000 * math.exp(-1), 1e-5)
    assert s.cop() == 3.0


def test_hour_ring_window_and_expiry():
    r = HourRing()
    r.add(0, H_ELEC, 100)
    r.add(299, H_ELEC, 50)  # same 5-minute slot
    r.add(300, H_HEAT, 400)
    r.add(3000, H_STARTS, 1)
    assert r.total(3000, H_ELEC) == 150
    assert r.total(3299, H_HEAT) == 400
    # at 3600 s slot 12 begins: slot 0 (0-299 s) has left the window
    assert r.total(3600, H_ELEC) == 0
    assert r.total(3600, H_HEAT) == 400
    assert r.total(3600, H_STARTS) == 1
    assert r.total(3600 + 3600, H_STARTS) == 0  # more than an hour idle clears all


def test_hour_ring_accumulates_per_slot():
    r = HourRing()
    for t in range(0, 3600, 10):
        r.add(t, H_ELEC, 10)
    assert r.total(3590, H_ELEC) == 3600
    r.add(3600, H_ELEC, 10)
    assert r.total(3600, H_ELEC) == 3600 - 300 + 10


def test_day_windows_sums_by_date():
    w = DayWindows(days=31)
    for date in range(100, 140):
        w.put(date, 10, 30, 8, 28)
    assert w.sums(133, 139) == [70, 210, 56, 196, 7]
    assert w.sums(109, 139) == [310, 930, 248, 868, 31]
    assert w.sums(90, 108) == [0, 0, 0, 0, 0]  # overwritten by later days
    w.put(200, 5, 15, 5, 15)
    assert w.sums(194, 200) == [5, 15, 5, 15, 1]  # missing days add nothing
