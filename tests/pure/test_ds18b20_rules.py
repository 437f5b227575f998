"""DS18B20 validation and naming rules (firmware/ds18b20_rules.py)."""
from firmware import ds18b20_rules as rules

POWER_ON = bytes([0x50, 0x05, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10, 0x1C])  # datasheet power-on


def _pad(raw, cfg=0x7F, family=0x28):
    buf = bytearray(9)
    buf[0] = raw & 0xFF
    buf[1] = (raw >> 8) & 0xFF
    buf[2], buf[3] = 0x4B, 0x46
    buf[4] = cfg if family != 0x10 else 0xFF
    buf[5], buf[6], buf[7] = 0xFF, 0x0C, 0x10
    buf[8] = rules.crc8(buf[:8])
    return bytes(buf)


def test_crc8_reference_values():
    assert rules.crc8(b"123456789") == 0xA1  # CRC-8/MAXIM check value
    assert rules.crc8(bytes([0x02, 0x1C, 0xB8, 0x01, 0, 0, 0])) == 0xA2  # Maxim AN27 example
    assert rules.crc8(POWER_ON) == 0


def test_rom_names_round_trip():
    rom = bytes([0x28, 0xFF, 0x64, 0x1E, 0x82, 0x16, 0x03, 0x00])
    rom = rom[:7] + bytes([rules.crc8(rom[:7])])
    name = rules.channel_name(rom)
    assert name == "t_" + rules.rom_hex(rom) and len(name) == 18 and name == name.lower()
    assert rules.parse_rom(name) == rom
    assert rules.parse_rom(name[2:].upper()) == rom
    assert rules.channel_name(name[2:].upper()) == name
    assert rules.rom_valid(rom)
    bad_crc = rom[:7] + bytes([rom[7] ^ 1])
    assert not rules.rom_valid(bad_crc)
    for text in (rules.rom_hex(bad_crc), "t_28", "zz" * 8, 12345, rules.rom_hex(bytes(8))):
        try:
            rules.parse_rom(text)
            raise AssertionError(text)
        except rules.DsError as exc:
            assert isinstance(exc, ValueError)


def test_temperatures_incl_negative_and_sixteenths():
    # datasheet Table 1 examples: +125, +25.0625, +10.125, +0.5, 0, -0.5, -10.125, -25.0625, -55
    table = ((0x07D0, 125.0), (0x0191, 25.0625), (0x00A2, 10.125), (0x0008, 0.5),
             (0x0000, 0.0), (0xFFF8, -0.5), (0xFF5E, -10.125), (0xFE6F, -25.0625),
             (0xFC90, -55.0))
    for raw, value in table:
        assert rules.celsius(_pad(raw)) == value, hex(raw)
        if raw:
            assert rules.check(_pad(raw)) == (value, "ok"), hex(raw)


def test_rejects_power_on_and_all_zero():
    assert rules.check(POWER_ON, fresh=True) == (None, "power_on")
    assert rules.check(POWER_ON, fresh=False) == (85.0, "ok")  # a real 85 degC, no jump
    assert rules.check(POWER_ON, prev=84.0) == (85.0, "ok")
    assert rules.check(POWER_ON, prev=21.5) == (None, "power_on")  # brown-out jump
    assert rules.check(bytes(9)) == (None, "all_zero")  # passes CRC, but a bus held low
    assert rules.crc8(bytes(9)) == 0
    assert rules.check(b"\xff" * 9) == (None, "no_response")
    bad = bytearray(_pad(0x0191))
    bad[8] ^= 0x10
    assert rules.check(bytes(bad)) == (None, "crc")
    assert rules.check(b"\x00" * 8) == (None, "no_data")
    assert rules.check(None) == (None, "no_data")
    assert rules.check(_pad(0x0191, cfg=0x80)) == (None, "bad_scratchpad")
    assert rules.check(_pad(0x0910)) == (None, "out_of_range")  # 145 degC


def test_offset_applied_to_good_readings_only():
    assert rules.check(_pad(0x0191), offset=-0.25) == (24.8125, "ok")
    assert rules.check(POWER_ON, fresh=True, offset=1.0) == (None, "power_on")


def test_resolution_helpers():
    assert [rules.config_byte(b) for b in (9, 10, 11, 12)] == [0x1F, 0x3F, 0x5F, 0x7F]
    assert [rules.resolution_of(c) for c in (0x1F, 0x3F, 0x5F, 0x7F)] == [9, 10, 11, 12]
    assert [rules.conversion_ms(b) for b in (9, 10, 11, 12)] == [94, 188, 375, 750]
    assert rules.write_scratch_bytes(10) == bytes([0x4B, 0x46, 0x3F])
    for bad in (8, 13, "12"):
        try:
            rules.config_byte(bad)
            raise AssertionError(bad)
        except rules.DsError:
            pass


def test_ds18s20_count_remain():
    # DS18S20 datasheet: +25.0 = 0x0032; with COUNT_REMAIN 12, COUNT_PER_C 16: 25 - 0.25 + 0.25
    buf = bytearray(_pad(0x0032, family=0x10))
    assert rules.celsius(buf, 0x10) == 25.0
    buf[6] = 4
    buf[8] = rules.crc8(buf[:8])
    assert rules.check(bytes(buf), family=0x10) == (25.5, "ok")
    neg = bytearray(_pad(0xFFCE, family=0x10))  # -25.0
    assert rules.celsius(neg, 0x10) == -25.0
    s_power_on = _pad(0x00AA, family=0x10)
    assert rules.check(s_power_on, family=0x10, fresh=True) == (None, "power_on")
    zero_per_c = bytearray(s_power_on)
    zero_per_c[7] = 0
    zero_per_c[8] = rules.crc8(zero_per_c[:8])
    assert rules.check(bytes(zero_per_c), family=0x10) == (None, "bad_scratchpad")
