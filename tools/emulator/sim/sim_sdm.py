"""Simulated Eastron SDM120 / SDM630 Modbus RTU meter on the emulated RS485 UART.

Spec keys (scenario JSON, all optional): model "sdm120" | "sdm220" | "sdm630" (default sdm120),
address (1), baudrate (sdm120/220: 2400, sdm630: 9600: the factory settings), parity (None),
stop (1), import_wh_initial (0), export_wh_initial (0), reply_delay_ms (20). Fault targets are
matched against the meter address.

Live values (world paths, timeline applied): modbus_meter.power_w (W, default 0),
modbus_meter.voltage_v (default mains.vrms or 230), modbus_meter.pf (1.0),
modbus_meter.freq_hz (default mains.freq_hz or 50), modbus_meter.current_a and .va (default
derived from P, V, PF). SDM630: per phase modbus_meter.phases.<0..2>.<key> when given, else the
total split equally. Energy: import = import_wh_initial + world.energy_wh("modbus_meter.power_w")
while that is >= 0; a negative integral is counted as export instead.

Answers function 4 (input registers, float32 high word first) at its address; function 3 gets
exception 2, other functions exception 1, a bad quantity exception 3. A request with a bad CRC,
another address or wrong serial settings gets no answer, like a real slave. Faults:
modbus_silent (no answers), modbus_crc (answers with a corrupted CRC).
"""

import struct

_MAP1 = (
    (0x00, "voltage_v"),
    (0x06, "current_a"),
    (0x0C, "power_w"),
    (0x12, "va"),
    (0x18, "var"),
    (0x1E, "pf"),
    (0x24, "angle"),
    (0x46, "freq_hz"),
    (0x48, "import_kwh"),
    (0x4A, "export_kwh"),
    (0x156, "total_kwh"),
)
_MAP3_TOTALS = (
    (0x2A, "voltage_v"),
    (0x2E, "avg_current_a"),
    (0x30, "current_a"),
    (0x34, "power_w"),
    (0x38, "va"),
    (0x3C, "var"),
    (0x3E, "pf"),
    (0x46, "freq_hz"),
    (0x48, "import_kwh"),
    (0x4A, "export_kwh"),
    (0x156, "total_kwh"),
)
_PHASE_KEYS = ((0x00, "voltage_v"), (0x06, "current_a"), (0x0C, "power_w"), (0x12, "va"), (0x18, "var"), (0x1E, "pf"))


def _crc(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _with_crc(body):
    c = _crc(body)
    return bytes(body) + bytes((c & 0xFF, c >> 8))


class Device:
    def __init__(self, world, spec):
        self.world = world
        self.spec = spec or {}
        self.model = self.spec.get("model", "sdm120")
        if self.model not in ("sdm120", "sdm220", "sdm630"):
            raise ValueError("model")
        self.address = int(self.spec.get("address", 1))
        self.baudrate = int(self.spec.get("baudrate", 9600 if self.model == "sdm630" else 2400))
        self.parity = self.spec.get("parity", None)
        self.stop = int(self.spec.get("stop", 1))
        self.reply_delay_ms = int(self.spec.get("reply_delay_ms", 20))
        self.settings_ok = True
        self.rx = bytearray()
        self.requests = 0
        self.replies = 0

    def configure(self, baudrate, bits, parity, stop, invert):
        self.settings_ok = (
            int(baudrate) == self.baudrate
            and int(bits) == 8
            and parity == self.parity
            and int(stop) == self.stop
            and not invert
        )

    def stream(self, now_ms):
        return b""

    def _fault(self, kind):
        return self.world.fault(kind, self.address)

    def write(self, data, now_ms):
        if not self.settings_ok:
            self.rx = bytearray()
            return b"", 0
        self.rx.extend(data)
        if len(self.rx) < 8:
            return b"", 0
        req = bytes(self.rx[:8])
        self.rx = bytearray(self.rx[8:])
        self.requests += 1
        if _crc(req[:6]) != req[6] | (req[7] << 8):
            self.rx = bytearray()
            return b"", 0
        if req[0] != self.address or self._fault("modbus_silent"):
            return b"", 0
        reply = self._answer(req)
        if self._fault("modbus_crc"):
            reply = reply[:-1] + bytes(((reply[-1] ^ 0x5A) & 0xFF,))
        self.replies += 1
        char_ms = 11000.0 / self.baudrate  # 1 start + 8 data + parity/stop, rounded up
        delay = int((len(req) + len(reply)) * char_ms) + self.reply_delay_ms
        return reply, delay

    def _answer(self, req):
        func = req[1]
        start = (req[2] << 8) | req[3]
        count = (req[4] << 8) | req[5]
        if func == 3:
            return _with_crc(bytes((self.address, 0x83, 2)))
        if func != 4:
            return _with_crc(bytes((self.address, func | 0x80, 1)))
        if count < 1 or count > 80:
            return _with_crc(bytes((self.address, 0x84, 3)))
        regs = self._registers()
        body = bytearray((self.address, 4, 2 * count))
        for r in range(start, start + count):
            body.extend(regs.get(r, b"\x00\x00"))
        return _with_crc(body)

    def _get(self, key, default):
        v = self.world.get("modbus_meter." + key, None)
        return default if v is None else float(v)

    def values(self):
        """Current meter values (dict of floats) as the meter would report them."""
        w = self.world
        mains_v = w.get("mains.vrms", 230.0)
        p = self._get("power_w", 0.0)
        v = self._get("voltage_v", 230.0 if mains_v is None else float(mains_v))
        pf = self._get("pf", 1.0)
        f = self._get("freq_hz", float(w.get("mains.freq_hz", 50.0) or 50.0))
        va = self._get("va", abs(p) / pf if pf else 0.0)
        i = self._get("current_a", va / v if v else 0.0)
        e = w.energy_wh("modbus_meter.power_w") or 0.0
        imp = float(self.spec.get("import_wh_initial", 0)) + (e if e > 0 else 0.0)
        exp = float(self.spec.get("export_wh_initial", 0)) + (-e if e < 0 else 0.0)
        var = (va * va - p * p) ** 0.5 if va * va > p * p else 0.0
        return {
            "voltage_v": v,
            "current_a": i,
            "power_w": p,
            "va": va,
            "var": var,
            "pf": pf if p >= 0 else -pf,
            "angle": 0.0,
            "freq_hz": f,
            "import_kwh": imp / 1000.0,
            "export_kwh": exp / 1000.0,
            "total_kwh": (imp + exp) / 1000.0,
        }

    def _registers(self):
        vals = self.values()
        regs = {}
        if self.model == "sdm630":
            for n in range(3):
                ph = {}
                for _, key in _PHASE_KEYS:
                    x = self.world.get("modbus_meter.phases.%d.%s" % (n, key), None)
                    if x is None:
                        x = vals[key] if key in ("voltage_v", "pf") else vals[key] / 3.0
                    ph[key] = float(x)
                for base, key in _PHASE_KEYS:
                    _put(regs, base + 2 * n, ph[key])
            vals["avg_current_a"] = vals["current_a"] / 3.0
            table = _MAP3_TOTALS
        else:
            table = _MAP1
        for addr, key in table:
            _put(regs, addr, vals[key])
        return regs


def _put(regs, addr, value):
    b = struct.pack(">f", value)
    regs[addr] = b[0:2]
    regs[addr + 1] = b[2:4]
