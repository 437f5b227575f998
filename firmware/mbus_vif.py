# M-Bus value information field (VIF) tables, EN 13757-3 clause 6.4: the primary VIF codes,
# the two extension tables reached through VIF FB and FD, and the combinable (orthogonal)
# VIFE codes that may follow any VIF.
# Pure module (no I/O). Quantities and units are small integer codes; their names (libmbus's
# normalised spelling: Wh, J, m^3, m^3/h, W, °C, K, s, V, A, ...) live in mbus_names, which is
# only imported when a name is asked for, so the firmware does not keep ~90 strings in RAM.
# Licence: GPL-3.0-or-later.
"""M-Bus VIF/VIFE lookup: code -> (quantity code, unit code, exponent, multiplier, kind)."""
from micropython import const

# kind of value a VIF describes (decides how the data field is read)
K_NUM = const(0)       # a number (possibly scaled)
K_DATE = const(1)      # date, type G (or F/I if the data field is longer)
K_DATETIME = const(2)  # date and time, type F (32 bit) / I (48 bit) / J (24 bit, time only)
K_ID = const(3)        # identification-like number: never scaled

# quantity codes = index into mbus_names.QUANTITY (public: used by mbus_records and users)
Q_NONE = const(0)
Q_ENERGY = const(1)
Q_VOLUME = const(2)
Q_POWER = const(6)
Q_VOLUME_FLOW = const(7)
Q_FLOW_T = const(9)
Q_RETURN_T = const(10)
Q_DELTA_T = const(11)
Q_EXT_T = const(12)
Q_DATE = const(14)
Q_DATETIME = const(15)
Q_RESERVED = const(17)
Q_FAB_NO = const(20)
Q_MFR = const(24)
Q_UNKNOWN = const(25)
Q_TEMPERATURE = const(91)
Q_TIME = const(92)
Q_DIMENSIONLESS = const(62)
Q_HCA = const(16)
# the others are only used here
_Q_MASS = const(3)
_Q_ON_TIME = const(4)
_Q_OP_TIME = const(5)
_Q_MASS_FLOW = const(8)
_Q_PRESSURE = const(13)
_Q_AVG = const(18)
_Q_ACT = const(19)
_Q_ENH_ID = const(21)
_Q_BUS_ADDR = const(22)
_Q_ANY = const(23)
_Q_CREDIT = const(26)
_Q_DEBIT = const(27)
_Q_FD08 = const(28)    # FD 0x08..0x23 map to 28..55 in table order
_Q_STORE_IV = const(56)
_Q_TP_SECOND = const(57)
_Q_SINCE_READ = const(58)
_Q_TARIFF_START = const(59)
_Q_TARIFF_DUR = const(60)
_Q_TARIFF_PER = const(61)
_Q_VOLT = const(63)
_Q_AMP = const(64)
_Q_FD60 = const(65)    # FD 0x60..0x67 -> 65..72
_Q_BAT_OP = const(73)
_Q_SINCE_CUM = const(74)
_Q_BAT_CHANGE = const(75)
_Q_FD71 = const(76)    # FD 0x71..0x76 -> 76..81
_Q_REACT_E = const(82)
_Q_REACT_P = const(83)
_Q_HUMIDITY = const(84)
_Q_PHASE_UU = const(85)
_Q_PHASE_UI = const(86)
_Q_FREQ = const(87)
_Q_APPARENT = const(88)
_Q_TEMP_LIMIT = const(89)
_Q_MAX_POWER = const(90)

# unit codes = index into mbus_names.UNIT
U_NONE = const(0)
U_WH = const(1)
U_J = const(2)
U_M3 = const(3)
U_S = const(5)
U_W = const(6)
U_JH = const(7)
U_M3H = const(8)
U_M3MIN = const(9)
U_M3S = const(10)
U_DEGC = const(12)
U_K = const(13)
U_DASH = const(15)
U_HCA = const(16)
U_RESERVED = const(17)
U_DEGF = const(32)
_U_KG = const(4)
_U_KGH = const(11)
_U_BAR = const(14)
_U_BAUD = const(18)
_U_BITT = const(19)
_U_MONTH = const(20)
_U_YEAR = const(21)
_U_V = const(22)
_U_A = const(23)
_U_DBM = const(24)
_U_VARH = const(25)
_U_VAR = const(26)
_U_PCT = const(27)
_U_FT3 = const(28)
_U_DEG = const(29)
_U_HZ = const(30)
_U_VA = const(31)

_RESERVED = (Q_RESERVED, U_RESERVED, 0, 1, K_NUM)
_NOTHING = (Q_NONE, U_NONE, 0, 1, K_NUM)
# seconds per unit of the 2-bit time-unit field nn: s, min, h, d
_TSEC = (1, 60, 3600, 86400)


def _time(q, nn):
    return (q, U_S, 0, _TSEC[nn], K_NUM)


def primary(v):
    """Primary VIF v (0x00-0x7F, extension bit removed)."""
    n = v & 7
    g = v >> 3
    if g == 0:
        return (Q_ENERGY, U_WH, n - 3, 1, K_NUM)
    if g == 1:
        return (Q_ENERGY, U_J, n, 1, K_NUM)
    if g == 2:
        return (Q_VOLUME, U_M3, n - 6, 1, K_NUM)
    if g == 3:
        return (_Q_MASS, _U_KG, n - 3, 1, K_NUM)
    if g == 4:
        return _time(_Q_OP_TIME if n & 4 else _Q_ON_TIME, n & 3)
    if g == 5:
        return (Q_POWER, U_W, n - 3, 1, K_NUM)
    if g == 6:
        return (Q_POWER, U_JH, n, 1, K_NUM)
    if g == 7:
        return (Q_VOLUME_FLOW, U_M3H, n - 6, 1, K_NUM)
    if g == 8:
        return (Q_VOLUME_FLOW, U_M3MIN, n - 7, 1, K_NUM)
    if g == 9:
        return (Q_VOLUME_FLOW, U_M3S, n - 9, 1, K_NUM)
    if g == 10:
        return (_Q_MASS_FLOW, _U_KGH, n - 3, 1, K_NUM)
    m = v & 3
    if g == 11:
        return (Q_RETURN_T if n & 4 else Q_FLOW_T, U_DEGC, m - 3, 1, K_NUM)
    if g == 12:
        if n & 4:
            return (Q_EXT_T, U_DEGC, m - 3, 1, K_NUM)
        return (Q_DELTA_T, U_K, m - 3, 1, K_NUM)
    if g == 13:
        if n < 4:
            return (_Q_PRESSURE, _U_BAR, m - 3, 1, K_NUM)
        if v == 0x6C:
            return (Q_DATE, U_DASH, 0, 1, K_DATE)
        if v == 0x6D:
            return (Q_DATETIME, U_DASH, 0, 1, K_DATETIME)
        if v == 0x6E:
            return (Q_HCA, U_HCA, 0, 1, K_NUM)
        return _RESERVED
    if g == 14:
        return _time(_Q_ACT if n & 4 else _Q_AVG, m)
    if v == 0x78:
        return (Q_FAB_NO, U_NONE, 0, 1, K_ID)
    if v == 0x79:
        return (_Q_ENH_ID, U_NONE, 0, 1, K_ID)
    if v == 0x7A:
        return (_Q_BUS_ADDR, U_NONE, 0, 1, K_ID)
    if v == 0x7E:
        return (_Q_ANY, U_NONE, 0, 1, K_NUM)
    if v == 0x7F:
        return (Q_MFR, U_NONE, 0, 1, K_NUM)
    return _NOTHING  # 0x7B/0x7C/0x7D are handled by the caller


def fd(v):
    """FD extension table (VIF 0xFD, second byte v without extension bit)."""
    if v < 8:
        return (_Q_DEBIT if v & 4 else _Q_CREDIT, U_NONE, (v & 3) - 3, 1, K_NUM)
    if v < 0x24:
        if v == 0x19 or v == 0x23:
            return _RESERVED
        return (_Q_FD08 + v - 8, _U_BAUD if v == 0x1C else _U_BITT if v == 0x1D else U_NONE,
                0, 1, K_NUM)
    if v < 0x28:
        return _time(_Q_STORE_IV, v & 3)
    if v < 0x2A:
        return (_Q_STORE_IV, _U_MONTH if v == 0x28 else _U_YEAR, 0, 1, K_NUM)
    if v == 0x2B:
        return (_Q_TP_SECOND, U_S, 0, 1, K_NUM)
    if 0x2C <= v < 0x30:
        return _time(_Q_SINCE_READ, v & 3)
    if v == 0x30:
        return (_Q_TARIFF_START, U_DASH, 0, 1, K_DATETIME)
    if v < 0x34:
        return _time(_Q_TARIFF_DUR, v & 3)
    if v < 0x38:
        return _time(_Q_TARIFF_PER, v & 3)
    if v < 0x3A:
        return (_Q_TARIFF_PER, _U_MONTH if v == 0x38 else _U_YEAR, 0, 1, K_NUM)
    if v == 0x3A:
        return (Q_DIMENSIONLESS, U_NONE, 0, 1, K_NUM)
    if 0x40 <= v < 0x50:
        return (_Q_VOLT, _U_V, (v & 15) - 9, 1, K_NUM)
    if 0x50 <= v < 0x60:
        return (_Q_AMP, _U_A, (v & 15) - 12, 1, K_NUM)
    if 0x60 <= v < 0x68:
        return (_Q_FD60 + v - 0x60, U_NONE, 0, 1, K_NUM)
    if 0x68 <= v < 0x70:
        # nn = hours, days, months, years; months/years are not convertible to seconds
        q = _Q_BAT_OP if v & 4 else _Q_SINCE_CUM
        m = v & 3
        if m < 2:
            return (q, U_S, 0, 3600 if m == 0 else 86400, K_NUM)
        return (q, _U_MONTH if m == 2 else _U_YEAR, 0, 1, K_NUM)
    if v == 0x70:
        return (_Q_BAT_CHANGE, U_DASH, 0, 1, K_DATETIME)
    if 0x71 <= v < 0x77:
        if v == 0x71:
            return (_Q_FD71, _U_DBM, 0, 1, K_NUM)   # RF level
        if v == 0x74:
            return (_Q_FD71 + 3, U_S, 0, 86400, K_NUM)  # remaining battery life, days
        return (_Q_FD71 + v - 0x71, U_NONE, 0, 1, K_NUM)
    return _RESERVED


def fb(v):
    """FB extension table (VIF 0xFB, second byte v without extension bit)."""
    n = v & 1
    if v < 2:
        return (Q_ENERGY, U_WH, n + 5, 1, K_NUM)          # 10^(n-1) MWh
    if v < 4:
        return (_Q_REACT_E, _U_VARH, n + 3, 1, K_NUM)     # 10^n kVARh
    if 8 <= v < 10:
        return (Q_ENERGY, U_J, n + 8, 1, K_NUM)           # 10^(n-1) GJ
    if 0x10 <= v < 0x12:
        return (Q_VOLUME, U_M3, n + 2, 1, K_NUM)
    if 0x14 <= v < 0x18:
        return (_Q_REACT_P, _U_VAR, v & 3, 1, K_NUM)      # 10^(nn-3) kVAR
    if 0x18 <= v < 0x1A:
        return (_Q_MASS, _U_KG, n + 5, 1, K_NUM)          # 10^(n+2) t
    if 0x1A <= v < 0x1C:
        return (_Q_HUMIDITY, _U_PCT, n - 1, 1, K_NUM)
    if v == 0x20 or v == 0x21:
        return (Q_VOLUME, _U_FT3, -n, 1, K_NUM)           # feet^3, 0.1 feet^3
    if 0x28 <= v < 0x2A:
        return (Q_POWER, U_W, n + 5, 1, K_NUM)            # 10^(n-1) MW
    if v == 0x2A or v == 0x2B:
        return (_Q_PHASE_UI if n else _Q_PHASE_UU, _U_DEG, -1, 1, K_NUM)
    if 0x2C <= v < 0x30:
        return (_Q_FREQ, _U_HZ, (v & 3) - 3, 1, K_NUM)
    if 0x30 <= v < 0x32:
        return (Q_POWER, U_JH, n + 8, 1, K_NUM)           # 10^(n-1) GJ/h
    if 0x34 <= v < 0x38:
        return (_Q_APPARENT, _U_VA, v & 3, 1, K_NUM)      # 10^(nn-3) kVA
    if 0x58 <= v < 0x68:
        q = (Q_FLOW_T, Q_RETURN_T, Q_DELTA_T, Q_EXT_T)[(v - 0x58) >> 2]
        return (q, U_DEGF, (v & 3) - 3, 1, K_NUM)
    if 0x70 <= v < 0x78:
        return (_Q_TEMP_LIMIT, U_DEGC if v & 4 else U_DEGF, (v & 3) - 3, 1, K_NUM)
    if v >= 0x78:
        return (_Q_MAX_POWER, U_W, (v & 7) - 3, 1, K_NUM)
    return _RESERVED


# Combinable VIFE codes that turn the record into a date/time:
# 0x39 start date(/time) of; E100 uf1b (0x42,0x43,0x46,0x47,0x4A,0x4B,0x4E,0x4F) and
# E110 1f1b (0x6A,0x6B,0x6E,0x6F) date(/time) of limit exceed / of an event.
def vife_is_date(e):
    """True when combinable VIFE e (extension bit removed) says the value is a date/time."""
    if e == 0x39:
        return True
    if 0x40 <= e < 0x50:
        return (e & 2) != 0
    return e in (0x6A, 0x6B, 0x6E, 0x6F)


def vife_exp(e):
    """Power-of-ten correction carried by combinable VIFE e
    (E111 0nnn multiplicative 10^(nnn-6); E111 1101 multiplicative 10^3)."""
    if 0x70 <= e < 0x78:
        return (e & 7) - 6
    if e == 0x7D:
        return 3
    return 0
