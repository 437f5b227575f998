"""Emulator stand-in for MicroPython's frozen `onewire` driver: same public API and errors.

Written for hpmon over the simulated `_onewire`; on the board the frozen module is used, so the
firmware relies only on what is here: OneWireError, OneWire(pin) with reset(required=False),
readbit, readbyte, readinto, writebit, writebyte, write, select_rom, scan, crc8 and the
SEARCH_ROM / MATCH_ROM / SKIP_ROM constants.
"""
import _onewire as _ow


class OneWireError(Exception):
    pass


class OneWire:
    SEARCH_ROM = 0xF0
    MATCH_ROM = 0x55
    SKIP_ROM = 0xCC

    def __init__(self, pin):
        self.pin = pin
        pin.init(pin.OPEN_DRAIN, pin.PULL_UP)

    def reset(self, required=False):
        present = _ow.reset(self.pin)
        if required and not present:
            raise OneWireError
        return present

    def readbit(self):
        return _ow.readbit(self.pin)

    def readbyte(self):
        return _ow.readbyte(self.pin)

    def readinto(self, buf):
        pin = self.pin
        for i in range(len(buf)):
            buf[i] = _ow.readbyte(pin)

    def writebit(self, value):
        return _ow.writebit(self.pin, value)

    def writebyte(self, value):
        return _ow.writebyte(self.pin, value)

    def write(self, buf):
        pin = self.pin
        for byte in buf:
            _ow.writebyte(pin, byte)

    def select_rom(self, rom):
        self.reset()
        self.writebyte(self.MATCH_ROM)
        self.write(rom)

    def scan(self):
        """ROM codes (8-byte bytearrays) found by the search-ROM algorithm (Maxim AN187).

        At an unexplored branch the 1 path is taken first; at most 255 passes; a pass that
        loses the bus (no presence, or both bits read 1) ends the scan. ROM CRCs are not checked.
        """
        found = []
        prev = None
        turn = -1  # bit index where this pass takes the 0 branch; -1 on the first pass
        for _ in range(255):
            rom, turn = self._search(prev, turn)
            if rom is None:
                break
            found.append(rom)
            prev = rom
            if turn < 0:
                break
        return found

    def _search(self, prev, turn):
        """One search pass; returns (rom or None, deepest fork still to take 0 on, or -1)."""
        if not self.reset():
            return None, -1
        self.writebyte(self.SEARCH_ROM)
        rom = bytearray(8)
        fork = -1
        pin = self.pin
        for n in range(64):
            bit = _ow.readbit(pin)
            comp = _ow.readbit(pin)
            if bit and comp:
                return None, -1  # nobody answered
            if bit == comp:  # 0/0: devices differ at this bit
                if prev is None or n > turn:
                    bit = 1
                    fork = n
                elif n == turn:
                    bit = 0
                else:
                    bit = (prev[n >> 3] >> (n & 7)) & 1
                    if bit:
                        fork = n
            _ow.writebit(pin, bit)
            if bit:
                rom[n >> 3] |= 1 << (n & 7)
        return rom, fork

    def crc8(self, data):
        return _ow.crc8(data)
