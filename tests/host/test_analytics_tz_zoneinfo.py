"""Cross-check firmware.analytics_tz against CPython's zoneinfo (IANA tzdata) for 2020-2035."""
import datetime as dt

import pytest

from firmware.analytics_tz import Tz, civil_from_days

zoneinfo = pytest.importorskip("zoneinfo")

ZONES = (
    ("Europe/London", "GMT0BST,M3.5.0/1,M10.5.0"),
    ("Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3"),
    ("America/New_York", "EST5EDT,M3.2.0,M11.1.0"),
    ("Australia/Sydney", "AEST-10AEDT,M10.1.0,M4.1.0/3"),
    ("Australia/Lord_Howe", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0"),
    ("Asia/Kolkata", "IST-5:30"),
)
START = int(dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc).timestamp())
END = int(dt.datetime(2035, 12, 31, tzinfo=dt.timezone.utc).timestamp())


def _zone(name):
    try:
        return zoneinfo.ZoneInfo(name)
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no tzdata for %s" % name)


@pytest.mark.parametrize("name,spec", ZONES)
def test_offsets_match_tzdata(name, spec):
    zone, tz = _zone(name), Tz(spec)
    for t in range(START, END, 3 * 3600 + 617):  # odd step: every hour of the day is hit
        ref = dt.datetime.fromtimestamp(t, zone).utcoffset().total_seconds()
        assert tz.offset(t) == ref, (name, t)


@pytest.mark.parametrize("name,spec", ZONES)
def test_day_starts_match_tzdata(name, spec):
    zone, tz = _zone(name), Tz(spec)
    for day in range(START // 86400, END // 86400, 3):
        y, m, d = civil_from_days(day)
        ref = dt.datetime(y, m, d, tzinfo=zone)
        if ref.astimezone(dt.timezone.utc).astimezone(zone).replace(tzinfo=None) != ref.replace(tzinfo=None):
            continue  # midnight does not exist in that zone on that day
        assert tz.day_start(day) == int(ref.timestamp()), (name, y, m, d)
