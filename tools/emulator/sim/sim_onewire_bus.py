"""Bit-level model of 1-Wire buses with DS18B20-family sensors, driven by the scenario world.

Runs inside MicroPython (emulator) and CPython (tests). Protocol per the Maxim DS18B20 datasheet
(19-7487 rev 6): ROM commands F0/55/CC/33/EC, function commands 44/BE/4E/48/B8/B4, scratchpad
layout (Figure 9), CRC-8 x^8+x^5+x^4+1 (Figure 11). Every time slot is modelled as wired-AND:
the line is low if the master or any device pulls it low.

Scenario keys read (all through ``world.get``):
  temperatures            {romhex: degC}; a key of 16 hex chars is a sensor (family first byte,
                          CRC last); other keys are ignored. Values via "temperatures.<romhex>".
  onewire_buses           {romhex: gpio}; sensors not listed go on onewire_default_gpio.
  onewire_default_gpio    default 4.
Faults (``world.fault``): ds18b20_unplugged / ds18b20_crc (target = romhex),
onewire_stuck_low / onewire_open (target = str(gpio)).
"""

# DS18B20 datasheet Table 2: max conversion time by resolution 9..12 bits, in microseconds.
_CONV_US = (93750, 187500, 375000, 750000)
_CONV_US_DS18S20 = 750000  # DS18S20: fixed 750 ms
_COPY_US = 10000  # t_WR, EEPROM write time (datasheet: 10 ms max)
_POWER_ON_RAW = 0x0550  # +85 degC, power-on reset value of the temperature register
_FACTORY_EEPROM = (0x4B, 0x46, 0x7F)  # TH=75, TL=70, 12-bit: the usual as-shipped values
_FAMILIES = (0x10, 0x22, 0x28)

# device states
_IDLE = 0  # waiting for a reset pulse
_ROM_CMD = 1
_SEARCH = 2
_MATCH = 3
_TX = 4  # shifting out self.tx (READ ROM, READ SCRATCHPAD); then released (1)
_FUNC_CMD = 5
_RX = 6  # WRITE SCRATCHPAD data bytes
_BUSY = 7  # read slots: 0 until self.busy_until_us, then 1 (CONVERT, COPY, RECALL)
_POWER = 8  # READ POWER SUPPLY


def crc8(data):
    """Dallas/Maxim CRC-8 (reflected poly 0x8C, init 0); 0 over data + its own CRC byte."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0x8C
            else:
                crc >>= 1
    return crc


def _round(x):
    """Nearest integer, halves rounded up (floor(x + 0.5)) without importing math."""
    x += 0.5
    n = int(x)
    return n - 1 if n > x else n


def rom_hex(serial, family=0x28):
    """Builds a valid ROM hex string (family, 48-bit serial LSB first, CRC) for scenarios/tests."""
    rom = bytearray(8)
    rom[0] = family
    for i in range(6):
        rom[1 + i] = (serial >> (8 * i)) & 0xFF
    rom[7] = crc8(rom[:7])
    return "".join("%02x" % b for b in rom)


def parse_rom(key):
    """bytes(8) for a 16-hex-char ROM key; ValueError if CRC or family is wrong."""
    rom = bytes(int(key[i:i + 2], 16) for i in range(0, 16, 2))
    if crc8(rom) != 0:
        raise ValueError("ROM %s: bad CRC" % key)
    if rom[0] not in _FAMILIES:
        raise ValueError("ROM %s: family 0x%02x is not a DS18x20" % (key, rom[0]))
    return rom


def _is_rom_key(key):
    if not isinstance(key, str) or len(key) != 16:
        return False
    for ch in key:
        if ch not in "0123456789abcdefABCDEF":
            return False
    return True


class Ds18b20:
    """One DS18B20 (family 0x28), DS1822 (0x22) or DS18S20 (0x10) as a slot-level state machine."""

    def __init__(self, world, key, rom, parasite=False):
        self.world = world
        self.key = key  # scenario key, used for world.get("temperatures.<key>")
        self.name = key.lower()
        self.rom = rom
        self.family = rom[0]
        self.parasite = parasite
        self.eeprom = list(_FACTORY_EEPROM)
        self.present = True
        self.conversions = 0
        self.power_on()

    # --- power and physics -------------------------------------------------------------
    def power_on(self):
        """Power-on reset: 85 degC in the scratchpad, TH/TL/config recalled from EEPROM."""
        self.raw = _POWER_ON_RAW if self.family != 0x10 else 0x00AA
        self.count_remain = 0x0C
        self.th, self.tl, self.cfg = self.eeprom
        self.pending = None  # raw value being converted
        self.conv_end_us = None
        self.alarm = False
        self.state = _IDLE
        self.busy_until_us = 0

    def resolution(self):
        if self.family == 0x10:
            return 9
        return 9 + ((self.cfg >> 5) & 3)

    def conversion_us(self):
        if self.family == 0x10:
            return _CONV_US_DS18S20
        return _CONV_US[self.resolution() - 9]

    def _quantise(self, t):
        """Temperature register value (and COUNT_REMAIN for 0x10) for t degC."""
        if t < -55.0:
            t = -55.0
        elif t > 125.0:
            t = 125.0
        if self.family == 0x10:
            # DS18S20: 0.5 degC register; T = (reg >> 1) - 0.25 + (16 - COUNT_REMAIN)/16
            t16 = _round(t * 16.0)
            whole = (t16 + 4) // 16
            self.pending_cr = 16 - (t16 + 4 - 16 * whole)
            return ((t16 + 4) // 8) & 0xFFFF
        step = 1 << (12 - self.resolution())  # undefined low bits read as 0
        return (_round(t * 16.0 / step) * step) & 0xFFFF

    def settle(self, now_us):
        """Completes a conversion whose time has elapsed (commits it to the scratchpad)."""
        if self.conv_end_us is not None and now_us >= self.conv_end_us:
            self.conv_end_us = None
            if self.pending is not None:
                self.raw = self.pending
                if self.family == 0x10:
                    self.count_remain = self.pending_cr
                self.conversions += 1
            self.pending = None
            whole = self._signed(self.raw) >> (1 if self.family == 0x10 else 4)
            self.alarm = whole >= self._signed8(self.th) or whole <= self._signed8(self.tl)

    @staticmethod
    def _signed(raw):
        return raw - 0x10000 if raw & 0x8000 else raw

    @staticmethod
    def _signed8(v):
        return v - 0x100 if v & 0x80 else v

    def _start_conversion(self, now_us):
        self.settle(now_us)
        t = self.world.get("temperatures." + self.key)
        self.pending = self._quantise(float(t)) if t is not None else None
        self.conv_end_us = now_us + self.conversion_us()
        self.busy_until_us = self.conv_end_us

    def scratchpad(self, now_us, bad_crc=False):
        """The 9 scratchpad bytes as they read now (datasheet Figure 9)."""
        self.settle(now_us)
        buf = bytearray(9)
        buf[0] = self.raw & 0xFF
        buf[1] = self.raw >> 8
        buf[2] = self.th
        buf[3] = self.tl
        if self.family == 0x10:
            buf[4] = 0xFF
            buf[5] = 0xFF
            buf[6] = self.count_remain
        else:
            buf[4] = self.cfg
            buf[5] = 0xFF
            buf[6] = 0x0C
        buf[7] = 0x10
        buf[8] = crc8(buf[:8])
        if bad_crc:
            buf[8] ^= 0xA5
        return buf

    # --- bus protocol ---------------------------------------------------------------------
    def reset(self):
        self.state = _ROM_CMD
        self.nbit = 0
        self.acc = 0

    def _start_tx(self, data):
        self.tx = data
        self.nbit = 0
        self.state = _TX

    def _rom_bit(self, n):
        return (self.rom[n >> 3] >> (n & 7)) & 1

    def drive(self, now_us):
        """Bit this device puts on the line in the current slot (1 = released)."""
        st = self.state
        if st == _SEARCH:
            phase = self.nbit % 3
            if phase == 2:
                return 1
            bit = self._rom_bit(self.nbit // 3)
            return bit if phase == 0 else bit ^ 1
        if st == _TX:
            n = self.nbit
            if n >= len(self.tx) * 8:
                return 1
            return (self.tx[n >> 3] >> (n & 7)) & 1
        if st == _BUSY:
            return 1 if now_us >= self.busy_until_us else 0
        if st == _POWER:
            return 0 if self.parasite else 1
        return 1

    def sample(self, line, now_us, bus):
        """Consumes the line value of the current slot and advances the state machine."""
        st = self.state
        if st == _ROM_CMD or st == _FUNC_CMD or st == _RX:
            self.acc |= line << (self.nbit & 7)
            self.nbit += 1
            if self.nbit & 7:
                return
            byte = self.acc
            self.acc = 0
            if st == _ROM_CMD:
                self._rom_command(byte)
            elif st == _FUNC_CMD:
                self._function_command(byte, now_us, bus)
            else:
                self._scratch_byte(byte)
        elif st == _SEARCH:
            phase = self.nbit % 3
            if phase == 2 and line != self._rom_bit(self.nbit // 3):
                self.state = _IDLE  # lost the search at this bit position
                return
            self.nbit += 1
            if self.nbit == 64 * 3:
                self._enter_function()
        elif st == _MATCH:
            if line != self._rom_bit(self.nbit):
                self.state = _IDLE
                return
            self.nbit += 1
            if self.nbit == 64:
                self._enter_function()
        elif st == _TX:
            self.nbit += 1
            if self.tx is self.rom and self.nbit == 64:
                self._enter_function()

    def _enter_function(self):
        self.state = _FUNC_CMD
        self.nbit = 0
        self.acc = 0

    def _rom_command(self, cmd):
        self.nbit = 0
        if cmd == 0xF0:  # SEARCH ROM
            self.state = _SEARCH
        elif cmd == 0xEC:  # ALARM SEARCH: only devices whose alarm flag is set take part
            self.state = _SEARCH if self.alarm else _IDLE
        elif cmd == 0x55:  # MATCH ROM
            self.state = _MATCH
        elif cmd == 0xCC:  # SKIP ROM
            self._enter_function()
        elif cmd == 0x33:  # READ ROM
            self._start_tx(self.rom)
        else:
            self.state = _IDLE

    def _function_command(self, cmd, now_us, bus):
        self.nbit = 0
        if cmd == 0x44:  # CONVERT T
            self._start_conversion(now_us)
            self.state = _BUSY
        elif cmd == 0xBE:  # READ SCRATCHPAD
            self._start_tx(self.scratchpad(now_us, bus.crc_fault(self)))
        elif cmd == 0x4E:  # WRITE SCRATCHPAD: TH, TL (+ config on 0x28/0x22)
            self.rx_index = 0
            self.state = _RX
        elif cmd == 0x48:  # COPY SCRATCHPAD to EEPROM
            self.eeprom = [self.th, self.tl, self.cfg]
            self.busy_until_us = now_us + _COPY_US
            self.state = _BUSY
        elif cmd == 0xB8:  # RECALL E2
            self.th, self.tl, self.cfg = self.eeprom
            self.busy_until_us = now_us
            self.state = _BUSY
        elif cmd == 0xB4:  # READ POWER SUPPLY
            self.state = _POWER
        else:
            self.state = _IDLE

    def _scratch_byte(self, byte):
        i = self.rx_index
        if i == 0:
            self.th = byte
        elif i == 1:
            self.tl = byte
        elif i == 2 and self.family != 0x10:
            self.cfg = (byte & 0x60) | 0x1F  # only R1:R0 are writable (datasheet Figure 10)
        self.rx_index = i + 1
        if self.rx_index >= (2 if self.family == 0x10 else 3):
            self.state = _IDLE


class Bus:
    """One 1-Wire bus (one GPIO) with its devices; counts resets and slots for tests."""

    def __init__(self, world, gpio, devices):
        self.world = world
        self.gpio = gpio
        self.target = str(gpio)
        self.devices = devices
        self.resets = 0
        self.slots = 0
        self._fault_ms = None
        self._line = None
        self._active = devices

    def _now_us(self):
        return self.world.now_ms() * 1000

    def _refresh(self, force):
        """Re-reads the fault state at most once per virtual millisecond (and at every reset)."""
        now = self.world.now_ms()
        if not force and now == self._fault_ms:
            return
        self._fault_ms = now
        world = self.world
        if world.fault("onewire_stuck_low", self.target):
            self._line = 0
        elif world.fault("onewire_open", self.target):
            self._line = 1
        else:
            self._line = None
        active = []
        for dev in self.devices:
            present = not world.fault("ds18b20_unplugged", dev.name)
            if present and not dev.present:
                dev.power_on()  # hot-plugged: a fresh power-on, scratchpad back to 85 degC
            dev.present = present
            if present:
                active.append(dev)
        self._active = active

    def crc_fault(self, dev):
        return self.world.fault("ds18b20_crc", dev.name)

    def reset(self):
        """Reset pulse; True if a presence pulse was seen."""
        self.resets += 1
        self._refresh(True)
        if self._line is not None:
            for dev in self.devices:
                dev.state = _IDLE
            return self._line == 0  # a line held low reads as presence
        for dev in self._active:
            dev.reset()
        return len(self._active) > 0

    def slot(self, master_bit):
        """One time slot: the master writes master_bit (1 = read slot); returns the line."""
        self.slots += 1
        self._refresh(False)
        if self._line is not None:
            if self._line == 0:
                for dev in self.devices:
                    dev.state = _IDLE  # held low longer than t_RSTL: every device resets
            return self._line
        now_us = self._now_us()
        line = 1 if master_bit else 0
        active = self._active
        for dev in active:
            line &= dev.drive(now_us)
        for dev in active:
            dev.sample(line, now_us, self)
        return line


_state = {"world": None, "buses": {}}


def set_world(world):
    """Attaches the emulator's world; _onewire uses it for every pin."""
    _state["world"] = world
    _state["buses"] = {}


def current_world():
    """The world set with set_world(), else the emulator's process-wide one."""
    world = _state["world"]
    if world is None:
        import simworld
        world = simworld.world()
    return world


def gpio_of(pin):
    """GPIO number of a machine.Pin stand-in (pin.id(), or an int attribute, or an int)."""
    if isinstance(pin, int):
        return pin
    ident = getattr(pin, "id", None)
    if ident is not None:
        value = ident() if callable(ident) else ident
        if isinstance(value, int):
            return value
    for name in ("gpio", "num", "pin", "_id"):
        value = getattr(pin, name, None)
        if isinstance(value, int):
            return value
    raise ValueError("cannot tell the GPIO of %r" % (pin,))


def build(world, gpio):
    """A Bus with every scenario sensor assigned to this GPIO."""
    temps = world.get("temperatures", None) or {}
    buses = world.get("onewire_buses", None) or {}
    default = int(world.get("onewire_default_gpio", 4))
    placed = {}
    for key, value in buses.items():
        placed[key.lower()] = int(value)
    devices = []
    for key in sorted(temps):
        if not _is_rom_key(key):
            continue
        rom = parse_rom(key)
        if placed.get(key.lower(), default) == gpio:
            devices.append(Ds18b20(world, key, rom))
    return Bus(world, gpio, devices)


def bus_for(world, gpio):
    """The (cached) bus on this GPIO for this world."""
    if _state["world"] is not world:
        _state["world"] = world
        _state["buses"] = {}
    buses = _state["buses"]
    bus = buses.get(gpio)
    if bus is None:
        bus = build(world, gpio)
        buses[gpio] = bus
    return bus
