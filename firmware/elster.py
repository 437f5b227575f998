"""Elster A100C optical-port (IrDA) frame decoder (pure module).

The meter sends, about once a second at 2400 baud 8N1, a frame:
    01 00 68 02 | 104 data bytes | 03 | checksum
(SOH, 0x00, length 0x68 = 104, STX; ETX). Checksum = sum mod 256 of header + data + ETX; the
Elster reader library of Dave Berkeley (used by the OEM HeatpumpMonitor) accepts it when it differs
from the received byte in fewer than 2 bits, because of systematic 1-bit errors it saw. The import
register rate_1_import is 5 bytes of packed BCD (10 digits, most significant byte first) at data
offset 45 (after product[12], firmware[9], mfg_serial[3], config_serial[2], utility_serial[16],
meter_definition[3]); the OEM firmware and docs use it as Wh.

Receiver wiring: an IR photo-transistor (or photodiode + comparator) at the optical port drives a
UART RX pin. IrDA SIR sends a short light pulse for each 0 bit, so each pulse must be stretched to
about one bit time (RC, or a monostable; remove the 100 nF of the OEM pulse input, which smears the
edges) for a UART to sample it. If light pulls the pin high (photo-transistor to 3.3 V with a
pull-down, as on the OEM board's pulse terminal) the line is inverted: configure the UART with RX
inversion, or, when bytes arrive with every data bit inverted (the reader library's "high
represents 0"), use Reader(invert=True), which XORs each byte with 0xFF.

Reader.feed() takes bytes as they come, resynchronises on garbage, and because the 1-bit checksum
tolerance can pass a corrupted register, it only publishes a value confirmed by a second frame
when the value is new at start-up, goes backwards, or jumps by more than max_jump_wh.
"""

from micropython import const

HEADER = b"\x01\x00\x68\x02"
DATA_LEN = const(104)
FRAME_LEN = const(110)  # 4 header + 104 data + ETX + checksum
ETX = const(0x03)
IMPORT_OFFSET = const(45)  # in the data part
_ETX_POS = const(108)


class ElsterError(ValueError):
    pass


def checksum(frame):
    """Sum mod 256 of header, data and ETX (frame[0:109])."""
    s = 0
    for i in range(_ETX_POS + 1):
        s += frame[i]
    return s & 0xFF


def checksum_ok(calc, received, strict=False):
    if strict:
        return calc == received
    d = calc ^ received
    return d & (d - 1) == 0  # 0 or exactly one bit differs


def bcd(data, off, n):
    """Packed BCD, most significant byte first -> int."""
    v = 0
    for i in range(off, off + n):
        b = data[i]
        hi = b >> 4
        lo = b & 0x0F
        if hi > 9 or lo > 9:
            raise ElsterError("bad BCD")
        v = v * 100 + hi * 10 + lo
    return v


def decode_frame(frame, strict=False):
    """Import register in Wh from one complete (non-inverted) 110-byte frame."""
    if len(frame) != FRAME_LEN:
        raise ElsterError("length")
    for i in range(4):
        if frame[i] != HEADER[i]:
            raise ElsterError("header")
    if frame[_ETX_POS] != ETX:
        raise ElsterError("etx")
    if not checksum_ok(checksum(frame), frame[FRAME_LEN - 1], strict):
        raise ElsterError("checksum")
    return bcd(frame, 4 + IMPORT_OFFSET, 5)


class Reader:
    """Incremental byte-stream parser. feed(data) returns the newest accepted Wh, or None."""

    def __init__(self, invert=False, strict=False, max_jump_wh=100):
        self.invert = invert
        self.strict = strict
        self.max_jump_wh = max_jump_wh
        self.buf = bytearray(FRAME_LEN)
        self.n = 0
        self.wh = None  # last accepted register value
        self.frames = 0  # frames with a good checksum
        self.bad_frames = 0
        self.discarded = 0  # bytes skipped while hunting for a header
        self.unconfirmed = 0  # good frames held back by the plausibility rule
        self.last_error = None
        self._pending = None

    def reset(self):
        self.n = 0

    def feed(self, data):
        result = None
        buf = self.buf
        for b in data:
            if self.invert:
                b ^= 0xFF
            n = self.n
            if n < 4:
                if b == HEADER[n]:
                    buf[n] = b
                    self.n = n + 1
                elif b == HEADER[0]:
                    self.discarded += n
                    buf[0] = b
                    self.n = 1
                else:
                    self.discarded += n + 1
                    self.n = 0
                continue
            buf[n] = b
            n += 1
            self.n = n
            if n == _ETX_POS + 1 and b != ETX:
                self._fail("etx")
            elif n == FRAME_LEN:
                v = self._frame()
                if v is not None:
                    result = v
        return result

    def _frame(self):
        buf = self.buf
        if buf[_ETX_POS] != ETX:
            self._fail("etx")
            return None
        if not checksum_ok(checksum(buf), buf[FRAME_LEN - 1], self.strict):
            self._fail("checksum")
            return None
        try:
            wh = bcd(buf, 4 + IMPORT_OFFSET, 5)
        except ElsterError:
            self._fail("bcd")
            return None
        self.n = 0
        self.frames += 1
        self.last_error = None
        return self._accept(wh)

    def _accept(self, wh):
        cur = self.wh
        lim = self.max_jump_wh
        if lim is None or (cur is not None and 0 <= wh - cur <= lim):
            self.wh = wh
            self._pending = None
            return wh
        p = self._pending
        if p is not None and 0 <= wh - p <= lim:
            self.wh = wh
            self._pending = None
            return wh
        self._pending = wh
        self.unconfirmed += 1
        return None

    def _fail(self, why):
        """Drop the current candidate frame and rescan its bytes for the next header."""
        self.bad_frames += 1
        self.last_error = why
        buf = self.buf
        n = self.n
        start = n
        for i in range(1, n):
            ok = True
            for j in range(min(4, n - i)):
                if buf[i + j] != HEADER[j]:
                    ok = False
                    break
            if ok:
                start = i
                break
        for i in range(start, n):
            buf[i - start] = buf[i]
        self.discarded += start
        self.n = n - start
