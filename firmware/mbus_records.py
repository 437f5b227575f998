# M-Bus application layer, EN 13757-3: data headers (CI 72/76 long, 7A short, 78 none,
# 73/77 fixed format, 70 application error) and variable data records (DIB, VIB, data).
# Pure module: takes the user data of an RSP_UD frame (everything after the CI field) and
# returns plain values. Untrusted input only ever raises MBusDecodeError; loops are bounded
# by the frame length and there is no recursion.
# Licence: GPL-3.0-or-later.
"""Decode M-Bus (EN 13757-3) headers and data records."""
import struct

from micropython import const

from firmware import mbus_vif as _v


class MBusDecodeError(ValueError):
    """Malformed or unsupported application-layer data."""


# record function (DIF bits 4-5), plus the two special DIFs 0x0F / 0x1F (EN 13757-3 §6.3.2)
FN_INST = const(0)
FN_MAX = const(1)
FN_MIN = const(2)
FN_ERR = const(3)
FN_MFR = const(4)   # DIF 0x0F: manufacturer specific data up to the end
FN_MORE = const(5)  # DIF 0x1F: as 0x0F, and more records follow in the next telegram

_MAX_DIFE = const(10)  # EN 13757-3 §6.3.3: at most 10 DIFEs
_MAX_VIFE = const(10)  # EN 13757-3 §6.4.1: at most 10 VIFEs
_CI_ERROR = const(0x70)

# data field length per DIF data type (EN 13757-3 §6.3.2, table 4); 0x0D and 0x0F special
_DLEN = b"\x00\x01\x02\x03\x04\x04\x06\x08\x00\x01\x02\x03\x04\x00\x06\x00"

# value representation (Record.vtype)
T_NONE = const(0)    # no data
T_INT = const(1)     # signed binary integer (type B)
T_BCD = const(2)     # BCD (type A), sign nibble F
T_REAL = const(3)    # 32-bit IEEE float (type H)
T_TEXT = const(4)    # variable length ASCII (LVAR 00-BF)
T_BIN = const(5)     # variable length binary (LVAR E0-F6): bytes, MSB first
T_DATE = const(6)    # date/time tuple (types F, G, I, J)
T_MFR = const(7)     # manufacturer specific bytes (DIF 0F/1F)


class Record:
    """One data record. Attributes:
    raw (record bytes), data (property: the data field bytes as sent), dif, function (FN_*),
    storage, tariff, subunit, vif (first VIF byte), vifx (FB/FD table code or -1), vife (combinable VIFE bytes),
    q and u (quantity and unit codes, mbus_vif.Q_* / U_*), quantity and unit (their names,
    properties), exp (power of ten), mul (integer factor, e.g. 3600 for hours -> s),
    kind (mbus_vif.K_*), vtype (T_*), raw_value (number as read, before scaling), value
    (scaled to `unit`: int when exact, else float; str/bytes/tuple for text, binary, dates),
    invalid (BCD error nibbles or date IV bit), mfr (manufacturer-specific VIF or VIFE 7F),
    text (plain-text VIF or None).
    """

    # defaults live on the class: a record's own dict holds only what differs (heap)
    raw = b""
    _d = 0  # offset of the data field in raw
    dif = 0
    function = FN_INST
    storage = 0
    tariff = 0
    subunit = 0
    vif = -1
    vifx = -1
    vife = b""
    q = _v.Q_NONE
    u = _v.U_NONE
    exp = 0
    mul = 1
    kind = _v.K_NUM
    vtype = T_NONE
    raw_value = None
    value = None
    invalid = False
    mfr = False
    text = None

    @property
    def quantity(self):
        """Quantity name (libmbus spelling); the text itself for a plain-text VIF."""
        if self.text is not None:
            return self.text
        from firmware import mbus_names
        return mbus_names.QUANTITY[self.q]

    @property
    def unit(self):
        """Unit name of `value` (Wh, J, m^3, m^3/h, W, °C, K, s, V, A, ...)."""
        from firmware import mbus_names
        return mbus_names.UNIT[self.u]

    @property
    def data(self):
        """The data field bytes as sent."""
        return self.raw[self._d:]

    def scaled_int(self, exp10=0):
        """Value as an integer in units of 10^exp10 of `unit` (floor), None if not a number.
        Exact for integer and BCD data: no float is involved."""
        r = self.raw_value
        if self.vtype == T_REAL and r is not None:
            if not _finite(r):
                return None  # NaN/inf from a float32 field
            r = r * self.mul
            e = self.exp - exp10
            return int(r * 10 ** e) if e >= 0 else int(r / 10 ** -e)
        if self.vtype not in (T_INT, T_BCD) or r is None:
            return None
        r = r * self.mul
        e = self.exp - exp10
        if e >= 0:
            return r * 10 ** e
        return r // 10 ** -e

    def wh(self):
        """Energy records (Wh or J) as integer Wh (floor), else None."""
        if self.q != _v.Q_ENERGY or self.invalid:
            return None
        if self.u == _v.U_WH:
            return self.scaled_int(0)
        if self.u == _v.U_J:
            j = self.scaled_int(0)
            return None if j is None else j // 3600
        return None

    def __repr__(self):
        return "<Record %s %r %s st=%d t=%d su=%d fn=%d>" % (
            self.quantity, self.value, self.unit, self.storage, self.tariff, self.subunit,
            self.function)


def _finite(x):
    # False for NaN and +-inf (x - x is NaN for both); math.isfinite without the import
    return x - x == 0


def _sint(b):
    # little-endian two's complement integer of any length (int.from_bytes has no
    # `signed` on MicroPython)
    v = 0
    i = len(b)
    while i:
        i -= 1
        v = (v << 8) | b[i]
    if b and b[-1] & 0x80:
        v -= 1 << (8 * len(b))
    return v


def _uint(b):
    v = 0
    i = len(b)
    while i:
        i -= 1
        v = (v << 8) | b[i]
    return v


def bcd(b):
    """Little-endian BCD -> int; a top nibble F is the minus sign (EN 13757-3 annex A,
    type A). Returns None when any other nibble is A-F (meters use them as error marks)."""
    v = 0
    neg = False
    i = len(b)
    top = True
    while i:
        i -= 1
        x = b[i]
        hi = x >> 4
        lo = x & 15
        if top:
            top = False
            if hi == 15:
                neg = True
                hi = 0
        if hi > 9 or lo > 9:
            return None
        v = v * 100 + hi * 10 + lo
    return -v if neg else v


def _year(y):
    # 7-bit year of types F/G/I: 0-80 -> 2000-2080, 81-99 -> 1981-1999 (EN 13757-3 annex A);
    # 127 (all ones) is the "every year" wildcard of billing dates -> None
    if y == 127:
        return None
    return 1900 + y if 81 <= y <= 99 else 2000 + y


def decode_date(b):
    """Date/time types from little-endian bytes: G (2 bytes), J (3, time), F (4), I (6).
    Returns ((year, month, day, hour, minute, second), invalid); fields a type does not
    carry are None, and so is the year for the "every year" wildcard."""
    n = len(b)
    if n == 2:  # type G
        return ((_year(((b[1] & 0xF0) >> 1) | (b[0] >> 5)), b[1] & 15, b[0] & 31,
                 None, None, None), False)
    if n == 3:  # type J: time of day only
        return ((None, None, None, b[2] & 31, b[1] & 63, b[0] & 63), False)
    if n == 4:  # type F: IV bit = bit 7 of the minute byte
        return ((_year(((b[3] & 0xF0) >> 1) | (b[2] >> 5)), b[3] & 15, b[2] & 31,
                 b[1] & 31, b[0] & 63, 0), (b[0] & 0x80) != 0)
    if n == 6:  # type I: seconds first; IV bit = bit 7 of the minute byte
        return ((_year(((b[4] & 0xF0) >> 1) | (b[3] >> 5)), b[4] & 15, b[3] & 31,
                 b[2] & 31, b[1] & 63, b[0] & 63), (b[1] & 0x80) != 0)
    return (None, True)


def _scale(r, exp, mul):
    if mul != 1:
        r = r * mul
    if exp >= 0:
        return r * 10 ** exp if exp else r
    return r / 10 ** -exp


def _ascii(b, rev):
    n = len(b)
    out = []
    for i in range(n):
        out.append(chr(b[n - 1 - i] if rev else b[i]))
    return "".join(out)


def _rev(b):
    return bytes(reversed(b))


def _need(pos, n, end, what):
    if pos + n > end:
        raise MBusDecodeError("premature end of " + what)


def records(ud, pos=0, end=None, msb=False):
    """Yield the Records of variable data `ud[pos:end]` one at a time (keeps the heap
    small: a caller can keep only what it needs). msb=True for CI 76 (MSB first)."""
    if end is None:
        end = len(ud)
    while pos < end:
        start = pos
        dif = ud[pos]
        pos += 1
        if dif == 0x2F:  # idle filler (EN 13757-3 §6.3.2)
            continue
        r = Record()
        r.dif = dif
        if dif == 0x0F or dif == 0x1F:
            r.function = FN_MFR if dif == 0x0F else FN_MORE
            r.vtype = T_MFR
            r.raw = bytes(ud[start:end])
            r._d = 1
            r.raw_value = r.value = r.raw[1:]  # type: ignore[assignment]
            r.mfr = True
            yield r
            return
        if dif & 0x0F == 0x0F:
            # 0x7F global readout request (master to slave only) and reserved codes
            raise MBusDecodeError("unsupported DIF %02X" % dif)
        r.function = (dif >> 4) & 3
        st = (dif >> 6) & 1
        tf = su = 0
        b = dif
        n = 0
        while b & 0x80:
            if n >= _MAX_DIFE:
                raise MBusDecodeError("more than 10 DIFEs")
            _need(pos, 1, end, "DIF")
            b = ud[pos]
            pos += 1
            st |= (b & 15) << (1 + 4 * n)
            tf |= ((b >> 4) & 3) << (2 * n)
            su |= ((b >> 6) & 1) << n
            n += 1
        if st:
            r.storage = st
        if tf:
            r.tariff = tf
        if su:
            r.subunit = su
        # --- VIB (EN 13757-3 §6.4)
        _need(pos, 1, end, "VIF")
        vif = ud[pos]
        pos += 1
        r.vif = vif
        v = vif & 0x7F
        ext = vif & 0x80
        nvife = 0
        if v == 0x7C:
            # plain-text VIF: length + ASCII (last character first) follow the VIF,
            # then any VIFEs (order as sent by real meters, e.g. Elvaco CMa10)
            _need(pos, 1, end, "VIF")
            ln = ud[pos]
            pos += 1
            _need(pos, ln, end, "VIF")
            r.text = _ascii(ud[pos:pos + ln], not msb)
            pos += ln
            info = (_v.Q_NONE, _v.U_DASH, 0, 1, _v.K_NUM)
        elif (v == 0x7B or v == 0x7D) and not ext:
            # extension-table VIF without its second byte (seen from a Sensus PolluTherm):
            # keep the value, quantity unknown
            info = (_v.Q_UNKNOWN, _v.U_NONE, 0, 1, _v.K_NUM)
        elif v == 0x7B or v == 0x7D:
            _need(pos, 1, end, "VIF")
            x = ud[pos]
            pos += 1
            nvife = 1
            r.vifx = x
            info = _v.fb(x & 0x7F) if v == 0x7B else _v.fd(x & 0x7F)
            ext = x & 0x80
        else:
            info = _v.primary(v)
            if v == 0x7F:
                r.mfr = True
        q, unit, exp, mul, kind = info
        vstart = pos
        mfr_vife = r.mfr
        while ext:
            if nvife >= _MAX_VIFE:
                raise MBusDecodeError("more than 10 VIFEs")
            _need(pos, 1, end, "VIF")
            e = ud[pos]
            pos += 1
            nvife += 1
            ext = e & 0x80
            if mfr_vife:
                continue  # everything after VIF/VIFE 7F is manufacturer specific
            e &= 0x7F
            if e == 0x7F:
                mfr_vife = True
                r.mfr = True
            elif e == 0x7C:
                # extension of the combinable VIFE table: the next byte belongs to it
                mfr_vife = True
            elif _v.vife_is_date(e):
                kind = _v.K_DATETIME
            else:
                exp += _v.vife_exp(e)
        if pos > vstart:
            r.vife = bytes(ud[vstart:pos])
        if q:
            r.q = q
        if unit:
            r.u = unit
        if exp:
            r.exp = exp
        if mul != 1:
            r.mul = mul
        if kind:
            r.kind = kind
        # --- data field
        t = dif & 0x0F
        if t == 0x0D:
            _need(pos, 1, end, "data")
            lv = ud[pos]
            pos += 1
            if lv < 0xC0:
                ln = lv
                vt = T_TEXT
            elif lv < 0xE0:
                ln = lv & 15
                vt = T_BCD
            elif lv < 0xF0:
                ln = lv - 0xE0
                vt = T_BIN
            elif lv < 0xF5:
                ln = 4 * (lv - 0xEC)
                vt = T_BIN
            elif lv < 0xF7:
                ln = 48 if lv == 0xF5 else 64
                vt = T_BIN
            else:
                raise MBusDecodeError("reserved LVAR %02X" % lv)
        else:
            ln = _DLEN[t]
            vt = T_NONE if ln == 0 else (T_REAL if t == 5 else T_BCD if t & 8 else T_INT)
        _need(pos, ln, end, "data")
        d = bytes(ud[pos:pos + ln])
        pos += ln
        r.raw = bytes(ud[start:pos])
        r._d = len(r.raw) - ln
        if msb and ln > 1 and vt != T_TEXT:
            d = _rev(d)  # now little-endian like CI 72 data
        val = None
        if vt == T_TEXT:
            for c in d:
                if c < 0x20 or c > 0x7E:
                    vt = T_BIN  # not printable: report the bytes, not a string
                    break
        if vt == T_TEXT:
            val = _ascii(d, not msb)
        elif vt == T_BIN:
            val = _rev(d)
        elif vt == T_REAL:
            val = struct.unpack("<f", d)[0]
        elif vt == T_BCD:
            val = bcd(d)
            if val is None:
                r.invalid = True
            elif t == 0x0D and lv >= 0xD0:
                val = -val
        elif vt == T_INT:
            if kind != _v.K_NUM and kind != _v.K_ID and ln in (2, 3, 4, 6):
                vt = T_DATE
                val, r.invalid = decode_date(d)
            else:
                val = _sint(d)
        r.vtype = vt
        if val is not None:
            r.raw_value = val
            if vt == T_INT or vt == T_BCD or vt == T_REAL:
                r.value = _scale(val, exp, mul) if kind != _v.K_ID else val
            else:
                r.value = val
        yield r


def manufacturer(code):
    """2-byte manufacturer code -> 3 letters (EN 13757-3 §5.6: 5 bits per letter, A=1)."""
    return (chr(((code >> 10) & 31) + 64) + chr(((code >> 5) & 31) + 64) +
            chr((code & 31) + 64))


def _id(b):
    v = bcd(b)
    if v is None or v < 0:
        return "%X" % _uint(b)  # invalid BCD: the raw number as hex text
    return v


def header(ci, ud):
    """Parse the data header after CI. Returns (header dict, offset of the first record,
    msb_first). Raises MBusDecodeError for unsupported CIs and short headers."""
    if ci == 0x72 or ci == 0x76:  # long header, EN 13757-3 §5.4
        if len(ud) < 12:
            raise MBusDecodeError("header too short")
        msb = ci == 0x76
        idb = ud[0:4]
        man = ud[4:6]
        sig = ud[10:12]
        if msb:
            idb = _rev(idb)
            man = _rev(man)
            sig = _rev(sig)
        m = _uint(man)
        return ({"ci": ci, "id": _id(idb), "manufacturer": manufacturer(m), "man_code": m,
                 "version": ud[6], "medium": ud[7], "access_no": ud[8], "status": ud[9],
                 "signature": _uint(sig)}, 12, msb)
    if ci == 0x7A:  # short header, §5.3
        if len(ud) < 4:
            raise MBusDecodeError("header too short")
        return ({"ci": ci, "access_no": ud[0], "status": ud[1], "signature": _uint(ud[2:4])},
                4, False)
    if ci == 0x78 or ci == 0x51:  # no header (0x51: data sent by a master, e.g. SND_UD)
        return ({"ci": ci}, 0, False)
    if ci == _CI_ERROR:  # application error: one status byte (0 if absent)
        return ({"ci": ci, "error": ud[0] if len(ud) else 0}, len(ud), False)
    raise MBusDecodeError("unsupported CI %02X" % ci)


def decode(ci, ud):
    """Decode user data `ud` (bytes after CI) of an RSP_UD. Returns (header, [Record])."""
    if ci == 0x73 or ci == 0x77:
        from firmware import mbus_fixed  # old fixed format: rare, so loaded on demand
        return mbus_fixed.decode(ud, ci == 0x77)
    hdr, pos, msb = header(ci, ud)
    out = []
    for r in records(ud, pos, len(ud), msb):
        out.append(r)
    hdr["more"] = bool(out) and out[-1].function == FN_MORE
    return hdr, out


# quantity code -> key of heat_summary()
_SUMMARY = ((_v.Q_ENERGY, "energy_wh"), (_v.Q_VOLUME, "volume_m3"), (_v.Q_POWER, "power_w"),
            (_v.Q_VOLUME_FLOW, "flow_m3h"), (_v.Q_FLOW_T, "flow_t"),
            (_v.Q_RETURN_T, "return_t"), (_v.Q_DELTA_T, "delta_t"))


def heat_summary(recs, out=None):
    """Pick the current heat-meter values from records (any iterable, e.g. records()):
    the first instantaneous, storage 0, tariff 0, subunit 0, valid record of each quantity in
    its base unit (energy as integer Wh, volume m^3, power W, flow m^3/h, temperatures degC,
    difference K). Merges into `out` (a dict) so that the telegrams of a multi-telegram read
    can be summarised one after the other."""
    if out is None:
        out = {}
    for r in recs:
        if (r.function != FN_INST or r.storage or r.tariff or r.subunit or r.invalid or
                r.value is None or r.mfr or r.vtype not in (T_INT, T_BCD, T_REAL) or
                not _finite(r.value)):
            continue
        for q, key in _SUMMARY:
            if r.q != q or key in out:
                continue
            u = r.u
            v = None
            if key == "energy_wh":
                v = r.wh()
            elif key == "volume_m3":
                v = r.value if u == _v.U_M3 else None
            elif key == "flow_m3h":
                v = r.value if u == _v.U_M3H else (
                    r.value * 60 if u == _v.U_M3MIN else r.value * 3600 if u == _v.U_M3S else None)
            elif key == "power_w":
                v = r.value if u == _v.U_W else (r.value / 3600 if u == _v.U_JH else None)
            elif u == _v.U_DEGC or u == _v.U_K:
                v = r.value  # the Fahrenheit variants of the FB table are left out
            if v is not None:
                out[key] = v
    return out
