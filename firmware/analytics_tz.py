"""Local time from a POSIX TZ string (pure): UTC offset, DST, local dates and midnights.

The ESP32 clock runs in UTC (ntptime.settime() sets UTC) and MicroPython has no time-zone
support, so the daily roll-over needs its own rules. The spec is the POSIX TZ variable
(IEEE Std 1003.1, XBD §8.3), e.g. "GMT0BST,M3.5.0/1,M10.5.0" or "CET-1CEST,M3.5.0,M10.5.0/3":

    std offset [dst [offset] [,start[/time],end[/time]]]

- names: 3+ letters, or any of [A-Za-z0-9+-] inside <...> (e.g. "<+1030>");
- offset: [+-]hh[:mm[:ss]], hours WEST of Greenwich (so CET is -1); the DST offset defaults
  to one hour less than the standard one;
- dates: Mm.w.d (month m, week w 1-5 where 5 = last, weekday d 0 = Sunday), Jn (1-365, Feb 29
  never counted) or n (0-365, Feb 29 counted);
- time: local time of the change, in the time in force before it, default 02:00:00; the
  RFC 8536 §3.3.1 extension (-167..167 h) is accepted.
A DST name without rules is rejected (POSIX leaves the default to the implementation).

All times are unix seconds (int, UTC). Days are counted from 1970-01-01.
"""

_DAY = 86400


class TzError(ValueError):
    pass


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of the proleptic Gregorian date y-m-d."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    mp = (m + 9) % 12  # March = 0
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(n):
    """(year, month, day) of day n since 1970-01-01."""
    n += 719468
    era = n // 146097
    doe = n - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (m <= 2), m, d


def weekday(n):
    """Weekday of day n, 0 = Sunday (1970-01-01 was a Thursday)."""
    return (n + 4) % 7


def is_leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def date_str(n):
    """'YYYY-MM-DD' of day n."""
    y, m, d = civil_from_days(n)
    return "%04d-%02d-%02d" % (y, m, d)


_MDAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def month_days(y, m):
    return 29 if m == 2 and is_leap(y) else _MDAYS[m - 1]


class _Parser:
    def __init__(self, s):
        self.s = s
        self.i = 0

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ""

    def name(self):
        s, start = self.s, self.i
        if self.peek() == "<":
            end = s.find(">", start)
            if end < 0:
                raise TzError("unterminated <name> in TZ")
            body = s[start + 1:end]
            for c in body:
                if not (c.isalpha() or c.isdigit() or c in "+-"):
                    raise TzError("bad character in TZ name")
            self.i = end + 1
        else:
            while self.i < len(s) and s[self.i].isalpha():
                self.i += 1
            body = s[start:self.i]
        if len(body) < 3:
            raise TzError("TZ name shorter than 3 characters")
        return body

    def number(self, lo, hi):
        s, start = self.s, self.i
        while self.i < len(s) and s[self.i].isdigit():
            self.i += 1
        if self.i == start:
            raise TzError("number expected in TZ at %d" % start)
        v = int(s[start:self.i])
        if not lo <= v <= hi:
            raise TzError("TZ field out of range: %d" % v)
        return v

    def hms(self, max_h):
        """[+-]hh[:mm[:ss]] in seconds."""
        sign = 1
        c = self.peek()
        if c in ("+", "-"):
            sign = -1 if c == "-" else 1
            self.i += 1
        secs = self.number(0, max_h) * 3600
        if self.peek() == ":":
            self.i += 1
            secs += self.number(0, 59) * 60
            if self.peek() == ":":
                self.i += 1
                secs += self.number(0, 59)
        return sign * secs

    def expect(self, c):
        if self.peek() != c:
            raise TzError("%r expected in TZ at %d" % (c, self.i))
        self.i += 1

    def rule(self):
        c = self.peek()
        if c == "M":
            self.i += 1
            m = self.number(1, 12)
            self.expect(".")
            w = self.number(1, 5)
            self.expect(".")
            d = self.number(0, 6)
            r = ("M", m, w, d)
        elif c == "J":
            self.i += 1
            r = ("J", self.number(1, 365), 0, 0)
        else:
            r = ("N", self.number(0, 365), 0, 0)
        t = 7200
        if self.peek() == "/":
            self.i += 1
            t = self.hms(167)
        return r, t


def _rule_day(y, rule):
    """Day number (since 1970) on which a DST rule falls in year y."""
    kind, a, w, d = rule
    jan1 = days_from_civil(y, 1, 1)
    if kind == "J":  # 1..365, Feb 29 is never counted
        return jan1 + a - 1 + (1 if is_leap(y) and a >= 60 else 0)
    if kind == "N":  # 0..365, Feb 29 counted
        return jan1 + a
    first = days_from_civil(y, a, 1)
    dom = 1 + (d - weekday(first)) % 7 + 7 * (w - 1)
    last = month_days(y, a)
    while dom > last:  # week 5 means "last": step back a week
        dom -= 7
    return first + dom - 1


class Tz:
    """A POSIX TZ rule set. std/dst are offsets in seconds EAST of UTC (local = utc + offset)."""

    def __init__(self, spec="UTC0"):
        if not isinstance(spec, str):
            raise TzError("TZ must be a string")
        spec = spec.strip() or "UTC0"
        p = _Parser(spec)
        self.std_name = p.name()
        self.std = -p.hms(24)
        self.dst = None
        self.dst_name = None
        self.start = self.end = None
        self._year = None
        self._cache = (0, 0)
        if p.i < len(spec):
            self.dst_name = p.name()
            self.dst = self.std + 3600
            if p.peek() not in (",", ""):
                self.dst = -p.hms(24)
            if p.peek() != ",":
                raise TzError("DST rules (,start,end) missing in TZ")
            p.i += 1
            self.start = p.rule()
            p.expect(",")
            self.end = p.rule()
        if p.i != len(spec):
            raise TzError("trailing characters in TZ")

    def transitions(self, year):
        """(dst_start, dst_end) as unix seconds in year, or None without DST."""
        if self.dst is None or self.start is None or self.end is None:
            return None
        if self._year != year:
            sr, st = self.start
            er, et = self.end
            # the rule time is local time in the offset in force before the change
            self._cache = (_rule_day(year, sr) * _DAY + st - self.std,
                           _rule_day(year, er) * _DAY + et - self.dst)
            self._year = year
        return self._cache

    def is_dst(self, t):
        tr = self.transitions(civil_from_days(t // _DAY)[0])
        if tr is None:
            return False
        start, end = tr
        if start < end:  # northern hemisphere
            return start <= t < end
        return not (end <= t < start)  # southern: DST spans the new year

    def offset(self, t):
        """Seconds east of UTC in force at unix time t."""
        return self.dst if self.is_dst(t) else self.std

    def local_day(self, t):
        """Local date of unix time t as days since 1970-01-01."""
        return (t + self.offset(t)) // _DAY

    def local(self, t):
        """(year, month, day, hour, minute, second) local time at unix t."""
        lt = t + self.offset(t)
        day = lt // _DAY
        s = lt - day * _DAY
        y, m, d = civil_from_days(day)
        return y, m, d, s // 3600, s // 60 % 60, s % 60

    def day_start(self, day):
        """Unix time of the first instant of local date `day` (midnight, or the DST change
        when a spring-forward skips midnight)."""
        base = day * _DAY
        best = None
        for off in (self.std, self.std if self.dst is None else self.dst):
            c = base - off
            if c + self.offset(c) == base and (best is None or c < best):
                best = c
        if best is not None:
            return best
        # midnight falls in a spring-forward gap: the day starts at the change itself
        y = civil_from_days(day)[0]
        for yy in (y - 1, y, y + 1):
            tr = self.transitions(yy)
            if tr is not None:
                for c in tr:
                    if self.local_day(c) == day and self.local_day(c - 1) < day:
                        return c
        raise TzError("no start found for day %d" % day)

    def day_seconds(self, day):
        """Length of local date `day` in seconds (82800 / 86400 / 90000 around DST)."""
        return self.day_start(day + 1) - self.day_start(day)
