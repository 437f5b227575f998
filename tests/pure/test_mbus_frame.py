"""M-Bus link layer (firmware/mbus_frame.py: builders, strict and incremental parsing) and
the secondary search planner (firmware/mbus_search.py). Runs under pytest and the unix port.

Expected request bytes come from the seed system's documented frames
(../shared/reference/seed-system.md §1.5) and from checksums worked by hand.
"""
from firmware import mbus_frame as mf
from firmware import mbus_search as ms

# a complete RSP_UD (libmbus test frame abb_delta's first bytes are not needed: a short
# hand-made one): 68 L L 68 08 05 72 | ID 78563412 | man 2D2C (KAM) | ver 01 | medium 04 |
# acc 07 | status 00 | sig 0000 | 04 06 64 00 00 00 (100 kWh) | CS 16
_UD = bytes((0x78, 0x56, 0x34, 0x12, 0x2D, 0x2C, 0x01, 0x04, 0x07, 0x00, 0x00, 0x00,
             0x04, 0x06, 0x64, 0x00, 0x00, 0x00))


def _rsp(ud=_UD, a=5):
    body = bytes((0x08, a, 0x72)) + ud
    s = 0
    for b in body:
        s += b
    return bytes((0x68, len(body), len(body), 0x68)) + body + bytes((s & 0xFF, 0x16))


def _raises(fn, *args):
    try:
        fn(*args)
    except mf.MBusFrameError:
        return True
    return False


def test_requests_match_documented_bytes():
    assert mf.snd_nke(0xFD) == bytes((0x10, 0x40, 0xFD, 0x3D, 0x16))
    assert mf.req_ud2(0x64) == bytes((0x10, 0x5B, 0x64, 0xBF, 0x16))
    assert mf.req_ud2(0x64, True) == bytes((0x10, 0x7B, 0x64, 0xDF, 0x16))
    assert mf.set_primary_address(0xFE, 100) == bytes(
        (0x68, 0x06, 0x06, 0x68, 0x53, 0xFE, 0x51, 0x01, 0x7A, 0x64, 0x81, 0x16))
    assert mf.sontex_page(0x64, 3) == bytes(
        (0x68, 0x07, 0x07, 0x68, 0x53, 0x64, 0x51, 0x01, 0xFF, 0x08, 0x03, 0x13, 0x16))
    assert mf.sontex_page(0x64, 1)[-2] == 0x11


def test_secondary_select_frame():
    # SND_UD to FD, CI 52, ID 12345678 LSB first, all other fields wildcards; CS worked by hand
    assert mf.select_secondary(12345678) == bytes(
        (0x68, 0x0B, 0x0B, 0x68, 0x53, 0xFD, 0x52, 0x78, 0x56, 0x34, 0x12,
         0xFF, 0xFF, 0xFF, 0xFF, 0xB2, 0x16))
    # wildcard digits: "1234FFFF" -> FF FF 34 12, KAM (2C2D), heat (04)
    f = mf.select_secondary("1234FFFF", man=0x2C2D, medium=0x04)
    assert f[7:15] == bytes((0xFF, 0xFF, 0x34, 0x12, 0x2D, 0x2C, 0xFF, 0x04))
    assert f[15] == 0x42
    assert mf.id_mask("0000000F") == bytes((0x0F, 0x00, 0x00, 0x00))  # last digit = low nibble
    assert mf.id_mask("F0000000") == bytes((0x00, 0x00, 0x00, 0xF0))
    assert _raises(mf.id_mask, "12345")
    assert _raises(mf.id_mask, "1234567X")
    assert _raises(mf.id_mask, 123456789)


def test_baud_and_reset_frames():
    f = mf.set_baud(1, 9600)
    assert f[6] == 0xBD and f[1] == 3
    assert mf.app_reset(1)[6] == 0x50
    assert _raises(mf.set_baud, 1, 1234)


def test_parse_frame_strict():
    f = mf.parse_frame(_rsp())
    assert f.kind == mf.F_LONG and f.c == 0x08 and f.a == 5 and f.ci == 0x72
    assert f.data == _UD
    assert mf.parse_frame(b"\xe5").kind == mf.F_ACK
    s = mf.parse_frame(mf.req_ud2(7, True))
    assert s.kind == mf.F_SHORT and s.c == 0x7B and s.a == 7
    c = mf.parse_frame(mf.app_reset(3))
    assert c.kind == mf.F_CONTROL and c.ci == 0x50 and c.data == b""
    good = _rsp()
    bad_cs = good[:-2] + bytes(((good[-2] + 1) & 0xFF,)) + good[-1:]
    assert _raises(mf.parse_frame, bad_cs)
    assert _raises(mf.parse_frame, good[:-1])             # truncated
    assert _raises(mf.parse_frame, good + b"\x00")        # over-long
    assert _raises(mf.parse_frame, good[:-1] + b"\x17")   # stop byte
    assert _raises(mf.parse_frame, b"\x68\x00\x00\x68\x08\x16")  # libmbus invalid_length
    assert _raises(mf.parse_frame, b"")
    assert _raises(mf.parse_frame, b"\x10\x5b\x64\xbe\x16")


def test_long_frame_roundtrip_and_limits():
    data = bytes(range(200))
    f = mf.long_frame(0x08, 1, 0x72, data)
    assert mf.parse_frame(f).data == data
    assert _raises(mf.long_frame, 0x08, 1, 0x72, bytes(253))
    assert len(mf.long_frame(0x08, 1, 0x72, bytes(252))) == mf.MAX_FRAME


def test_incremental_parser_byte_by_byte():
    p = mf.FrameParser()
    stream = b"\xe5" + _rsp() + mf.req_ud2(9)
    got = []
    for i in range(len(stream)):
        got.extend(p.feed(stream[i:i + 1]))
    assert [f.kind for f in got] == [mf.F_ACK, mf.F_LONG, mf.F_SHORT]
    assert got[1].data == _UD and got[2].a == 9
    assert p.pending() == 0 and p.garbage == 0 and p.bad == 0


def test_incremental_parser_resyncs_after_garbage_and_collision():
    p = mf.FrameParser()
    good = _rsp()
    # line noise, then a collided (corrupted) frame, then a false start 68 with a plausible
    # length, then the good frame split in two chunks
    collided = bytearray(good)
    collided[20] ^= 0x5A
    noise = b"\x00\xff\x13" + bytes(collided) + b"\x68\x10\x10\x68\x01"
    out = list(p.feed(noise + good[:7]))
    out += list(p.feed(good[7:]))
    longs = [f for f in out if f.kind == mf.F_LONG]
    assert len(longs) == 1 and longs[0].data == _UD
    assert p.garbage > 0 and p.bad > 0
    assert p.pending() == 0


def test_incremental_parser_stop_byte_inside_data_and_reset():
    ud = bytes((0x16, 0x68, 0x10, 0xE5)) * 10
    frame = mf.long_frame(0x08, 1, 0x78, ud)
    p = mf.FrameParser()
    out = p.feed(frame[:30])
    assert not out and p.pending() == 30
    p.reset()
    assert p.pending() == 0
    out = p.feed(frame)
    assert len(out) == 1 and out[0].data == ud


def test_incremental_parser_overflow_keeps_working():
    p = mf.FrameParser(size=64)
    # a false header announcing 255 bytes can never complete in 64 bytes: it must be dropped
    p.feed(b"\x68\xff\xff\x68" + bytes(100))
    out = p.feed(_rsp())
    assert len(out) == 1 and out[0].data == _UD


def _bus_probe(ids):
    # how a bus with these secondary IDs answers a selection mask
    def probe(mask):
        n = 0
        for i in ids:
            s = "%08d" % i
            ok = True
            for k in range(8):
                if mask[k] != "F" and mask[k] != s[k]:
                    ok = False
            if ok:
                n += 1
        return ms.PROBE_NONE if n == 0 else ms.PROBE_ONE if n == 1 else ms.PROBE_COLLISION
    return probe


def _search(ids, prefix=""):
    probe = _bus_probe(ids)
    s = ms.SecondarySearch(prefix)
    found = []
    steps = 0
    while not s.done:
        mask = s.next()
        res = probe(mask)
        if res == ms.PROBE_ONE:
            found.append(mask)
        s.report(res)
        steps += 1
        assert steps < 2000
    assert s.next() is None
    return found, steps


def _expand(mask, ids):
    return [i for i in ids if all(mask[k] in ("F", ("%08d" % i)[k]) for k in range(8))]


def test_secondary_search_finds_every_meter():
    ids = [12345678, 12345679, 12399999, 87654321, 10000000, 12345600]
    found, steps = _search(ids)
    got = sorted(_expand(m, ids)[0] for m in found)
    assert got == sorted(ids)
    assert len(found) == len(ids)


def test_secondary_search_single_meter_and_empty_bus():
    found, steps = _search([42])
    assert steps == 1 and _expand(found[0], [42]) == [42]
    found, steps = _search([])
    assert found == [] and steps == 1


def test_secondary_search_with_prefix():
    ids = [55510000, 55520000, 66600000]
    found, _ = _search(ids, "555")
    assert sorted(_expand(m, ids)[0] for m in found) == [55510000, 55520000]
