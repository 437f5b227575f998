"""DS18B20 temperatures on one 1-Wire bus, through the frozen onewire/ds18x20.

Conversion is started on the whole bus (SKIP ROM + CONVERT T) and the caller
awaits the conversion time, so nothing blocks for the 750 ms of a 12-bit
conversion (DS18B20 datasheet, table 2). What a scratchpad means is decided by
the pure firmware.ds18b20_rules (CRC, 85.0 power-on, all-zero bus).

Resolution: written to each sensor's scratchpad when it appears and again whenever a read
shows another setting (a sensor that lost power recalls its EEPROM setting, datasheet
"Configuration register"); the EEPROM itself is never written (no wear). A read that
fails (CRC, no answer, bad scratchpad) is repeated up to `retries` times: the scratchpad
keeps its value, so a re-read costs ~10 ms of bus time and no new conversion.
"""
import ds18x20

from firmware import ds18b20_rules as rules

FAMILIES = (0x10, 0x22, 0x28)


class DS18B20Bus:
    def __init__(self, gpio, ow, resolution=12, retries=2):
        self.gpio = gpio
        self.ow = ow
        self.sensor = ds18x20.DS18X20(ow)
        self.resolution = resolution
        self.retries = retries
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
        for rom in roms:
            if rules.rom_hex(rom) in added:
                self._set_resolution(rom)
        return added, sorted(before - after)

    def _set_resolution(self, rom):
        """WRITE SCRATCHPAD TH, TL, config (DS18S20 has no resolution setting)."""
        if rom[0] == 0x10:
            return
        try:
            self.sensor.write_scratch(rom, rules.write_scratch_bytes(self.resolution))
        except Exception as exc:  # OneWireError: it left the bus again
            self.error = "resolution not set: %s" % exc

    def start_conversion(self):
        """Start CONVERT T on every sensor of the bus; False if nothing answered."""
        if not self.roms:
            return False
        try:
            self.sensor.convert_temp()
        except Exception as exc:  # OneWireError from reset(True): nobody pulled the line low
            msg = str(exc)
            self.error = ("convert failed: " + msg) if msg else "no presence pulse"
            return False
        return True

    def read(self):
        """[(rom hex, °C or None, status)] after a conversion."""
        out = []
        for rom in self.roms:
            name = rules.rom_hex(rom)
            value = None
            status = "read error"
            for _ in range(self.retries + 1):
                value, status = self._read_one(rom, name)
                if value is not None or status in ("power_on", "out_of_range"):
                    break
            if value is not None:
                self.fresh.discard(name)
                self.last[name] = value
            out.append((name, value, status))
        return out

    def _read_one(self, rom, name):
        try:
            buf = self.sensor.read_scratch(rom)
        except Exception as exc:  # a plain Exception("CRC error") from ds18x20
            if "CRC" not in str(exc):
                return None, "read error"
            # the driver filled its buffer before checking: tell a silent sensor (all 1s)
            # from a corrupted answer
            buf = getattr(self.sensor, "buf", None)
            if buf is None:
                return None, "crc"
        value, status = rules.check(buf, rom[0], name in self.fresh, self.last.get(name))
        if (value is not None and rom[0] != 0x10 and
                rules.resolution_of(buf[4]) != self.resolution):
            self._set_resolution(rom)  # it lost power and recalled its EEPROM setting
        return value, status
