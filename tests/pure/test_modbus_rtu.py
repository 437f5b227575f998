"""firmware.modbus_rtu: CRC, requests, responses, exceptions, SDM float maps, framer."""

import struct

from firmware import modbus_rtu as mb
from firmware.modbus_rtu import Framer, ModbusError, ModbusException


def crc_bitwise_reference(data):
    # CRC-16/MODBUS written out from its definition (reflected 0x8005, init 0xFFFF)
    crc = 0xFFFF
    for b in data:
        for bit in range(8):
            x = ((b >> bit) & 1) ^ (crc & 1)
            crc >>= 1
            if x:
                crc ^= 0xA001
    return crc


def response(addr, func, data):
    body = bytes((addr, func, len(data))) + bytes(data)
    c = mb.crc16(body)
    return body + bytes((c & 0xFF, c >> 8))


def floats_be(values):
    out = b""
    for v in values:
        out += struct.pack(">f", v)
    return out


def test_crc_check_value_and_known_frame():
    assert mb.crc16(b"123456789") == 0x4B37  # CRC-16/MODBUS check value
    assert mb.crc16(b"123456789") == crc_bitwise_reference(b"123456789")
    # read 2 input registers from address 0 of slave 1: 01 04 00 00 00 02 71 CB
    assert mb.read_request(1, 0, 2) == bytes((0x01, 0x04, 0x00, 0x00, 0x00, 0x02, 0x71, 0xCB))
    assert mb.crc_ok(mb.read_request(17, 0x48, 4))


def test_read_request_fields_and_limits():
    f = mb.read_request(0x0B, 0x0156, 125, func=3)
    assert f[:6] == bytes((0x0B, 0x03, 0x01, 0x56, 0x00, 0x7D))
    for args in ((0, 0, 1), (248, 0, 1), (1, 0, 0), (1, 0, 126), (1, 0xFFFF, 2)):
        try:
            mb.read_request(*args)
        except ModbusError:
            continue
        raise AssertionError(args)
    try:
        mb.read_request(1, 0, 1, func=6)
    except ModbusError:
        pass
    else:
        raise AssertionError("function 6 accepted")


def test_parse_response_and_floats():
    data = floats_be((230.5, -12.25))
    frame = response(1, 4, data)
    got = mb.parse_read_response(frame, 1, 4, 4)
    assert got == data
    assert mb.reg_float(got, 0) == 230.5
    assert mb.reg_float(got, 2) == -12.25
    assert mb.reg_u16(got, 0) == struct.unpack(">H", data[0:2])[0]
    assert mb.reg_float(floats_be((float("nan"),)), 0) is None


def test_parse_response_errors():
    good = response(1, 4, floats_be((1.0,)))
    bad_crc = good[:-1] + bytes((good[-1] ^ 1,))
    cases = (
        (bad_crc, 1, 4, 2),
        (good, 2, 4, 2),  # other address
        (good, 1, 3, 2),  # other function
        (good, 1, 4, 4),  # byte count mismatch
        (good[:4], 1, 4, 2),
    )
    for frame, a, f, n in cases:
        try:
            mb.parse_read_response(frame, a, f, n)
        except ModbusError as e:
            assert not isinstance(e, ModbusException), "not an exception response"
            continue
        raise AssertionError((a, f, n))


def test_exception_response():
    body = bytes((1, 0x84, 0x02))
    c = mb.crc16(body)
    frame = body + bytes((c & 0xFF, c >> 8))
    try:
        mb.parse_read_response(frame, 1, 4, 2)
    except ModbusException as e:
        assert e.code == 2
        assert isinstance(e, ValueError)
        assert "illegal data address" in str(e)
    else:
        raise AssertionError("no exception")


def test_framer_skips_echo_garbage_and_bad_crc():
    f = Framer(1, 4)
    good = response(1, 4, floats_be((50.0, 1.5)))
    echo = mb.read_request(1, 0, 4)
    corrupt = good[:-2] + b"\x00\x00"
    stream = echo + b"\x00\xff\x02\x04" + corrupt + good
    got = None
    for i in range(0, len(stream), 3):
        r = f.feed(stream[i : i + 3])
        if r is not None:
            got = r
    assert got == good
    assert f.crc_errors >= 1


def test_framer_exception_frame_and_reset():
    f = Framer(7, 4)
    body = bytes((7, 0x84, 0x06))
    c = mb.crc16(body)
    frame = body + bytes((c & 0xFF, c >> 8))
    assert f.feed(frame[:3]) is None
    assert f.feed(frame[3:]) == frame
    f.feed(b"\x07\x04\x10\x00")
    f.reset()
    assert f.n == 0


def test_framer_overflow_is_bounded():
    f = Framer(1, 4, size=32)
    for _ in range(20):
        assert f.feed(b"\x01\x04\xfe" + b"\x00" * 20) is None
    assert f.n <= 32


def test_sdm120_plan_and_decode():
    plan = mb.read_plan("sdm120")
    assert plan == [(0, 0x4C)]
    regs = [0.0] * (0x4C // 2)
    values = {0x00: 231.2, 0x06: 4.35, 0x0C: 950.5, 0x12: 1005.0, 0x1E: 0.945, 0x46: 49.98, 0x48: 1234.567, 0x4A: 0.5}
    for a, v in values.items():
        regs[a // 2] = v
    data = mb.parse_read_response(response(1, 4, floats_be(regs)), 1, 4, 0x4C)
    d = mb.decode("sdm120", 0, data)
    assert abs(d["voltage_v"] - 231.2) < 1e-4
    assert abs(d["current_a"] - 4.35) < 1e-6
    assert abs(d["power_w"] - 950.5) < 1e-4
    assert abs(d["va"] - 1005.0) < 1e-4
    assert abs(d["pf"] - 0.945) < 1e-6
    assert abs(d["freq_hz"] - 49.98) < 1e-4
    assert abs(d["import_kwh"] - 1234.567) < 1e-3
    assert abs(d["export_kwh"] - 0.5) < 1e-6
    assert mb.decode("sdm220", 0, data)["power_w"] == d["power_w"]


def test_sdm630_map_per_phase_and_totals():
    keys = dict(mb.register_map("sdm630"))
    assert keys["l2_power_w"] == 0x0E and keys["l3_current_a"] == 0x0A and keys["power_w"] == 0x34
    assert keys["import_kwh"] == 0x48 and keys["freq_hz"] == 0x46 and keys["pf"] == 0x3E
    plan = mb.read_plan("sdm630")
    assert plan == [(0, 0x4C)]
    assert mb.read_plan("sdm630", max_regs=40) == [(0, 0x24), (0x2A, 0x22)]
    regs = [float(i) for i in range(0x24, 0x24 + 0x14)]  # 20 floats from 0x24 to 0x4B
    d = mb.decode("sdm630", 0x24, floats_be(regs))
    assert d["voltage_v"] == float(0x24 + 3)  # 0x2A is the 4th float after 0x24
    assert "l1_voltage_v" not in d and d["import_kwh"] == float(0x24 + 18)
    assert "export_kwh" in d and mb.decode("sdm630", 0x24, floats_be(regs[:18])).get("import_kwh") is None


def test_unknown_model():
    try:
        mb.read_plan("sdm999")
    except ModbusError:
        pass
    else:
        raise AssertionError("no error")
