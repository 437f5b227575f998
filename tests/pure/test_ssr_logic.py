from firmware import ssr_logic as sl


def _bad(text):
    try:
        sl.parse_window(text)
    except sl.ScheduleError:
        return True
    return False


def test_parse_window():
    assert sl.parse_window("06:30-08:00") == (390, 480)
    assert sl.parse_window("22:00-06:00") == (1320, 360)
    assert sl.parse_window("22:00-24:00") == (1320, 1440)
    assert sl.parse_window("00:00-24:00") == (0, 1440)  # the whole day
    for bad in ("6:30-08:00", "06:30", "06:60-07:00", "25:00-26:00", "07:00-07:00", "24:00-00:00", 5):
        assert _bad(bad), bad


def test_in_schedule_including_midnight_crossing():
    w = sl.parse_schedule(["06:30-08:00", "22:00-01:00"])
    assert not sl.in_schedule(w, 389)
    assert sl.in_schedule(w, 390) and sl.in_schedule(w, 479)
    assert not sl.in_schedule(w, 480)
    assert sl.in_schedule(w, 22 * 60) and sl.in_schedule(w, 23 * 60 + 59) and sl.in_schedule(w, 0)
    assert not sl.in_schedule(w, 60)
    assert not sl.in_schedule([], 600)
    assert sl.in_schedule([sl.parse_window("00:00-24:00")], 1439)
    assert sl.in_schedule([sl.parse_window("22:00-24:00")], 1439)
    assert not sl.in_schedule([sl.parse_window("22:00-24:00")], 0)


def test_schedule_list_limits():
    try:
        sl.parse_schedule(["01:00-02:00"] * 9)
    except sl.ScheduleError:
        pass
    else:
        raise AssertionError("9 windows accepted")


def test_decide_priorities():
    # nothing known: safe state
    assert sl.decide(None, 0, 0, None, None, False) == (False, "safe")
    assert sl.decide(None, 0, 0, None, None, True) == (True, "safe")
    # a command holds without timeout
    assert sl.decide(True, 10 ** 6, 0, None, None, False) == (True, "command")
    # ... until the timeout
    assert sl.decide(True, 59, 60, None, None, False) == (True, "command")
    assert sl.decide(True, 60, 60, None, None, False) == (False, "safe")
    # schedule when there is no command
    assert sl.decide(None, 0, 0, None, True, False) == (True, "schedule")
    # a command overrides the schedule until its next edge
    assert sl.decide(False, 5, 0, True, True, False) == (False, "command")
    assert sl.decide(False, 5, 0, True, False, True) == (False, "schedule")
    # timed-out command falls back to the schedule, not the safe state
    assert sl.decide(True, 100, 60, False, False, True) == (False, "schedule")
