"""Host M-Bus tool (CPython), reusing the firmware's pure M-Bus modules.

    python -m tools.mbus decode FILE|-            hex text (any whitespace/case) -> JSON
    python -m tools.mbus scan --port /dev/ttyUSB0 [--baud 2400] [--secondary]
    python -m tools.mbus read --port /dev/ttyUSB0 (--address N | --id 12345678) [--all]

JSON: {"header": {...}, "records": [{"quantity", "unit", "value", "function", "storage",
"tariff", "subunit", ...}]} with units normalised as libmbus's `-n` output does (Wh, J, m^3,
m^3/h, W, °C, K, s, V, A, ...) and dates as ISO strings (meter local time, so no "Z").
scan/read need pyserial and a USB M-Bus master (level converter) on the port.
Licence: GPL-3.0-or-later.
"""
import argparse
import json
import os
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _p in (os.path.join(_ROOT, "tests", "cpython_shims"), _ROOT):
    if _p not in sys.path:
        sys.path.append(_p)

from firmware import mbus_frame as mf  # noqa: E402
from firmware import mbus_records as mr  # noqa: E402
from firmware import mbus_search as ms  # noqa: E402

# medium byte of the variable data header -> text (EN 13757-3 medium table; libmbus spelling)
MEDIUM = {
    0x00: "Other", 0x01: "Oil", 0x02: "Electricity", 0x03: "Gas", 0x04: "Heat: Outlet",
    0x05: "Steam", 0x06: "Warm water (30-90\u00b0C)", 0x07: "Water",
    0x08: "Heat Cost Allocator", 0x09: "Compressed Air", 0x0A: "Cooling load meter: Outlet",
    0x0B: "Cooling load meter: Inlet", 0x0C: "Heat: Inlet", 0x0D: "Heat / Cooling load meter",
    0x0E: "Bus/System", 0x0F: "Unknown Medium", 0x15: "Hot water (>=90\u00b0C)",
    0x16: "Cold water", 0x17: "Dual water", 0x18: "Pressure", 0x19: "A/D Converter",
    0x1A: "Smoke detector", 0x1B: "Room sensor", 0x1C: "Gas detector",
    0x20: "Breaker: Electricity", 0x21: "Valve: Gas or water", 0x25: "Customer unit",
    0x28: "Waste water", 0x29: "Garbage", 0x2A: "Carbon dioxide",
    0x31: "Communication controller", 0x32: "Unidirectional repeater",
    0x33: "Bidirectional repeater", 0x36: "Radio converter (system side)",
    0x37: "Radio converter (meter side)",
}
# 4-bit medium of the fixed data structure (CI 73/77)
FIXED_MEDIUM = ("Other", "Oil", "Electricity", "Gas", "Heat", "Steam", "Hot Water", "Water",
                "H.C.A.", "Reserved", "Gas Mode 2", "Heat Mode 2", "Hot Water Mode 2",
                "Water Mode 2", "H.C.A. Mode 2", "Reserved")
FUNCTION = ("Instantaneous value", "Maximum value", "Minimum value", "Value during error state",
            "Manufacturer specific", "More records follow")
APP_ERROR = ("Unspecified error", "Unimplemented CI-Field", "Buffer too long, truncated",
             "Too many records", "Premature end of record", "More than 10 DIFEs",
             "More than 10 VIFEs", "Reserved", "Application busy", "Too many readouts")


class HexError(ValueError):
    pass


def parse_hex(text):
    """Hex text with any whitespace (and optional 0x prefixes / commas) -> bytes."""
    s = text.replace(",", " ")
    out = bytearray()
    for tok in s.split():
        if tok[:2] in ("0x", "0X"):
            tok = tok[2:]
        if len(tok) % 2:
            raise HexError("odd number of hex digits in %r" % tok)
        try:
            out += bytes.fromhex(tok)
        except ValueError:
            raise HexError("not hex: %r" % tok) from None
    return bytes(out)


def _hex(b):
    return " ".join("%02X" % x for x in b)


def iso(t):
    """Date tuple (y, m, d, h, mi, s) from the decoder -> ISO 8601 text."""
    y, mo, d, h, mi, s = t
    if mo is None:  # type J: time of day
        return "%02d:%02d:%02d" % (h, mi, s)
    # year None = "every year": ISO 8601 form without year, --MM-DD
    day = ("--%02d-%02d" % (mo, d)) if y is None else ("%04d-%02d-%02d" % (y, mo, d))
    if h is None:
        return day
    return day + "T%02d:%02d:%02d" % (h, mi, s)


def record_json(r):
    if r.vtype == mr.T_DATE:
        value = iso(r.value) if r.value else None
    elif r.vtype in (mr.T_BIN, mr.T_MFR):
        value = _hex(r.value)
    else:
        value = r.value
    out = {"quantity": r.quantity, "unit": r.unit, "value": value,
           "function": FUNCTION[r.function], "storage": r.storage, "tariff": r.tariff,
           "subunit": r.subunit, "raw": _hex(r.raw)}
    if r.invalid:
        out["invalid"] = True
    if r.mfr:
        out["manufacturer_specific"] = True
    return out


def header_json(h, frame=None):
    out = {}
    if frame is not None:
        out["c"] = "%02X" % frame.c
        out["a"] = frame.a
    for k, v in h.items():
        if k in ("status", "ci"):
            out[k] = "%02X" % v
        elif k == "signature":
            out[k] = "%04X" % v
        elif k == "man_code":
            continue
        else:
            out[k] = v
    if "medium" in h:
        out["medium_code"] = h["medium"]
        if h.get("fixed"):
            out["medium"] = FIXED_MEDIUM[h["medium"] & 15]
        else:
            out["medium"] = MEDIUM.get(h["medium"], "Reserved")
    if "error" in h:
        e = h["error"]
        out["error_text"] = APP_ERROR[e] if e < len(APP_ERROR) else "Reserved"
    return out


def decode_bytes(raw):
    """One wired M-Bus frame (bytes) -> JSON-able dict. Raises ValueError subclasses."""
    f = mf.parse_frame(raw)
    if f.kind == mf.F_ACK:
        return {"header": {"frame": "ACK"}, "records": []}
    if f.kind == mf.F_SHORT:
        return {"header": {"frame": "short", "c": "%02X" % f.c, "a": f.a}, "records": []}
    h, recs = mr.decode(f.ci, f.data)
    return {"header": header_json(h, f), "records": [record_json(r) for r in recs]}


# ---------------------------------------------------------------- serial (pyserial)

class Bus:
    """Blocking half-duplex master over pyserial, for installers (not used by firmware).
    `ser` may be any object with read(n)/write(b)/flush()/reset_input_buffer() (tests)."""

    def __init__(self, port, baud=2400, timeout=None, retries=2, verbose=False, ser=None):
        if ser is None:
            import serial  # pyserial
            ser = serial.Serial(port, baud, bytesize=8, parity=serial.PARITY_EVEN,
                                stopbits=1, timeout=0.05)
        self.ser = ser
        # reply timeout: EN 13757-2 allows 330 bit times + 50 ms; add margin for converters
        self.timeout = timeout if timeout is not None else 11 * 330 / baud + 0.15
        # end of a reply: the line stayed quiet this long (about 20 character times)
        self.gap = min(self.timeout, max(0.05, 220 / baud))
        self.retries = retries
        self.verbose = verbose
        self.parser = mf.FrameParser()
        self.fcb = {}

    def _log(self, tag, b):
        if self.verbose:
            sys.stderr.write("%s %s\n" % (tag, _hex(b)))

    def exchange(self, req, want_long):
        """Send req; collect frames until a long frame (want_long), a quiet gap after the
        first bytes, or the timeout. Returns (frames, noise_seen)."""
        self.ser.reset_input_buffer()
        self.parser.reset()
        self._log(">>", req)
        self.ser.write(req)
        self.ser.flush()
        got = []
        bad0 = self.parser.bad + self.parser.garbage
        deadline = time.monotonic() + self.timeout
        quiet_at = None
        while True:
            now = time.monotonic()
            if now >= deadline or (quiet_at is not None and now >= quiet_at):
                break
            chunk = self.ser.read(64)
            if not chunk:
                continue
            self._log("<<", chunk)
            quiet_at = time.monotonic() + self.gap
            for fr in self.parser.feed(chunk):
                if fr.kind == mf.F_SHORT and bytes(req) == mf.short_frame(fr.c, fr.a):
                    continue  # our own echo (some level converters loop TX back)
                if fr.kind in (mf.F_LONG, mf.F_CONTROL) and fr.c & 0x40:
                    continue  # echo of a master frame (PRM bit set)
                got.append(fr)
            if want_long and any(f.kind == mf.F_LONG for f in got):
                break
        noise = (self.parser.bad + self.parser.garbage - bad0) > 0 or self.parser.pending() > 0
        return got, noise

    def ping(self, a):
        fr, noise = self.exchange(mf.snd_nke(a), False)
        acks = sum(1 for f in fr if f.kind == mf.F_ACK)
        if acks:
            self.fcb[a] = True  # after SND_NKE the next request starts with FCB = 1
            return ms.PROBE_ONE if acks == 1 and not noise else ms.PROBE_COLLISION
        return ms.PROBE_COLLISION if noise or fr else ms.PROBE_NONE

    def read(self, a, all_frames=True, max_frames=16):
        """REQ_UD2 with FCB toggling; follows 'more records follow' (DIF 1F)."""
        frames = []
        fcb = self.fcb.get(a, True)
        for _ in range(max_frames):
            reply = None
            for _try in range(self.retries + 1):
                fr, _noise = self.exchange(mf.req_ud2(a, fcb), True)
                longs = [f for f in fr if f.kind == mf.F_LONG]
                if longs:
                    reply = longs[-1]
                    break
            if reply is None:
                raise OSError("no reply from address %d" % a)
            fcb = not fcb  # the exchange succeeded: toggle for the next request
            self.fcb[a] = fcb
            frames.append(reply)
            h, recs = mr.decode(reply.ci, reply.data)
            if not (all_frames and h.get("more")):
                break
        return frames

    def select(self, mask):
        fr, noise = self.exchange(mf.select_secondary(mask), False)
        acks = [f for f in fr if f.kind == mf.F_ACK]
        if len(acks) == 1 and not noise:
            self.fcb[mf.ADDR_NETWORK] = True  # a new selection starts a new FCB sequence
            return ms.PROBE_ONE
        return ms.PROBE_COLLISION if (acks or noise or fr) else ms.PROBE_NONE


def _frames_json(frames):
    out = []
    for f in frames:
        h, recs = mr.decode(f.ci, f.data)
        out.append({"header": header_json(h, f), "records": [record_json(r) for r in recs]})
    return out


def cmd_decode(args):
    text = sys.stdin.read() if args.file == "-" else open(args.file, encoding="latin-1").read()
    try:
        out = decode_bytes(parse_hex(text))
    except ValueError as e:
        sys.stderr.write("error: %s\n" % e)
        return 2
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def _bus(args):
    try:
        return Bus(args.port, args.baud, verbose=args.verbose)
    except ImportError:
        sys.exit("scan/read need pyserial (pip install pyserial)")


def cmd_scan(args, bus=None):
    bus = bus or _bus(args)
    found = []
    if args.secondary:
        s = ms.SecondarySearch()
        while not s.done:
            mask = s.next()
            res = bus.select(mask)
            if res == ms.PROBE_ONE:
                try:
                    h, _ = mr.decode(*_first(bus.read(mf.ADDR_NETWORK, all_frames=False)))
                    found.append({"id": h.get("id"), "manufacturer": h.get("manufacturer"),
                                  "medium": h.get("medium")})
                except (OSError, ValueError):
                    res = ms.PROBE_COLLISION  # one clean E5 from two meters: look closer
            s.report(res)
    else:
        for a in range(args.first, args.last + 1):
            if bus.ping(a) == ms.PROBE_ONE:
                found.append({"address": a})
            elif args.verbose:
                sys.stderr.write("address %d: no answer\n" % a)
    json.dump(found, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _first(frames):
    return frames[0].ci, frames[0].data


def cmd_read(args, bus=None):
    bus = bus or _bus(args)
    if args.id is not None:
        if bus.select(args.id) != ms.PROBE_ONE:
            sys.stderr.write("no (unique) answer to the secondary selection\n")
            return 1
        a = mf.ADDR_NETWORK
    else:
        a = args.address
        bus.ping(a)
    try:
        frames = _frames_json(bus.read(a, all_frames=args.all))
    except (OSError, ValueError) as e:
        sys.stderr.write("error: %s\n" % e)
        return 1
    json.dump(frames, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.mbus", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("decode", help="decode one frame given as hex text")
    d.add_argument("file", help="file with hex text, or - for stdin")
    for name in ("scan", "read"):
        s = sub.add_parser(name)
        s.add_argument("--port", required=True)
        s.add_argument("--baud", type=int, default=2400)
        s.add_argument("-v", "--verbose", action="store_true")
        if name == "scan":
            s.add_argument("--secondary", action="store_true", help="wildcard ID search")
            s.add_argument("--first", type=int, default=1)
            s.add_argument("--last", type=int, default=250)
        else:
            s.add_argument("--address", type=int, default=1)
            s.add_argument("--id", help="secondary ID (8 digits, F = wildcard)")
            s.add_argument("--all", action="store_true", help="follow more-records-follow")
    args = p.parse_args(argv)
    return {"decode": cmd_decode, "scan": cmd_scan, "read": cmd_read}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
