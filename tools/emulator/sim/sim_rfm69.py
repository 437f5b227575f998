"""Simulated HopeRF RFM69 (Semtech SX1231) on the fake SPI, plus the radio nodes around it.

Register level, as far as an RFM69 driver uses it (SX1231 datasheet register map):
FIFO (66 bytes), RegOpMode (sleep/standby/FS/Tx/Rx), RegIrqFlags1/2 (ModeReady,
RxReady, TxReady, PllLock, FifoNotEmpty, FifoFull, FifoOverrun, PacketSent,
PayloadReady, CrcOk), RegDioMapping1 for DIO0 (Rx: 00 CrcOk, 01 PayloadReady;
Tx: 00 PacketSent), RegRssiValue, and the packet engine: sync word (on, size,
values), fixed/variable length, RegPayloadLength, DC-free whitening (PN9),
CRC-16 with CrcAutoClearOff, AES-128 (variable length), RestartRx /
AutoRxRestartOn. A packet is heard only with the receiver in Rx on the node's
frequency (+-100 kHz), at the same bit rate, above RegRssiThresh, with matching
sync bytes and an empty FIFO; what a receiver configured differently makes of
it follows from the same bytes (e.g. a classic frame read as variable length).

Not modelled: address filtering, Manchester, listen mode, AFC/FEI, temperature,
the exact airtime of reception; RSSI is held at the packet's level while
PayloadReady is set (the chip keeps measuring), else it reads the noise floor.

AES model: the length byte stays clear, the rest of the message is padded to
whole 16-byte blocks and ECB-encrypted, and the CRC covers the bytes on air.
Both ends of every link here are this simulator, so only the behaviour the
firmware can see matters: a wrong key gives a frame with a good CRC and garbage.

Nodes (scenario "radio.nodes") transmit on a schedule in virtual time. The
firmware's IRQ handler runs with soft-IRQ semantics: a small _thread sleeps until
the next transmission is due and micropython.schedule()s the delivery, which
runs between bytecodes of the main thread (even while the firmware idles in
asyncio's poll waiting on a ThreadSafeFlag) and calls the Pin.irq handler on a
rising DIO0. Everything that touches state runs in the main thread; the thread
only reads the clock and one integer.

What the firmware transmits is received by a simulated base station (scenario
"radio.base", default an LPL emonPi on group 210) and appended as one JSON line
per packet to $HPMON_SIM_DIR/rf_tx.jsonl; every node transmission and its fate
goes to rf_air.jsonl.
"""
import json
import struct

try:
    import micropython
except ImportError:  # CPython tests
    micropython = None
try:
    import _thread
except ImportError:
    _thread = None

FIFO_SIZE = 66
FSTEP_HZ = 32000000 / 524288  # 61.035 Hz (SX1231: Fstep = Fxosc / 2^19)
NOISE_DBM = -105.0

# What a node of each format puts on the air (bit-rate register value, whitening,
# variable length, hardware CRC, frequency in the 433 band) and how a base station
# of that format configures its receiver (RegPacketConfig1, RegPayloadLength,
# RegRssiThresh). Sources as in firmware/rf_packets.py; tabulated here on their own.
PHY = {
    "jeelib": {"bitrate": 0x028A, "khz433": 434000, "pc1": 0x00, "plen": 66, "thresh": 0xA0},
    "native": {"bitrate": 0x028A, "khz433": 434000, "pc1": 0xD8, "plen": 66, "thresh": 0xA0},
    "lpl": {"bitrate": 0x0240, "khz433": 433000, "pc1": 0x98, "plen": 66, "thresh": 0xDC},
}

MODE_SLEEP, MODE_STANDBY, MODE_FS, MODE_TX, MODE_RX = 0, 1, 2, 3, 4


# ---------------------------------------------------------------- codes (independent of the firmware)

def crc_rf12(data, crc=0xFFFF):
    """RF12 packet CRC: CRC-16 with the reflected polynomial 0xA001 (avr-libc _crc16_update)."""
    for byte in data:
        crc = crc ^ byte
        for _ in range(8):
            lsb = crc & 1
            crc = crc >> 1
            if lsb:
                crc = crc ^ 0xA001
    return crc


def crc_ccitt(data):
    """SX1231 packet CRC: CCITT polynomial 0x1021, initial 0x1D0F, result inverted."""
    crc = 0x1D0F
    for byte in data:
        crc = crc ^ (byte << 8)
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc = crc & 0xFFFF
    return crc ^ 0xFFFF


def pn9(n):
    """n bytes of the PN9 whitening sequence (x^9 + x^5 + 1, seed 0x1FF)."""
    out = bytearray(n)
    state = 0x1FF
    for i in range(n):
        out[i] = state & 0xFF
        for _ in range(8):
            bit = (state ^ (state >> 5)) & 1
            state = (state >> 1) | (bit << 8)
    return out


def whiten(data):
    seq = pn9(len(data))
    return bytearray(a ^ b for a, b in zip(data, seq))


def _aes(key, data, encrypt):
    try:
        import cryptolib
        c = cryptolib.aes(bytes(key), 1)  # mode 1: ECB
        return c.encrypt(bytes(data)) if encrypt else c.decrypt(bytes(data))
    except ImportError:  # CPython (tests): pycryptodome
        from Crypto.Cipher import AES
        c = AES.new(bytes(key), AES.MODE_ECB)
        return c.encrypt(bytes(data)) if encrypt else c.decrypt(bytes(data))


def _pad16(data):
    n = (len(data) + 15) // 16 * 16
    return bytes(data) + bytes(n - len(data))


def parity_bits(group):
    g = [(group >> i) & 1 for i in range(8)]
    return ((g[7] ^ g[5] ^ g[3] ^ g[1]) << 7) | ((g[6] ^ g[4] ^ g[2] ^ g[0]) << 6)


def emonth_payload(temp, temp_ext, humidity, battery, pulse=None):
    vals = [int(round(v * 10)) for v in (temp, temp_ext, humidity, battery)]
    vals = [max(-32768, min(32767, v)) for v in vals]
    out = struct.pack("<hhhh", *vals)
    if pulse is not None:
        out += struct.pack("<I", int(pulse) & 0xFFFFFFFF)
    return out


def air_bytes(fmt, src, payload, group, dest=0, key=b"", flip_bit=None):
    """What a node in format fmt sends after the sync word (0x2D, group)."""
    payload = bytes(payload)
    if fmt == "jeelib":
        body = bytearray((src & 0x1F, len(payload))) + payload
        crc = crc_rf12(body, crc_rf12(bytes((group,))))
        air = body + bytearray((crc & 0xFF, crc >> 8, 0xAA, 0xAA))
        if flip_bit is not None:
            air[flip_bit // 8 % (len(air) - 2)] ^= 1 << (flip_bit % 8)
        return air
    if fmt == "native":
        msg = bytearray((len(payload) + 2, (dest & 0x3F) | parity_bits(group), src & 0x3F)) + payload
    elif fmt == "lpl":
        ctl = ((dest >> 6) & 0x0C) | ((src >> 8) & 0x03)
        msg = bytearray((len(payload) + 3, dest & 0xFF, src & 0xFF, ctl)) + payload
        if key:
            msg = bytearray(msg[:1]) + _aes(key, _pad16(msg[1:]), True)
    else:
        raise ValueError("format " + str(fmt))
    crc = crc_ccitt(msg)
    air = msg + bytearray((crc >> 8, crc & 0xFF))
    if flip_bit is not None:  # corrupt after the CRC was computed
        air[1 + flip_bit // 8 % (len(air) - 3)] ^= 1 << (flip_bit % 8)
    return whiten(air) if fmt == "native" else air


def receive(cfg, air, phy, noise):
    """What a receiver with settings cfg makes of air bytes: (fifo bytes, crc_ok) or a reason text.

    cfg: {"khz", "bitrate", "thresh", "sync": bytes of the sync word or None, "pc1",
    "plen", "aes_key": bytes or None}; phy: {"khz", "bitrate", "rssi", "sync"}."""
    if abs(cfg["khz"] - phy["khz"]) > 100:
        return "frequency"
    if cfg["bitrate"] != phy["bitrate"]:
        return "bit rate"
    if phy["rssi"] < -cfg["thresh"] / 2:
        return "below RSSI threshold"
    if cfg["sync"] is None or bytes(cfg["sync"]) != bytes(phy["sync"]):
        return "sync word"
    stream = bytearray(air) + bytearray(noise)
    pc1 = cfg["pc1"]
    dcfree = (pc1 >> 5) & 3
    if dcfree == 2:
        stream = whiten(stream)
    elif dcfree == 1:
        return "manchester (not modelled)"
    plen = cfg["plen"]
    key = cfg.get("aes_key")
    if pc1 & 0x80:
        n = stream[0]
        if n == 0 or n > plen:
            return "length byte %d" % n
        body = (n + 15) // 16 * 16 if key else n
        covered = stream[:1 + body]
        if key:
            fifo = bytearray((n,)) + bytearray(_aes(key, covered[1:], False))[:n]
        else:
            fifo = covered
    else:
        n = plen or FIFO_SIZE
        covered = stream[:n]
        fifo = covered
    crc_ok = True
    if pc1 & 0x10:
        got = (stream[len(covered)] << 8) | stream[len(covered) + 1]
        crc_ok = crc_ccitt(covered) == got
        if not crc_ok and not pc1 & 0x08:
            return "crc (cleared by the radio)"
    return bytes(fifo[:FIFO_SIZE]), crc_ok


def base_config(fmt, group, freq_mhz=433, key=""):
    phy = PHY[fmt]
    return {"khz": phy["khz433"] if freq_mhz == 433 else freq_mhz * 1000, "bitrate": phy["bitrate"],
            "thresh": phy["thresh"], "sync": bytes((0x2D, group)), "pc1": phy["pc1"], "plen": phy["plen"],
            "aes_key": key.encode() if (fmt == "lpl" and key) else None}


def parse_frame(fmt, fifo, group):
    """Independent decode of a FIFO frame: (src, dest, payload) or a reason text."""
    if fmt == "jeelib":
        n = fifo[1]
        if n + 4 > len(fifo):
            return "length"
        if crc_rf12(fifo[:n + 4], crc_rf12(bytes((group,)))) != 0:
            return "crc"
        return fifo[0] & 0x1F, 0, bytes(fifo[2:2 + n])
    if fmt == "native":
        if fifo[1] & 0xC0 != parity_bits(group):
            return "group parity"
        return fifo[2] & 0x3F, fifo[1] & 0x3F, bytes(fifo[3:fifo[0] + 1])
    ctl = fifo[3]
    return fifo[2] | ((ctl & 0x03) << 8), fifo[1] | ((ctl & 0x0C) << 6), bytes(fifo[4:fifo[0] + 1])


# ---------------------------------------------------------------- the chip

_RESET = {0x01: 0x04, 0x03: 0x1A, 0x04: 0x0B, 0x05: 0x00, 0x06: 0x52, 0x07: 0xE4, 0x08: 0xC0,
          0x10: 0x24, 0x11: 0x9F, 0x19: 0x55, 0x23: 0x02, 0x24: 0xFF, 0x26: 0x05, 0x29: 0xE4,
          0x2C: 0x00, 0x2D: 0x03, 0x2E: 0x98, 0x2F: 0x01, 0x30: 0x01, 0x37: 0x10, 0x38: 0x40,
          0x3C: 0x8F, 0x3D: 0x02}


class Radio:
    def __init__(self, world, spec):
        self.world = world
        self.spec = spec
        self.reg = bytearray(0x72)
        for addr, value in _RESET.items():
            self.reg[addr] = value
        self.fifo = bytearray()
        self.payload_ready = False
        self.crc_ok = False
        self.rx_hold = False
        self.packet_rssi = NOISE_DBM
        self.tx_end = None
        self.selected = False
        self.addr = None
        self.write = False
        self.dio0_level = 0
        self.irq_gpio = spec.get("irq", 22)
        self.cs_gpio = spec.get("cs", 5)
        self.nodes = [n for n in spec.get("nodes", ()) if n.get("enabled", True)]
        self.last_k = []
        self.sent = 0  # frames the board transmitted (each is logged to rf_tx.jsonl, not kept: the
        # simulator shares the board's heap, and a list grew by a record every interval)
        self.missed = 0
        self.tick_pending = False
        self.wake_at = 0
        now = world.now_ms()
        for i in range(len(self.nodes)):
            self.last_k.append(self._k(i, now))
        self._plan(now)

    # ------------------------------------------------------------ SPI
    def select(self, level):
        if level == 0 and not self.selected:
            self.selected = True
            self.addr = None
        elif level and self.selected:
            self.selected = False
            self._dio0()

    def transfer(self, mosi):
        """One SPI byte exchange while selected; returns MISO."""
        if self.world.fault("rfm69_absent"):
            return 0x00
        if self.addr is None:
            self.addr = mosi & 0x7F
            self.write = bool(mosi & 0x80)
            return 0x00
        addr = self.addr
        if self.write:
            self._write(addr, mosi)
            out = 0x00
        else:
            out = self._read(addr)
        if addr != 0x00:
            self.addr = (addr + 1) & 0x7F  # burst access increments the address, except the FIFO
        return out

    def mode(self):
        return (self.reg[0x01] >> 2) & 7

    def _read(self, addr):
        if addr == 0x00:
            if not self.fifo:
                return 0x00
            b = self.fifo[0]
            self.fifo = self.fifo[1:]  # (MicroPython's bytearray has no pop)
            if not self.fifo and self.payload_ready:
                self.payload_ready = False
                self.crc_ok = False
                # after the FIFO is read out the receiver restarts by itself only with AutoRxRestartOn
                self.rx_hold = not self.reg[0x3D] & 0x02
            return b
        if addr == 0x24:
            rssi = self.packet_rssi if self.payload_ready else self._noise_dbm()
            return max(0, min(255, int(-2 * rssi)))
        if addr == 0x27:
            mode = self.mode()
            v = 0x80  # ModeReady: mode changes are instant here
            if mode == MODE_RX:
                v |= 0x40 | 0x10
            elif mode == MODE_TX:
                v |= 0x20 | 0x10
            elif mode == MODE_FS:
                v |= 0x10
            return v
        if addr == 0x28:
            v = 0
            if self.fifo:
                v |= 0x40
            if len(self.fifo) >= FIFO_SIZE:
                v |= 0x80
            if self._packet_sent():
                v |= 0x08
            if self.payload_ready:
                v |= 0x04
                if self.crc_ok:
                    v |= 0x02
            return v
        if addr == 0x23:
            return self.reg[0x23] | 0x02  # RssiDone
        return self.reg[addr]

    def _write(self, addr, value):
        if addr == 0x00:
            if len(self.fifo) < FIFO_SIZE:
                self.fifo.append(value)
            return
        if addr in (0x10, 0x24, 0x27):
            return  # read only
        if addr == 0x28:
            if value & 0x10:  # writing FifoOverrun clears the FIFO and its flags
                self.fifo = bytearray()
                self.payload_ready = False
                self.crc_ok = False
            return
        if addr == 0x3D:
            if value & 0x04:  # RestartRx
                self.rx_hold = False
            self.reg[0x3D] = value & ~0x04
            return
        if addr == 0x01:
            old = self.mode()
            self.reg[0x01] = value
            new = self.mode()
            if new != old:
                if old == MODE_TX:
                    self.tx_end = None
                if new == MODE_RX:
                    self.rx_hold = False
                if new == MODE_TX:
                    self._transmit()
            return
        self.reg[addr] = value

    # ------------------------------------------------------------ settings
    def _khz(self):
        frf = (self.reg[0x07] << 16) | (self.reg[0x08] << 8) | self.reg[0x09]
        return frf * FSTEP_HZ / 1000.0

    def _rx_config(self):
        sync = None
        sc = self.reg[0x2E]
        if sc & 0x80:
            size = ((sc >> 3) & 7) + 1
            sync = bytes(self.reg[0x2F:0x2F + size])
        key = bytes(self.reg[0x3E:0x4E]) if self.reg[0x3D] & 0x01 else None
        return {"khz": self._khz(), "bitrate": (self.reg[0x03] << 8) | self.reg[0x04], "thresh": self.reg[0x29],
                "sync": sync, "pc1": self.reg[0x37], "plen": self.reg[0x38], "aes_key": key}

    def _noise_dbm(self):
        return self.spec.get("noise_dbm", NOISE_DBM)

    # ------------------------------------------------------------ DIO0 / IRQ
    def dio0(self):
        mapping = self.reg[0x25] >> 6
        mode = self.mode()
        if mode == MODE_RX:
            if mapping == 1:
                return 1 if self.payload_ready else 0
            if mapping == 0:
                return 1 if self.payload_ready and self.crc_ok else 0
        elif mode == MODE_TX and mapping == 0:
            return 1 if self._packet_sent() else 0
        return 0

    def _dio0(self):
        level = self.dio0()
        if level and not self.dio0_level:
            _raise_irq(self.irq_gpio)
        self.dio0_level = level

    # ------------------------------------------------------------ transmit (the firmware's packets)
    def _packet_sent(self):
        return self.tx_end is not None and self.mode() == MODE_TX and self.world.now_ms() >= self.tx_end

    def _transmit(self):
        cfg = self._rx_config()
        pc1 = cfg["pc1"]
        if pc1 & 0x80:
            n = self.fifo[0] if self.fifo else 0
            msg = bytearray(self.fifo[:1 + n])
            if cfg["aes_key"]:
                msg = bytearray(msg[:1]) + _aes(cfg["aes_key"], _pad16(msg[1:]), True)
        else:
            msg = bytearray(self.fifo[:cfg["plen"]])
        self.fifo = bytearray()
        air = msg
        if pc1 & 0x10:
            crc = crc_ccitt(msg)
            air = msg + bytearray((crc >> 8, crc & 0xFF))
        if (pc1 >> 5) & 3 == 2:
            air = whiten(air)
        now = self.world.now_ms()
        bps = 32000000 / max(1, cfg["bitrate"])
        self.tx_end = now + max(1, int((5 + 2 + len(air)) * 8 * 1000 / bps))  # preamble, sync, message
        phy = {"khz": cfg["khz"], "bitrate": cfg["bitrate"], "rssi": -60.0, "sync": cfg["sync"] or b""}
        base = self.spec.get("base", {})
        fmt = base.get("format", "lpl")
        group = base.get("group", 210)
        rec = {"t_ms": now, "base_format": fmt, "air": bytes(air).hex()}
        got = receive(base_config(fmt, group, base.get("freq_mhz", 433), base.get("key", "")),
                      air, phy, self._noise(40))
        if isinstance(got, str):
            rec["ok"] = False
            rec["reason"] = got
        else:
            fifo, crc_ok = got
            parsed = parse_frame(fmt, fifo, group) if crc_ok else "crc"
            if isinstance(parsed, str):
                rec["ok"] = False
                rec["reason"] = parsed
            else:
                rec["ok"] = True
                rec["src"], rec["dest"], payload = parsed
                rec["payload"] = payload.hex()
        self.sent += 1
        _log("rf_tx.jsonl", rec)

    # ------------------------------------------------------------ nodes
    def _k(self, i, now):
        node = self.nodes[i]
        every = int(node.get("every_s", 60) * 1000)
        offset = int(node.get("offset_s", 3 + 5 * i) * 1000)
        return -1 if now < offset else (now - offset) // every

    def _plan(self, now):
        due = None
        for i, node in enumerate(self.nodes):
            every = int(node.get("every_s", 60) * 1000)
            offset = int(node.get("offset_s", 3 + 5 * i) * 1000)
            t = offset + (self.last_k[i] + 1) * every
            if due is None or t < due:
                due = t
        self.wake_at = due if due is not None else now + 3600000

    def _noise(self, n):
        rng = self.world.rng
        return bytes(rng.getrandbits(8) for _ in range(n))

    def tick(self, _arg=None):
        """Deliver every node transmission that has become due (runs in the main thread)."""
        self.tick_pending = False
        now = self.world.now_ms()
        for i in range(len(self.nodes)):
            k = self._k(i, now)
            if k > self.last_k[i]:
                self.last_k[i] = k
                self._send_node(i, k, now)
        self._plan(now)

    def _send_node(self, i, k, now):
        node = self.nodes[i]
        nid = node.get("node", 23)
        if self.world.fault("rf_silent", nid):
            return
        base = "radio.nodes.%d." % i
        get = self.world.get
        kind = node.get("kind", "emonth")
        if kind == "emonth":
            pulse = get(base + "pulses", 0)
            payload = emonth_payload(get(base + "temp_c", 20.0), get(base + "temp_ext_c", 0.0),
                                     get(base + "humidity_pct", 50.0), get(base + "battery_v", 3.0),
                                     None if node.get("v1") else int(pulse))
        else:
            payload = bytes.fromhex(node.get("payload_hex", ""))
        fmt = node.get("format", "lpl")
        group = node.get("group", 210)
        key = node.get("key", "89txbe4p8aik5kt3" if fmt == "lpl" else "")
        every_bad = node.get("corrupt_every", 0)
        corrupt = self.world.fault("rf_crc", nid) or (every_bad and k % every_bad == every_bad - 1)
        flip = (self.world.rng.getrandbits(16) if corrupt else None)
        if corrupt and kind == "emonth":
            flip = 8 * (4 if fmt == "lpl" else 3) + (flip % 8)  # the temperature's low byte
        air = air_bytes(fmt, nid, payload, group, node.get("dest", 5 if fmt == "lpl" else 0),
                        key.encode() if key else b"", flip)
        rssi = get(base + "rssi_dbm", -70.0)
        freq = node.get("freq_mhz", 433)
        phy = {"khz": PHY[fmt]["khz433"] if freq == 433 else freq * 1000, "bitrate": PHY[fmt]["bitrate"],
               "rssi": rssi, "sync": bytes((0x2D, group))}
        result = self._hear(air, phy)
        _log("rf_air.jsonl", {"t_ms": now, "node": nid, "format": fmt, "k": k, "corrupt": bool(corrupt),
                              "payload": payload.hex(), "result": result})

    def _hear(self, air, phy):
        if self.world.fault("rfm69_absent"):
            return "no radio"
        if self.mode() != MODE_RX:
            return "receiver not in Rx"
        if self.rx_hold:
            return "receiver waiting for RestartRx"
        if self.payload_ready:
            self.missed += 1
            return "FIFO still full"
        got = receive(self._rx_config(), air, phy, self._noise(FIFO_SIZE + 4))
        if isinstance(got, str):
            return got
        self.fifo = bytearray(got[0])
        self.crc_ok = got[1] and bool(self.reg[0x37] & 0x10)
        self.payload_ready = True
        self.packet_rssi = phy["rssi"]
        self._dio0()
        return "received" if got[1] else "received, bad CRC"

    # ------------------------------------------------------------ the clock thread
    def start_clock(self):
        if _thread is None or micropython is None:
            return
        _thread.start_new_thread(self._clock, ())

    def _clock(self):
        import time
        while True:
            now = self.world.now_ms()
            if now >= self.wake_at and not self.tick_pending:
                self.tick_pending = True
                try:
                    micropython.schedule(self.tick, None)
                except RuntimeError:  # the schedule queue is full: try again shortly
                    self.tick_pending = False
            time.sleep_ms(max(5, min(self.wake_at - now, 200)))


def _raise_irq(gpio):
    """A rising edge on gpio: the Pin.irq handler runs as a soft IRQ (scheduled)."""
    import machine
    pin = machine._IRQ_PINS.get(gpio)
    if pin is None or pin._irq is None:
        return
    handler, trigger = pin._irq
    if handler is None or not trigger & machine.Pin.IRQ_RISING:
        return
    if micropython is None:
        handler(pin)
        return
    try:
        micropython.schedule(handler, pin)
    except RuntimeError:
        pass  # queue full: the edge is lost, as an overrun soft IRQ would be


def _log(name, record):
    import simworld
    try:
        with open(simworld.state_path(name), "a") as f:
            f.write(json.dumps(record) + "\n")
    except OSError:
        pass


_radio = None


def for_spi(world, spi_id):
    """The simulated RFM69 on SPI bus spi_id when the scenario has one ("radio"), else None."""
    global _radio
    spec = world.scenario.get("radio")
    if not spec or not spec.get("enabled", True) or spec.get("spi", 2) != spi_id:
        return None
    if _radio is None:
        import machine
        _radio = Radio(world, spec)
        machine._CS_LISTENERS[_radio.cs_gpio] = _radio.select
        machine._INPUT_LEVELS[_radio.irq_gpio] = _radio.dio0
        _radio.start_clock()
    return _radio
