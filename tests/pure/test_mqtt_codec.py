from firmware import mqtt_codec as mc
from firmware import mqtt_packets as mp


def _raises(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except mc.MqttError:
        return True
    return False


def test_minimal_connect_matches_the_spec_layout():
    # MQTT 3.1.1 §3.1: fixed header 0x10, remaining length, "MQTT", level 4,
    # flags (clean session only), keepalive 60, then the client id "abc"
    pkt = mp.connect_packet("abc", keepalive=60)
    assert pkt == bytes([0x10, 15, 0, 4]) + b"MQTT" + bytes([4, 0x02, 0, 60, 0, 3]) + b"abc"


def test_connect_flags_and_payload_order_with_will_user_password():
    pkt = mp.connect_packet("id", 30, "u", "pw", "t/s", b"offline", will_retain=True)
    body = pkt[2:]
    flags = body[7]
    # user 0x80, password 0x40, will retain 0x20, will QoS 0, will 0x04, clean 0x02
    assert flags == 0x80 | 0x40 | 0x20 | 0x04 | 0x02
    assert body[8:10] == b"\x00\x1e"
    assert body[10:] == b"\x00\x02id" + b"\x00\x03t/s" + b"\x00\x07offline" + b"\x00\x01u" + b"\x00\x02pw"
    assert pkt[1] == len(body)


def test_password_without_user_is_not_flagged():
    pkt = mp.connect_packet("id", 0, None, "secret")
    assert pkt[9] == 0x02
    assert b"secret" not in pkt


def test_long_packets_use_a_multi_byte_remaining_length():
    pkt = mp.connect_packet("x" * 200)
    n = len(pkt) - 3  # 1 byte type + 2 bytes length
    assert pkt[1] == (n & 0x7F) | 0x80 and pkt[2] == n >> 7
    assert mc.frame(pkt) == (len(pkt), 3)


def test_frame_reports_incomplete_complete_and_malformed():
    pkt = mp.subscribe_packet(1, [("hpmon/x/set/+", 0)])
    assert mc.frame(pkt[:1]) == (0, 0)
    assert mc.frame(pkt[:3])[0] == len(pkt)  # header known, body still missing
    assert mc.frame(pkt + b"\xd0\x00") == (len(pkt), 2)
    assert mc.frame(pkt + b"\xd0\x00", len(pkt)) == (2, 2)
    assert _raises(mc.frame, b"\x30\xff\xff\xff\xff\x01")


def test_subscribe_packet():
    pkt = mp.subscribe_packet(0x1234, [("a/b", 0), ("c", 1)])
    assert pkt == b"\x82\x0c\x12\x34\x00\x03a/b\x00\x00\x01c\x01"
    assert _raises(mp.subscribe_packet, 0, [("a", 0)])


def test_connack_and_suback():
    assert mp.parse_connack(b"\x20\x02\x00\x00") == (False, 0)
    assert mp.parse_connack(b"\x20\x02\x01\x05") == (True, 5)
    assert mp.connack_reason(5) == "not authorised"
    assert mp.connack_reason(4) == "bad user name or password"
    assert "99" in mp.connack_reason(99)
    assert _raises(mp.parse_connack, b"\x20\x03\x00\x00")
    assert mc.parse_suback(b"\x90\x04\x00\x01\x00\x80") == (1, [0, 0x80])
    assert _raises(mc.parse_suback, b"\x90\x02")


def test_out_of_range_fields_are_refused():
    assert _raises(mp.connect_packet, "id", 70000)
    assert _raises(mp.connect_packet, "id", 0, will_topic="t", will_qos=3)
