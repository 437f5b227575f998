"""DS18B20 temperatures on one 1-Wire bus, through the frozen onewire/ds18x20.

Conversion is started on the whole bus (SKIP ROM + CONVERT T) and the caller
awaits the conversion time, so nothing blocks for the 750 ms of a 12-bit
conversion (DS18B20 datasheet, table 2). What a scratchpad means is decided by
the pure firmware.ds18b20_rules (CRC, 85.0 power-on, all-zero bus).
"""
import ds18x20

from firmware import ds18b20_rules as rules

FAMILIES = (0x10, 0x22, 0x28)


class DS18B20Bus:
    def __init__(self, gpio, ow, resolution=12):
        self.gpio = gpio
        self.ow = ow
        self.sensor = ds18x20.DS18X20(ow)
        self.resolution = resolution
        self.roms = []
        self.fresh = set()   # seen since their last power-on: 85.0 is the reset value
        self.last = {}       # rom hex -> last good °C (a jump to exactly 85.0 is a brown-out)
        self.error = ""

    def conversion_ms(self):
        return rules.conversion_ms(self.resolution)

    def bus_stuck_low(self):
        """A bus held low answers every read slot with 0; a free bus idles high."""
        try:
            self.ow.reset()
            return self.ow.readbit() == 0 and self.ow.readbyte() == 0
        except Exception:
            return False

    def scan(self):
        """Search the bus. Returns (added, lost) lists of ROM hex names."""
        self.error = ""
        if self.bus_stuck_low():
            self.error = "bus stuck low"
            roms = []
        else:
            try:
                roms = [bytes(r) for r in self.sensor.scan() if rules.rom_valid(r)]
            except Exception as exc:  # OneWireError: no presence pulse at all
                self.error = "scan failed: %s" % exc
                roms = []
        before = set(rules.rom_hex(r) for r in self.roms)
        after = set(rules.rom_hex(r) for r in roms)
        self.roms = roms
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
            name = rules.rom_hex(rom)
            try:
                buf = self.sensor.read_scratch(rom)
            except Exception as exc:  # a plain Exception("CRC error") from ds18x20
                out.append((name, None, "crc" if "CRC" in str(exc) else "read error"))
                continue
            value, status = rules.check(buf, rom[0], name in self.fresh, self.last.get(name))
            if value is not None:
                self.fresh.discard(name)
                self.last[name] = value
            out.append((name, value, status))
        return out
