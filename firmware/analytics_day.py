"""One local day of analytics (pure): integer accumulators, the daily record and its 84-byte
encoding (the field names, the JSON summary and a ring image class are in analytics_summary,
loaded only at midnight and boot: heap on a WROOM-32).

Accumulators hold exact integer sums as (Wh, J) pairs: every interval's energy arrives as whole
joules (the caller carries sub-joule remainders), so nothing is rounded until a record is made.
Heat-weighted temperatures are sums of J x 0.1 K in the same pairs, divided at the end.

Flash layout of the ring (the file or NVS I/O is the caller's): an 8-byte header (b"HPD1",
slot count, record size) then `n` fixed slots; day d lives in slot d % n, so closing a day
rewrites one 84-byte slot. Each record ends with a CRC-16 check so an erased or torn slot
reads as empty. Dates are days since 2020-01-01 (u16, good to 2199).
"""
import struct

from micropython import const

from firmware.analytics_totals import _crc16  # one CRC for every flash record

# Accumulator categories: energies in J, weighted temperatures in J*0.1K.
C_ELEC = const(0)  # all elec (negative readings count as 0)
C_HEAT = const(1)  # net heat (defrost and other negative heat subtract)
C_ELEC_RUN = const(2)  # elec while elec >= starting power
C_HEAT_RUN = const(3)  # net heat while elec >= starting power
C_ELEC_DHW = const(4)  # elec while the DHW signal is set
C_HEAT_DHW = const(5)  # net heat while the DHW signal is set
C_DEFROST = const(6)  # -heat while heat < 0 and the compressor is on
C_IDEAL = const(7)  # elec x Carnot COP while running with flow and outside temperatures
C_HEAT_CARNOT = const(8)  # net heat over the same readings as C_IDEAL
C_HEAT_W = const(9)  # heat > 0 with flow and return temperatures: the weight
C_FLOW_W = const(10)  # weight x flowT
C_DT_W = const(11)  # weight x (flowT - returnT)
C_OUT_W = const(12)  # weight x outsideT (only readings with an outside temperature)
C_OUT_BASE = const(13)  # weight of C_OUT_W
NCAT = const(14)

EPOCH_DAY = 18262  # 2020-01-01 in days since 1970-01-01
_JWH = const(3600)

_FMT = "<HHIiIiIiIIiIhhhHHIIIIiIi"  # field names: analytics_summary.FIELDS
NFIELDS = len(_FMT) - 1
SIZE = struct.calcsize(_FMT) + 2  # + CRC-16
NO_TEMP = -32768  # flow_ct/dt_ct/out_ct when there was no weight
_LIMITS = {"H": (0, 0xFFFF), "h": (-0x8000, 0x7FFF), "I": (0, 0xFFFFFFFF),
           "i": (-0x80000000, 0x7FFFFFFF)}
R_DATE = const(0)
R_DAY_MIN = const(1)
R_ELEC = const(2)
R_HEAT = const(3)
R_ELEC_RUN = const(4)
R_HEAT_RUN = const(5)
R_CUM = const(20)  # cum_elec, cum_heat, cum_elec_run, cum_heat_run follow

# record fields 2..11 come from these categories
_REC_CATS = (C_ELEC, C_HEAT, C_ELEC_RUN, C_HEAT_RUN, C_ELEC_DHW, C_HEAT_DHW, C_DEFROST,
             C_IDEAL, C_HEAT_CARNOT, C_HEAT_W)


class DayError(ValueError):
    pass


def encode(rec):
    """Record tuple -> SIZE bytes. Checks every field: MicroPython's struct.pack truncates
    out-of-range ints silently."""
    if len(rec) != NFIELDS:
        raise DayError("record has %d fields" % len(rec))
    for i in range(NFIELDS):
        lo, hi = _LIMITS[_FMT[i + 1]]
        v = rec[i]
        if not isinstance(v, int) or not lo <= v <= hi:
            raise DayError("field %d out of range: %r (analytics_summary.FIELDS)" % (i, v))
    body = struct.pack(_FMT, *rec)
    return body + struct.pack("<H", _crc16(body, len(body)))


def decode(buf, offset=0):
    """SIZE bytes -> record tuple, or None for an empty/torn slot."""
    if len(buf) - offset < SIZE:
        return None
    n = SIZE - 2
    body = bytes(buf[offset:offset + n])
    if struct.unpack_from("<H", buf, offset + n)[0] != _crc16(body, n):
        return None
    return struct.unpack(_FMT, body)


class DayAcc:
    """Running sums of one local day. date: days since 2020-01-01 (None before NTP)."""

    def __init__(self, date=None, day_s=86400):
        self.date = date
        self.day_s = day_s
        self.wh = [0] * NCAT
        self.j = [0] * NCAT
        self.starts = 0
        self.defrosts = 0
        self.run_ms = 0
        self.valid_elec_ms = 0
        self.valid_heat_ms = 0

    def add(self, cat, joules):
        j = self.j[cat] + joules
        if j >= _JWH or j < 0:
            q = j // _JWH
            self.wh[cat] += q
            j -= q * _JWH
        self.j[cat] = j

    def add_wh(self, cat, wh):
        self.wh[cat] += wh

    def wh_of(self, cat):
        """Whole Wh, rounded half up."""
        return self.wh[cat] + (1 if self.j[cat] >= _JWH // 2 else 0)

    def _ratio(self, num, den):
        d = self.wh[den] * 1.0 + self.j[den] / _JWH
        if d <= 0:
            return None
        return (self.wh[num] * 1.0 + self.j[num] / _JWH) / d

    def mean_c(self, cat):
        """Heat-weighted mean of a temperature category in degC, or None."""
        r = self._ratio(cat, C_OUT_BASE if cat == C_OUT_W else C_HEAT_W)
        return None if r is None else r / 10.0

    def record(self, cum):
        """The record tuple; cum = lifetime (elec, heat, elec_run, heat_run) Wh incl. today."""
        rec = [self.date or 0, (self.day_s + 30) // 60]
        for c in _REC_CATS:
            rec.append(self.wh_of(c))
        for c in (C_FLOW_W, C_DT_W, C_OUT_W):
            m = self.mean_c(c)
            rec.append(NO_TEMP if m is None else max(-32767, min(32767, int(round(m * 100)))))
        rec += [self.starts, self.defrosts, self.run_ms // 1000,
                self.valid_elec_ms // 1000, self.valid_heat_ms // 1000]
        rec += list(cum)
        for i in (R_ELEC, R_ELEC_RUN, 6, 8, 9, 11):
            if rec[i] < 0:
                rec[i] = 0
        return tuple(rec)

    @classmethod
    def from_record(cls, rec):
        """Continue a day from its record (sub-Wh parts restart at 0)."""
        if rec is None or len(rec) != NFIELDS:
            raise DayError("bad record")
        acc = cls(rec[R_DATE], rec[R_DAY_MIN] * 60)
        for i, c in enumerate(_REC_CATS):
            acc.wh[c] = rec[2 + i]
        w = rec[11]  # heat_w_wh
        for i, c in enumerate((C_FLOW_W, C_DT_W, C_OUT_W)):
            ct = rec[12 + i]
            if ct != NO_TEMP:
                acc.add(c, ct * w * 360)  # 0.01 K * Wh -> 0.1 K * J
        if rec[14] != NO_TEMP:
            acc.wh[C_OUT_BASE] = w
        acc.starts = rec[15]
        acc.defrosts = rec[16]
        acc.run_ms = rec[17] * 1000
        acc.valid_elec_ms = rec[18] * 1000
        acc.valid_heat_ms = rec[19] * 1000
        return acc


MAGIC = b"HPD1"
HEADER_SIZE = 8


def slot_offset(date, n):
    """Byte offset of a date's slot in a ring of n slots."""
    return HEADER_SIZE + (date % n) * SIZE


def header(n):
    return MAGIC + struct.pack("<HH", n, SIZE)
