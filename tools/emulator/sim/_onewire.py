"""Emulator stand-in for MicroPython's C module `_onewire` (extmod/modonewire.c API).

The pin selects a simulated bus (sim_onewire_bus.bus_for); bits go LSB first as on the wire.
"""
import sim_onewire_bus as _sim


def _bus(pin):
    return _sim.bus_for(_sim.current_world(), _sim.gpio_of(pin))


def reset(pin):
    """Reset pulse; True if a presence pulse was seen."""
    return _bus(pin).reset()


def readbit(pin):
    return _bus(pin).slot(1)


def readbyte(pin):
    bus = _bus(pin)
    value = 0
    for i in range(8):
        if bus.slot(1):
            value |= 1 << i
    return value


def writebit(pin, value):
    _bus(pin).slot(1 if value else 0)


def writebyte(pin, value):
    bus = _bus(pin)
    for i in range(8):
        bus.slot((value >> i) & 1)


def crc8(data):
    """Dallas/Maxim CRC-8; 0 when data ends with its own valid CRC byte."""
    return _sim.crc8(data)
