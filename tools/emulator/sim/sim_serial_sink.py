"""A Raspberry Pi (emonhub) listening on a UART: records what the firmware writes.

Scenario "pi_serial": {"uart": 1, "baud": 115200, "file": "pi_serial.log"}. Bytes
are appended to $HPMON_SIM_DIR/<file> as the Pi would receive them: when the
firmware's UART settings differ from the Pi's (baud, 8N1), each byte arrives as
garbage ("?" here), as a real mismatched line would give framing errors.
The Pi sends nothing.
"""
import simworld


class Device:
    def __init__(self, world, spec):
        self.world = world
        self.baud = spec.get("baud", 115200)
        self.path = simworld.state_path(spec.get("file", "pi_serial.log"))
        self.ok = True

    def configure(self, baudrate, bits, parity, stop, invert):
        self.ok = baudrate == self.baud and bits == 8 and parity is None and stop == 1 and not invert

    def write(self, data, now_ms):
        data = bytes(data) if self.ok else b"?" * len(data)
        with open(self.path, "ab") as f:
            f.write(data)
        return b"", 0

    def stream(self, now_ms):
        return b""
