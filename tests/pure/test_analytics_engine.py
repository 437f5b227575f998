"""The analytics engine over a synthetic day with known starts, defrosts and energies.

The day (UTC, one reading per minute, each standing for the minute before it):
  00:00-01:00 standby 20 W
  01:00-03:00 space-heating run: elec 1000 W, heat 3500 W, flow 40 / return 35, outside 5 C,
              except 02:00-02:05, a defrost: elec 800 W, heat -2000 W
  03:00-05:00 standby 20 W
  05:00-06:00 DHW run: elec 1500 W, heat 4500 W, flow 50 / return 45 C, DHW flag on
  06:00-24:00 standby 20 W; the heat meter is silent 16:40-17:10 (30 readings of None)
"""
from firmware.analytics_cop import carnot_cop
from firmware.analytics_day import SIZE
from firmware.analytics_dtcheck import DtCheck
from firmware.analytics_engine import CHANNELS, SNAPSHOT_SIZE, Analytics
from firmware.analytics_state import DHW, RUNNING, STANDBY
from firmware.analytics_summary import FIELDS, summary
from firmware.analytics_tz import Tz

DAY = 20103  # 2025-01-15
T0 = DAY * 86400
UK = "GMT0BST,M3.5.0/1,M10.5.0"


def minute(k):
    """(elec, heat, flowT, returnT, outsideT, dhw) for the minute ending at k."""
    if 61 <= k <= 180:
        if 121 <= k <= 125:
            return 800, -2000, 40.0, 35.0, 5.0, False
        return 1000, 3500, 40.0, 35.0, 5.0, False
    if 301 <= k <= 360:
        return 1500, 4500, 50.0, 45.0, 5.0, True
    heat = None if 1000 <= k <= 1029 else 0
    return 20, heat, 25.0, 25.0, 5.0, False


def feed(a, k_from, k_to, t0=T0):
    closed = []
    for k in range(k_from, k_to + 1):
        e, h, f, r, o, dhw = minute(k)
        rec = a.update(60000 if k else 0, t0 + 60 * k, e, h, f, r, o, 12.0, dhw)
        if rec is not None:
            closed.append(rec)
    return closed


def field(rec, name):
    return rec[FIELDS.index(name)]


def approx(a, b, tol=0.01):
    return a is not None and abs(a - b) <= tol


# hand-computed truth of the day
ELEC = 1260 * 20 / 60 + 115 * 1000 / 60 + 5 * 800 / 60 + 60 * 1500 / 60  # 3903.33 Wh
HEAT = 115 * 3500 / 60 - 5 * 2000 / 60 + 60 * 4500 / 60  # 11041.67 Wh
ELEC_RUN = ELEC - 1260 * 20 / 60  # 3483.33 Wh
DEFROST = 5 * 2000 / 60  # 166.67 Wh
IDEAL = (115 * 1000 + 5 * 800) / 60 * carnot_cop(40, 5) + 1500 * carnot_cop(50, 5)


def test_synthetic_day_record():
    a = Analytics(tz=Tz("UTC0"))
    closed = feed(a, 0, 1440)
    assert len(closed) == 1
    rec = closed[0]
    assert field(rec, "date") == DAY - 18262 and field(rec, "day_min") == 1440
    assert field(rec, "elec_wh") == 3903 and field(rec, "heat_wh") == 11042
    assert field(rec, "elec_run_wh") == 3483 and field(rec, "heat_run_wh") == 11042
    assert field(rec, "elec_dhw_wh") == 1500 and field(rec, "heat_dhw_wh") == 4500
    assert field(rec, "defrost_wh") == 167
    assert field(rec, "starts") == 2 and field(rec, "defrosts") == 1
    assert field(rec, "run_s") == 180 * 60
    assert field(rec, "valid_elec_s") == 86400 and field(rec, "valid_heat_s") == 86400 - 1800
    assert field(rec, "ideal_wh") == round(IDEAL)
    assert field(rec, "cum_elec_wh") == 3903 and field(rec, "cum_heat_run_wh") == 11042
    s = summary(rec)
    assert s["date"] == "2025-01-15"
    assert s["cop"] == round(11042 / 3903, 2) and approx(s["cop"], HEAT / ELEC)
    assert s["running_cop"] == round(11042 / 3483, 2) and approx(s["running_cop"], HEAT / ELEC_RUN)
    assert s["standby_wh"] == 420
    assert s["dhw_cop"] == 1.0 * 4500 / 1500 and s["space_cop"] == round(6542 / 2403, 2)
    assert s["cycle_s"] == 5400
    # heat-weighted flowT: 6708.33 Wh at 40 C and 4500 Wh at 50 C (defrost and 0 W excluded)
    assert s["flowT"] == round((115 * 3500 / 60 * 40 + 4500 * 50) / (115 * 3500 / 60 + 4500), 2)
    assert s["dT"] == 5.0 and s["outsideT"] == 5.0
    assert approx(s["carnot_pct"], 100 * HEAT / IDEAL, 0.05)
    assert s["quality_elec"] == 100.0 and s["quality_heat"] == round(100 * 1410 / 1440, 1)


def test_live_channels_during_the_day():
    a = Analytics(tz=Tz("UTC0"))
    feed(a, 0, 100)
    v = a.values()
    assert set(v) == set(name for name, _ in CHANNELS)
    assert v["heatpump_state"] == RUNNING and v["heatpump_mode"] == "running"
    assert v["heatpump_cop"] == 3.5  # smoothing restarted at the start; steady since
    assert v["heatpump_carnot_cop"] == round(carnot_cop(40, 5), 2)
    assert v["heatpump_carnot_pct"] == round(100 * 3.5 / carnot_cop(40, 5), 1)
    assert v["heatpump_starts_today"] == 1 and v["heatpump_starts_hour"] == 1
    assert v["heatpump_cop_yesterday"] is None and v["heatpump_cop_7d"] is None
    assert v["heatpump_cop_space_today"] is not None  # a DHW signal was given (False so far)
    assert v["heatpump_cop_dhw_today"] is None  # no DHW energy yet
    assert v["heatpump_elec_kwh_today"] == round(60 * 20 / 60 + 40 * 1000 / 60) / 1000.0
    assert v["heatpump_quality_elec_today"] == 100.0
    feed(a, 101, 180)
    v = a.values()
    # last hour at 03:00 = slots from 02:05: the readings 02:05 (defrost) .. 03:00
    heat_j = 60 * -2000 + 55 * 60 * 3500
    elec_j = 60 * 800 + 55 * 60 * 1000
    assert v["heatpump_cop_hour"] == round(heat_j / elec_j, 2)
    assert v["heatpump_defrosts_today"] == 1
    assert v["heatpump_defrost_kwh_today"] == 0.167
    assert v["heatpump_starts_hour"] == 0
    feed(a, 181, 360)
    v = a.values()
    assert v["heatpump_state"] == DHW and v["heatpump_cop"] == 3.0
    assert v["heatpump_cop_dhw_today"] == 3.0
    assert v["heatpump_runtime_today"] == 10800 and v["heatpump_cycle_today"] == 5400
    feed(a, 361, 400)
    assert a.values()["heatpump_state"] == STANDBY and a.values()["heatpump_cop"] is None


def test_next_day_windows_yesterday_and_lifetime():
    a = Analytics(tz=Tz("UTC0"))
    feed(a, 0, 1440)
    feed(a, 1, 1440, T0 + 86400)  # the same day again
    v = a.values()
    assert v["heatpump_cop_yesterday"] == round(11042 / 3903, 2)
    assert v["heatpump_cop_7d"] == round(2 * 11042 / (2 * 3903), 2)
    assert v["heatpump_cop_run_30d"] == round(11042 / 3483, 2)
    assert v["heatpump_cop_lifetime"] == round(22084 / 7806, 2)
    assert a.yesterday[FIELDS.index("cum_heat_wh")] == 22084
    assert a.yesterday[FIELDS.index("date")] == DAY + 1 - 18262


def test_dhw_split_absent_without_signal():
    a = Analytics(tz=Tz("UTC0"))
    for k in range(0, 200):
        e, h, f, r, o, _ = minute(k)
        a.update(60000 if k else 0, T0 + 60 * k, e, h, f, r, o)
    v = a.values()
    assert v["heatpump_cop_space_today"] is None and v["heatpump_cop_dhw_today"] is None


def test_midnight_splits_an_interval():
    a = Analytics(tz=Tz("UTC0"))
    nm = T0 + 86400
    assert a.update(0, nm - 900, 1200, 0) is None
    assert a.update(600000, nm - 300, 1200, 0) is None
    rec = a.update(600000, nm + 300, 1200, 0)
    assert field(rec, "elec_wh") == 300  # 600 s + the 300 s before midnight at 1200 W
    assert field(rec, "valid_elec_s") == 900
    assert a.values()["heatpump_elec_kwh_today"] == 0.1
    assert a.values()["heatpump_quality_elec_today"] == 100.0


def test_dst_days_of_23_and_25_hours():
    tz = Tz(UK)
    for day, hours in ((20177, 23), (20387, 25), (20386, 24)):
        a = Analytics(tz=tz)
        start = tz.day_start(day)
        closed = []
        for i in range(hours * 60 + 1):
            rec = a.update(60000 if i else 0, start + 60 * i, 100, 0)
            if rec is not None:
                closed.append(rec)
        assert len(closed) == 1
        rec = closed[0]
        assert field(rec, "day_min") == hours * 60
        assert field(rec, "elec_wh") == 100 * hours
        assert summary(rec)["quality_elec"] == 100.0 and summary(rec)["hours"] == hours


def test_gap_is_missing_data_not_energy():
    a = Analytics(tz=Tz("UTC0"))
    a.update(0, T0, 1000, 3000)
    a.update(60000, T0 + 60, 1000, 3000)
    a.update(1800000, T0 + 1860, 1000, 3000)  # 30 min without readings
    a.update(60000, T0 + 1920, 1000, 3000)
    v = a.values()
    assert v["heatpump_elec_kwh_today"] == round(2 * 1000 / 60) / 1000.0
    assert v["heatpump_quality_elec_today"] == round(100 * 120 / 1920, 1)
    assert v["heatpump_starts_today"] == 1


def test_before_ntp_energy_goes_to_the_first_known_day():
    a = Analytics(tz=Tz("UTC0"))
    a.update(0, None, 600, 0)
    for _ in range(10):
        a.update(60000, None, 600, 0)
    v = a.values()
    assert v["heatpump_elec_kwh_today"] == 0.1 and v["heatpump_cop_7d"] is None
    a.update(60000, T0 + 3600, 600, 0)
    assert a.day.date == DAY - 18262
    assert a.values()["heatpump_elec_kwh_today"] == 0.11


def test_snapshot_restore_matches_uninterrupted_day():
    ref = Analytics(tz=Tz("UTC0"))
    ref_rec = feed(ref, 0, 1440)[0]
    a = Analytics(tz=Tz("UTC0"))
    feed(a, 0, 330)  # in the middle of the DHW run
    snap = a.snapshot()
    assert len(snap) == SNAPSHOT_SIZE == SIZE + 6
    b = Analytics(tz=Tz("UTC0"))  # soft reset: RTC memory kept the snapshot
    assert b.restore(snap, recent=True)
    rec = feed(b, 331, 1440)[0]
    assert field(rec, "starts") == 2  # the DHW run was not counted twice
    for name in FIELDS:
        if name.endswith("_wh"):
            assert abs(field(rec, name) - field(ref_rec, name)) <= 1, name
        elif not name.endswith("_ct"):
            assert field(rec, name) == field(ref_rec, name), name


def test_restore_after_power_cut_counts_a_running_compressor_as_a_start():
    a = Analytics(tz=Tz("UTC0"))
    feed(a, 0, 330)
    b = Analytics(tz=Tz("UTC0"))
    assert b.restore(a.snapshot(), recent=False)
    assert field(feed(b, 331, 1440)[0], "starts") == 3


def test_restore_of_a_finished_day():
    a = Analytics(tz=Tz("UTC0"))
    feed(a, 0, 700)
    snap = a.snapshot()
    b = Analytics(tz=Tz("UTC0"))
    assert b.restore(snap)
    # the device comes back the next morning: yesterday is closed from the snapshot
    rec = b.update(0, T0 + 86400 + 8 * 3600, 20, 0)
    assert rec is not None and field(rec, "date") == DAY - 18262
    assert field(rec, "starts") == 2 and field(rec, "elec_wh") == field(a.day.record((0, 0, 0, 0)), "elec_wh")
    assert b.values()["heatpump_cop_yesterday"] == summary(rec)["cop"]
    # a snapshot of a day that the ring already holds is refused
    c = Analytics(tz=Tz("UTC0"))
    c.load_day(rec)
    assert not c.restore(snap)
    assert not c.restore(b"\x00" * SNAPSHOT_SIZE) and not c.restore(b"short")


def test_boot_from_ring_records():
    a = Analytics(tz=Tz("UTC0"))
    recs = feed(a, 0, 1440) + feed(a, 1, 1440, T0 + 86400)
    b = Analytics(tz=Tz("UTC0"))
    for rec in recs:
        b.load_day(rec)
    b.update(0, T0 + 2 * 86400 + 600, 20, 0)
    v = b.values()
    assert v["heatpump_cop_yesterday"] == round(11042 / 3903, 2)
    assert v["heatpump_cop_lifetime"] == round(22084 / 7806, 2)


def test_dt_offset_channel():
    a = Analytics(tz=Tz("UTC0"), dtcheck=DtCheck(settle_s=60, sample_s=60, min_samples=3))
    for k in range(12):
        a.update(60000 if k else 0, T0 + 60 * k, 30, 0, 30.2, 30.0, 5.0, 15.0)
    v = a.values()
    assert v["heatpump_dt_offset"] == 0.2 and v["heatpump_dt_offset_n"] >= 3


def test_from_config():
    a = Analytics.from_config({"tz": UK, "starting_power_w": 300, "min_off_s": 0,
                               "dt_check": {"settle_s": 60}})
    assert a.tz.spec == UK and a.on_w == 300 and a.sm.off_w_run == 280
    assert a.tz.day_start(a.tz.local_day(T0)) == Tz(UK).day_start(Tz(UK).local_day(T0))
    assert a.dtcheck is not None and a.dtcheck.settle_s == 60
    a.update(0, T0, 250, 800)
    assert a.values()["heatpump_starts_today"] == 0  # below the configured 300 W
    a = Analytics.from_config({"dt_check": False})
    assert a.dtcheck is None and a.values()["heatpump_dt_offset"] is None
    try:
        Analytics.from_config({"tz": "nonsense"})
    except ValueError:
        pass
    else:
        raise AssertionError("bad TZ accepted")
