"""Simulated 1-Wire stack (tools/emulator/sim: _onewire, sim_onewire_bus, onewire, ds18x20).

Runs under pytest and the unix port. A tiny stand-in world gives the scenario truth and faults.
"""
import sys

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
_SIM = _HERE + "/../../tools/emulator/sim"
sys.path.append(_SIM)  # appended, so it never shadows anything else
try:
    import _onewire
    import ds18x20
    import onewire
    import sim_onewire_bus
finally:
    sys.path.remove(_SIM)

# Independent CRC reference values: CRC-8/MAXIM check value of "123456789" is 0xA1; Maxim AN27
# works the ROM 02 1C B8 01 00 00 00 to CRC 0xA2; the DS18B20 power-on scratchpad
# 50 05 4B 46 7F FF 0C 10 has CRC 0x1C.
ROM_A = sim_onewire_bus.rom_hex(0x0B0B0B0B0B1C)
ROM_B = sim_onewire_bus.rom_hex(0x0000000000FF)
ROM_C = sim_onewire_bus.rom_hex(0xFFFFFFFFFF01)
ROM_D = sim_onewire_bus.rom_hex(0x123456789ABC)
ROM_E = sim_onewire_bus.rom_hex(0x123456789ABD)
ROM_S = sim_onewire_bus.rom_hex(0x00000000C0DE, family=0x10)


class World:
    def __init__(self, scenario, faults=()):
        self.t = 0
        self.scenario = scenario
        self.faults = list(faults)

    def now_ms(self):
        return self.t

    def get(self, path, default=None):
        node = self.scenario
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def fault(self, kind, target=None):
        for k, tgt in self.faults:
            if k == kind and (tgt is None or tgt == target):
                return True
        return False


class Pin:
    OPEN_DRAIN = 7
    PULL_UP = 1

    def __init__(self, gpio):
        self.gpio = gpio
        self.mode = None

    def id(self):
        return self.gpio

    def init(self, mode, pull):
        self.mode = (mode, pull)


def _world(temps, buses=None, faults=()):
    scenario = {"temperatures": temps}
    if buses:
        scenario["onewire_buses"] = buses
    world = World(scenario, faults)
    sim_onewire_bus.set_world(world)
    return world


def _hex(rom):
    return "".join("%02x" % b for b in rom)


def _rom(h):
    return bytes(int(h[i:i + 2], 16) for i in range(0, 16, 2))


def _sensor(gpio=4):
    return ds18x20.DS18X20(onewire.OneWire(Pin(gpio)))


def _crc_bitwise(data):
    crc = 0
    for byte in data:
        for i in range(8):
            mix = (crc ^ (byte >> i)) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
    return crc


def test_crc8_reference_values():
    assert _onewire.crc8(b"123456789") == 0xA1
    assert _onewire.crc8(bytes([0x02, 0x1C, 0xB8, 0x01, 0, 0, 0])) == 0xA2
    assert _onewire.crc8(bytes([0x50, 0x05, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10])) == 0x1C
    for h in (ROM_A, ROM_B, ROM_C, ROM_D, ROM_S):
        assert _crc_bitwise(_rom(h)) == 0
    assert ROM_A[:2] == "28" and ROM_S[:2] == "10"


def test_api_surface_matches_frozen_driver():
    assert onewire.OneWire.SEARCH_ROM == 0xF0
    assert onewire.OneWire.MATCH_ROM == 0x55
    assert onewire.OneWire.SKIP_ROM == 0xCC
    assert issubclass(onewire.OneWireError, Exception)
    _world({})
    pin = Pin(4)
    ow = onewire.OneWire(pin)
    assert pin.mode == (Pin.OPEN_DRAIN, Pin.PULL_UP)
    assert ow.pin is pin
    assert ow.reset() is False  # empty bus: no presence pulse
    try:
        ow.reset(True)
        raise AssertionError("no OneWireError")
    except onewire.OneWireError:
        pass
    assert ow.scan() == []
    assert ow.crc8(b"123456789") == 0xA1


def test_scan_finds_every_rom_on_several_buses():
    temps = {ROM_A: 20.0, ROM_B: 21.0, ROM_C: 22.0, ROM_D: 23.0, ROM_E: 24.0}
    _world(temps, {ROM_D: 5, ROM_E: 5, ROM_C: "4"})
    ow4 = onewire.OneWire(Pin(4))
    ow5 = onewire.OneWire(Pin(5))
    found4 = ow4.scan()
    found5 = ow5.scan()
    assert sorted(_hex(r) for r in found4) == sorted([ROM_A, ROM_B, ROM_C])
    assert sorted(_hex(r) for r in found5) == sorted([ROM_D, ROM_E])
    for rom in found4 + found5:
        assert isinstance(rom, bytearray) and len(rom) == 8
        assert _crc_bitwise(rom) == 0 and ow4.crc8(rom) == 0
    assert onewire.OneWire(Pin(6)).scan() == []
    # the search takes the 1 branch first at every fork, as the frozen driver does
    assert [_hex(r) for r in ow5.scan()] == [_hex(r) for r in found5]
    assert _hex(found5[0]) == ROM_E  # ROMs D and E differ first at bit 8: E has a 1 there


def test_ds_scan_filters_families_and_reads_every_sensor():
    temps = {ROM_A: 19.5, ROM_S: 40.25, "outside": 3.0}  # a non-ROM key is ignored
    _world(temps)
    ds = _sensor()
    roms = ds.scan()
    assert sorted(_hex(r) for r in roms) == sorted([ROM_A, ROM_S])


def test_power_on_value_is_85_until_first_conversion():
    world = _world({ROM_A: 21.5})
    ds = _sensor()
    rom = _rom(ROM_A)
    buf = ds.read_scratch(rom)
    assert bytes(buf) == bytes([0x50, 0x05, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10, 0x1C])
    assert ds.read_temp(rom) == 85.0
    ds.convert_temp()
    world.t += 750
    assert ds.read_temp(rom) == 21.5


def test_temperatures_negative_and_sixteenth_steps():
    cases = {ROM_A: -10.125, ROM_B: 0.0625, ROM_C: 25.0625, ROM_D: -0.0625, ROM_E: -55.0}
    world = _world(cases)
    ds = _sensor()
    ds.convert_temp()
    world.t += 750
    for key, truth in cases.items():
        assert ds.read_temp(_rom(key)) == truth, key
    # an arbitrary value is quantised to the nearest 1/16 degC
    world.scenario["temperatures"][ROM_A] = 37.03
    world.scenario["temperatures"][ROM_B] = 200.0  # beyond the +125 degC range: saturates
    ds.convert_temp()
    world.t += 750
    assert ds.read_temp(_rom(ROM_A)) == 37.0
    assert ds.read_temp(_rom(ROM_B)) == 125.0
    assert ds.read_scratch(_rom(ROM_A)) is ds.buf  # the shared buffer, as the frozen driver


def test_read_before_conversion_completes_returns_old_value():
    world = _world({ROM_A: 30.0})
    ow = onewire.OneWire(Pin(4))
    ds = ds18x20.DS18X20(ow)
    rom = _rom(ROM_A)
    ds.convert_temp()
    assert ow.readbit() == 0  # read slot while converting: 0 (datasheet, CONVERT T)
    world.t = 749
    assert ow.readbit() == 0
    assert ds.read_temp(rom) == 85.0  # old value still in the scratchpad
    world.t = 750
    ow.reset()
    ow.writebyte(0xCC)
    ow.writebyte(0x44)
    assert ow.readbit() == 0  # a second conversion started at t=750
    world.t = 1500
    assert ow.readbit() == 1
    assert ds.read_temp(rom) == 30.0
    world.scenario["temperatures"][ROM_A] = 31.0
    ds.convert_temp()
    world.t = 1600
    assert ds.read_temp(rom) == 30.0
    world.t = 2250
    assert ds.read_temp(rom) == 31.0


def test_crc_fault_raises_plain_exception():
    world = _world({ROM_A: 20.0, ROM_B: 22.0}, faults=[("ds18b20_crc", ROM_A)])
    ds = _sensor()
    ds.convert_temp()
    world.t += 750
    try:
        ds.read_temp(_rom(ROM_A))
        raise AssertionError("CRC error not raised")
    except Exception as exc:
        assert type(exc) is Exception and exc.args == ("CRC error",)
    assert ds.read_temp(_rom(ROM_B)) == 22.0
    world.faults = []
    assert ds.read_temp(_rom(ROM_A)) == 20.0


def test_unplugged_sensor_disappears_and_replugs_at_85():
    world = _world({ROM_A: 20.0, ROM_B: 22.0}, faults=[("ds18b20_unplugged", ROM_B)])
    ds = _sensor()
    assert [_hex(r) for r in ds.scan()] == [ROM_A]
    try:
        ds.read_temp(_rom(ROM_B))  # nobody drives the bus: all 0xFF fails the CRC
        raise AssertionError("CRC error not raised")
    except Exception as exc:
        assert exc.args == ("CRC error",)
    assert bytes(ds.buf) == b"\xff" * 9
    world.faults = [("ds18b20_unplugged", ROM_A), ("ds18b20_unplugged", ROM_B)]
    try:
        ds.convert_temp()
        raise AssertionError("OneWireError not raised")
    except onewire.OneWireError:
        pass
    world.faults = []
    world.t += 10
    assert sorted(_hex(r) for r in ds.scan()) == sorted([ROM_A, ROM_B])
    assert ds.read_temp(_rom(ROM_B)) == 85.0  # fresh power-on after the hot-plug


def test_stuck_low_bus_gives_zero_scratchpad_that_passes_crc():
    world = _world({ROM_A: 20.0}, faults=[("onewire_stuck_low", "4")])
    ow = onewire.OneWire(Pin(4))
    ds = ds18x20.DS18X20(ow)
    assert ow.reset() is True  # a low line looks like a presence pulse
    assert ds.scan() == []  # search reads 0/0 everywhere: no ROM with a DS18x20 family
    assert ds.read_temp(_rom(ROM_A)) == 0.0
    assert bytes(ds.buf) == bytes(9)
    world.faults = []
    world.t += 1
    ds.convert_temp()
    world.t += 750
    assert ds.read_temp(_rom(ROM_A)) == 20.0


def test_stuck_low_scan_is_bounded_like_the_frozen_driver():
    _world({ROM_A: 20.0}, faults=[("onewire_stuck_low", "4")])
    roms = onewire.OneWire(Pin(4)).scan()
    assert len(roms) == 255
    assert all(r[0] == 0xFF for r in roms)


def test_open_bus():
    _world({ROM_A: 20.0}, faults=[("onewire_open", "4")])
    ow = onewire.OneWire(Pin(4))
    ds = ds18x20.DS18X20(ow)
    assert ow.reset() is False
    assert ow.scan() == []
    try:
        ds.convert_temp()
        raise AssertionError("OneWireError not raised")
    except onewire.OneWireError:
        pass
    try:
        ds.read_scratch(_rom(ROM_A))
        raise AssertionError("CRC error not raised")
    except Exception as exc:
        assert exc.args == ("CRC error",)


def _busy_after(ow, world, ms):
    ow.reset()
    ow.writebyte(0xCC)
    ow.writebyte(0x44)
    start = world.t
    world.t = start + ms
    return ow.readbit() == 0


def test_resolution_changes_conversion_time_and_quantisation():
    world = _world({ROM_A: 21.3, ROM_B: 21.3}, {ROM_B: 5})
    ow = onewire.OneWire(Pin(4))
    ds = ds18x20.DS18X20(ow)
    rom = _rom(ROM_A)
    expected = ((0x1F, 93.75, 21.5), (0x3F, 187.5, 21.25), (0x5F, 375, 21.25), (0x7F, 750, 21.3125))
    for cfg, conv_ms, value in expected:
        ds.write_scratch(rom, bytes([0x4B, 0x46, cfg]))
        assert ds.read_scratch(rom)[4] == cfg
        whole_ms = int(conv_ms) if conv_ms == int(conv_ms) else int(conv_ms) + 1
        assert _busy_after(ow, world, whole_ms - 1), cfg
        world.t += 1  # the first whole millisecond at or after the conversion time
        assert ow.readbit() == 1, cfg
        assert ds.read_temp(rom) == value, cfg
    # the sensor on the other bus kept its factory 12-bit setting
    ds5 = _sensor(5)
    assert ds5.read_scratch(_rom(ROM_B))[4] == 0x7F
    # only R1:R0 are writable in the configuration register
    ds.write_scratch(rom, bytes([0x4B, 0x46, 0xFF]))
    assert ds.read_scratch(rom)[4] == 0x7F


def test_copy_recall_and_power_cycle():
    world = _world({ROM_A: 20.0})
    ow = onewire.OneWire(Pin(4))
    ds = ds18x20.DS18X20(ow)
    rom = _rom(ROM_A)
    ds.write_scratch(rom, bytes([0x50, 0x0A, 0x3F]))
    ow.select_rom(rom)
    ow.writebyte(0x48)  # COPY SCRATCHPAD
    assert ow.readbit() == 0  # EEPROM write in progress
    world.t += 10
    assert ow.readbit() == 1
    ds.write_scratch(rom, bytes([0x01, 0x02, 0x1F]))
    ow.select_rom(rom)
    ow.writebyte(0xB8)  # RECALL E2
    assert ow.readbit() == 1
    assert bytes(ds.read_scratch(rom)[2:5]) == bytes([0x50, 0x0A, 0x3F])
    world.faults = [("ds18b20_unplugged", ROM_A)]
    ow.reset()
    world.faults = []
    world.t += 1
    buf = ds.read_scratch(rom)
    assert bytes(buf[2:5]) == bytes([0x50, 0x0A, 0x3F]) and ds.read_temp(rom) == 85.0


def test_read_rom_power_supply_and_alarm_search():
    world = _world({ROM_A: 80.0, ROM_B: 20.0})
    ow = onewire.OneWire(Pin(4))
    ds = ds18x20.DS18X20(ow)
    ow.reset()
    ow.writebyte(0xCC)
    ow.writebyte(0xB4)  # READ POWER SUPPLY: externally powered devices answer 1
    assert ow.readbit() == 1
    # TH = 75, TL = 10: only the 80 degC sensor is in alarm after a conversion
    for key in (ROM_A, ROM_B):
        ds.write_scratch(_rom(key), bytes([75, 10, 0x7F]))
    ds.convert_temp()
    world.t += 750
    ds.read_temp(_rom(ROM_A))
    ds.read_temp(_rom(ROM_B))
    assert ow.reset()
    ow.writebyte(0xEC)  # ALARM SEARCH, one pass by hand
    rom = bytearray(8)
    for n in range(64):
        bit = ow.readbit()
        comp = ow.readbit()
        assert bit != comp  # a single device answers
        ow.writebit(bit)
        rom[n >> 3] |= bit << (n & 7)
    assert _hex(rom) == ROM_A
    # READ ROM on a single-device bus returns the ROM code
    _world({ROM_C: 1.0})
    ow = onewire.OneWire(Pin(4))
    ow.reset()
    ow.writebyte(0x33)
    buf = bytearray(8)
    ow.readinto(buf)
    assert _hex(buf) == ROM_C


def test_ds18s20_count_remain_formula():
    world = _world({ROM_S: 23.7})
    ds = _sensor()
    rom = _rom(ROM_S)
    assert ds.read_temp(rom) == 85.0
    ds.convert_temp()
    world.t += 750
    value = ds.read_temp(rom)
    assert abs(value - 23.7) <= 1 / 32.0, value
    world.scenario["temperatures"][ROM_S] = -10.3
    ds.convert_temp()
    world.t += 750
    value = ds.read_temp(rom)
    assert abs(value - -10.3) <= 1 / 32.0, value


def test_bad_rom_key_rejected():
    world = World({"temperatures": {"2800000000000000": 1.0}})
    sim_onewire_bus.set_world(world)
    try:
        onewire.OneWire(Pin(4)).reset()
        raise AssertionError("bad ROM accepted")
    except ValueError:
        pass


def test_gpio_of_accepts_pin_shapes():
    class P:
        num = 17

    assert sim_onewire_bus.gpio_of(5) == 5
    assert sim_onewire_bus.gpio_of(Pin(12)) == 12
    assert sim_onewire_bus.gpio_of(P()) == 17


def test_default_gpio_from_scenario():
    world = World({"temperatures": {ROM_A: 1.0, ROM_B: 2.0}, "onewire_default_gpio": 13,
                   "onewire_buses": {ROM_B.upper(): 4}})
    sim_onewire_bus.set_world(world)
    assert [_hex(r) for r in onewire.OneWire(Pin(13)).scan()] == [ROM_A]
    assert [_hex(r) for r in onewire.OneWire(Pin(4)).scan()] == [ROM_B]
    bus = sim_onewire_bus.bus_for(world, 13)
    assert bus.resets >= 1 and bus.slots > 64 * 3
