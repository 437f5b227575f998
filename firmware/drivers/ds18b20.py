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


# The scan/read steps (drivers/ds18b20_ops) and the reading rules (ds18b20_rules) are
# imported on use and dropped again by the temperature service after each cycle
# (forget_rules), so ~6 KB stay free while the sensors idle; reloading ~3 KB of .mpy from
# flash once per cycle (every interval_s) takes a few ms on the ESP32.
def _rules():
    from firmware import ds18b20_rules
    return ds18b20_rules


def _ops():
    from firmware.drivers import ds18b20_ops
    return ds18b20_ops


def forget_rules():
    """Drop ds18b20_rules and ds18b20_ops from the heap (the next use imports them again)."""
    from firmware.transient import forget
    forget("firmware.ds18b20_rules")
    forget("firmware.drivers.ds18b20_ops")


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
        return _rules().conversion_ms(self.resolution)

    def bus_stuck_low(self):
        """A bus held low answers every read slot with 0; a free bus idles high."""
        return _ops().bus_stuck_low(self)

    def scan(self):
        """Search the bus. Returns (added, lost) lists of ROM hex names."""
        return _ops().scan(self)

    def _set_resolution(self, rom):
        _ops().set_resolution(self, rom)

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
        return _ops().read(self)

    def _read_one(self, rom, name):
        return _ops().read_one(self, rom, name)
