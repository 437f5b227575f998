"""DS18B20-family reading validation and naming (pure; DS18B20 datasheet 19-7487 rev 6).

The frozen ds18x20 driver passes an all-zero scratchpad (CRC of zeros is 0; bus held low) and
the 85.0 degC power-on value; check() rejects both and applies the per-sensor offset.
"""

POWER_ON_RAW = 0x0550  # +85 degC, temperature register after power-on (DS18B20/DS1822)
POWER_ON_RAW_S = 0x00AA  # +85 degC on the DS18S20 (0.5 degC register)
FAMILIES = {0x10: "DS18S20", 0x22: "DS1822", 0x28: "DS18B20"}
# max conversion time by resolution 9..12 bits (datasheet Table 2: 93.75 ... 750 ms), rounded up
_CONV_MS = (94, 188, 375, 750)


class DsError(ValueError):
    pass


def crc8(data):
    """Dallas/Maxim CRC-8 (x^8+x^5+x^4+1, reflected 0x8C); 0 over data + its CRC byte."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0x8C
            else:
                crc >>= 1
    return crc


def rom_hex(rom):
    """ROM bytes (family first, as read from the bus) -> 16 lowercase hex chars."""
    return "".join("%02x" % b for b in rom)


def channel_name(rom):
    """Stable raw channel name t_<romhex> for a ROM (bytes) or its hex string."""
    return "t_" + (rom.lower() if isinstance(rom, str) else rom_hex(rom))


def rom_valid(rom):
    """True for an 8-byte ROM with a good CRC and a DS18x20 family code."""
    return len(rom) == 8 and rom[0] in FAMILIES and crc8(rom) == 0


def parse_rom(text):
    """bytes(8) from '28..' or 't_28..' (any case); DsError unless a valid DS18x20 ROM."""
    if not isinstance(text, str):
        raise DsError("ROM must be a string")
    if text[:2] in ("t_", "T_"):
        text = text[2:]
    if len(text) != 16:
        raise DsError("ROM must be 16 hex digits: %r" % (text,))
    try:
        rom = bytes(int(text[i:i + 2], 16) for i in range(0, 16, 2))
    except ValueError:
        raise DsError("ROM is not hex: %r" % (text,)) from None
    if not rom_valid(rom):
        raise DsError("not a valid DS18x20 ROM: %r" % (text,))
    return rom


def config_byte(bits):
    """Configuration register for a resolution of 9..12 bits (datasheet Figure 10)."""
    if bits not in (9, 10, 11, 12):
        raise DsError("resolution must be 9..12 bits, not %r" % (bits,))
    return 0x1F | ((bits - 9) << 5)


def resolution_of(cfg):
    return 9 + ((cfg >> 5) & 3)


def conversion_ms(bits):
    """Time to await after CONVERT T at this resolution."""
    config_byte(bits)
    return _CONV_MS[bits - 9]


def write_scratch_bytes(bits, th=0x4B, tl=0x46):
    """TH, TL, config bytes for ds18x20.write_scratch() to set a resolution (0x28/0x22)."""
    return bytes((th & 0xFF, tl & 0xFF, config_byte(bits)))


def raw_value(buf):
    """Signed temperature register from scratchpad bytes 0-1."""
    raw = buf[0] | (buf[1] << 8)
    return raw - 0x10000 if raw & 0x8000 else raw


def celsius(buf, family=0x28):
    """degC from a scratchpad: raw/16 (0x28, 0x22) or the DS18S20 COUNT_REMAIN formula."""
    if family == 0x10:
        per_c = buf[7]
        if not per_c:
            raise DsError("DS18S20 COUNT_PER_C is 0")
        return (raw_value(buf) >> 1) - 0.25 + (per_c - buf[6]) / per_c
    return raw_value(buf) / 16.0


def check(buf, family=0x28, fresh=False, prev=None, offset=0.0):
    """(degC + offset, 'ok') or (None, reason) for a 9-byte scratchpad.

    fresh: first read since the sensor appeared/powered up, when 85.0 is the power-on value.
    prev: last good value; a jump from it to exactly 85.0 is a brown-out reset, rejected too.
    Reasons: no_data, all_zero (bus held low), no_response (all 0xFF), crc, bad_scratchpad,
    power_on, out_of_range.
    """
    if buf is None or len(buf) != 9:
        return None, "no_data"
    zero = ones = True
    for b in buf:
        if b:
            zero = False
        if b != 0xFF:
            ones = False
    if zero:
        return None, "all_zero"
    if ones:
        return None, "no_response"
    if crc8(buf):
        return None, "crc"
    raw = raw_value(buf)
    if family == 0x10:
        if buf[7] == 0:
            return None, "bad_scratchpad"
        power_on = raw == POWER_ON_RAW_S
    else:
        # config register: bit 7 reads 0, bits 0-4 read 1 (datasheet Figure 10)
        if buf[4] & 0x9F != 0x1F:
            return None, "bad_scratchpad"
        power_on = raw == POWER_ON_RAW
    value = celsius(buf, family)
    if power_on and (fresh or (prev is not None and abs(prev - 85.0) > 5.0)):
        return None, "power_on"
    if not -55.0 <= value <= 125.0:
        return None, "out_of_range"
    return value + offset, "ok"
