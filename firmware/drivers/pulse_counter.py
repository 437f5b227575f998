"""S0 / pulse input: hardware counting with machine.Counter (ESP32 PCNT, MicroPython >= 1.26),
or on older firmware Pin.irq with a software minimum-period filter (firmware.pulse.EdgeFilter).

PCNT counts every edge in hardware (its glitch filter, at most ~12.8 us, suits open-collector
S0 outputs); a Pin.irq handler is only scheduled, through an 8-deep queue, so the fallback can
drop pulses in a burst but is fine at meter rates (a few per second at most).

PulseMeter turns the count into power and integer Wh (firmware.pulse.PulsePower) and, for each
reporting interval, the mean power over the whole pulse intervals that ended in it:
(pulses between the last edge before the interval and the newest one) x Wh per pulse / their
time apart. With PCNT an edge time is the midpoint between the polls before and after it (poll
often: +-50 ms is 0.5 % of a 10 s interval); with the IRQ fallback it is the edge time itself.
"""
import time

from firmware.pulse import EdgeFilter, PulsePower, ticks_add, ticks_diff

_diff = getattr(time, "ticks_diff", ticks_diff)  # CPython (tests) has no ticks
_add = getattr(time, "ticks_add", ticks_add)


class PulseInput:
    """Running pulse count; read() -> (count, edge_ms or None)."""

    def __init__(self, board, min_period_ms=40, clock=None):
        self.clock = clock or time.ticks_ms
        self.counter = board.pulse_counter()
        self.count = 0
        self.edge = None
        self.filter = None
        self.pin = None
        if self.counter is not None:
            self.mode = "pcnt"
        else:
            self.filter = EdgeFilter(min_period_ms, _diff)
            self.pin = board.pulse_irq(self._irq)
            self.mode = "irq" if self.pin is not None else "none"

    def _irq(self, pin):
        t = self.clock()
        if self.filter is not None and self.filter.accept(t):
            self.edge = t
            self.count += 1

    def read(self):
        if self.counter is not None:
            return self.counter.value(), None
        while True:  # the scheduled handler may run between the two loads
            count = self.count
            edge = self.edge
            if count == self.count:
                return count, edge


class PulseMeter:
    def __init__(self, inp, wh_per_pulse=1.0, imp_per_kwh=None, timeout_ms=300000):
        self.inp = inp
        self.pp = PulsePower(wh_per_pulse=wh_per_pulse, imp_per_kwh=imp_per_kwh, timeout_ms=timeout_ms,
                             diff=_diff)
        self._count = None
        self._polled = 0
        self.ref_t = None  # last edge before the current interval: ticks, count
        self.ref_c = 0
        self.last_t = None  # newest edge
        self.last_c = 0
        self.edges = 0  # edges in the current interval

    @property
    def wh(self):
        return self.pp.wh

    def poll(self, now_ms):
        count, edge = self.inp.read()
        if self._count is None:
            self._count = count
            self._polled = now_ms
            self.pp.update(count, now_ms, edge)
            return
        if count != self._count and edge is None:
            # PCNT: the edge came between the last poll and this one (a CT burst may have
            # delayed this one); the midpoint halves the worst timing error and has none on average
            edge = _add(self._polled, _diff(now_ms, self._polled) // 2)
        self._polled = now_ms
        self.pp.update(count, now_ms, edge)
        if count != self._count:
            self._count = count
            self.last_t = edge
            self.last_c = count
            self.edges += 1

    def interval_power(self):
        """Power for the interval that ends now (W), or None while still unknown."""
        p = self.pp.power
        if self.edges and self.ref_t is not None:
            dt = _diff(self.last_t, self.ref_t)
            n = self.last_c - self.ref_c
            if dt > 0 and n > 0:
                p = n * 3600000.0 * self.pp.num / (self.pp.den * dt)
        if self.last_t is not None:
            self.ref_t = self.last_t
            self.ref_c = self.last_c
        self.edges = 0
        return p
