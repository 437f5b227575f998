"""firmware.elster: A100C frame decoding, checksum tolerance, inversion, resync, plausibility."""

from firmware import elster
from firmware.elster import ElsterError, Reader, decode_frame


def make_frame(wh, cs_xor=0, etx=0x03):
    """A frame built by hand: header, 104 data bytes, ETX, sum mod 256 (optionally corrupted)."""
    data = bytearray(104)
    data[0:12] = b"Elster A100C"
    data[26:34] = b"12345678"
    digits = "%010d" % wh
    for i in range(5):
        data[45 + i] = (int(digits[2 * i]) << 4) | int(digits[2 * i + 1])
    data[50:55] = b"\x00\x00\x00\x00\x01"  # reserved/export registers: not the import one
    f = bytearray(b"\x01\x00\x68\x02") + data + bytearray((etx,))
    cs = 0
    for b in f:
        cs += b
    f.append((cs & 0xFF) ^ cs_xor)
    return bytes(f)


def inverted(data):
    return bytes(b ^ 0xFF for b in data)


def test_decode_frame_register_is_bcd_msb_first():
    assert decode_frame(make_frame(1234567890)) == 1234567890
    assert decode_frame(make_frame(42)) == 42
    f = make_frame(987654321)
    assert f[4 + 45 : 4 + 50] == b"\x09\x87\x65\x43\x21"
    assert len(f) == elster.FRAME_LEN


def test_checksum_one_bit_tolerance():
    assert decode_frame(make_frame(100, cs_xor=0x10)) == 100
    for bad in (0x11, 0x03, 0xFF):
        try:
            decode_frame(make_frame(100, cs_xor=bad))
        except ElsterError:
            continue
        raise AssertionError(bad)
    try:
        decode_frame(make_frame(100, cs_xor=0x01), strict=True)
    except ElsterError:
        pass
    else:
        raise AssertionError("strict accepted a 1-bit error")


def test_decode_frame_rejects_bad_parts():
    good = make_frame(5)
    for frame in (good[:-1], b"\x02" + good[1:], make_frame(5, etx=0x04)):
        try:
            decode_frame(frame)
        except ElsterError:
            continue
        raise AssertionError(frame[:5])
    f = bytearray(make_frame(5))
    f[4 + 45] = 0xA0  # not BCD; fix the checksum so only the BCD check can catch it
    f[-1] = sum(f[:-1]) & 0xFF
    try:
        decode_frame(bytes(f))
    except ElsterError:
        pass
    else:
        raise AssertionError("bad BCD accepted")


def test_reader_needs_two_frames_then_tracks():
    r = Reader()
    assert r.feed(make_frame(5000)) is None  # unconfirmed first value
    assert r.feed(make_frame(5001)) == 5001
    assert r.feed(make_frame(5001)) == 5001
    assert r.wh == 5001 and r.frames == 3 and r.bad_frames == 0


def test_reader_inverted_bytes_and_split_chunks():
    stream = inverted(make_frame(7000) + make_frame(7002))
    r = Reader(invert=True)
    got = []
    for i in range(0, len(stream), 7):
        v = r.feed(stream[i : i + 7])
        if v is not None:
            got.append(v)
    assert got == [7002]
    assert Reader().feed(stream) is None  # not inverted: nothing found


def test_reader_resyncs_on_garbage_and_false_headers():
    junk = b"\xff\x01\x00\x68\x02\x13\x37" + bytes(range(200, 256)) + b"\x01\x00\x68"
    r = Reader()
    v = r.feed(junk + make_frame(100) + b"\x00\x01\x01" + make_frame(101) + junk[:30] + make_frame(102))
    assert v == 102
    assert r.wh == 102
    assert r.bad_frames >= 1 and r.discarded > 0


def test_reader_recovers_a_frame_inside_a_broken_one():
    # a frame cut short by a new frame: the new one's header is found inside the failed candidate
    first = make_frame(300)
    r = Reader()
    r.feed(make_frame(299))
    v = r.feed(first[:60] + make_frame(300))
    assert v == 300


def test_corrupted_register_with_tolerated_checksum_is_not_published():
    # flip bit 4 of a register byte: the sum changes by 16, a 1-bit checksum difference that the
    # tolerance accepts; the jump is implausible and is held until a second frame confirms it
    r = Reader(max_jump_wh=100)
    r.feed(make_frame(5000))
    r.feed(make_frame(5000))
    assert r.wh == 5000
    f = bytearray(make_frame(5000))
    f[4 + 47] ^= 0x10  # 5000 -> 105000 in BCD digits
    assert decode_frame(bytes(f)) == 105000
    assert r.feed(bytes(f)) is None
    assert r.wh == 5000 and r.unconfirmed >= 1
    assert r.feed(make_frame(5001)) == 5001


def test_meter_replaced_value_confirmed_by_two_frames():
    r = Reader()
    r.feed(make_frame(90000))
    r.feed(make_frame(90001))
    assert r.feed(make_frame(12)) is None
    assert r.feed(make_frame(12)) == 12


def test_garbage_never_produces_a_value():
    r = Reader()
    x = 12345
    buf = bytearray(5000)
    for i in range(len(buf)):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        buf[i] = x >> 16 & 0xFF
    assert r.feed(buf) is None
    assert r.wh is None
