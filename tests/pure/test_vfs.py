"""Grundfos VFS analog conversion: ranges, divider, averaging, zero threshold, clipping."""
from firmware import vfs


def _block(pin_mv, n=100, noise=0):
    # a block of ADC samples around pin_mv with a symmetric +-noise pattern (mean exact)
    out = []
    for i in range(n):
        out.append(pin_mv + (noise if i % 2 else -noise))
    return out


def _close(a, b, tol):
    return a is not None and abs(a - b) <= tol


def test_known_ranges():
    assert vfs.parse_range("1-12") == (1.0, 12.0)
    assert vfs.parse_range("2-40") == (2.0, 40.0)
    assert vfs.parse_range("5-100") == (5.0, 100.0)
    assert vfs.parse_range("3-60") == (3.0, 60.0)  # any 'a-b'
    assert vfs.parse_range((1, 20)) == (1.0, 20.0)
    for bad in ("x-40", "40", "40-2", (5,), None, "-1-4"):
        try:
            vfs.parse_range(bad)
            raise AssertionError(bad)
        except vfs.VfsError as exc:
            assert isinstance(exc, ValueError)


def test_flow_linear_over_half_to_three_and_a_half_volts():
    for spec, qmax in (("1-12", 12.0), ("2-40", 40.0), ("5-100", 100.0)):
        s = vfs.Vfs(flow_range=spec)
        # sensor 0.5 V -> 0 L/min, 3.5 V -> Qmax, 2.0 V -> Qmax/2 (no divider: pin = sensor)
        assert s.flow_lpm(_block(2000)) == (qmax / 2, "ok")
        assert _close(s.flow_lpm(_block(3200))[0], qmax * 2.7 / 3.0, 1e-9)
        assert s.flow_lpm(_block(500)) == (0.0, "zero")


def test_divider_and_averaging():
    # 3.5 V full scale through a 1.5:1 divider lands at 2333 mV on the pin
    s = vfs.Vfs(flow_range="2-40", divider=1.5)
    q, status = s.flow_lpm(_block(2000, noise=40))  # 3.0 V at the sensor
    assert status == "ok" and _close(q, 40.0 * 2.5 / 3.0, 1e-9)
    t = vfs.Vfs(divider=1.5)
    c, status = t.temperature_c(_block(1000, noise=25))  # 1.5 V -> 33.33 degC
    assert status == "ok" and _close(c, 100.0 / 3.0, 1e-9)
    # round trip through the inverse used by simulators
    for lpm in (2.0, 7.5, 18.25, 39.0):
        v = s.volts_for_flow(lpm)
        pin_mv = v / 1.5 * 1000.0
        assert _close(s.flow_lpm([pin_mv] * 10)[0], lpm, 1e-9)
    for c in (5.0, 45.5, 80.0):
        assert _close(t.temp_from_volts(t.volts_for_temp(c))[0], c, 1e-9)


def test_zero_flow_threshold_and_below_min():
    s = vfs.Vfs(flow_range="2-40")  # default threshold = Qmin = 2 L/min
    v = s.volts_for_flow(1.9)
    assert s.flow_from_volts(v) == (0.0, "zero")
    assert s.flow_from_volts(s.volts_for_flow(2.1))[1] == "ok"
    low = vfs.Vfs(flow_range="2-40", zero_lpm=0.5)
    q, status = low.flow_from_volts(low.volts_for_flow(1.0))
    assert status == "below_min" and _close(q, 1.0, 1e-9)
    assert low.flow_from_volts(low.volts_for_flow(0.4)) == (0.0, "zero")
    # slightly under 0.5 V (within tolerance) is still a known zero flow
    assert s.flow_from_volts(0.45) == (0.0, "zero")


def test_out_of_range_and_clipping_are_unknown_not_zero():
    s = vfs.Vfs(flow_range="2-40")
    assert s.flow_from_volts(0.1) == (None, "under_range")  # unpowered / broken wire
    assert s.flow_from_volts(3.7) == (None, "over_range")
    assert s.flow_from_volts(3.55) == (40.0, "ok")  # within tolerance: clamped to Qmax
    assert s.temp_from_volts(0.0) == (None, "under_range")
    assert s.temp_from_volts(3.9) == (None, "over_range")
    # no divider: 3.4 V at the sensor saturates a 3.3 V ADC -> clipped
    block = _block(3250) + [3300]
    assert s.flow_lpm(block) == (None, "clipped")
    assert s.temperature_c([3290, 3100, 3000]) == (None, "clipped")
    assert s.flow_lpm([]) == (None, "no_samples")
    # the clip level is configurable (e.g. 3100 mV for an ESP32 at 11 dB)
    t = vfs.Vfs(clip_mv=3100)
    assert t.temperature_c([3150] * 4) == (None, "clipped")


def test_seed_firmware_compatible_zero_point():
    # the seed firmware used 0.25 V as zero flow and 40 L/min at 3.5 V
    s = vfs.Vfs(flow_range="2-40", v_lo=0.25)
    q, status = s.flow_from_volts(0.25 + 0.08125 * 20.0)
    assert status == "ok" and _close(q, 20.0, 1e-9)


def test_from_config():
    s = vfs.from_config({"flow_range": "5-100", "divider": 1.5, "zero_lpm": 4})
    assert (s.q_min, s.q_max, s.divider, s.zero_lpm) == (5.0, 100.0, 1.5, 4.0)
    for bad in ({"flow_rnage": "2-40"}, {"divider": 0.5}, {"v_lo": 3.6}, {"divider": "x"},
                {"temp_range": (100, 0)}, {"zero_lpm": -1}):
        try:
            vfs.from_config(bad)
            raise AssertionError(bad)
        except vfs.VfsError:
            pass
