"""The DS18B20Bus steps that run once per cycle or rescan (firmware/drivers/ds18b20.py).

Loaded on use and dropped from the heap between cycles by the temperature service;
functions take the DS18B20Bus as `self`. Scratchpad rules: firmware.ds18b20_rules.
"""
from firmware import ds18b20_rules as rules


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
            set_resolution(self, rom)
    return added, sorted(before - after)


def set_resolution(self, rom):
    """WRITE SCRATCHPAD TH, TL, config (DS18S20 has no resolution setting)."""
    if rom[0] == 0x10:
        return
    try:
        self.sensor.write_scratch(rom, rules.write_scratch_bytes(self.resolution))
    except Exception as exc:  # OneWireError: it left the bus again
        self.error = "resolution not set: %s" % exc


def read(self):
    """[(rom hex, °C or None, status)] after a conversion."""
    rom_hex = rules.rom_hex
    out = []
    for rom in self.roms:
        name = rom_hex(rom)
        value = None
        status = "read error"
        for _ in range(self.retries + 1):
            value, status = read_one(self, rom, name)
            if value is not None or status in ("power_on", "out_of_range"):
                break
        if value is not None:
            self.fresh.discard(name)
            self.last[name] = value
        out.append((name, value, status))
    return out


def read_one(self, rom, name):
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
        set_resolution(self, rom)  # it lost power and recalled its EEPROM setting
    return value, status
