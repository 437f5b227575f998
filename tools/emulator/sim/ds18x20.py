"""Emulator stand-in for MicroPython's frozen `ds18x20` driver: same public API and errors.

Written for hpmon. DS18X20(onewire): scan() (families 0x10, 0x22, 0x28), convert_temp() (SKIP ROM
+ CONVERT T to every sensor, does not wait), read_scratch(rom) (returns the driver's shared
9-byte buffer; plain Exception("CRC error") on a bad CRC), write_scratch(rom, buf), read_temp(rom).
Like the frozen driver it accepts an all-zero scratchpad (CRC 0) and 85.0 power-on values.
"""

_CONVERT = 0x44
_READ_SCRATCH = 0xBE
_WRITE_SCRATCH = 0x4E


class DS18X20:
    def __init__(self, onewire):
        self.ow = onewire
        self.buf = bytearray(9)

    def scan(self):
        return [rom for rom in self.ow.scan() if rom[0] in (0x10, 0x22, 0x28)]

    def convert_temp(self):
        self.ow.reset(True)
        self.ow.writebyte(self.ow.SKIP_ROM)
        self.ow.writebyte(_CONVERT)

    def read_scratch(self, rom):
        self.ow.reset()
        self.ow.select_rom(rom)
        self.ow.writebyte(_READ_SCRATCH)
        self.ow.readinto(self.buf)
        if self.ow.crc8(self.buf):
            raise Exception("CRC error")
        return self.buf

    def write_scratch(self, rom, buf):
        self.ow.reset()
        self.ow.select_rom(rom)
        self.ow.writebyte(_WRITE_SCRATCH)
        self.ow.write(buf)

    def read_temp(self, rom):
        buf = self.read_scratch(rom)
        raw = buf[0] | (buf[1] << 8)
        if raw & 0x8000:
            raw -= 0x10000
        if rom[0] == 0x10:
            # DS18S20 datasheet: T = TEMP_READ - 0.25 + (COUNT_PER_C - COUNT_REMAIN) / COUNT_PER_C,
            # TEMP_READ = register with bit 0 truncated (sign taken from the MSB byte).
            whole = (buf[0] >> 1) - (128 if buf[1] else 0)
            return whole - 0.25 + (buf[7] - buf[6]) / buf[7]
        return raw / 16
