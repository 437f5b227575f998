"""Day accumulators, the 84-byte daily record, its summary and the date-indexed ring."""
from firmware import analytics_day as ad
from firmware.analytics_day import (
    C_DT_W,
    C_ELEC,
    C_FLOW_W,
    C_HEAT,
    C_HEAT_W,
    C_OUT_BASE,
    C_OUT_W,
    NO_TEMP,
    SIZE,
    DayAcc,
    DayError,
    decode,
    encode,
)
from firmware.analytics_summary import FIELDS, DailyRing, summary
from firmware.analytics_tz import date_str


def rec_with(**kw):
    rec = [0] * len(FIELDS)
    rec[1] = 1440
    for i in (12, 13, 14):
        rec[i] = NO_TEMP
    for k, v in kw.items():
        rec[FIELDS.index(k)] = v
    return tuple(rec)


def test_accumulator_carries_joules_exactly():
    d = DayAcc()
    for _ in range(1000):
        d.add(C_ELEC, 3599)  # 1000 x 3599 J = 999.7222 Wh
    assert d.wh[C_ELEC] == 999 and d.j[C_ELEC] == 2600
    assert d.wh_of(C_ELEC) == 1000  # rounded half up
    d.add(C_HEAT, -5000)  # net heat may go negative
    assert d.wh[C_HEAT] == -2 and d.j[C_HEAT] == 2200
    d.add(C_HEAT, 5000)
    assert d.wh[C_HEAT] == 0 and d.j[C_HEAT] == 0


def test_weighted_means():
    d = DayAcc()
    # 3600 J at 40.0 C and 7200 J at 50.0 C -> (40 + 2 * 50) / 3 = 46.667 C
    for w, t in ((3600, 400), (7200, 500)):
        d.add(C_HEAT_W, w)
        d.add(C_FLOW_W, w * t)
        d.add(C_DT_W, w * 50)
    assert abs(d.mean_c(C_FLOW_W) - 140.0 / 3) < 1e-4
    assert abs(d.mean_c(C_DT_W) - 5.0) < 1e-6
    assert d.mean_c(C_OUT_W) is None
    d.add(C_OUT_BASE, 3600)
    d.add(C_OUT_W, -3600 * 25)
    assert abs(d.mean_c(C_OUT_W) + 2.5) < 1e-6


def test_record_round_trip_and_size():
    assert SIZE == 84
    rec = rec_with(date=2000, day_min=1380, elec_wh=3903, heat_wh=-12, starts=7, run_s=10800,
                   flow_ct=4401, cum_heat_wh=123456789, valid_elec_s=82800)
    b = encode(rec)
    assert len(b) == SIZE
    assert decode(b) == rec
    assert decode(b"x" + b, 1) == rec


def test_record_ranges_checked_not_truncated():
    for kw in ({"elec_wh": -1}, {"starts": 70000}, {"heat_wh": 2 ** 31}, {"flow_ct": 40000},
               {"date": 1.5}):
        try:
            encode(rec_with(**kw))
        except DayError:
            continue
        raise AssertionError(kw)
    try:
        encode((1, 2, 3))
    except DayError:
        pass
    else:
        raise AssertionError("short record accepted")


def test_corrupt_or_empty_slot_reads_none():
    b = bytearray(encode(rec_with(date=5, elec_wh=100)))
    b[10] ^= 0x01
    assert decode(b) is None
    assert decode(bytes(SIZE)) is None
    assert decode(b"\xff" * SIZE) is None
    assert decode(b"short") is None


def test_record_from_accumulator_and_back():
    d = DayAcc(date=1900, day_s=90000)
    d.add(C_ELEC, 3600 * 1000 + 1799)  # 1000.4997 Wh -> 1000
    d.add(C_HEAT, 3600 * 3000 + 1800)  # 3000.5 Wh -> 3001
    d.add(C_HEAT_W, 3600 * 100)
    d.add(C_FLOW_W, 3600 * 100 * 423)
    d.starts = 3
    d.run_ms = 3600500
    d.valid_elec_ms = 89999999
    rec = d.record((5000, 15001, 0, 0))
    assert rec[0] == 1900 and rec[1] == 1500
    assert rec[2] == 1000 and rec[3] == 3001
    assert rec[12] == 4230 and rec[13] == 0 and rec[14] == NO_TEMP
    assert rec[15] == 3 and rec[17] == 3600 and rec[18] == 89999
    again = DayAcc.from_record(rec)
    assert again.wh_of(C_HEAT) == 3001 and again.day_s == 90000
    assert abs(again.mean_c(C_FLOW_W) - 42.3) < 1e-6
    assert again.record((5000, 15001, 0, 0)) == rec


def test_summary_of_a_day():
    rec = rec_with(date=1900, day_min=1380, elec_wh=4000, heat_wh=12000, elec_run_wh=3600,
                   heat_run_wh=11800, elec_dhw_wh=1000, heat_dhw_wh=2500, defrost_wh=150,
                   ideal_wh=25000, heat_carnot_wh=11800, heat_w_wh=12150, flow_ct=4250,
                   dt_ct=480, out_ct=-125, starts=4, defrosts=2, run_s=36000,
                   valid_elec_s=82800, valid_heat_s=41400)
    s = summary(rec)
    assert s["date"] == date_str(1900 + 18262) == "2025-03-15"
    assert s["hours"] == 23.0
    assert s["cop"] == 3.0 and s["running_cop"] == round(11800 / 3600, 2)
    assert s["standby_wh"] == 400
    assert s["dhw_cop"] == 2.5 and s["space_cop"] == 3.17  # 9500 / 3000
    assert s["cycle_s"] == 9000 and s["defrost_wh"] == 150
    assert s["flowT"] == 42.5 and s["dT"] == 4.8 and s["outsideT"] == -1.25
    assert s["carnot_pct"] == 47.2
    assert s["quality_elec"] == 100.0 and s["quality_heat"] == 50.0
    empty = summary(rec_with(date=3))
    assert empty["cop"] is None and empty["cycle_s"] is None and empty["flowT"] is None
    assert empty["date"] == "2020-01-04"


def test_ring_overwrites_by_date_and_survives_reload():
    ring = DailyRing(n=60)
    assert len(ring.buf) == ad.HEADER_SIZE + 60 * SIZE
    for date in range(1000, 1070):
        ring.put(rec_with(date=date, elec_wh=date))
    assert ring.get(1005) is None  # slot reused by day 1065
    assert ring.get(1065)[2] == 1065
    recs = ring.records()
    assert [r[0] for r in recs] == list(range(1010, 1070))
    other = DailyRing(n=60)
    assert other.load(bytes(ring.buf))
    assert other.get(1069)[2] == 1069
    assert not DailyRing(n=64).load(bytes(ring.buf))  # wrong geometry is refused
    off = ad.slot_offset(1069, 60)
    assert bytes(ring.buf[off:off + SIZE]) == encode(rec_with(date=1069, elec_wh=1069))


def test_torn_slot_is_skipped():
    ring = DailyRing(n=60)
    ring.put(rec_with(date=10))
    ring.put(rec_with(date=11))
    off = ad.slot_offset(11, 60)
    ring.buf[off + 5] ^= 0xFF
    assert [r[0] for r in ring.records()] == [10]


def test_crc_is_ccitt_false():
    assert ad._crc16(b"123456789", 9) == 0x29B1  # the catalogue check value
