"""firmware.pulse: pulse power from intervals and counts, decay, Wh totals, tick wrap."""

from firmware.pulse import EdgeFilter, PulseError, PulsePower, ticks_add, ticks_diff


def test_ticks_diff_wraps_at_2_30():
    top = (1 << 30) - 1
    assert ticks_diff(5, top) == 6
    assert ticks_diff(top, 5) == -6
    assert ticks_diff(1000, 400) == 600
    assert ticks_add(top, 10) == 9
    # also right for a longer-period clock (unix port, 2**62) near a 2**30 boundary
    assert ticks_diff((1 << 40) + 3, (1 << 40) - 7) == 10


def test_low_rate_interval_method_is_exact():
    # 1 Wh/pulse, 500 W -> one pulse every 7.2 s; edges timestamped by an IRQ
    pp = PulsePower(wh_per_pulse=1.0)
    t = 1000
    pp.update(0, t)
    count = 0
    for k in range(1, 6):
        edge = t + 7200 * k
        count += 1
        p = pp.update(count, edge + 350, edge_ms=edge)  # polled 350 ms after the edge
    assert abs(p - 500.0) < 1e-6
    assert pp.wh == 5


def test_high_rate_counts_per_interval():
    # 3200 imp/kWh at 6 kW: 5.33 pulses/s, counted by PCNT and polled every 10 s
    pp = PulsePower(imp_per_kwh=3200)
    pp.update(0, 0)
    p = pp.update(53, 10000)
    p = pp.update(107, 20000)
    assert abs(p - 6000.0) < 6000.0 * 0.02
    assert pp.wh == 107 * 1000 // 3200


def test_power_decays_then_times_out():
    pp = PulsePower(wh_per_pulse=1.0, timeout_ms=60000)
    pp.update(0, 0)
    pp.update(1, 1000, edge_ms=1000)
    p = pp.update(2, 2000, edge_ms=2000)  # 3600 W
    assert abs(p - 3600.0) < 1e-6
    p = pp.update(2, 3000)  # 1 s since the edge: bound 3600 W, unchanged
    assert abs(p - 3600.0) < 1e-6
    p = pp.update(2, 12000)  # 10 s without a pulse: at most 360 W
    assert abs(p - 360.0) < 1e-6
    p = pp.update(2, 62000)
    assert p == 0.0
    # the next pulse gives the average over the whole gap
    p = pp.update(3, 74000, edge_ms=74000)
    assert abs(p - 3600.0 / 72.0) < 1e-6


def test_unknown_until_two_edges_and_zero_when_never_pulsing():
    pp = PulsePower(timeout_ms=30000)
    assert pp.update(7, 0) is None
    assert pp.update(8, 1000) is None  # one edge: no interval yet
    pp2 = PulsePower(timeout_ms=30000)
    pp2.update(0, 0)
    assert pp2.update(0, 10000) is None
    assert pp2.update(0, 31000) == 0.0


def test_counter_wrap_and_restart():
    pp = PulsePower(wh_per_pulse=1.0, count_bits=16)
    pp.update(65530, 0)
    pp.update(4, 10000)  # wrapped: 10 pulses
    assert pp.pulses == 10
    pp3 = PulsePower(wh_per_pulse=1.0)
    pp3.update(500, 0)
    pp3.update(3, 10000)  # counter restarted from 0 after a reset: 3 new pulses
    assert pp3.pulses == 3


def test_tick_wrap_during_measurement():
    pp = PulsePower(wh_per_pulse=1.0)
    base = (1 << 30) - 3000
    pp.update(0, base)
    pp.update(1, base + 1000, edge_ms=base + 1000)
    e2 = ticks_add(base, 8200)  # past the wrap
    p = pp.update(2, e2, edge_ms=e2)
    assert abs(p - 3600000.0 / 7200) < 1e-6


def test_fractional_wh_per_pulse_exact():
    pp = PulsePower(imp_per_kwh=1600)  # 0.625 Wh
    pp.update(0, 0)
    pp.update(1600 * 3 + 1, 1000)
    assert pp.wh == 3000  # 3000.625 Wh -> 3000 whole
    assert pp.wh_per_pulse == 0.625
    pp2 = PulsePower(wh_per_pulse=10)
    pp2.restore(5000)
    pp2.update(0, 0)
    pp2.update(3, 1000)
    assert pp2.wh == 5030


def test_bad_config():
    for kw in ({"wh_per_pulse": 0}, {"wh_per_pulse": -1}, {"imp_per_kwh": 0}, {"imp_per_kwh": 2.5}):
        try:
            PulsePower(**kw)
        except PulseError:
            continue
        raise AssertionError(kw)


def test_edge_filter_rejects_bounce():
    f = EdgeFilter(min_period_ms=50)
    got = [f.accept(t) for t in (0, 3, 10, 49, 50, 51, 200)]
    assert got == [True, False, False, False, True, False, True]
    assert f.count == 3 and f.rejected == 4
    f2 = EdgeFilter(min_period_ms=50)
    assert f2.accept((1 << 30) - 10) and not f2.accept(20) and f2.accept(45)
