"""OpenEnergyMonitor radio packets on an RFM69 (pure): the three OEM formats, the
RF12 CRC, emonTH payloads and the monitor's own transmit payload.

The bytes handled here are what the driver puts into / takes out of the RFM69's
FIFO; whatever the radio adds or checks itself (preamble, sync word, hardware
CRC, whitening, AES) never appears.

Formats (names used in config "radio.format"; all use sync word 0x2D, <group>):
  "jeelib"  JeeLib "classic", RF12-compatible (JeeLib RF69_COMPAT, OEM rfmTxLib):
            49.26 kbit/s; FIFO = hdr, len, data, CRC-16 low, CRC-16 high. hdr bits:
            7 CTL, 6 DST, 5 ACK, 4-0 node id (DST = 0: the sender's id, a broadcast).
            The radio's packet engine is off (fixed length, no CRC, no whitening):
            the CRC is software, avr-libc _crc16_update (poly 0xA001, reflected),
            seeded with ~0 and then the group byte (JeeLib RF12 v2). emonTH V1 and
            V2 firmware before 4.0, emonTx V3, the seed HeatpumpMonitor.
  "native"  JeeLib "RFM69 native" (jcw rf69.h, OEM rfm69nTxLib, emonTH2 firmware
            V4.0.x, emonPi2 "native" builds): 49.26 kbit/s, variable length,
            whitening and hardware CRC-16 on; FIFO = len (= n + 2), dest | group
            parity (bits 7-6), flags (bits 7-6) | src (6 bits), data.
  "lpl"     LowPowerLab RFM69 library (OEM RFM69_LPL): 55.56 kbit/s, variable
            length, hardware CRC on, no whitening, optionally AES-128 (OEM default
            key "89txbe4p8aik5kt3"); FIFO = len (= n + 3), target, sender, CTL, data.
            CTL bits: 7 ACK sent, 6 ACK requested, 3-2 target bits 9-8, 1-0 sender
            bits 9-8. Default of emonTx4 and emonTH2 firmware from V4.1 (2023),
            emonPi2 and emonBase (emonhub EmonHubRFM69LPLInterfacer); emonTH2 sends
            to node 5.
"""
import struct

FORMATS = ("jeelib", "native", "lpl")
KEY_LEN = 16  # AES-128 (SX1231 datasheet, AES section)

# Largest payload per format: the RFM69 FIFO is 66 bytes. Classic: 66 - hdr, len,
# 2 CRC bytes (the receiver reads a fixed 66-byte frame); native: 66 - len, dest,
# src; LPL: 61, the library's limit that keeps an AES frame within 64 bytes.
MAX_PAYLOAD = {"jeelib": 62, "native": 63, "lpl": 61}
CLASSIC_FRAME = 66  # fixed receive length in classic mode (the whole FIFO)

HDR_CTL = 0x80
HDR_DST = 0x40
HDR_ACK = 0x20
LPL_CTL_SENDACK = 0x80
LPL_CTL_REQACK = 0x40

# emonTH (V1 8 bytes, V2 12 bytes): int16 temp, temp_external, humidity, battery
# (x0.1 degC, degC, %, V) and, from V2, uint32 pulse count; little-endian (AVR).
EMONTH_FIELDS = ("temp", "temp_ext", "humidity", "battery", "pulse")
EMONTH_UNITS = ("°C", "°C", "%", "V", "")

# What the monitor transmits (the emonhub node decoder is in docs and README):
# name, struct code, scale (value * scale is sent as an integer).
TX_LAYOUT = (
    ("msg", "L", 1),
    ("heatpump_elec", "l", 1),
    ("heatpump_heat", "l", 1),
    ("heatpump_flowT", "h", 100),
    ("heatpump_returnT", "h", 100),
    ("heatpump_outsideT", "h", 100),
    ("heatpump_roomT", "h", 100),
    ("heatpump_flowrate", "h", 100),
    ("heatpump_elec_kwh", "l", 1000),
    ("heatpump_heat_kwh", "l", 1000),
)
TX_FORMAT = "<Lllhhhhhll"
TX_SIZE = 30
# An unknown reading is sent as the type's minimum (never as 0).
TX_UNKNOWN = {"h": -32768, "l": -2147483648, "L": 0}
_LIMITS = {"h": (-32767, 32767), "l": (-2147483647, 2147483647), "L": (0, 4294967295)}


class RFPacketError(ValueError):
    """A frame that is malformed, fails its CRC or belongs to another group."""


def crc16_rf12(data, crc=0xFFFF):
    """avr-libc _crc16_update over data (CRC-16/ARC polynomial 0xA001, reflected)."""
    for b in data:
        crc ^= b
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0xA001
            else:
                crc >>= 1
    return crc


def group_parity(group):
    """JeeLib native: bit 7 = group b7^b5^b3^b1, bit 6 = b6^b4^b2^b0 (jcw rf69.h)."""
    p = (group ^ (group << 4)) & 0xFF
    return (p ^ (p << 2)) & 0xC0


def _check_id(node, top):
    if not isinstance(node, int) or not 0 <= node <= top:
        raise RFPacketError("node id %r out of range 0-%d" % (node, top))


def _check_payload(payload, fmt):
    if len(payload) > MAX_PAYLOAD[fmt]:
        raise RFPacketError("payload of %d bytes: at most %d in %s format" % (len(payload), MAX_PAYLOAD[fmt], fmt))


# ---------------------------------------------------------------- JeeLib classic (RF12)

def classic_frame(node, payload, group, hdr_flags=0):
    """FIFO bytes of a classic packet: hdr, len, data, CRC low, CRC high."""
    _check_id(node, 31)
    _check_payload(payload, "jeelib")
    out = bytearray(len(payload) + 4)
    out[0] = (hdr_flags & 0xE0) | node
    out[1] = len(payload)
    out[2:2 + len(payload)] = payload
    crc = crc16_rf12(out[:2 + len(payload)], crc16_rf12((group,)))
    out[-2] = crc & 0xFF
    out[-1] = crc >> 8
    return bytes(out)


def parse_classic(buf, group):
    """(node, hdr flags, payload) of a received classic frame; RFPacketError if bad.

    buf: the fixed-length FIFO frame; bytes after the CRC are noise."""
    if len(buf) < 4:
        raise RFPacketError("short frame")
    n = buf[1]
    if n > MAX_PAYLOAD["jeelib"] or n + 4 > len(buf):
        raise RFPacketError("length byte %d out of range" % n)
    # Running the CRC over the CRC bytes too leaves 0 for an intact frame (RF12 receive).
    if crc16_rf12(memoryview(buf)[:n + 4], crc16_rf12((group,))) != 0:
        raise RFPacketError("crc")
    return buf[0] & 0x1F, buf[0] & 0xE0, bytes(buf[2:2 + n])


# ---------------------------------------------------------------- JeeLib RFM69 native

def native_frame(src, payload, group, dest=0, flags=0):
    """FIFO bytes: len, dest | parity, flags | src, data (dest 0 = broadcast)."""
    _check_id(src, 63)
    _check_id(dest, 63)
    _check_payload(payload, "native")
    return bytes((len(payload) + 2, dest | group_parity(group), (flags & 0xC0) | src)) + bytes(payload)


def parse_native(buf, group):
    """(dest, src, payload) of a native FIFO frame (the radio checked the CRC)."""
    if len(buf) < 3 or buf[0] < 2 or buf[0] + 1 > len(buf):
        raise RFPacketError("bad length")
    if buf[1] & 0xC0 != group_parity(group):
        raise RFPacketError("group parity")
    return buf[1] & 0x3F, buf[2] & 0x3F, bytes(buf[3:buf[0] + 1])


# ---------------------------------------------------------------- LowPowerLab

def lpl_frame(src, payload, dest, ctl=0):
    """FIFO bytes: len, target, sender, CTL, data (10-bit ids: bits 9-8 in CTL)."""
    _check_id(src, 1023)
    _check_id(dest, 1023)
    _check_payload(payload, "lpl")
    ctl = (ctl & 0xC0) | ((dest >> 6) & 0x0C) | ((src >> 8) & 0x03)
    return bytes((len(payload) + 3, dest & 0xFF, src & 0xFF, ctl)) + bytes(payload)


def parse_lpl(buf):
    """(dest, src, payload) of a LowPowerLab FIFO frame (the radio checked the CRC)."""
    if len(buf) < 4 or buf[0] < 3 or buf[0] + 1 > len(buf):
        raise RFPacketError("bad length")
    ctl = buf[3]
    return buf[1] | ((ctl & 0x0C) << 6), buf[2] | ((ctl & 0x03) << 8), bytes(buf[4:buf[0] + 1])


def parse(fmt, buf, group):
    """(src node, dest or None, payload) of a received frame in format fmt."""
    if fmt == "jeelib":
        node, flags, payload = parse_classic(buf, group)
        # DST set: the id is the destination, the sender is unknown (RF12 header).
        if flags & HDR_DST:
            return None, node, payload
        return node, None, payload
    if fmt == "native":
        dest, src, payload = parse_native(buf, group)
        return src, dest, payload
    if fmt == "lpl":
        dest, src, payload = parse_lpl(buf)
        return src, dest, payload
    raise RFPacketError("unknown format %r" % fmt)


def frame(fmt, src, payload, group, dest=0):
    """The FIFO bytes to transmit payload from node src in format fmt."""
    if fmt == "jeelib":
        return classic_frame(src, payload, group)  # a broadcast: DST = 0, hdr = sender
    if fmt == "native":
        return native_frame(src, payload, group, dest)
    if fmt == "lpl":
        return lpl_frame(src, payload, dest)
    raise RFPacketError("unknown format %r" % fmt)


# ---------------------------------------------------------------- payloads

def decode_emonth(payload):
    """(temp, temp_ext, humidity, battery, pulse) of an emonTH payload; pulse None for V1."""
    n = len(payload)
    if n != 8 and n != 12:
        raise RFPacketError("emonTH payload of %d bytes (8 or 12 expected)" % n)
    t, te, h, b = struct.unpack_from("<hhhh", payload, 0)
    pulse = struct.unpack_from("<L", payload, 8)[0] if n == 12 else None
    return t / 10, te / 10, h / 10, b / 10, pulse


def emonth_plausible(values):
    """False for readings no emonTH can send (e.g. a frame decrypted with the wrong
    AES key passes the radio's CRC but decodes to noise): DS18B20/SI7021 range
    -55..125 degC, humidity 0-100 %, battery 0-10 V."""
    t, te, h, b = values[0], values[1], values[2], values[3]
    return -55 <= t <= 125 and -55 <= te <= 125 and 0 <= h <= 100 and 0 <= b <= 10


def encode_emonth(temp, temp_ext, humidity, battery, pulse=None):
    """The payload an emonTH sends (for tests and tools)."""
    vals = [int(round(v * 10)) for v in (temp, temp_ext, humidity, battery)]
    for v in vals:
        if not -32768 <= v <= 32767:
            raise RFPacketError("emonTH value out of range")
    out = struct.pack("<hhhh", vals[0], vals[1], vals[2], vals[3])
    if pulse is not None:
        out += struct.pack("<L", pulse & 0xFFFFFFFF)
    return out


def encode_tx(values):
    """TX_LAYOUT payload from {name: value or None} (msg is values["msg"])."""
    out = []
    for name, code, scale in TX_LAYOUT:
        v = values.get(name)
        if v is None:
            out.append(TX_UNKNOWN[code])
            continue
        lo, hi = _LIMITS[code]
        n = int(round(v * scale))
        out.append(lo if n < lo else hi if n > hi else n)
    return struct.pack(TX_FORMAT, *out)


def decode_tx(payload):
    """{name: value or None} of a TX_LAYOUT payload."""
    if len(payload) != TX_SIZE:
        raise RFPacketError("payload of %d bytes (%d expected)" % (len(payload), TX_SIZE))
    raw = struct.unpack(TX_FORMAT, payload)
    out: dict = {}
    for (name, code, scale), n in zip(TX_LAYOUT, raw):
        if code != "L" and n == TX_UNKNOWN[code]:
            out[name] = None
        else:
            out[name] = n if scale == 1 else n / scale
    return out


# ---------------------------------------------------------------- radio settings

def frf(freq_mhz, fmt):
    """RegFrf (24 bits, Fstep = 32 MHz / 2^19) for a band and format.

    433 band: JeeLib formats use 434.00 MHz (the RF12 433 band centre), the
    LowPowerLab library 433.00 MHz; 868 -> 868.00, 915 -> 915.00 MHz."""
    khz = freq_mhz * 1000
    if freq_mhz == 433 and fmt != "lpl":
        khz = 434000
    return khz * 524288 // 32000


def rssi_dbm(reg):
    """RegRssiValue -> dBm (RSSI = -RssiValue / 2, SX1231 datasheet)."""
    return -reg / 2
