"""RF packet codecs (firmware/rf_packets.py): RF12 CRC, the three OEM frame formats,
emonTH payloads and the monitor's transmit payload."""
from firmware import rf_packets as rp


def _raises(func, *args):
    try:
        func(*args)
    except rp.RFPacketError:
        return True
    return False


def _crc_reference(data, crc):
    # CRC-16 with the reflected polynomial by a 256-entry table (a different algorithm
    # from the bitwise one under test)
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table.append(c)
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc


def test_crc16_check_value():
    # CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF) of "123456789" is 0x4B37
    assert rp.crc16_rf12(b"123456789") == 0x4B37
    assert rp.crc16_rf12(b"123456789", 0) == 0xBB3D  # CRC-16/ARC, init 0


def test_crc16_matches_table_reference():
    data = bytes(range(0, 250, 7))
    assert rp.crc16_rf12(data, 0x1234) == _crc_reference(data, 0x1234)


def test_group_parity_bits():
    # b7 = g7^g5^g3^g1, b6 = g6^g4^g2^g0
    assert rp.group_parity(210) == 0x00   # 1101 0010
    assert rp.group_parity(212) == 0xC0   # 1101 0100
    assert rp.group_parity(1) == 0x40
    assert rp.group_parity(2) == 0x80
    assert rp.group_parity(3) == 0xC0


def test_classic_frame_layout_and_crc():
    f = rp.classic_frame(23, b"\x01\x02\x03", 210)
    assert f[0] == 23 and f[1] == 3 and f[2:5] == b"\x01\x02\x03"
    crc = _crc_reference(bytes((23, 3, 1, 2, 3)), _crc_reference(bytes((210,)), 0xFFFF))
    assert f[5] == crc & 0xFF and f[6] == crc >> 8
    # the receiver's FIFO holds 66 bytes: the frame, then noise
    fifo = f + bytes(range(100, 100 + rp.CLASSIC_FRAME - len(f)))
    assert rp.parse_classic(fifo, 210) == (23, 0, b"\x01\x02\x03")
    assert rp.parse("jeelib", fifo, 210) == (23, None, b"\x01\x02\x03")


def test_classic_rejects_bad_crc_group_and_length():
    f = bytearray(rp.classic_frame(23, b"\x10\x20", 210)) + bytes(60)
    assert _raises(rp.parse_classic, bytes(f), 211)  # another group
    f[2] ^= 0x04
    assert _raises(rp.parse_classic, bytes(f), 210)
    assert _raises(rp.parse_classic, b"\x17\x40" + bytes(64), 210)  # length 64 > 62
    assert _raises(rp.parse_classic, b"\x17", 210)
    assert _raises(rp.classic_frame, 32, b"", 210)
    assert _raises(rp.classic_frame, 1, bytes(63), 210)


def test_classic_dst_header_has_no_sender():
    f = rp.classic_frame(5, b"\x00", 210, rp.HDR_DST) + bytes(60)
    assert rp.parse("jeelib", f, 210) == (None, 5, b"\x00")


def test_native_frame_roundtrip_and_parity():
    f = rp.native_frame(9, b"\xaa\xbb", 212, dest=0)
    assert f == bytes((4, 0xC0, 9, 0xAA, 0xBB))
    assert rp.parse_native(f, 212) == (0, 9, b"\xaa\xbb")
    assert rp.parse("native", f + b"\x00\x00", 212) == (9, 0, b"\xaa\xbb")
    assert _raises(rp.parse_native, f, 210)  # parity of another group
    assert _raises(rp.parse_native, b"\x09\xc0\x09", 212)  # length past the buffer
    assert _raises(rp.native_frame, 64, b"", 212)


def test_lpl_frame_ten_bit_ids():
    f = rp.lpl_frame(1, b"\x01\x02", 5)
    assert f == bytes((5, 5, 1, 0, 1, 2))
    g = rp.lpl_frame(300, b"", 700, rp.LPL_CTL_REQACK)
    assert g == bytes((3, 700 & 0xFF, 300 & 0xFF, 0x40 | 0x08 | 0x01))
    assert rp.parse_lpl(g) == (700, 300, b"")
    assert rp.parse("lpl", f, 210) == (1, 5, b"\x01\x02")
    assert _raises(rp.parse_lpl, b"\x02\x05\x01\x00")
    assert _raises(rp.lpl_frame, 1024, b"", 5)
    assert _raises(rp.lpl_frame, 1, bytes(62), 5)


def test_frame_dispatch_and_unknown_format():
    assert rp.frame("lpl", 1, b"\x07", 210, 5) == rp.lpl_frame(1, b"\x07", 5)
    assert rp.frame("native", 1, b"\x07", 210, 0) == rp.native_frame(1, b"\x07", 210)
    assert rp.frame("jeelib", 1, b"\x07", 210) == rp.classic_frame(1, b"\x07", 210)
    assert _raises(rp.frame, "rf12", 1, b"", 210)
    assert _raises(rp.parse, "rf12", b"\x00\x00\x00\x00", 210)


def test_emonth_decode_v2_and_v1():
    # int16 205, 45, 523, 29 then uint32 17, little-endian
    v = rp.decode_emonth(bytes.fromhex("cd002d000b021d0011000000"))
    assert v == (20.5, 4.5, 52.3, 2.9, 17)
    v1 = rp.decode_emonth(bytes.fromhex("ddff00009001" + "1e00"))
    assert v1 == (-3.5, 0.0, 40.0, 3.0, None)
    assert _raises(rp.decode_emonth, bytes(10))
    assert rp.encode_emonth(20.5, 4.5, 52.3, 2.9, 17) == bytes.fromhex("cd002d000b021d0011000000")
    assert _raises(rp.encode_emonth, 4000.0, 0, 0, 0)


def test_emonth_plausibility():
    assert rp.emonth_plausible((20.5, 4.5, 52.3, 2.9, 17))
    assert not rp.emonth_plausible((20.5, 4.5, 152.3, 2.9, 17))
    assert not rp.emonth_plausible((-300.0, 4.5, 52.3, 2.9, 17))
    assert not rp.emonth_plausible((20.5, 4.5, 52.3, -1.0, None))


def test_tx_payload_roundtrip_and_unknowns():
    values = {"msg": 7, "heatpump_elec": 1450.4, "heatpump_heat": 5012, "heatpump_flowT": 38.25,
              "heatpump_returnT": 33.0, "heatpump_outsideT": -4.5, "heatpump_roomT": None,
              "heatpump_flowrate": 14.3, "heatpump_elec_kwh": 1234.5678, "heatpump_heat_kwh": 8123.0}
    p = rp.encode_tx(values)
    assert len(p) == rp.TX_SIZE
    assert p[:4] == b"\x07\x00\x00\x00"
    assert p[4:8] == (1450).to_bytes(4, "little")
    assert p[12:14] == (3825).to_bytes(2, "little")
    assert p[18:20] == b"\x00\x80"  # unknown roomT: int16 minimum, never 0
    back = rp.decode_tx(p)
    assert back["heatpump_roomT"] is None
    assert back["heatpump_outsideT"] == -4.5
    assert back["heatpump_elec_kwh"] == 1234.568
    assert back["heatpump_heat"] == 5012 and back["msg"] == 7
    assert _raises(rp.decode_tx, p[:-1])


def test_tx_payload_clamps_out_of_range():
    p = rp.encode_tx({"msg": 1, "heatpump_flowT": 400.0, "heatpump_outsideT": -400.0})
    back = rp.decode_tx(p)
    assert back["heatpump_flowT"] == 327.67
    assert back["heatpump_outsideT"] == -327.67
    assert back["heatpump_elec"] is None


def test_frf_per_band_and_format():
    assert rp.frf(433, "jeelib") == 0x6C8000  # 434.00 MHz
    assert rp.frf(433, "native") == 0x6C8000
    assert rp.frf(433, "lpl") == 0x6C4000     # 433.00 MHz
    assert rp.frf(868, "lpl") == 0xD90000
    assert rp.frf(915, "jeelib") == 0xE4C000


def test_rssi_conversion():
    assert rp.rssi_dbm(124) == -62
    assert rp.rssi_dbm(163) == -81.5
