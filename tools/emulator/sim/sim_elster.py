"""Simulated Elster A100C optical port as seen by the board's IR receiver on a UART RX.

The meter pushes a 110-byte frame (01 00 68 02, 104 data bytes, 03, checksum) every period_ms
at 2400 baud 8N1; bytes are released at the line rate (4.17 ms each) as time passes.
The import register (5 bytes packed BCD, data offset 45) holds
import_wh_initial + world.energy_wh("irda.power_w") in Wh.

Spec keys (all optional): import_wh_initial (0), period_ms (1000), line_inverted (True: the
receiver drives the pin high on light, so the UART must invert RX), serial ("A100C-SIM"),
id ("irda", the fault target).
If the firmware's UART inversion matches line_inverted the bytes arrive as sent; otherwise every
data bit arrives inverted (bytes XOR 0xFF; a real UART would also misframe some bytes). A wrong
baud rate or frame format gives random bytes. Fault irda_garbage: random bytes between frames and
about 1 byte in 20 of each frame replaced.
"""

_BYTE_MS = 10000.0 / 2400  # 10 bits per byte at 2400 baud


def _bcd5(v):
    v = int(v) % 10000000000
    out = bytearray(5)
    for i in range(4, -1, -1):
        d = v % 100
        v //= 100
        out[i] = ((d // 10) << 4) | (d % 10)
    return out


class Device:
    def __init__(self, world, spec):
        self.world = world
        self.spec = spec or {}
        self.period_ms = int(self.spec.get("period_ms", 1000))
        self.line_inverted = bool(self.spec.get("line_inverted", True))
        self.target = self.spec.get("id", "irda")
        self.serial = str(self.spec.get("serial", "A100C-SIM"))
        self.mode = "ok"
        self._frame = b""
        self._frame_start = None
        self._sent = 0
        self._last = None
        self.frames = 0

    def configure(self, baudrate, bits, parity, stop, invert):
        if int(baudrate) != 2400 or int(bits) != 8 or parity is not None or int(stop) != 1:
            self.mode = "garbage"
        elif bool(invert) != self.line_inverted:
            self.mode = "xor"
        else:
            self.mode = "ok"

    def write(self, data, now_ms):
        return b"", 0  # the meter does not listen

    def register_wh(self):
        e = self.world.energy_wh("irda.power_w") or 0.0
        return int(self.spec.get("import_wh_initial", 0)) + int(e)

    def frame(self):
        """One complete frame as the meter sends it (not inverted)."""
        data = bytearray(104)
        prod = b"Elster A100C"
        data[0:12] = prod
        data[12:21] = b"V1.0 SIM "
        data[21:24] = b"\x00\x12\x34"
        data[24:26] = b"\x00\x01"
        ser = self.serial.encode()[:16]
        data[26 : 26 + len(ser)] = ser
        data[42:45] = b"\x00\x00\x01"
        data[45:50] = _bcd5(self.register_wh())
        body = bytearray(b"\x01\x00\x68\x02") + data + b"\x03"
        return bytes(body) + bytes((sum(body) & 0xFF,))

    def stream(self, now_ms):
        if self._last is None:
            self._last = now_ms
            self._frame_start = now_ms
            self._frame = self.frame()
            self._sent = 0
        out = bytearray()
        garbage = self.world.fault("irda_garbage", self.target)
        rng = self.world.rng
        # skip frames that a real UART FIFO would have lost after a long pause
        if now_ms - self._frame_start > 3 * self.period_ms:
            missed = (now_ms - self._frame_start) // self.period_ms
            self._frame_start += missed * self.period_ms
            self._frame = self.frame()
            self._sent = 0
        while True:
            due = int((now_ms - self._frame_start) / _BYTE_MS)
            if due > len(self._frame):
                due = len(self._frame)
            if due > self._sent:
                chunk = self._frame[self._sent : due]
                if garbage:
                    chunk = bytearray(chunk)
                    for i in range(len(chunk)):
                        if rng.random() < 0.05:
                            chunk[i] = rng.getrandbits(8)
                out.extend(chunk)
                self._sent = due
            if self._sent < len(self._frame) or now_ms - self._frame_start < self.period_ms:
                break
            if garbage:
                idle = int((self.period_ms - len(self._frame) * _BYTE_MS) / _BYTE_MS)
                for _ in range(rng.getrandbits(5) % (idle + 1) if idle > 0 else 0):
                    out.append(rng.getrandbits(8))
            self.frames += 1
            self._frame_start += self.period_ms
            self._frame = self.frame()
            self._sent = 0
        self._last = now_ms
        if self.mode == "xor":
            for i in range(len(out)):
                out[i] ^= 0xFF
        elif self.mode == "garbage":
            for i in range(len(out)):
                out[i] = rng.getrandbits(8)
        return bytes(out)
