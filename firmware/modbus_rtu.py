"""Modbus RTU codec for energy meters (pure module): CRC, read requests, responses, SDM maps.

Modbus over serial line (Modbus.org "MODBUS over Serial Line" V1.02): frame = address, function,
data, CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF, low byte first, §6.2.2). Function 3
reads holding and 4 reads input registers (Application Protocol V1.1b3 §6.3/6.4): request
addr fn start_hi start_lo qty_hi qty_lo crc; response addr fn bytecount data... crc; an exception
response has fn | 0x80 and one exception code byte.

Eastron SDM120/SDM220/SDM630 expose their measurements as input registers holding IEEE-754
float32 values over two registers, high word first (big-endian words and bytes).
"""

import struct

from micropython import const

FUNC_READ_HOLDING = const(3)
FUNC_READ_INPUT = const(4)
MAX_READ_REGS = const(125)  # protocol limit for functions 3/4

EXCEPTIONS = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    11: "gateway target failed to respond",
}


class ModbusError(ValueError):
    pass


class ModbusException(ModbusError):
    """The meter answered with an exception response."""

    def __init__(self, code):
        super().__init__("exception %d (%s)" % (code, EXCEPTIONS.get(code, "?")))
        self.code = code


def crc16(data, start=0, end=None):
    """CRC-16/MODBUS of data[start:end]."""
    if end is None:
        end = len(data)
    crc = 0xFFFF
    for i in range(start, end):
        crc ^= data[i]
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0xA001
            else:
                crc >>= 1
    return crc


def crc_ok(frame, length=None):
    if length is None:
        length = len(frame)
    if length < 4:
        return False
    return crc16(frame, 0, length - 2) == frame[length - 2] | (frame[length - 1] << 8)


def read_request(addr, start, count, func=FUNC_READ_INPUT):
    """8-byte read request for count registers from start."""
    if not 1 <= addr <= 247:
        raise ModbusError("address")
    if func not in (FUNC_READ_HOLDING, FUNC_READ_INPUT):
        raise ModbusError("function")
    if not 1 <= count <= MAX_READ_REGS or not 0 <= start <= 0xFFFF or start + count > 0x10000:
        raise ModbusError("range")
    f = bytearray(8)
    f[0] = addr
    f[1] = func
    f[2] = start >> 8
    f[3] = start & 0xFF
    f[4] = count >> 8
    f[5] = count & 0xFF
    c = crc16(f, 0, 6)
    f[6] = c & 0xFF
    f[7] = c >> 8
    return bytes(f)


def parse_read_response(frame, addr, func, count):
    """Validate a read response; returns the data bytes (2*count). Raises ModbusError/Exception."""
    n = len(frame)
    if n < 5:
        raise ModbusError("short frame")
    if not crc_ok(frame):
        raise ModbusError("crc")
    if frame[0] != addr:
        raise ModbusError("address %d" % frame[0])
    if frame[1] == func | 0x80:
        if n != 5:
            raise ModbusError("exception length")
        raise ModbusException(frame[2])
    if frame[1] != func:
        raise ModbusError("function %d" % frame[1])
    if frame[2] != 2 * count or n != 5 + 2 * count:
        raise ModbusError("byte count")
    return bytes(frame[3 : 3 + 2 * count])


def reg_u16(data, i):
    """Register i (0-based) of a response's data bytes."""
    return (data[2 * i] << 8) | data[2 * i + 1]


def reg_float(data, i):
    """float32 in registers i, i+1 (high word first); None if NaN or infinite."""
    if 2 * i + 4 > len(data):
        raise ModbusError("register out of range")
    v = struct.unpack(">f", bytes(data[2 * i : 2 * i + 4]))[0]
    if v != v or v in (float("inf"), float("-inf")):
        return None
    return v


class Framer:
    """Collects response bytes for one pending request (addr, func) into a frame.

    feed(data) returns a complete frame with a good CRC (bytes) or None. Leading garbage,
    other addresses and our own echoed request are skipped; a CRC failure drops one byte and
    resynchronises (crc_errors counts them)."""

    def __init__(self, addr, func=FUNC_READ_INPUT, size=260):
        self.addr = addr
        self.func = func
        self.buf = bytearray(size)
        self.n = 0
        self.crc_errors = 0
        self.discarded = 0

    def reset(self):
        self.n = 0

    def _drop(self, k):
        n = self.n
        buf = self.buf
        for i in range(k, n):
            buf[i - k] = buf[i]
        self.n = n - k

    def feed(self, data):
        buf = self.buf
        size = len(buf)
        found = None
        for b in data:
            if self.n == size:
                # full: a complete frame at the front leaves before a byte has to go
                if found is None:
                    found = self._scan()
                if self.n == size:
                    self._drop(1)
                    self.discarded += 1
            buf[self.n] = b
            self.n += 1
        return found if found is not None else self._scan()

    def _scan(self):
        buf = self.buf
        addr = self.addr
        func = self.func
        while self.n >= 2:
            if buf[0] != addr or (buf[1] != func and buf[1] != func | 0x80):
                self._drop(1)
                self.discarded += 1
                continue
            if buf[1] == func:
                if self.n < 3:
                    return None
                need = 5 + buf[2]
                if buf[2] & 1:
                    self._drop(1)
                    self.discarded += 1
                    continue
            else:
                need = 5
            if self.n < need:
                return None
            if crc_ok(buf, need):
                frame = bytes(buf[:need])
                self._drop(need)
                return frame
            self.crc_errors += 1
            self._drop(1)
        return None


# Register maps: (key, input register address of a float32). Addresses from the Eastron
# SDM120 / SDM220 / SDM630 Modbus protocol tables (30001 = address 0).
_SDM1 = (
    ("voltage_v", 0x00),
    ("current_a", 0x06),
    ("power_w", 0x0C),
    ("va", 0x12),
    ("var", 0x18),
    ("pf", 0x1E),
    ("freq_hz", 0x46),
    ("import_kwh", 0x48),
    ("export_kwh", 0x4A),
)
_SDM3 = (
    ("l1_voltage_v", 0x00),
    ("l2_voltage_v", 0x02),
    ("l3_voltage_v", 0x04),
    ("l1_current_a", 0x06),
    ("l2_current_a", 0x08),
    ("l3_current_a", 0x0A),
    ("l1_power_w", 0x0C),
    ("l2_power_w", 0x0E),
    ("l3_power_w", 0x10),
    ("l1_va", 0x12),
    ("l2_va", 0x14),
    ("l3_va", 0x16),
    ("l1_pf", 0x1E),
    ("l2_pf", 0x20),
    ("l3_pf", 0x22),
    ("voltage_v", 0x2A),  # average line to neutral
    ("current_a", 0x30),  # sum of line currents
    ("power_w", 0x34),  # total system power
    ("va", 0x38),
    ("var", 0x3C),
    ("pf", 0x3E),
    ("freq_hz", 0x46),
    ("import_kwh", 0x48),
    ("export_kwh", 0x4A),
)
MODELS = {"sdm120": _SDM1, "sdm220": _SDM1, "sdm630": _SDM3}


def register_map(model):
    try:
        return MODELS[model]
    except KeyError:
        raise ModbusError("unknown model %r" % (model,))  # noqa: B904 (native emitter: no "from")


def read_plan(model, max_regs=80):
    """Blocks (start, count) of input registers that cover the model's map."""
    addrs = sorted(a for _, a in register_map(model))
    blocks = []
    start = addrs[0]
    end = 0
    for a in addrs:
        if a + 2 - start > max_regs:
            blocks.append((start, end - start))
            start = a
        end = a + 2
    blocks.append((start, end - start))
    return blocks


def decode(model, start, data, out=None):
    """Values of the model's registers found in data (a response read from start) -> dict."""
    if out is None:
        out = {}
    count = len(data) // 2
    for key, a in register_map(model):
        i = a - start
        if 0 <= i and i + 2 <= count:
            out[key] = reg_float(data, i)
    return out
