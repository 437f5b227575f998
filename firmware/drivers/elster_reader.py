"""Elster A100C optical port on a UART RX: frame decoding, data polarity, power from the register.

The UART runs at 2400 8N1 with RX inversion as configured (the receiver wiring is described in
firmware/elster.py). If the bytes still arrive with every bit inverted (a receiver of the other
polarity), no configuration is needed: until one polarity has decoded two good frames, every
byte goes to two firmware.elster.Readers, one as received and one XOR 0xFF, and the first to
succeed is kept.

The meter sends only its import register, in whole Wh, about once a second. RegisterRate
derives power from it: the mean slope between register changes over about window_ms (the
frame period, 1 s, limits the timing of each change, so a long baseline keeps that under a few
per cent), or the slope since the previous change when they are further apart; while no change
comes for more than twice the usual spacing, power is at most 1 Wh / (time since the last
change), and 0 after timeout_ms.
"""
import time

from firmware.elster import Reader
from firmware.pulse import ticks_diff

_diff = getattr(time, "ticks_diff", ticks_diff)  # CPython (tests) has no ticks

_SLOTS = 16
_MS_PER_WH = 3600000.0


class ElsterInput:
    def __init__(self, max_jump_wh=100):
        self.readers = [Reader(invert=False, max_jump_wh=max_jump_wh), Reader(invert=True, max_jump_wh=max_jump_wh)]
        self.reader = None  # the polarity that works, once known

    def feed(self, data):
        """Bytes from the UART -> a newly accepted register value (Wh) or None."""
        if self.reader is not None:
            return self.reader.feed(data)
        result = None
        for r in self.readers:
            v = r.feed(data)
            if r.frames >= 2:
                self.reader = r
                return v if v is not None else r.wh
            if v is not None:
                result = v
        return result

    @property
    def inverted(self):
        return None if self.reader is None else self.reader.invert

    def counts(self):
        """(good frames, bad frames, bytes discarded) so far."""
        rs = (self.reader,) if self.reader is not None else self.readers
        return (sum(r.frames for r in rs), sum(r.bad_frames for r in rs), sum(r.discarded for r in rs))


class RegisterRate:
    """Power (W) from a Wh register that steps in whole Wh; update() on every reading."""

    def __init__(self, window_ms=60000, timeout_ms=300000, diff=_diff):
        self.window_ms = window_ms
        self.timeout_ms = timeout_ms
        self.diff = diff
        self.reset()

    def reset(self):
        self.wh = None
        self.since = None  # when the current value was first seen (ticks ms)
        self.kept = []  # (t, wh) of register changes, at least window/16 apart
        self.new_t = self.new_wh = None  # newest change

    def update(self, wh, now):
        if self.wh is None or wh < self.wh:
            self.reset()
            self.wh = wh
            self.since = now
            return
        if wh == self.wh:
            return
        self.wh = wh
        self.new_t = now
        self.new_wh = wh
        kept = self.kept
        if not kept or self.diff(now, kept[-1][0]) >= self.window_ms // _SLOTS:
            kept.append((now, wh))
            if len(kept) > _SLOTS + 1:
                kept.pop(0)

    def power(self, now):
        if self.new_t is None:
            if self.since is not None and self.diff(now, self.since) >= self.timeout_ms:
                return 0.0
            return None
        since = self.diff(now, self.new_t)
        if since >= self.timeout_ms:
            return 0.0
        ref = None  # the oldest change within the window, else the latest one before it
        for t, wh in self.kept:
            if wh >= self.new_wh:
                break
            ref = (t, wh)
            if self.diff(self.new_t, t) <= self.window_ms:
                break
        if ref is None:
            return None
        dt = self.diff(self.new_t, ref[0])
        if dt <= 0:
            return None
        n = self.new_wh - ref[1]
        p = n * _MS_PER_WH / dt
        if since > 2 * dt / n and since > 0:
            bound = _MS_PER_WH / since
            if bound < p:
                p = bound
        return p
