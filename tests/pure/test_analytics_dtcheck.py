"""Flow/return sensor-pair offset learned from pump-only periods."""
from firmware.analytics_dtcheck import DtCheck


def make():
    # settle 60 s, a sample every 20 s, published after 3 samples
    return DtCheck(starting_power_w=150, min_flow=2.0, settle_s=60, sample_s=20,
                   max_rate_k_min=0.05, size=8, min_samples=3)


def feed(dc, n, elec=40, flow=15.0, flow_t=30.15, return_t=30.0, drift_k_per_step=0.0):
    taken = 0
    for i in range(n):
        d = drift_k_per_step * i
        taken += dc.update(10, elec, flow, flow_t + d, return_t + d)
    return taken


def test_learns_a_constant_offset_after_settling():
    dc = make()
    # readings 1-5: settling (50 s); 6: settled, reference mean; 8, 10, 12: samples
    assert feed(dc, 7) == 0
    assert dc.offset_k() is None
    assert feed(dc, 5) == 3  # readings 8, 10, 12
    assert dc.count == 3
    assert dc.offset_k() == 0.15
    assert dc.spread_k() == 0.0


def test_compressor_on_or_no_flow_restarts_settling():
    dc = make()
    feed(dc, 10)
    n = dc.count
    dc.update(10, 900, 15.0, 35.0, 30.0)  # compressor started: heat input, not a sample
    assert feed(dc, 6) == 0  # settling again
    dc.update(10, 40, 0.5, 30.15, 30.0)  # pump stopped
    assert feed(dc, 7) == 0
    assert dc.count == n


def test_moving_temperatures_are_not_sampled():
    dc = make()
    # water cooling 0.1 K per 10 s = 0.6 K/min > 0.05 K/min: transport delay would bias it
    assert feed(dc, 30, drift_k_per_step=-0.1) == 0
    dc.update(10, 40, 0.0, 30.0, 30.0)  # pump stop: settle again
    # 0.005 K per 10 s = 0.03 K/min is quiet enough: samples at readings 8, 10, 12
    assert feed(dc, 12, drift_k_per_step=0.005) == 3


def test_median_ignores_outliers():
    dc = DtCheck(settle_s=0, sample_s=10, size=8, min_samples=5)
    values = (0.20, 0.21, 3.0, 0.19, 0.20, -2.0, 0.22)
    dc.update(10, 40, 15.0, 30.0, 30.0)  # reference mean
    for v in values:
        dc.update(10, 40, 15.0, 30.0 + v / 2, 30.0 - v / 2)  # mean constant, difference v
    assert dc.count == 7
    assert dc.offset_k() == 0.2  # mean would be 0.29
    # sorted -2.0 .19 .20 .20 .21 .22 3.0: s[7 // 4] = .19, s[21 // 4] = .22
    assert dc.spread_k() == 0.03


def test_ring_keeps_the_latest_samples():
    dc = DtCheck(settle_s=0, sample_s=10, size=4, min_samples=1)
    dc.update(10, 40, 15.0, 30.0, 30.0)
    for v in (0.5, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1):
        dc.update(10, 40, 15.0, 30.0 + v / 2, 30.0 - v / 2)
    assert dc.count == 4
    assert dc.offset_k() == 0.1  # 0.5, 0.1, 0.1, 0.1: median of the last four
