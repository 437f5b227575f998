"""What the SSR / volt-free output should be (pure).

Sources, strongest first:
1. a command (MQTT hpmon/<node>/set/ssr or the settings page), until it times out
   (ssr.timeout_s, 0 = never) or, with a schedule, until the schedule's next edge;
2. the daily schedule ("HH:MM-HH:MM" windows in local time; a window may cross
   midnight), when one is set and the wall time is known;
3. the safe state (also the state at boot, before anything else is known).
"""

MAX_WINDOWS = 8


class ScheduleError(ValueError):
    pass


def _minute(text):
    if len(text) != 5 or text[2] != ":" or not (text[:2] + text[3:]).isdigit():
        raise ScheduleError("time %r is not HH:MM" % text)
    h, m = int(text[:2]), int(text[3:])
    if h > 24 or m > 59 or (h == 24 and m):
        raise ScheduleError("time %r is out of range" % text)
    return h * 60 + m


def parse_window(text):
    """'06:30-08:00' -> (390, 480): start and end minute of the day (end exclusive)."""
    if not isinstance(text, str) or text.count("-") != 1:
        raise ScheduleError("window %r is not HH:MM-HH:MM" % (text,))
    a, b = text.strip().split("-")
    start, end = _minute(a.strip()) % 1440, _minute(b.strip())  # end 24:00 = 1440
    if start == end:  # 00:00-24:00 is the whole day, 07:00-07:00 nothing
        raise ScheduleError("window %r starts and ends at the same time" % text)
    return start, end


def parse_schedule(windows):
    if not isinstance(windows, list) or len(windows) > MAX_WINDOWS:
        raise ScheduleError("a list of at most %d windows" % MAX_WINDOWS)
    return [parse_window(w) for w in windows]


def in_schedule(windows, minute):
    """True when minute-of-day falls in any window."""
    for start, end in windows:
        if start < end:
            if start <= minute < end:
                return True
        elif minute >= start or minute < end:  # crosses midnight
            return True
    return False


def decide(commanded, cmd_age_s, timeout_s, cmd_sched, sched, safe_on):
    """(on, mode) with mode "command", "schedule" or "safe".

    commanded: the last commanded state or None; cmd_age_s: seconds since it;
    cmd_sched: the schedule's state when it came (None if unknown); sched: the
    schedule's state now (None without a schedule or wall time).
    """
    if commanded is not None:
        expired = timeout_s > 0 and cmd_age_s >= timeout_s
        edge = sched is not None and cmd_sched is not None and sched != cmd_sched
        if not expired and not edge:
            return bool(commanded), "command"
    if sched is not None:
        return bool(sched), "schedule"
    return bool(safe_on), "safe"
