"""POSIX TZ rules, local dates and DST days of 23 and 25 hours (hand-computed instants)."""
from firmware.analytics_tz import Tz, TzError, civil_from_days, date_str, days_from_civil, weekday

UK = "GMT0BST,M3.5.0/1,M10.5.0"
H = 3600
# 2025-03-30 00:00 UTC = day 20177 (2025-01-01 is day 20089, + 31 + 28 + 29)
MAR30 = 20177 * 86400
# 2025-10-26 00:00 UTC = day 20089 + 273 + 25 = 20387
OCT26 = 20387 * 86400


def raises(fn, *args):
    try:
        fn(*args)
    except TzError:
        return True
    return False


def test_civil_days_round_trip():
    assert days_from_civil(1970, 1, 1) == 0
    assert days_from_civil(2000, 3, 1) == 11017
    assert days_from_civil(2025, 1, 1) == 20089
    assert civil_from_days(20177) == (2025, 3, 30)
    assert civil_from_days(11016) == (2000, 2, 29)  # leap day of a /400 year
    assert date_str(20387) == "2025-10-26"
    assert weekday(20177) == 0  # a Sunday
    for n in range(-800, 80000, 97):
        y, m, d = civil_from_days(n)
        assert days_from_civil(y, m, d) == n


def test_uk_transitions_and_offsets():
    tz = Tz(UK)
    start, end = tz.transitions(2025)
    assert start == MAR30 + 1 * H  # 01:00 GMT on the last Sunday of March
    assert end == OCT26 + 1 * H  # 02:00 BST = 01:00 UTC on the last Sunday of October
    assert tz.offset(start - 1) == 0 and tz.offset(start) == H
    assert tz.offset(end - 1) == H and tz.offset(end) == 0
    assert tz.local(start - 1)[3:] == (0, 59, 59)
    assert tz.local(start)[3:] == (2, 0, 0)


def test_uk_dst_days_last_23_and_25_hours():
    tz = Tz(UK)
    assert tz.day_start(20177) == MAR30
    assert tz.day_seconds(20177) == 23 * H
    assert tz.day_start(20178) == MAR30 + 23 * H
    assert tz.day_start(20387) == OCT26 - H  # midnight BST
    assert tz.day_seconds(20387) == 25 * H
    assert tz.day_seconds(20386) == 24 * H
    assert tz.local_day(MAR30 + 23 * H - 1) == 20177
    assert tz.local_day(MAR30 + 23 * H) == 20178
    assert tz.local_day(OCT26 - H - 1) == 20386
    assert tz.local_day(OCT26 + 24 * H - 1) == 20387


def test_central_europe_same_instants_other_offsets():
    tz = Tz("CET-1CEST,M3.5.0,M10.5.0/3")
    assert tz.std == H and tz.dst == 2 * H
    assert tz.transitions(2025) == (MAR30 + H, OCT26 + H)
    assert tz.day_start(20177) == MAR30 - H
    assert tz.day_seconds(20177) == 23 * H


def test_us_eastern_second_sunday_rules():
    tz = Tz("EST5EDT,M3.2.0,M11.1.0")
    assert tz.std == -5 * H and tz.dst == -4 * H
    start, end = tz.transitions(2025)
    assert start == 1741503600  # 2025-03-09 07:00 UTC
    assert end == 1762063200  # 2025-11-02 06:00 UTC
    assert tz.day_seconds(20156) == 23 * H  # 2025-03-09


def test_southern_hemisphere_dst_spans_new_year():
    tz = Tz("AEST-10AEDT,M10.1.0,M4.1.0/3")
    jan = days_from_civil(2025, 1, 15) * 86400
    jul = days_from_civil(2025, 7, 15) * 86400
    assert tz.offset(jan) == 11 * H
    assert tz.offset(jul) == 10 * H
    end = days_from_civil(2025, 4, 5) * 86400 + 16 * H  # 03:00 AEDT on Sunday 6 April
    assert tz.offset(end - 1) == 11 * H and tz.offset(end) == 10 * H
    assert tz.day_seconds(days_from_civil(2025, 4, 6)) == 25 * H
    assert tz.day_seconds(days_from_civil(2025, 10, 5)) == 23 * H


def test_half_hour_names_in_brackets():
    tz = Tz("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0")
    assert tz.std == 10 * H + 1800 and tz.dst == 11 * H
    assert tz.day_seconds(days_from_civil(2025, 10, 5)) == 24 * H - 1800


def test_spring_forward_at_midnight_day_starts_at_one():
    tz = Tz("AAA3BBB,M10.1.0/0,M2.3.0/0")  # clocks go 23:59:59 -> 01:00 on Sunday
    day = days_from_civil(2025, 10, 5)
    assert tz.day_start(day) == 1759633200  # 03:00 UTC = 01:00 local DST
    assert tz.local(tz.day_start(day))[3:] == (1, 0, 0)
    assert tz.day_seconds(day) == 23 * H
    back = days_from_civil(2026, 2, 14)  # clocks go 24:00 DST -> 23:00 Saturday
    assert tz.day_seconds(back) == 25 * H


def test_julian_and_zero_based_rules():
    # J60 is 1 March in every year; 59 (zero based) is 29 Feb in a leap year
    tz = Tz("XXX0YYY,J60/0,J300/0")
    start, _ = tz.transitions(2024)
    assert start == days_from_civil(2024, 3, 1) * 86400
    tz = Tz("XXX0YYY,59/0,300/0")
    start, _ = tz.transitions(2024)
    assert start == days_from_civil(2024, 2, 29) * 86400


def test_no_dst_and_utc_default():
    tz = Tz("")
    assert tz.offset(MAR30) == 0 and tz.transitions(2025) is None
    tz = Tz("IST-5:30")
    assert tz.offset(MAR30) == 5 * H + 1800
    assert tz.day_start(20177) == MAR30 - 5 * H - 1800
    assert tz.day_seconds(20177) == 86400


def test_malformed_specs_raise_tzerror():
    for bad in ("UTC", "GMT0BST", "GMT0BST,M3.5.0", "GMT0BST,M13.5.0,M10.5.0", "GMT0BST,M3.6.0,M10.5.0",
                "<+03", "AB0", "GMT0BST,M3.5.0/1,M10.5.0x", "GMT+25", "GMT0BST,J0,J5", 5):
        assert raises(Tz, bad), bad
