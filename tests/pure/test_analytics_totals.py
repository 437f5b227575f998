"""Totals: flash-write throttling, reboot merge (never backwards, never doubled), registers."""
from firmware.analytics_totals import (
    SIZE,
    RegisterTotal,
    Total,
    TotalsError,
    merge,
    pack,
    unpack,
)


def raises(fn, *args):
    try:
        fn(*args)
    except TotalsError:
        return True
    return False


def test_pack_round_trip_and_corruption():
    b = pack((3, 1234, 4000000000))
    assert len(b) == SIZE
    assert unpack(b) == (3, 1234, 4000000000)
    bad = bytearray(b)
    bad[4] ^= 0x40
    assert unpack(bad) is None
    assert unpack(None) is None and unpack(b"") is None and unpack(bytes(SIZE)) is None
    assert unpack(b"\xff" * SIZE) is None
    assert raises(pack, (0, 0, -1)) and raises(pack, (70000, 0, 0)) and raises(pack, (0, 0, 2 ** 32))


def test_merge_cases():
    assert merge(None, None) == (0, 0, 0)
    assert merge((0, 5, 1000), None) == (0, 5, 1000)  # power cut: RTC memory lost
    assert merge(None, (0, 0, 40)) == (0, 0, 40)  # soft reset before the first flash write
    # soft reset with an unsaved delta: RTC is ahead of flash
    assert merge((0, 5, 1000), (0, 5, 1007)) == (0, 5, 1007)
    # crash after the NVS commit, before RTC was rewritten: the delta is already in flash,
    # so it must not be added again
    assert merge((0, 6, 1007), (0, 5, 1007)) == (0, 6, 1007)
    assert merge((0, 6, 1010), (0, 5, 1004)) == (0, 6, 1010)
    # a hand correction (epoch 1) reached flash; an older RTC copy is stale even if larger
    assert merge((1, 7, 500), (0, 6, 1010)) == (1, 7, 500)
    # a correction whose flash write was lost is still in RTC memory
    assert merge((0, 6, 1010), (1, 6, 500)) == (1, 6, 500)


def test_flush_threshold_and_interval():
    t = Total(min_change_wh=10, min_interval_s=300)
    t.restore((0, 1, 5000), None)
    assert not t.due(0)
    t.add(9)
    assert not t.due(1000)  # below 10 Wh
    assert t.due(1000, graceful=True)  # but a graceful restart saves anything
    t.add(1)
    assert t.due(1000)  # first write after boot: no interval to wait for
    rec = t.flash_record()
    assert rec == (0, 2, 5010)
    t.saved(rec, 1000)
    t.add(50)
    assert not t.due(1299)  # at most every 300 s
    assert t.due(1300)
    assert t.unsaved_wh() == 50
    assert t.rtc_record() == (0, 2, 5060)


def test_first_boot_writes_soon():
    t = Total()
    assert t.restore(None, None) == 0
    assert t.due(0)  # nothing in flash yet
    t.saved(t.flash_record(), 0)
    assert not t.due(1)


def test_reboots_never_backwards_never_doubled():
    flash = None
    rtc = None
    truth = 0
    t = Total(min_change_wh=10, min_interval_s=300)
    t.restore(flash, rtc)
    now = 0
    published = []
    crashed = 0
    for step in range(400):
        now += 10
        t.add(3)  # ~1.1 kW
        truth += 3
        if t.due(now):
            rec = t.flash_record()
            if step >= 140 and not crashed:
                # crash right after the NVS commit: RTC still holds the pre-write copy
                flash = pack(rec)
                t = Total(10, 300)
                t.restore(unpack(flash), unpack(rtc))
                assert t.wh == truth  # not truth + the delta a second time
                crashed += 1
                continue
            flash = pack(rec)
            t.saved(rec, now)
        rtc = pack(t.rtc_record())
        if step in (100, 250):  # watchdog reset: RTC memory survives
            t = Total(10, 300)
            t.restore(unpack(flash), unpack(rtc))
            assert t.wh == truth
        published.append(t.wh)
    assert crashed == 1
    assert published == sorted(published)
    # power cut: RTC memory is gone; the total falls back to the last flash write only
    t2 = Total(10, 300)
    t2.restore(unpack(flash), None)
    assert truth - 3 * 30 <= t2.wh <= truth  # at most 300 s of energy lost
    assert t2.wh == unpack(flash)[2]


def test_set_bumps_epoch_and_forces_a_write():
    t = Total()
    t.restore((0, 4, 1000), (0, 4, 1003))
    audit = t.set(250000, 77, "new CT fitted")
    assert audit == {"t": 77, "action": "set", "old_wh": 1003, "new_wh": 250000, "epoch": 1,
                     "reason": "new CT fitted"}
    assert t.due(78)
    rec = t.flash_record()
    assert rec == (1, 5, 250000)
    t.saved(rec, 78)
    assert not t.due(10000)
    # an old RTC copy from before the correction is dropped at the next boot
    assert merge(rec, (0, 4, 1003)) == rec
    assert raises(t.set, -1, 0) and raises(t.set, 1.5, 0) and raises(t.add, -1)


def test_register_wins_and_never_goes_backwards():
    r = RegisterTotal(tolerance_wh=1)
    assert r.total_wh is None
    assert r.accept(1000000) == 1000000 and r.status == "ok"
    assert r.accept(1001000) == 1001000
    assert r.accept(1000999) == 1001000  # within tolerance: held, not backwards
    assert r.accept(999000) is None and r.status == "backwards"
    assert r.accept(1002000) == 1002000 and r.status == "ok"
    assert r.accept(-5) is None and r.accept(None) is None and r.status == "invalid"
    assert r.rejects == 3


def test_meter_replacement_continues_the_total():
    r = RegisterTotal()
    r.accept(5432000)
    assert r.accept(12) is None  # new meter, not declared yet
    audit = r.replace_meter(12, 500, "MC403 replaced")
    assert audit["action"] == "replace" and audit["register_wh"] == 12
    assert audit["old_wh"] == audit["new_wh"] == 5432000 and audit["epoch"] == 1
    assert r.accept(1012) == 5433000
    saved = r.record()
    r2 = RegisterTotal()
    r2.restore(saved)
    assert r2.accept(2012) == 5434000
    assert r2.accept(1500) is None  # the restored register still guards against going back


def test_set_register_total():
    r = RegisterTotal()
    assert raises(r.set, 100, 0)  # nothing to anchor to yet
    r.accept(80000)
    audit = r.set(75000, 9, "meter was pre-loaded with test energy")
    assert audit["old_wh"] == 80000 and audit["new_wh"] == 75000 and audit["epoch"] == 1
    assert r.accept(81000) == 76000
    assert raises(r.set, -3, 0) and raises(r.replace_meter, -3, 0)


def test_register_jump_needs_confirmation():
    r = RegisterTotal(max_w=10000, confirm=3)  # 10 kW: at most ~28 Wh per 10 s
    r.accept(100000)
    assert r.accept(100020, 10) == 100020
    assert r.accept(900000, 10) is None and r.status == "jump"  # one bad telegram
    assert r.accept(100040, 10) == 100040  # and the meter carries on
    # a real jump (e.g. readings resumed after an outage the caller did not time): confirmed
    assert r.accept(200000, 10) is None
    assert r.accept(200010, 10) is None
    assert r.accept(200020, 10) == 200020
    assert r.status == "ok"
