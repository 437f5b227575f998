"""Persistent totals: counters that restart, meter registers, the NVS/RTC blob."""
from firmware.analytics_persist import (
    KIND_COUNTER,
    KIND_REGISTER,
    Book,
    Counter,
    PersistError,
    decode_blob,
    encode_entry,
)
from firmware.analytics_totals import TotalsError


def _book():
    b = Book(min_change_wh=10, min_interval_s=300)
    b.counter("heatpump_elec_wh", True)
    b.register("heatpump_heat_wh")
    return b


def test_blob_round_trip_and_sizes():
    e1 = encode_entry("ct1_wh", KIND_COUNTER, (2, 7, 123456, 99))
    e2 = encode_entry("heatpump_heat_wh", KIND_REGISTER, (1, -500, 8123000))
    e3 = encode_entry("x_wh", KIND_COUNTER, (0, 0, 5, None))
    assert len(e1) == 1 + 6 + 1 + 16
    assert len(e2) == 1 + 16 + 1 + 12
    got = decode_blob(e1 + e2 + e3)
    assert got == {"ct1_wh": (KIND_COUNTER, (2, 7, 123456, 99)),
                   "heatpump_heat_wh": (KIND_REGISTER, (1, -500, 8123000)),
                   "x_wh": (KIND_COUNTER, (0, 0, 5, None))}


def test_blob_corruption_keeps_earlier_entries_and_never_raises():
    e1 = encode_entry("a_wh", KIND_COUNTER, (0, 1, 10, 10))
    e2 = encode_entry("b_wh", KIND_COUNTER, (0, 1, 20, 20))
    blob = bytearray(e1 + e2)
    blob[len(e1) + 8] ^= 0x40  # a flipped bit in the second record
    assert decode_blob(bytes(blob)) == {"a_wh": (KIND_COUNTER, (0, 1, 10, 10))}
    for cut in range(len(e1) + len(e2)):
        decode_blob(bytes(e1 + e2)[:cut])  # torn writes: no exception
    assert decode_blob(b"") == {}
    assert decode_blob(None) == {}
    assert decode_blob(b"\xff" * 40) == {}


def test_encode_rejects_out_of_range():
    for kind, rec in ((KIND_COUNTER, (0, 0, -1, None)), (KIND_COUNTER, (0x10000, 0, 0, None)),
                      (KIND_REGISTER, (0, 1 << 31, 0))):
        try:
            encode_entry("a", kind, rec)
        except PersistError:
            continue
        raise AssertionError("accepted %r" % (rec,))


def test_counter_adds_increases_and_restarts_from_zero():
    c = Counter(since_boot=True)
    c.restore(None, None)
    assert c.value() is None
    assert c.feed(0, 10) == 0
    assert c.feed(15, 20) == 15
    assert c.feed(40, 30) == 40
    # the service restarted: its counter starts from 0 again and has counted 3 Wh
    assert c.feed(3, 40) == 43
    assert c.feed(10, 50) == 50


def test_counter_rejects_implausible_restart():
    c = Counter(since_boot=True, max_w=1000)
    c.restore(None, None)
    assert c.feed(900, 3600) == 900
    assert c.feed(5000, 3600) == 5000
    # lower than before, so a restart from 0, but more than 1 kW x 1 h could have counted
    assert c.feed(4000, 3600) == 5000
    assert c.status.startswith("held")
    assert c.feed(4010, 3610) == 5010  # then it continues from the new value
    first = Counter(since_boot=True, max_w=1000)
    first.restore(None, None)
    assert first.feed(50000, 60) == 0  # not a count since this boot either


def test_counter_after_reboot_never_doubles_or_goes_back():
    b = _book()
    b.restore(None, None)
    b.feed("heatpump_elec_wh", 1000, 3600)
    flash = b.flash_blob()
    b.saved(3600)
    b.feed("heatpump_elec_wh", 1005, 3700)  # unsaved in flash, but in RTC memory
    rtc = b.rtc_blob()
    # soft reset: RTC memory kept; the service counts from 0 again
    b2 = _book()
    b2.restore(flash, rtc)
    assert b2.value("heatpump_elec_wh") == 1005
    assert b2.feed("heatpump_elec_wh", 7, 10) == (1012, "ok")
    # power cut: RTC memory lost, flash has 1000: the 5 unsaved Wh are the only loss
    b3 = _book()
    b3.restore(flash, None)
    assert b3.value("heatpump_elec_wh") == 1000
    assert b3.feed("heatpump_elec_wh", 4, 10) == (1004, "ok")


def test_unknown_kind_continues_a_register_and_restarts_a_counter():
    for raw_after, expect in ((5200, 5200), (30, 5030)):
        b = Book()
        b.counter("e", None)
        b.restore(None, None)
        b.feed("e", 5000, 3600)  # first sight ever: taken as counted since boot (plausible)
        blob = b.rtc_blob()
        b2 = Book()
        b2.counter("e", None)
        b2.restore(None, blob)
        assert b2.feed("e", raw_after, 10)[0] == expect


def test_register_follows_the_meter_across_a_power_cut():
    b = _book()
    b.restore(None, None)
    assert b.feed("heatpump_heat_wh", 8123000, 10) == (8123000, "ok")
    flash = b.flash_blob()
    b.saved(10)
    b.feed("heatpump_heat_wh", 8123400, 20)
    b2 = _book()
    b2.restore(flash, None)  # the register kept counting while the board was off
    assert b2.value("heatpump_heat_wh") == 8123000
    assert b2.feed("heatpump_heat_wh", 8125000, 5) == (8125000, "ok")
    total, status = b2.feed("heatpump_heat_wh", 8000, 15)  # a glitch / a new meter
    assert (total, status) == (8125000, "held: backwards")


def test_register_set_and_replace_meter_persist_the_offset():
    b = _book()
    b.restore(None, None)
    b.feed("heatpump_heat_wh", 8123000, 10)
    audit = b.set("heatpump_heat_wh", 100000, 1700000000, "commissioning")
    assert audit["old_wh"] == 8123000 and audit["new_wh"] == 100000 and audit["epoch"] == 1
    assert b.due(11)
    assert b.feed("heatpump_heat_wh", 8123100, 20) == (100100, "ok")
    audit = b.replace_meter("heatpump_heat_wh", 50, 1700000100, "new meter")
    assert audit["register_wh"] == 50
    assert b.feed("heatpump_heat_wh", 70, 30) == (100120, "ok")
    b2 = _book()
    b2.restore(b.flash_blob(), None)
    assert b2.value("heatpump_heat_wh") == 100120


def test_set_counter_and_stale_rtc_copy_loses_to_the_correction():
    b = _book()
    b.restore(None, None)
    b.feed("heatpump_elec_wh", 500, 3600)
    old_rtc = b.rtc_blob()
    b.set("heatpump_elec_wh", 20000, None, "meter reading")
    flash = b.flash_blob()
    b.saved(3600)
    b2 = _book()
    b2.restore(flash, old_rtc)  # an RTC copy from before the correction is dropped
    assert b2.value("heatpump_elec_wh") == 20000
    try:
        b.set("nope", 1, None, "x")
    except TotalsError:
        pass
    else:
        raise AssertionError("set of an unknown total")
    try:
        b.replace_meter("heatpump_elec_wh", 1, None, "x")
    except TotalsError:
        pass
    else:
        raise AssertionError("replace_meter of a counter")


def test_throttle_min_change_and_interval():
    b = _book()
    b.restore(None, None)
    b.feed("heatpump_elec_wh", 5, 100)
    assert b.due(100)  # nothing in flash yet: the first record goes at once
    b.flash_blob()
    b.saved(100)
    b.feed("heatpump_elec_wh", 12, 110)
    assert not b.due(500)  # 7 Wh < min_change_wh
    b.feed("heatpump_elec_wh", 40, 200)
    assert not b.due(200)  # 35 Wh but only 100 s
    assert b.due(400)
    assert b.due(200, graceful=True)
    b.flash_blob()
    b.saved(400)
    assert not b.due(420, graceful=True)  # nothing unsaved


def test_kind_change_in_config_ignores_old_entry():
    b = Book()
    b.register("heatpump_elec_wh")
    b.restore(None, None)
    b.feed("heatpump_elec_wh", 77777, 10)
    blob = b.flash_blob()
    c = Book()
    c.counter("heatpump_elec_wh", True)
    c.restore(blob, None)
    assert c.value("heatpump_elec_wh") is None
