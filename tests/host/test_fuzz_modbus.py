"""Fuzz the Modbus RTU codec (firmware/modbus_rtu.py) with byte streams as a UART hands them
over: valid read and exception responses, mutated (bit flips, cuts, inserts, wrong CRC, wrong
address or function), behind our own echoed request and between runs of noise, fed byte by
byte and in random chunks into the Framer the meter driver uses.

Contract (module docstrings): Framer.feed never raises, returns only frames with a good CRC
for its address and function, and keeps its buffer within its size; parse_read_response and
read_request raise only ModbusError (ModbusException is one); decode raises nothing on the data
of a parsed response. Counts: `pytest -s` (tests/fuzz.py).
"""
import math
import struct
import time

from firmware import modbus_rtu as mb
from tests import fuzz

N_STREAMS = 4000
N_REQUESTS = 5000


def _with_crc(body):
    c = mb.crc16(body)
    return bytes(body) + bytes((c & 0xFF, c >> 8))


def _response(r, addr, func, count):
    """A good read response of count registers: float32 values (some NaN/inf) or raw bytes."""
    data = bytearray()
    if r.random() < 0.5:
        for _ in range(count // 2):
            v = r.choice((r.uniform(-1e6, 1e6), 0.0, math.nan, math.inf, -math.inf, 3.4e38, 1e-45))
            data += struct.pack(">f", v)
        data += bytes(2 * count - len(data))
    else:
        data = bytearray(r.getrandbits(8) for _ in range(2 * count))
    return _with_crc(bytes((addr, func, 2 * count)) + data)


def _exception(r, addr, func):
    return _with_crc(bytes((addr, func | 0x80, r.choice((1, 2, 3, 4, 5, 6, 11, 0, 255)))))


def _variant(r, addr, func, count):
    """(bytes on the wire, the good frame in them or None) for one answer."""
    good = _exception(r, addr, func) if r.random() < 0.15 else _response(r, addr, func, count)
    k = r.random()
    if k < 0.35:
        return good, good
    if k < 0.45:  # wrong CRC
        bad = bytearray(good)
        bad[-1 - r.randrange(2)] ^= 1 << r.randrange(8)
        return bytes(bad), None
    if k < 0.55:  # another slave, or another function, with a correct CRC
        body = bytearray(good[:-2])
        if r.random() < 0.5:
            body[0] = r.choice([a for a in (0, 1, 2, 17, 247, 255) if a != addr])
        else:
            body[1] = r.choice([f for f in (1, 2, 3, 4, 6, 16, 0x83, 0x84, 0xFF) if f not in (func, func | 0x80)])
        return _with_crc(body), None
    if k < 0.65:  # a byte count that disagrees with the length, CRC recomputed
        body = bytearray(good[:-2])
        if len(body) > 2:
            body[2] = r.randrange(256)
        return _with_crc(body), None
    if k < 0.75:  # truncated
        return good[:r.randrange(len(good))], None
    return fuzz.mutate(r, good, inserts=(addr, func, func | 0x80, 0x00, 0xFF)), None


def _drain(framer, piece, out):
    frame = framer.feed(piece)
    while frame is not None:
        out.append(frame)
        frame = framer.feed(b"")  # feed returns one frame per call; the rest stays buffered
    assert 0 <= framer.n <= len(framer.buf), framer.n


def test_framer_and_parser_on_fuzzed_streams():
    streams = fuzz.Tally("modbus.framer")
    parsed = fuzz.Tally("modbus.parse_read_response", (mb.ModbusError,))
    raw = fuzz.Tally("modbus.parse(raw bytes)", (mb.ModbusError,))
    decoded = fuzz.Tally("modbus.decode", ())
    clean = found = 0
    for r, _i in fuzz.inputs("modbus.framer", N_STREAMS, streams, parsed, raw, decoded):
        addr = r.choice((1, 2, 17, 100, 247, r.randint(1, 247)))
        func = r.choice((mb.FUNC_READ_INPUT, mb.FUNC_READ_INPUT, mb.FUNC_READ_HOLDING))
        model = r.choice(tuple(mb.MODELS))
        start, count = r.choice(mb.read_plan(model)) if r.random() < 0.6 else (0, r.randint(1, mb.MAX_READ_REGS))
        wire, good = _variant(r, addr, func, count)
        lead = b""
        if r.random() < 0.3:  # the RS-485 transceiver echoes our request
            lead += mb.read_request(addr, start, count, func)
        if r.random() < 0.5:
            lead += fuzz.noise(r, 0, 40)
        stream = lead + wire + (fuzz.noise(r, 0, 10) if r.random() < 0.3 else b"")
        pieces = [bytes((b,)) for b in stream] if r.random() < 0.4 else list(fuzz.chunks(r, stream, 64))
        framer = mb.Framer(addr, func)
        frames: list = []
        t0 = time.perf_counter()
        for piece in pieces:
            _drain(framer, piece, frames)
        streams.timed(t0)
        streams.count(frames, "no frame")
        for frame in frames:
            assert mb.crc_ok(frame) and frame[0] == addr and frame[1] in (func, func | 0x80), frame.hex()
            ok, data = parsed.check(mb.parse_read_response, frame, addr, func, count, show=frame.hex())
            if ok:
                assert len(data) == 2 * count
                values = decoded.check(mb.decode, model, start, data, show=(model, start, data.hex()))[1]
                assert all(v is None or math.isfinite(v) for v in values.values()), values
        raw.check(mb.parse_read_response, wire, addr, func, count, show=wire.hex())
        if good is not None:
            clean += 1
            found += good in frames
    for t in (streams, parsed, raw, decoded):
        t.report()
    # a good answer is found behind any echo and noise: only a false frame start in the noise
    # that happens to pass the CRC (p ~ 2^-16 per candidate) could swallow it
    print("modbus: %d of %d clean answers found" % (found, clean))
    assert found >= clean - max(1, clean // 1000), (found, clean)
    assert parsed.accepted and parsed.rejected and decoded.accepted  # the fuzz reaches every stage
    assert streams.worst_s < 0.5, streams.worst_s


def test_a_full_frame_is_not_pushed_out_by_its_own_chunk():
    # Found by test_framer_and_parser_on_fuzzed_streams: 125 registers (a 255-byte answer, the
    # protocol's largest) arrive with the bytes after them in the read that completes them.
    # Framer.feed takes a complete frame out of its full 260-byte buffer before a byte has to
    # go, so the frame comes out whatever follows it in the same read.
    good = _response(fuzz.rng("modbus.full", 0), 1, mb.FUNC_READ_INPUT, 125)
    framer = mb.Framer(1, mb.FUNC_READ_INPUT)
    assert framer.feed(good[:250]) is None
    assert framer.feed(good[250:] + b"\x00" * 10) == good


def test_framer_buffer_stays_bounded_on_endless_noise():
    # a stream that never holds a frame (a babbling bus) must not grow anything
    t = fuzz.Tally("modbus.framer(babble)")
    for seed in fuzz.seeds():
        r = fuzz.rng("modbus.babble", seed)
        for size in (8, 64, 260):
            framer = mb.Framer(r.randint(1, 247), mb.FUNC_READ_INPUT, size=size)
            for i in range(300):
                t.at(seed, i)
                # mostly the framer's own address and function: the worst case for resync
                piece = bytes(r.choice((framer.addr, framer.func, framer.func | 0x80, 0, 0xFE, r.randrange(256)))
                              for _ in range(r.randint(1, 3 * size)))
                out: list = []
                t0 = time.perf_counter()
                _drain(framer, piece, out)
                t.timed(t0)
                for frame in out:
                    assert mb.crc_ok(frame)
                t.count(out, "no frame")
    t.report()


def _pick(r, lo, hi):
    """A value at, just beyond, inside or far outside [lo, hi]."""
    return r.choice((lo, hi, lo - 1, hi + 1, 0, -1, r.randint(lo, hi), r.randint(-2 ** 40, 2 ** 40)))


def test_read_request_rejects_only_with_modbus_error():
    t = fuzz.Tally("modbus.read_request", (mb.ModbusError,))
    for r, _i in fuzz.inputs("modbus.request", N_REQUESTS, t):
        args = (_pick(r, 1, 247), _pick(r, 0, 0xFFFF), _pick(r, 1, 125), r.choice((3, 4, 0, 1, 6, 0x83, 256)))
        ok, req = t.check(mb.read_request, *args, show=args)
        if ok:
            assert len(req) == 8 and mb.crc_ok(req) and req[0] == args[0] and req[1] == args[3]
    t.report()
    assert t.accepted and t.rejected
