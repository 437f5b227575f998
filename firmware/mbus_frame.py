# M-Bus link layer, EN 13757-2 (frame formats FT1.2): single character E5, short frame
# 10 C A CS 16, control frame 68 03 03 68 C A CI CS 16 and long frame 68 L L 68 C A CI data
# CS 16, where CS = sum of C..data mod 256 (§5.2). Builders for the master's requests, an
# incremental receive parser that resynchronises on garbage and collisions. The wildcard
# search over secondary addresses is in mbus_search.
# Pure module: no I/O; the driver feeds it bytes from the UART stream.
# Licence: GPL-3.0-or-later.
"""M-Bus frames: build requests, parse replies byte-stream-wise."""
from micropython import const


class MBusFrameError(ValueError):
    """Malformed frame (length, checksum, stop byte)."""


ACK = const(0xE5)
START_SHORT = const(0x10)
START_LONG = const(0x68)
STOP = const(0x16)

# C field (EN 13757-2 §5.4): master -> slave
C_SND_NKE = const(0x40)
C_SND_UD = const(0x53)
C_REQ_UD2 = const(0x5B)
C_REQ_UD1 = const(0x5A)
FCB = const(0x20)   # frame count bit, toggled by the master after every successful exchange
FCV = const(0x10)   # frame count bit valid
# slave -> master
C_RSP_UD = const(0x08)
ACD = const(0x20)
DFC = const(0x10)

# addresses (EN 13757-2 §5.5)
ADDR_UNCONFIGURED = const(0)
ADDR_NETWORK = const(0xFD)    # secondary addressing: the selected slave answers
ADDR_BROADCAST_REPLY = const(0xFE)
ADDR_BROADCAST = const(0xFF)  # no reply

# CI field values the master sends (EN 13757-3 §5.2)
CI_APP_RESET = const(0x50)
CI_DATA_SEND = const(0x51)
CI_SELECT = const(0x52)
CI_BAUD_300 = const(0xB8)  # B8..BF = 300, 600, 1200, 2400, 4800, 9600, 19200, 38400 baud

# Frame.kind
F_ACK = const(1)
F_SHORT = const(2)
F_CONTROL = const(3)
F_LONG = const(4)

MAX_FRAME = const(261)  # 68 FF FF 68 + 255 bytes + CS 16


def checksum(b, start=0, end=None):
    """Arithmetic sum of b[start:end] modulo 256 (EN 13757-2 §5.2)."""
    if end is None:
        end = len(b)
    s = 0
    for i in range(start, end):
        s += b[i]
    return s & 0xFF


def short_frame(c, a):
    return bytes((START_SHORT, c, a, (c + a) & 0xFF, STOP))


def long_frame(c, a, ci, data=b""):
    """68 L L 68 C A CI data CS 16 (a control frame when data is empty)."""
    n = len(data) + 3
    if n > 255:
        raise MBusFrameError("frame too long")
    out = bytearray(n + 6)
    out[0] = START_LONG
    out[1] = out[2] = n
    out[3] = START_LONG
    out[4] = c
    out[5] = a
    out[6] = ci
    out[7:7 + len(data)] = data
    out[n + 4] = checksum(out, 4, n + 4)
    out[n + 5] = STOP
    return bytes(out)


def snd_nke(a):
    """SND_NKE: link reset; the slave answers E5 and its next FCB starts fresh."""
    return short_frame(C_SND_NKE, a)


def req_ud2(a, fcb=False):
    """REQ_UD2 (request class 2 data) with FCV set and the given FCB."""
    return short_frame(C_REQ_UD2 | (FCB if fcb else 0), a)


def req_ud1(a, fcb=False):
    return short_frame(C_REQ_UD1 | (FCB if fcb else 0), a)


def snd_ud(a, ci, data=b"", fcb=False):
    return long_frame(C_SND_UD | (FCB if fcb else 0), a, ci, data)


def id_mask(ident):
    """Secondary ID (int of up to 8 digits, or an 8-character string of digits and F/f
    wildcards, most significant first) -> 4 bytes BCD, least significant byte first."""
    if isinstance(ident, int):
        if ident < 0 or ident > 99999999:
            raise MBusFrameError("secondary id out of range")
        ident = "%08d" % ident
    if len(ident) != 8:
        raise MBusFrameError("secondary id needs 8 digits")
    out = bytearray(4)
    for i in range(8):
        ch = ident[i]
        if ch in "Ff":
            d = 15
        elif "0" <= ch <= "9":
            d = ord(ch) - 48
        else:
            raise MBusFrameError("bad digit in secondary id")
        k = 3 - (i >> 1)
        out[k] = (out[k] << 4) | d if i & 1 else d
    return bytes(out)


def select_secondary(ident, man=0xFFFF, version=0xFF, medium=0xFF):
    """SND_UD to address FD, CI 52: select the slave whose ID/manufacturer/version/medium
    match (F nibbles and FF/FFFF are wildcards): EN 13757-3 secondary addressing."""
    d = id_mask(ident) + bytes((man & 0xFF, man >> 8, version, medium))
    return long_frame(C_SND_UD, ADDR_NETWORK, CI_SELECT, d)


def set_primary_address(a, new):
    """SND_UD CI 51, DIF 01 VIF 7A: write the bus address (answered by E5)."""
    return long_frame(C_SND_UD, a, CI_DATA_SEND, bytes((0x01, 0x7A, new)))


def sontex_page(a, page):
    """Sontex Supercal manufacturer-specific page select: CI 51, DIF 01, VIF FF, VIFE 08."""
    return long_frame(C_SND_UD, a, CI_DATA_SEND, bytes((0x01, 0xFF, 0x08, page)))


def app_reset(a):
    return long_frame(C_SND_UD, a, CI_APP_RESET)


def set_baud(a, baud):
    """SND_UD with CI B8..BF (300..38400 baud); the slave answers E5 at the old rate."""
    rates = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400)
    if baud not in rates:
        raise MBusFrameError("unsupported baud rate")
    return long_frame(C_SND_UD, a, CI_BAUD_300 + rates.index(baud))


class Frame:
    """A received frame: kind (F_*), c, a, ci (-1 for ACK/short) and data (bytes after CI)."""

    def __init__(self, kind, c=0, a=0, ci=-1, data=b""):
        self.kind = kind
        self.c = c
        self.a = a
        self.ci = ci
        self.data = data

    def __repr__(self):
        return "<Frame kind=%d C=%02X A=%02X CI=%d len=%d>" % (
            self.kind, self.c, self.a, self.ci, len(self.data))


def parse_frame(b):
    """Strict: b must be exactly one frame. Returns a Frame or raises MBusFrameError."""
    n = len(b)
    if n == 1 and b[0] == ACK:
        return Frame(F_ACK)
    if n == 5 and b[0] == START_SHORT:
        if b[4] != STOP:
            raise MBusFrameError("no stop byte")
        if (b[1] + b[2]) & 0xFF != b[3]:
            raise MBusFrameError("checksum")
        return Frame(F_SHORT, b[1], b[2])
    if n >= 9 and b[0] == START_LONG:
        ln = b[1]
        if b[2] != ln or b[3] != START_LONG or ln < 3:
            raise MBusFrameError("bad length field")
        if n != ln + 6:
            raise MBusFrameError("length field does not match frame size")
        if b[n - 1] != STOP:
            raise MBusFrameError("no stop byte")
        if checksum(b, 4, n - 2) != b[n - 2]:
            raise MBusFrameError("checksum")
        return Frame(F_CONTROL if ln == 3 else F_LONG, b[4], b[5], b[6], bytes(b[7:n - 2]))
    raise MBusFrameError("not an M-Bus frame")


class FrameParser:
    """Incremental receiver: feed() the bytes as they arrive, get complete frames back.

    Bytes that cannot start a frame, and frames that fail the length/stop/checksum checks,
    are skipped one byte at a time so that a frame following garbage or a collision is
    still found (counters: garbage, bad). Call reset() after an inter-frame timeout.
    """

    def __init__(self, size=2 * MAX_FRAME):
        self._buf = bytearray(size)
        self._r = 0
        self._n = 0
        self.garbage = 0
        self.bad = 0

    def reset(self):
        self._r = self._n = 0

    def pending(self):
        """Number of buffered bytes not yet forming a frame."""
        return self._n - self._r

    def feed(self, data):
        out = None
        i = 0
        ln = len(data)
        size = len(self._buf)
        while i < ln:
            if self._r:
                # compact: keep the unparsed tail at the front
                k = self._n - self._r
                self._buf[0:k] = self._buf[self._r:self._n]
                self._r = 0
                self._n = k
            if self._n == size:  # full of an unfinished frame: drop one byte and rescan
                self._r = 1
                self.garbage += 1
                out = self._scan(out)
                continue
            k = min(size - self._n, ln - i)
            self._buf[self._n:self._n + k] = data[i:i + k]
            self._n += k
            i += k
            out = self._scan(out)
        return out or ()

    def _scan(self, out):
        b = self._buf
        while self._r < self._n:
            r = self._r
            avail = self._n - r
            c = b[r]
            if c == ACK:
                f = Frame(F_ACK)
                self._r = r + 1
            elif c == START_SHORT:
                if avail < 5:
                    return out
                if b[r + 4] != STOP or (b[r + 1] + b[r + 2]) & 0xFF != b[r + 3]:
                    self.bad += 1
                    self._r = r + 1
                    continue
                f = Frame(F_SHORT, b[r + 1], b[r + 2])
                self._r = r + 5
            elif c == START_LONG:
                if avail < 4:
                    return out
                n = b[r + 1]
                if b[r + 2] != n or b[r + 3] != START_LONG or n < 3:
                    self.bad += 1
                    self._r = r + 1
                    continue
                if avail < n + 6:
                    return out
                e = r + n + 4
                if b[e + 1] != STOP or checksum(b, r + 4, e) != b[e]:
                    self.bad += 1
                    self._r = r + 1
                    continue
                f = Frame(F_CONTROL if n == 3 else F_LONG, b[r + 4], b[r + 5], b[r + 6],
                          bytes(b[r + 7:e]))
                self._r = e + 2
            else:
                self.garbage += 1
                self._r = r + 1
                continue
            if out is None:
                out = []
            out.append(f)
        if self._r == self._n:
            self._r = self._n = 0
        return out
