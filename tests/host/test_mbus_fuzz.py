"""Fuzz the M-Bus codec: 100,000 random and mutated frames per run (fixed seed, so a failure
reproduces). Only the codec's own errors may come out (MBusFrameError, MBusDecodeError),
never IndexError/struct.error/... and never a hang; decoded frames must also be consistent
(the records tile the data exactly) and convert to JSON.

Mix: random bytes; corpus frames with bit flips, byte edits, inserts, deletes, cuts; and,
most of all, mutated user data re-wrapped in a frame with a correct checksum, so that the
mutations reach the application layer instead of stopping at the checksum.
"""
import glob
import json
import os
import random
import time

from firmware import mbus_frame as mf
from firmware import mbus_records as mr
from tests import fuzz
from tools import mbus as cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FRAMES = os.path.join(os.path.dirname(ROOT), "shared", "mbus-frames")
SEED = 13757
N = 100_000
OWN = (mf.MBusFrameError, mr.MBusDecodeError)
CIS = (0x72, 0x72, 0x72, 0x76, 0x78, 0x7A, 0x73, 0x77, 0x70, 0x51)


def _seeds():
    out = []
    for path in sorted(glob.glob(os.path.join(FRAMES, "libmbus", "**", "*.hex"), recursive=True)):
        try:
            out.append(cli.parse_hex(open(path, encoding="latin-1").read()))
        except cli.HexError:
            pass
    for path in sorted(glob.glob(os.path.join(FRAMES, "*", "*.json"))):
        out.append(cli.parse_hex(json.load(open(path))["frame_hex"]))
    return out


INSERTS = (0x0F, 0x1F, 0x2F, 0x80, 0xFF, 0x7C, 0xFD, 0xFB, 0x0D)  # M-Bus start/stop/fill bytes


def _wrap(rng, ud):
    ci = rng.choice(CIS) if rng.random() < 0.9 else rng.randrange(256)
    return mf.long_frame(0x08, rng.randrange(256), ci, ud[:252])


def _check_decoded(f):
    try:
        hdr, recs = mr.decode(f.ci, f.data)
    except OWN:
        return 0
    # the records tile the data: each record's bytes follow the previous one, with only
    # 2F fillers between them (not for the fixed format, whose records are not DIF-based)
    if f.ci not in (0x73, 0x77):
        _h, pos, _msb = mr.header(f.ci, f.data)
        d = f.data
        for r in recs:
            while d[pos] == 0x2F:
                pos += 1
            assert d[pos:pos + len(r.raw)] == r.raw
            pos += len(r.raw)
        assert all(b == 0x2F for b in d[pos:])
    for r in recs:
        r.wh()
        r.scaled_int(-2)
    mr.heat_summary(recs)
    json.dumps({"header": cli.header_json(hdr, f), "records": [cli.record_json(r) for r in recs]})
    return len(recs)


def test_fuzz_100k_frames_only_own_errors():
    rng = random.Random(SEED)
    seeds = _seeds()
    user_data = [mf.parse_frame(s).data for s in seeds if _parses(s)]
    stream = mf.FrameParser()
    t0 = time.monotonic()
    worst = 0.0
    decoded = records = 0
    for n in range(N):
        kind = rng.random()
        if kind < 0.15:
            raw = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80)))
        elif kind < 0.35:
            raw = fuzz.mutate(rng, rng.choice(seeds), inserts=INSERTS)
        elif kind < 0.9:
            raw = _wrap(rng, fuzz.mutate(rng, rng.choice(user_data), inserts=INSERTS))
        else:
            raw = _wrap(rng, bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 60))))
        t = time.monotonic()
        try:
            try:
                f = mf.parse_frame(raw)
            except mf.MBusFrameError:
                f = None
            if f is not None and f.kind in (mf.F_LONG, mf.F_CONTROL):
                decoded += 1
                records += _check_decoded(f)
            # the incremental parser sees the same bytes in random chunks; it never raises
            i = 0
            while i < len(raw):
                k = rng.randint(1, 40)
                for fr in stream.feed(raw[i:i + k]):
                    if fr.kind == mf.F_LONG:
                        records += _check_decoded(fr)
                i += k
        except AssertionError:
            raise
        except Exception as e:  # noqa: BLE001 - the point of the test
            raise AssertionError("frame %d %s raised %r" % (n, raw.hex(), e)) from e
        worst = max(worst, time.monotonic() - t)
    elapsed = time.monotonic() - t0
    assert decoded > N // 2 and records > N  # the mutations really reach the record parser
    assert worst < 0.5, worst          # no frame takes long (no hang, no blow-up)
    assert elapsed < 60, elapsed


def _parses(raw):
    try:
        mf.parse_frame(raw)
        return True
    except mf.MBusFrameError:
        return False


def test_parser_stream_of_valid_frames_after_fuzz_noise():
    # after arbitrary noise the incremental parser still finds every good frame
    rng = random.Random(SEED + 1)
    good = [s for s in _seeds() if _parses(s)]
    p = mf.FrameParser()
    found = 0
    for _ in range(2000):
        noise = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 30)))
        frame = rng.choice(good)
        got = list(p.feed(noise)) + list(p.feed(frame))
        p.reset()
        found += any(f.kind != mf.F_ACK and f.data == mf.parse_frame(frame).data for f in got)
    assert found >= 1990  # noise may rarely end in a false 68/10 start that swallows a frame
