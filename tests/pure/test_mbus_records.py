"""M-Bus application layer (firmware/mbus_records.py, mbus_vif.py). Runs under pytest and
the unix port. Each expected value is worked out by hand from EN 13757-3 coding rules
(comments show the arithmetic); several byte strings are records of real meters from the
corpus in ../shared/mbus-frames (named in the comment), the rest are hand-made."""
from firmware import mbus_records as mr
from firmware import mbus_vif as mv


def _b(text):
    return bytes(int(x, 16) for x in text.split())


def _recs(text, ci=0x78):
    return mr.decode(ci, _b(text))[1]


def _one(text):
    recs = _recs(text)
    assert len(recs) == 1, recs
    return recs[0]


def _err(text, ci=0x78):
    try:
        mr.decode(ci, _b(text))
    except mr.MBusDecodeError:
        return True
    return False


def _close(a, b):
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def test_integer_types_and_scaling():
    r = _one("04 06 E7 91 00 00")        # Kamstrup 601: 0x91E7 = 37351 kWh
    assert (r.quantity, r.unit, r.value) == ("Energy", "Wh", 37351000)
    assert isinstance(r.value, int) and r.wh() == 37351000
    r = _one("04 14 2C DB 00 00")        # 0xDB2C = 56108 x 0.01 m^3
    assert r.unit == "m^3" and _close(r.value, 561.08) and r.scaled_int(-2) == 56108
    r = _one("03 2B FE FF FF")           # int24 -2 W
    assert r.value == -2 and r.unit == "W"
    r = _one("06 2B 00 00 00 00 00 80")  # int48 most negative
    assert r.value == -(1 << 47)
    r = _one("07 03 FF FF FF FF FF FF FF 7F")  # int64 max Wh
    assert r.value == (1 << 63) - 1
    r = _one("01 FD 1B 02")              # Elvaco digital input
    assert r.quantity == "Digital Input" and r.value == 2


def test_time_units_become_seconds():
    assert _one("04 22 D9 03 00 00").value == 985 * 3600   # on time, hours
    assert _one("02 27 01 00").value == 86400              # operating time, days
    r = _one("01 72 18")                                   # averaging duration 24 h
    assert r.quantity == "Averaging Duration" and r.value == 86400
    assert _one("02 75 0A 00").value == 600                # actuality duration, minutes


def test_bcd_sign_and_error_nibbles():
    r = _one("0C 78 17 58 85 06")        # fabrication number, 8-digit BCD
    assert r.value == 6855817 and r.vtype == mr.T_BCD
    r = _one("0B 60 18 00 F0")           # F000018: top nibble F = minus -> -18 mK
    assert r.raw_value == -18 and _close(r.value, -0.018)
    r = _one("3C 2B BD EB DD DD")        # HYD meter: error nibbles in a BCD power
    assert r.invalid and r.value is None and r.function == mr.FN_ERR
    assert r.scaled_int() is None
    assert mr.bcd(b"\x99\x99") == 9999 and mr.bcd(b"\x0a") is None
    r = _one("0E 06 01 00 00 00 00 01")  # 12-digit BCD
    assert r.raw_value == 10000000001


def test_float_record():
    r = _one("05 5B 00 00 80 3F")        # 1.0 degC flow temperature (float32)
    assert r.vtype == mr.T_REAL and r.value == 1.0 and r.unit == "\u00b0C"
    r = _one("05 2B 00 80 9C 45")        # 5008.0 W
    assert _close(r.value, 5008.0) and r.scaled_int() == 5008


def test_dif_function_storage_tariff_subunit():
    r = _one("14 2D 1D 01 00 00")        # maximum power
    assert r.function == mr.FN_MAX and r.value == 28500
    r = _one("24 2D 01 00 00 00")
    assert r.function == mr.FN_MIN
    r = _one("44 06 51 82 00 00")        # storage 1 via DIF bit 6
    assert r.storage == 1 and r.tariff == 0 and r.subunit == 0
    r = _one("84 80 40 14 00 00 00 00")  # subunit bit 1 in the 2nd DIFE -> 2
    assert (r.storage, r.tariff, r.subunit) == (0, 0, 2)
    r = _one("8C C0 00 15 71 25 00 00")  # subunit 1, 0x15 = 0.1 m^3: 2571 -> 257.1
    assert r.subunit == 1 and _close(r.value, 257.1)
    r = _one("84 80 01 06 03 00 00 00")  # storage bits 0 | 1 << 5 = 32 (Minol)
    assert r.storage == 32
    r = _one("C4 10 06 00 00 00 00")     # storage 1, tariff 1
    assert (r.storage, r.tariff) == (1, 1)
    r = _one("84 A0 40 03 00 00 00 00")  # tariff 2 | 0 << 2, subunit 2
    assert (r.tariff, r.subunit) == (2, 2)
    r = _one("84 8A 40 14 08 31 00 00")  # storage 0 | 10 << 1 = 20, subunit 2 (Sontex)
    assert (r.storage, r.subunit) == (20, 2)


def test_extension_tables_and_combinable_vife():
    r = _one("04 FB 97 72 AF FF FF FF")  # FB 17: kVAR 10^0, VIFE 72 x10^-4 -> -81 x 0.1 VAR
    assert r.quantity == "Reactive power" and _close(r.value, -8.1)
    r = _one("02 FD BA 73 64 03")        # FD 3A dimensionless, VIFE 73: 868 x 10^-3
    assert r.quantity == "Dimensionless" and _close(r.value, 0.868)
    r = _one("04 FD 48 F7 02 00 00")     # FD 48: 10^-1 V
    assert r.unit == "V" and _close(r.value, 75.9)
    r = _one("84 40 FD 59 77 00 00 00")  # FD 59: 10^-3 A, subunit 1
    assert r.unit == "A" and _close(r.value, 0.119) and r.subunit == 1
    r = _one("0A FB 1A 31 05")           # FB 1A relative humidity 10^-1 %
    assert r.quantity == "Relative humidity" and _close(r.value, 53.1)
    r = _one("0C FB 01 20 22 00 00")     # FB 01: 10^0 MWh -> 2220 MWh
    assert r.unit == "Wh" and r.value == 2220 * 10 ** 6 and r.wh() == 2220 * 10 ** 6
    r = _one("02 FD 17 10 00")
    assert r.quantity == "Error flags" and r.value == 16
    r = _one("02 FD 97 1D 00 00")        # error flags + combinable VIFE 1D
    assert r.quantity == "Error flags" and r.vifx == 0x97 and r.vife == b"\x1d"
    r = _one("04 AB FF 01 FE FF FF FF")  # power + VIFE FF (mfr specific) + 01
    assert r.quantity == "Power" and r.value == -2 and r.mfr


def test_manufacturer_specific_vif_and_unknown():
    r = _one("04 FF 07 9A 49 00 00")     # Kamstrup FF 07 register
    assert r.mfr and r.quantity == "Manufacturer specific" and r.value == 0x499A
    r = _one("0C 7B 02 03 00 00")        # VIF 7B without its extension byte (PolluTherm)
    assert r.quantity == "Unknown" and r.value == 302


def test_plain_text_vif_and_variable_length():
    r = _one("02 FC 03 48 52 25 74 22 15")  # Elvaco: "HR%" reversed, VIFE 74 = x10^-2
    assert r.quantity == "%RH" and r.text == "%RH" and _close(r.value, 54.1)
    r = _one("0D FD 0F 05 33 2E 36 2E 31")   # LVAR 5 ASCII, sent last character first
    assert r.quantity == "Software version" and r.value == "1.6.3"
    r = _one("0D 13 C2 34 12")               # LVAR C2: positive BCD, 2 bytes
    assert r.raw_value == 1234 and _close(r.value, 1.234)
    r = _one("0D 13 D1 07")                  # LVAR D1: negative BCD, 1 byte
    assert r.raw_value == -7
    r = _one("0D 7C 02 57 50 E2 34 12")      # "PW", binary 2 bytes -> MSB first 12 34
    assert r.vtype == mr.T_BIN and r.value == b"\x12\x34" and r.quantity == "PW"
    assert _err("0D 13 F7")                  # reserved LVAR


def test_dates_types_g_f_i_j():
    r = _one("42 6C FF 13")              # G: day 31, year 7 | 1 << 3 = 15, month 3
    assert r.vtype == mr.T_DATE and r.value == (2015, 3, 31, None, None, None)
    r = _one("04 6D A1 15 E9 17")        # F with IV bit (REL Padpuls2): 2015-07-09 21:33
    assert r.value == (2015, 7, 9, 21, 33, 0) and r.invalid
    r = _one("04 6D 30 37 E2 14")        # F valid: min 48, hour 23, day 2, month 4, yr 15
    assert r.value == (2015, 4, 2, 23, 48, 0) and not r.invalid
    r = _one("46 6D 00 00 08 16 27 00")  # I (LGB G350): 2016-07-22 08:00:00, storage 1
    assert r.value == (2016, 7, 22, 8, 0, 0) and r.storage == 1
    r = _one("03 6D 05 04 03")           # J: 03:04:05
    assert r.value == (None, None, None, 3, 4, 5)
    r = _one("82 0A 6C E1 F1")           # G year 127 = every year (Sontex billing date)
    assert r.value == (None, 1, 1, None, None, None) and r.storage == 20
    r = _one("42 EC 7E FF 1C")           # date + VIFE 7E ("future value")
    assert r.value == (2015, 12, 31, None, None, None)
    r = _one("82 10 86 39 FF 1C")        # energy VIF + VIFE 39 "start date of": a date
    assert r.vtype == mr.T_DATE and r.value[:3] == (2015, 12, 31) and r.tariff == 1


def test_fillers_mfr_data_and_more_records_flag():
    recs = _recs("2F 2F 04 06 01 00 00 00 2F 1F 01 02 03")
    assert len(recs) == 2
    assert recs[1].function == mr.FN_MORE and recs[1].value == b"\x01\x02\x03"
    h, recs = mr.decode(0x78, _b("0F 00 00"))
    assert recs[0].function == mr.FN_MFR and recs[0].data == b"\x00\x00"
    assert h["more"] is False
    h, recs = mr.decode(0x78, _b("02 5A 79 02 1F"))
    assert h["more"] is True and recs[-1].data == b""
    assert _recs("") == []


def test_malformed_records_raise_own_error():
    assert _err("04 06 01 00")           # data too short
    assert _err("84")                    # DIFE missing
    assert _err("04")                    # VIF missing
    assert _err("04 86")                 # VIFE missing
    assert _err("84 " + "8B " * 10 + "0B 06 00 00 00 00")  # 11 DIFEs
    assert _err("04 86 " + "84 " * 10 + "04 00 00 00 00")  # 11 VIFEs
    assert _err("02 FC 13 48 52")        # plain-text length beyond the data
    assert _err("3F 06 00")              # reserved special-function DIF
    assert _err("7F")                    # global readout request is not a reply record


def test_long_header_ci72():
    ud = _b("78 56 34 12 2D 2C 08 04 07 00 00 00 04 06 64 00 00 00")
    h, recs = mr.decode(0x72, ud)
    assert h["id"] == 12345678 and h["manufacturer"] == "KAM"
    assert (h["version"], h["medium"], h["access_no"], h["status"]) == (8, 4, 7, 0)
    assert recs[0].wh() == 100000
    # invalid BCD in the ID is reported as hex text (libmbus electricity-meter-1: 0500023E)
    h, _ = mr.decode(0x72, _b("3E 02 00 05 2D 2C 08 04 07 00 00 00"))
    assert h["id"] == "500023E"
    assert mr.manufacturer(0x2C2D) == "KAM" and mr.manufacturer(0x4DEE) == "SON"


def test_msb_first_ci76():
    # same meter data MSB first: ID 12345678 as 12 34 56 78, energy BCD 00 00 01 00 = 100
    ud = _b("12 34 56 78 2C 2D 08 04 07 00 00 00 0C 06 00 00 01 00 02 6C 23 12")
    h, recs = mr.decode(0x76, ud)
    assert h["id"] == 12345678 and h["manufacturer"] == "KAM"
    assert recs[0].value == 100000
    assert recs[1].value == (2016, 3, 18, None, None, None)   # 0x2312 -> 2016-03-18


def test_short_header_error_and_unsupported_ci():
    h, recs = mr.decode(0x7A, _b("05 10 00 00 02 5A 79 02"))
    assert h["access_no"] == 5 and h["status"] == 0x10 and _close(recs[0].value, 63.3)
    h, recs = mr.decode(0x70, _b("08"))
    assert h["error"] == 8 and recs == []
    h, _ = mr.decode(0x70, b"")
    assert h["error"] == 0
    assert _err("00 00", ci=0xB7)
    assert _err("78 56 34 12 2D 2C", ci=0x72)   # header too short


def test_fixed_format_ci73():
    # Sensus PolluSonic 2 (libmbus sen_pollusonic_2): BCD counters, kWh and litres
    h, recs = mr.decode(0x73, _b("93 92 91 90 10 00 05 69 31 65 00 00 69 00 00 00"))
    assert h["id"] == 90919293 and h["medium"] == 4 and h["fixed"]
    assert recs[0].quantity == "Energy" and recs[0].wh() == 6531000
    assert recs[1].quantity == "Volume" and _close(recs[1].value, 0.069)
    # unit 3E on counter 2 = counter 1's unit, historic value; status bit 7 = binary
    h, recs = mr.decode(0x73, _b("78 56 34 12 0A 80 E9 7E 01 00 00 00 35 01 00 00"))
    assert recs[0].value == 0.001 and recs[1].storage == 1 and _close(recs[1].value, 0.309)
    assert _err("93 92 91 90 10 00 05 69 31 65", ci=0x73)


def test_energy_in_joule_to_integer_wh():
    r = _one("04 0E 1B 0E 00 00")        # 3611 MJ = 3611e6 J = 1003055.5 Wh -> 1003055
    assert r.wh() == 1003055
    r = _one("04 00 E8 03 00 00")        # 1000 mWh -> 1 Wh (exact integer division)
    assert r.wh() == 1 and r.scaled_int(-3) == 1000
    assert _one("04 2B 01 00 00 00").wh() is None   # not an energy


def test_heat_summary_merges_telegrams():
    s = mr.heat_summary(_recs("04 06 E7 91 00 00 44 06 51 82 00 00 02 59 B9 27 "
                              "02 5D 08 12 04 2D 5B 01 00 00 04 3B 1F 02 00 00 1F"))
    assert s["energy_wh"] == 37351000 and s["power_w"] == 34700
    assert _close(s["flow_t"], 101.69) and _close(s["return_t"], 46.16)
    assert _close(s["flow_m3h"], 0.543)
    s = mr.heat_summary(_recs("02 61 B1 15 04 14 2C DB 00 00"), s)
    assert _close(s["delta_t"], 55.53) and _close(s["volume_m3"], 561.08)
    assert s["energy_wh"] == 37351000


def test_vif_tables_cover_every_code():
    from firmware import mbus_names as mn
    for table in (mv.primary, mv.fd, mv.fb):
        for v in range(0x80):
            q, u, exp, mul, kind = table(v)
            assert 0 <= q < len(mn.QUANTITY) and 0 <= u < len(mn.UNIT)
            assert mul >= 1 and -12 <= exp <= 9 and kind in (0, 1, 2, 3)
    name = lambda t: (mn.QUANTITY[t[0]], mn.UNIT[t[1]], t[2])  # noqa: E731
    assert name(mv.primary(0x13)) == ("Volume", "m^3", -3)
    assert name(mv.primary(0x3B)) == ("Volume flow", "m^3/h", -3)
    assert name(mv.primary(0x62)) == ("Temperature difference", "K", -1)
    assert name(mv.primary(0x5F)) == ("Return temperature", "\u00b0C", 0)
    assert name(mv.fd(0x17))[0] == "Error flags" and name(mv.fd(0x0C))[0] == "Model / Version"
    assert name(mv.fd(0x1B))[0] == "Digital Input" and name(mv.fd(0x22))[0] == \
        "Size of storage block"
    assert name(mv.fd(0x67))[0] == "Special supplier information"
    assert name(mv.fd(0x76))[0] == "Data container" and name(mv.fd(0x71))[1] == "dBm"
    assert name(mv.fb(0x35)) == ("Apparent power", "VA", 1)
    assert name(mv.fb(0x65)) == ("External temperature", "\u00b0F", -2)
    assert mn.QUANTITY[mv.Q_TIME] == "Time" and mn.UNIT[mv.U_DEGF] == "\u00b0F"
    assert mv.vife_exp(0x70) == -6 and mv.vife_exp(0x7D) == 3 and mv.vife_exp(0x20) == 0


def test_small_fuzz_only_own_errors():
    # a few thousand mutations of hand-made record data on this interpreter too (the host
    # suite runs 100,000 frames under CPython): nothing but MBusDecodeError may escape
    base = _b("0C 78 17 58 85 06 04 06 E7 91 00 00 84 80 40 14 00 00 00 00 02 FC 03 48 52 25 "
              "74 22 15 0D FD 0F 05 33 2E 36 2E 31 05 5B 00 00 80 3F 04 6D A1 15 E9 17 "
              "0D 7C 02 57 50 E2 34 12 04 FB 97 72 AF FF FF FF 1F 01 02")
    hdr = _b("78 56 34 12 2D 2C 08 04 07 00 00 00")
    state = [0x2545F491]

    def rnd(n):
        x = state[0]
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        state[0] = x
        return x % n

    decoded = 0
    for _ in range(3000):
        b = bytearray(base)
        for _k in range(1 + rnd(4)):
            i = rnd(len(b))
            op = rnd(4)
            if op == 0:
                b[i] = rnd(256)
            elif op == 1:
                b[i] ^= 1 << rnd(8)
            elif op == 2:
                b = b[:i]
            else:
                b = b[:i] + bytes((rnd(256),)) + b[i:]
            if not b:
                b = bytearray(b"\x2f")
        ci = (0x78, 0x72, 0x76, 0x7A, 0x73, 0x70, 0x51)[rnd(7)]
        data = (hdr + bytes(b)) if ci in (0x72, 0x76) else bytes(b)
        try:
            h, recs = mr.decode(ci, data)
        except mr.MBusDecodeError:
            continue
        decoded += 1
        for r in recs:
            r.wh()
            r.scaled_int(-3)
        mr.heat_summary(recs)
    assert decoded > 300
