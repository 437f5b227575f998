"""Pulse / S0 meter maths (pure module): power from pulse timing and counts, Wh totals.

The driver supplies a running pulse count (machine.Counter, or a Pin.irq counter) and
millisecond tick values (time.ticks_ms()); this module only does arithmetic.

Power: P = n * E / dt, where n pulses arrived since the previous pulse edge and dt is the time
between that edge and the newest one. With IRQ edge timestamps this is the exact average over
whole pulse intervals (good at low rates, one pulse per interval); with counts polled from a
hardware counter the edge times are the poll times, so it becomes counts per update interval
(good at high rates). While no pulse arrives the power can be at most E / (time since the last
edge), so the reading decays along that bound, and drops to 0 after `timeout_ms`.

Energy per pulse is kept as an exact fraction num/den Wh (imp_per_kwh -> 1000/imp), so totals are
integer Wh with an integer remainder; e.g. 3200 imp/kWh gives 0.3125 Wh/pulse exactly.

Ticks: ticks_diff() here uses a 2^30 period, as on the ESP32; it is also right for ports with a
longer period that is a multiple of 2^30 (the unix port: 2^62) while |a - b| < 2^29 ms (6.2 days).
"""

from micropython import const

_PERIOD = const(0x40000000)  # 2**30
_HALF = const(0x20000000)
_MASK = const(0x3FFFFFFF)


class PulseError(ValueError):
    pass


def ticks_diff(a, b):
    """a - b for millisecond ticks that wrap at 2^30 (signed, |result| < 2^29)."""
    return ((a - b + _HALF) & _MASK) - _HALF


def ticks_add(a, delta):
    return (a + delta) & _MASK


def _fraction(wh_per_pulse, imp_per_kwh):
    if imp_per_kwh is not None:
        imp = int(imp_per_kwh)
        if imp <= 0 or imp != imp_per_kwh:
            raise PulseError("imp_per_kwh")
        num = 1000
        den = imp
    else:
        if not wh_per_pulse or wh_per_pulse <= 0:
            raise PulseError("wh_per_pulse")
        # exact for whole or milli-Wh values (1, 10, 0.5, 0.625 ...)
        num = int(wh_per_pulse * 1000 + 0.5)
        den = 1000
        if num <= 0:
            raise PulseError("wh_per_pulse")
    a = num
    b = den
    while b:
        a, b = b, a % b
    return num // a, den // a


class EdgeFilter:
    """Software minimum-period filter for a Pin.irq pulse input (S0 contacts bounce).

    accept(t_ms) is True for an edge at least min_period_ms after the last accepted edge."""

    def __init__(self, min_period_ms=40, diff=ticks_diff):
        self.min_period_ms = min_period_ms
        self.diff = diff
        self.last = None
        self.count = 0
        self.rejected = 0

    def accept(self, t_ms):
        if self.last is not None and self.diff(t_ms, self.last) < self.min_period_ms:
            self.rejected += 1
            return False
        self.last = t_ms
        self.count += 1
        return True


class PulsePower:
    """Power (W) and integer Wh from a pulse count.

    update(count, now_ms, edge_ms=None): count is the running total from the counter (it may
    wrap at 2^count_bits, or restart from 0 after a reset); edge_ms is the tick of the most recent
    pulse edge when known (IRQ), else the pulses are taken to have arrived at now_ms.
    Returns the power in W, or None until it is known (two edges seen)."""

    def __init__(self, wh_per_pulse=1.0, imp_per_kwh=None, timeout_ms=300000, count_bits=None, diff=ticks_diff):
        self.num, self.den = _fraction(wh_per_pulse, imp_per_kwh)
        self.timeout_ms = timeout_ms
        self.count_bits = count_bits
        self.diff = diff
        self.pulses = 0  # pulses counted since construction or restore()
        self.base_wh = 0
        self.power = None
        self._count = None
        self._edge = None
        self._t0 = None

    def restore(self, wh):
        """Start the Wh total at wh (e.g. from flash); the pulse count restarts."""
        self.base_wh = int(wh)
        self.pulses = 0

    @property
    def wh(self):
        return self.base_wh + (self.pulses * self.num) // self.den

    @property
    def wh_per_pulse(self):
        return self.num / self.den

    def update(self, count, now_ms, edge_ms=None):
        if self._count is None:
            self._count = count
            self._t0 = now_ms
            return self.power
        n = count - self._count
        if self.count_bits:
            n &= (1 << self.count_bits) - 1
        elif n < 0:
            n = count  # counter restarted from 0
        self._count = count
        e_j = 3600.0 * self.num / self.den  # joules per pulse
        if n > 0:
            self.pulses += n
            te = now_ms if edge_ms is None else edge_ms
            if self._edge is not None:
                dt = self.diff(te, self._edge)
                if dt > 0:
                    self.power = n * e_j * 1000.0 / dt
            self._edge = te
            return self.power
        if self._edge is None:
            if self.diff(now_ms, self._t0) >= self.timeout_ms:
                self.power = 0.0
            return self.power
        since = self.diff(now_ms, self._edge)
        if since >= self.timeout_ms:
            self.power = 0.0
        elif since > 0 and self.power is not None:
            bound = e_j * 1000.0 / since
            if bound < self.power:
                self.power = bound
        return self.power
