# M-Bus fixed data structure (CI 73 LSB first / CI 77 MSB first, EN 13757-3 annex on the
# fixed format, EN 1434-3 heritage): ID, access number, status, medium/units, two counters.
# Split from mbus_records because few meters still send it; imported on demand.
# Licence: GPL-3.0-or-later.
"""Decode the M-Bus fixed data structure."""
from firmware import mbus_records as mr
from firmware import mbus_vif as _v


def fixed_unit(u):
    """(quantity code, unit code, exponent, multiplier) of a fixed-format unit code."""
    if u < 2:
        return (_v.Q_TIME, _v.U_NONE, 0, 1)
    if u < 0x0B:
        return (_v.Q_ENERGY, _v.U_WH, u - 2, 1)
    if u < 0x14:
        return (_v.Q_ENERGY, _v.U_J, u - 8, 1)
    if u < 0x1D:
        return (_v.Q_POWER, _v.U_W, u - 0x14, 1)
    if u < 0x26:
        return (_v.Q_POWER, _v.U_JH, u - 0x1A, 1)
    if u < 0x2F:
        return (_v.Q_VOLUME, _v.U_M3, u - 0x2C, 1)
    if u < 0x38:
        return (_v.Q_VOLUME_FLOW, _v.U_M3H, u - 0x35, 1)
    if u == 0x38:
        return (_v.Q_TEMPERATURE, _v.U_DEGC, -3, 1)
    if u == 0x39:
        return (_v.Q_HCA, _v.U_HCA, 0, 1)
    if u == 0x3F:
        return (_v.Q_DIMENSIONLESS, _v.U_NONE, 0, 1)
    return (_v.Q_RESERVED, _v.U_RESERVED, 0, 1)


def decode(ud, msb=False):
    """Fixed data structure (CI 73, or CI 77 with msb=True) -> (header, [Record, Record])."""
    # CI 73/77: ID(4 BCD) access(1) status(1) medium/unit(2) counter1(4) counter2(4)
    if len(ud) < 16:
        raise mr.MBusDecodeError("fixed data too short")
    idb = ud[0:4]
    if msb:
        idb = mr._rev(idb)
    st = ud[5]
    mu0 = ud[6]
    mu1 = ud[7]
    hdr = {"ci": 0x77 if msb else 0x73, "id": mr._id(idb), "access_no": ud[4], "status": st,
           "medium": ((mu1 >> 6) << 2) | (mu0 >> 6), "fixed": True}
    recs = []
    u1 = mu0 & 0x3F
    for i in (0, 1):
        c = ud[8 + 4 * i:12 + 4 * i]
        if msb:
            c = mr._rev(c)
        u = (mu1 & 0x3F) if i else u1
        hist = i == 1 and u == 0x3E  # "same unit as counter 1, but historic value"
        q, unit, exp, mul = fixed_unit(u1 if hist else u)
        r = mr.Record()
        r.raw = bytes(c) if not msb else mr._rev(c)
        # status bit 6: counters are stored (historic) values
        r.storage = 1 if (st & 0x40 or hist) else 0
        r.q = q
        r.u = unit
        r.exp = exp
        r.mul = mul
        if st & 0x80:  # status bit 7: binary counters, else BCD (as libmbus reads them)
            r.vtype = mr.T_INT
            r.raw_value = mr._uint(c)
        else:
            r.vtype = mr.T_BCD
            r.raw_value = mr.bcd(c)
            r.invalid = r.raw_value is None
        if r.raw_value is not None:
            r.value = mr._scale(r.raw_value, exp, mul)
        recs.append(r)
    return hdr, recs
