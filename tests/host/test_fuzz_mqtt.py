"""Fuzz what arrives over MQTT: command payloads (firmware/mqtt_commands.py), command topics
(firmware/topics.py) and the broker's byte stream as the pure codec frames it
(firmware/mqtt_codec.py, firmware/mqtt_packets.py). The service's own receive path, with
umqtt.simple decoding PUBLISH packets, is fuzzed in the unix port by
tests/host/test_fuzz_mqtt_rx_upy.py.

Contracts (docstrings): parse() raises only CommandError; handle() never raises and acts on
nothing when the payload is bad; command_name() returns None or one topic level; frame(),
parse_suback(), parse_connack() and the packet builders raise only MqttError.
Counts: `pytest -s` (tests/fuzz.py).
"""
import json

import pytest

from firmware import config, mqtt_codec, mqtt_commands, mqtt_packets, topics
from firmware.mqtt_codec import MqttError
from firmware.store import Store
from tests import fuzz
from tests.pure.test_mqtt_commands import _Clock, _Meter, _Ssr

N_PAYLOADS = 12000
N_HANDLE = 3000
N_TOPICS = 5000
N_STREAMS = 3000
N_PACKETS = 3000

WORDS = ("on", "off", "ON", " 1 ", "0", "true", "False", "restart", "press", "now", "all", "mbus", "ct",
         "10", "3600", "3601", "0010", "1e3", "-5", "+5", "10.0", " 60\n", "\t1\t", "99999", "100000")
# digits outside ASCII: str.isdigit() is true for them on CPython, not in MicroPython
UNICODE_DIGITS = ("\uff11\uff12", "\u00b2", "\u0663\u0660", "\u2460", "1\u00b9", "\u09e7\u09e6")


def _json_value(r, depth=0):
    k = r.randrange(10 if depth < 4 else 6)
    if k == 0:
        return r.choice((0, 1, -1, 10, 3600, 2 ** 31, 2 ** 64, -(2 ** 63), 10 ** 30))
    if k == 1:
        return r.choice((0.5, -0.0, 1e308, -1e-308, 3.14159, 1e-7))
    if k == 2:
        return r.choice((True, False, None))
    if k == 3:
        return r.choice(WORDS)
    if k == 4:
        return "".join(chr(r.choice((r.randrange(32, 127), r.randrange(0x80, 0x800), r.randrange(0x800, 0x10000))))
                       for _ in range(r.randint(0, 20)))
    if k == 5:
        return r.choice(UNICODE_DIGITS)
    if k < 8:
        return [_json_value(r, depth + 1) for _ in range(r.randint(0, 3))]
    return {r.choice(("on", "value", "ssr", "", "x" * 30)): _json_value(r, depth + 1) for _ in range(r.randint(0, 3))}


def _payload(r):
    """Bytes a client could publish: words, JSON, huge numbers, deep nesting, binary, long."""
    k = r.randrange(10)
    if k < 3:
        text = r.choice(WORDS)
        if r.random() < 0.3:
            text = text.upper() if r.random() < 0.5 else " %s \r\n" % text
        return text.encode()
    if k == 3:
        return json.dumps(_json_value(r)).encode()
    if k == 4:  # numbers JSON cannot hold, and very long digit strings
        return r.choice((b"NaN", b"Infinity", b"-Infinity", b"1e999", b"9" * r.randint(5, 80),
                         b"0x10", b"1_000", b"\xd9\xa3", b"0" * 63 + b"1"))
    if k == 5:  # deep nesting
        d = r.randint(1, 200)
        return (b"[" * d + b"1" + b"]" * d) if r.random() < 0.5 else (b'{"a":' * d + b"1" + b"}" * d)
    if k == 6:  # not UTF-8: stray continuation bytes, overlong forms, surrogates, NULs
        return r.choice((b"\xff\xfe", b"o\x80n", b"\xc0\xaf", b"\xed\xa0\x80", b"on\x00", b"\x00" * 5,
                         b"\xf4\x90\x80\x80")) + fuzz.noise(r, 0, 4)
    if k == 7:
        return r.choice(UNICODE_DIGITS).encode()
    if k == 8:
        return fuzz.noise(r, 0, 100)
    return fuzz.mutate(r, r.choice(WORDS).encode())


def _what(r):
    if r.random() < 0.85:
        return r.choice(mqtt_commands.COMMANDS)
    return r.choice(("", "SSR", "reboot", "ssr ", "x" * 100, "set", "\u00e9t\u00e9", "read/all", "../"))


def _check_value(what, value):
    if what in ("ssr", "dhw"):
        assert isinstance(value, bool)
    elif what == "interval":
        assert type(value) is int and 1 <= value <= 3600
    elif what == "read":
        assert isinstance(value, str) and len(value) <= 24 and "/" not in value
    else:
        assert value is True


def test_command_payloads_parse_or_raise_command_error():
    t = fuzz.Tally("mqtt_commands.parse", (mqtt_commands.CommandError,))
    for r, _i in fuzz.inputs("mqtt.parse", N_PAYLOADS, t):
        what, payload = _what(r), _payload(r)
        if r.random() < 0.1:
            payload = bytearray(payload)
        ok, out = t.check(mqtt_commands.parse, what, payload, show=(what, payload))
        if ok:
            assert out[0] == what
            _check_value(what, out[1])
            assert len(payload) <= mqtt_commands.MAX_PAYLOAD
    t.report()
    assert t.accepted > N_PAYLOADS // 20 and t.rejected > N_PAYLOADS // 4


def test_interval_with_a_superscript_digit_is_a_command_error():
    # str.isdigit() is true for "\u00b2" and the other UNICODE_DIGITS under CPython (not in
    # MicroPython), and int() takes some of them: parse() accepts ASCII digits only, so each
    # one is a CommandError on both
    for text in UNICODE_DIGITS:
        with pytest.raises(mqtt_commands.CommandError):
            mqtt_commands.parse("interval", text.encode())


class _Ctx:
    """The context handle() reads: the default configuration, a real store, and the unit test's
    recording SSR and meter (the outputs themselves are hardware)."""

    def __init__(self):
        self.cfg = config.defaults()
        self.store = Store()
        self.clock = _Clock()
        self.ssr = _Ssr()
        self.meter = _Meter()
        self.services = {"ssr": self.ssr, "mbus": self.meter, "temperatures": object()}

    def snapshot(self):
        return (list(self.ssr.calls), self.meter.reads, self.cfg["interval_s"], getattr(self, "dhw", None),
                self.store.value("heatpump_dhw"))


def test_handle_never_raises_and_a_refused_command_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "interval" saves config.json here
    t = fuzz.Tally("mqtt_commands.handle", ())
    ctx = _Ctx()
    for r, _i in fuzz.inputs("mqtt.handle", N_HANDLE, t):
        what, payload, retained = _what(r), _payload(r), r.random() < 0.05
        ctx.cfg["mqtt"]["commands"] = r.random() < 0.95
        before = ctx.snapshot()
        _ok, (reply, restart) = t.check(mqtt_commands.handle, ctx, what, payload, retained,
                                        show=(what, payload, retained))
        doc = json.loads(reply)
        assert doc["cmd"] == what[:24] and isinstance(doc["ok"], bool)
        if not doc["ok"]:
            assert before == ctx.snapshot() and not restart, (what, payload, doc)
            t.refuse("refused")
        else:
            assert restart == (what == "restart")
    t.report()
    assert t.accepted and t.rejected


def test_command_topics():
    t = fuzz.Tally("topics.command_name", ())
    for r, _i in fuzz.inputs("mqtt.topics", N_TOPICS, t):
        node = r.choice(("hpmon", "garage_hp", "a"))
        topic = r.choice((b"hpmon/%s/set/" % node.encode(), b"hpmon/%s/" % node.encode(), b"", b"hpmon/+/set/"))
        topic += r.choice((b"ssr", b"interval", b"", b"a/b", b"\xff\xfe", b"\x00", b"+", b"#",
                           fuzz.noise(r, 0, 30)))
        if r.random() < 0.2:
            topic = fuzz.mutate(r, topic)
        _ok, what = t.check(topics.command_name, topic if r.random() < 0.8 else bytearray(topic), node,
                            show=(topic, node))
        if what is None:
            t.refuse("not a command topic")
        else:
            assert what and "/" not in what and topic.decode() == "hpmon/%s/set/%s" % (node, what)
    t.report()
    assert t.accepted and t.rejected


def _packet(r):
    """One broker packet: PUBLISH (QoS 0/1), PINGRESP, SUBACK, CONNACK, or junk."""
    k = r.randrange(6)
    if k < 2:
        topic = r.choice((b"hpmon/hpmon/set/ssr", b"homeassistant/status", b"t")) + fuzz.noise(r, 0, 3)
        payload = fuzz.noise(r, 0, r.choice((10, 200, 2000)))
        qos1 = r.random() < 0.2
        body = bytes((len(topic) >> 8, len(topic) & 255)) + topic + (b"\x00\x07" if qos1 else b"") + payload
        return bytes((0x32 if qos1 else 0x30,)) + mqtt_packets._remaining_length(len(body)) + body
    if k == 2:
        return b"\xd0\x00"
    if k == 3:
        return b"\x90\x03" + bytes((0, r.randrange(256), r.choice((0, 1, 0x80))))
    if k == 4:
        return bytes((0x20, 2, r.randrange(2), r.randrange(7)))
    return fuzz.noise(r, 1, 8)


def test_broker_stream_framing():
    # the framing rule of MqttService._frames: frame() says how long the packet at the front
    # is once its fixed header is in; a malformed length raises MqttError (the link drops)
    t = fuzz.Tally("mqtt_codec.frame(stream)", (MqttError,))
    pk = fuzz.Tally("mqtt parse_suback/connack", (MqttError,))
    for r, _i in fuzz.inputs("mqtt.stream", N_STREAMS, t, pk):
        stream = b"".join(_packet(r) for _ in range(r.randint(1, 6)))
        if r.random() < 0.4:
            stream = fuzz.mutate(r, stream, inserts=(0x80, 0xFF, 0x30, 0x00))
        ok, packets = t.check(_split, r, stream, show=stream.hex())
        for pkt in packets if ok else ():
            if pkt[0] & 0xF0 == 0x90:
                ok, out = pk.check(mqtt_codec.parse_suback, pkt, show=pkt.hex())
                if ok:
                    pid, codes = out
                    assert 0 <= pid <= 65535 and len(codes) == len(pkt) - 4
            elif pkt[0] & 0xF0 == 0x20:
                ok, out = pk.check(mqtt_packets.parse_connack, pkt, show=pkt.hex())
                if ok:
                    assert mqtt_packets.connack_reason(out[1])
    t.report()
    pk.report()
    assert t.accepted and t.rejected and pk.accepted and pk.rejected


def _split(r, stream):
    """Packets of a stream the way the service frames them, as reads of 1..256 bytes arrive."""
    out = []
    rx = b""
    for piece in fuzz.chunks(r, stream, 256):
        rx += piece
        while rx:
            total, hdr = mqtt_codec.frame(rx)
            if not total:  # the fixed header is still incomplete: at most 4 bytes, all continued
                assert len(rx) <= 4 and all(b & 0x80 for b in rx[1:]), rx.hex()
                break
            assert 2 <= hdr <= 5 and total >= hdr
            # the header decides the length whatever follows: a prefix that holds it agrees
            assert mqtt_codec.frame(rx[:hdr]) == (total, hdr) and mqtt_codec.frame(rx[:hdr - 1]) == (0, 0)
            if len(rx) < total:
                break
            out.append(rx[:total])
            rx = rx[total:]
    return out


def _field(r):
    """A string field: empty, ordinary, non-ASCII, at and over the 65535-byte limit, or bytes."""
    return r.choice(("", "hpmon-a1b2c3", "\u00e9" * r.randint(0, 40), "x" * r.choice((1, 65535, 70000)),
                     fuzz.noise(r, 0, 20)))


def test_packet_builders_round_trip_or_raise_mqtt_error():
    t = fuzz.Tally("mqtt_packets builders", (MqttError,))
    for r, _i in fuzz.inputs("mqtt.packets", N_PACKETS, t):
        if r.random() < 0.6:
            args = (_field(r), r.choice((0, 60, 65535, 65536, -1)), r.choice((None, "", "u", _field(r))),
                    r.choice((None, "", "p", _field(r))), r.choice((None, "hpmon/x/status", _field(r))),
                    _field(r), r.random() < 0.5, r.choice((0, 1, 2, 3, -1)))
            ok, pkt = t.check(mqtt_packets.connect_packet, *args, show=args)
        else:
            args = (r.choice((0, 1, 65535, 65536, r.randint(1, 65535))),
                    [(_field(r), r.randrange(3)) for _ in range(r.randint(0, 3))])
            ok, pkt = t.check(mqtt_packets.subscribe_packet, *args, show=args)
        if ok:
            total, hdr = mqtt_codec.frame(pkt)
            assert total == len(pkt) and pkt[0] in (0x10, 0x82)
    t.report()
    assert t.accepted and t.rejected
    for n in (0, 1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455):
        enc = mqtt_packets._remaining_length(n)
        assert mqtt_codec.frame(b"\x30" + enc) == (1 + len(enc) + n, 1 + len(enc))
