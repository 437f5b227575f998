"""DS18B20 temperatures on one 1-Wire bus, through the frozen onewire/ds18x20.

Conversion is started on the whole bus (SKIP ROM + CONVERT T) and the caller
awaits the conversion time, so nothing blocks for the 750 ms of a 12-bit
conversion (DS18B20 datasheet, table 2).
"""
import ds18x20

CONVERSION_MS = 750  # 12-bit resolution, DS18B20 datasheet
POWER_ON_C = 85.0    # scratchpad reset value (datasheet, "Operation - measuring temperature")


def rom_hex(rom):
    return "".join("%02x" % b for b in rom)


def scratch_to_celsius(buf):
    """Temperature from a 9-byte scratchpad (12-bit, family 0x28/0x22)."""
    raw = buf[0] | (buf[1] << 8)
    if raw & 0x8000:
        raw -= 0x10000
    return raw / 16.0


class DS18B20Bus:
    def __init__(self, gpio, ow):
        self.gpio = gpio
        self.sensor = ds18x20.DS18X20(ow)
        self.roms = []
        self.fresh = set()   # ROMs seen since their last power-on: 85.0 is suspect
        self.error = ""

    def scan(self):
        """Search the bus. Returns (added, lost) lists of ROM hex names."""
        try:
            roms = self.sensor.scan()
        except Exception as exc:  # OneWireError, or a bus stuck low
            self.error = "scan failed: %s" % exc
            roms = []
        before = set(rom_hex(r) for r in self.roms)
        after = set(rom_hex(r) for r in roms)
        self.roms = [bytes(r) for r in roms]
        added = sorted(after - before)
        for name in added:
            self.fresh.add(name)
        return added, sorted(before - after)

    def start_conversion(self):
        """Start CONVERT T on every sensor of the bus; False if nothing answered."""
        if not self.roms:
            return False
        try:
            self.sensor.convert_temp()
        except Exception as exc:
            self.error = "convert failed: %s" % exc
            return False
        return True

    def read(self):
        """[(rom hex, °C or None, status)] after a conversion."""
        out = []
        for rom in self.roms:
            name = rom_hex(rom)
            try:
                buf = self.sensor.read_scratch(rom)
            except Exception as exc:  # plain Exception("CRC error") from ds18x20
                out.append((name, None, "read error: %s" % exc))
                continue
            if not any(buf):
                # All zeros pass the CRC (CRC8 of zeros is zero) but mean a bus held low.
                out.append((name, None, "all-zero scratchpad (bus stuck low?)"))
                continue
            celsius = scratch_to_celsius(buf)
            if celsius == POWER_ON_C and name in self.fresh:
                out.append((name, None, "power-on value, not a measurement"))
                continue
            self.fresh.discard(name)
            out.append((name, celsius, "ok"))
        return out
