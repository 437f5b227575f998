"""firmware.energy: integer Wh with an exact carried remainder."""

from firmware.energy import Energy, EnergyError


def test_one_kw_for_one_hour_in_10s_steps():
    e = Energy()
    for _ in range(360):
        e.add(1000.0, 10000)
    assert e.wh == 1000
    assert e.rem_mj == 0


def test_remainder_carried_no_drift():
    # 7 W every 9.8 s for about a day: the total equals the exact integer sum of the steps
    e = Energy()
    steps = 8820
    for _ in range(steps):
        e.add(7.0, 9800)
    total_mj = 7 * 9800 * steps
    assert e.wh == total_mj // 3600000
    assert e.rem_mj == total_mj % 3600000


def test_fractional_power_rounds_per_step_only():
    e = Energy()
    n = 100000
    for _ in range(n):
        e.add(0.1234, 1000)  # 123.4 mJ -> 123 mJ per step
    assert e.wh * 3600000 + e.rem_mj == 123 * n


def test_float32_like_large_counter_keeps_counting():
    # with float kWh at 10000 kWh, +1 Wh steps would be lost or inflated in float32; integers are not
    e = Energy(wh=10000000)
    for _ in range(1000):
        e.add(360.0, 10000)  # 1 Wh each
    assert e.wh == 10001000


def test_negative_power_ignored_without_export():
    e = Energy()
    e.add(-500.0, 3600000)
    assert e.wh == 0 and e.export_wh == 0 and e.net_wh == 0


def test_export_counts_separately_and_net_can_go_negative():
    e = Energy(export=True)
    e.add(1000.0, 3600000)
    e.add(-2500.0, 3600000)
    assert e.wh == 1000
    assert e.export_wh == 2500
    assert e.net_wh == -1500


def test_none_nan_and_bad_intervals_add_nothing():
    e = Energy()
    assert e.add(None, 10000) == 0
    assert e.add(float("nan"), 10000) == 0
    assert e.add(100.0, 0) == 0
    assert e.add(100.0, -5) == 0
    assert e.wh == 0 and e.rem_mj == 0


def test_max_interval_clamps_a_stall():
    e = Energy(max_interval_ms=60000)
    e.add(3600.0, 3600000)  # an hour-long gap counts as one minute
    assert e.wh == 60


def test_huge_single_step_splits():
    e = Energy()
    added = e.add(7000.0, 86400000)  # a whole day at 7 kW in one call
    assert added == 168000 and e.wh == 168000


def test_restore_and_add_wh():
    e = Energy()
    e.restore(123456)
    e.add_wh(10)
    e.add_wh(-3)
    assert e.wh == 123466
    try:
        e.restore(-1)
    except EnergyError:
        pass
    else:
        raise AssertionError("no error")


def test_return_value_is_whole_wh_added():
    e = Energy()
    got = 0
    for _ in range(1000):
        got += e.add(100.0, 1000)  # 100 J each
    assert got == e.wh == 27
