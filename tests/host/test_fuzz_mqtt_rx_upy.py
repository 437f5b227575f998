"""Fuzz the MQTT service's receive path in the MicroPython unix port, as it runs on the board:
MqttService._read_in / _frames / _packet with the real umqtt.simple decoding PUBLISH packets
and firmware/mqtt_commands.py answering commands, and, before the link is up,
mqtt_connect._read_connack. The broker's byte stream (CPython generates it with a fixed seed,
tests/fuzz.py) holds good packets, command PUBLISHes with odd payloads, QoS 1/2, oversized
and truncated packets, bad remaining lengths and noise, cut into random socket reads.

Contract: what comes in is either handled or raises MqttError/OSError, which the run loop turns
into a dropped link and a reconnect; the receive buffer stays below RX_MAX (bigger packets are
skipped, never buffered), and the CONNACK wait buffers no more than a CONNACK. Anything else
fails the test, named by type and where it was raised.
"""
import json
import os
import tempfile

from firmware import mqtt_packets
from tests import fuzz
from tests.host.upy import SERVICE_CONTEXT, run_upy

N_STREAMS = 1500
N_CONNACK = 500

RUNNER = SERVICE_CONTEXT + r'''
import sys, gc
from firmware.services.mqtt import MqttService, RX_MAX
from firmware.services import mqtt_connect
from firmware.mqtt_codec import MqttError

class Sock:
    """A non-blocking TCP socket's read(): up to n bytes, None when nothing is there, b"" once
    the peer has closed."""
    def __init__(self, pieces, eof):
        self.pieces = pieces
        self.eof = eof
    def read(self, n):
        if not self.pieces:
            return b"" if self.eof else None
        p = self.pieces.pop(0)
        if len(p) > n:
            self.pieces.insert(0, p[n:])
            p = p[:n]
        return p
    def write(self, b, n=None):
        return len(b) if n is None else n
    def close(self):
        pass

ctx = make({"mqtt": {"host": "broker.invalid"}, "forward": {"enabled": False}})
ctx.wifi = None
svc = MqttService(ctx)

def fresh(pieces, eof):
    # what mqtt_connect.connect() resets for a new link
    svc.rx = bytearray()
    svc.skip = 0
    svc.sock = Sock(pieces, eof)
    svc.connected = True

worst = 0
out = open(OUT_PATH, "w")
for line in open(STREAMS_PATH):
    mode, idx, eof, hexes = line.split(" ", 3)
    pieces = [bytes.fromhex(h) for h in hexes.split()]
    fresh(pieces, eof == "1")
    kind = "ok"
    try:
        if mode == "rx":
            while svc.sock.pieces or (svc.sock.eof and kind == "ok"):
                if not svc._read_in():
                    break
                assert len(svc.rx) <= RX_MAX and svc.skip >= 0, (len(svc.rx), svc.skip)
                worst = max(worst, len(svc.rx))
                svc.pipe.sent(svc.pipe.pending())  # the socket took what was queued (acks)
        else:
            got = None
            while got is None and svc.sock.pieces:
                got = mqtt_connect._read_connack(svc)
                if len(svc.rx) > RX_MAX:
                    kind = "rx %d bytes before CONNACK" % len(svc.rx)
                    break
            if got is not None and kind == "ok":
                from firmware import mqtt_packets
                mqtt_packets.parse_connack(got)
    except (MqttError, OSError) as exc:
        kind = type(exc).__name__
        svc._drop(exc, quiet=True)
    except Exception as exc:
        if isinstance(exc, AssertionError) and exc.args and isinstance(exc.args[0], tuple):
            raise  # our own invariant
        kind = type(exc).__name__
        import io
        buf = io.StringIO()
        sys.print_exception(exc, buf)
        where = "|".join(x.strip() for x in buf.getvalue().splitlines()[1:])
        kind = kind + " " + where
        svc._drop(exc, quiet=True)
    out.write("%s %s %s\n" % (mode, idx, kind.replace(" ", "_")))
    gc.collect()
out.write("done worst_rx=%d commands=%d free=%d\n" % (worst, svc.commands, gc.mem_free()))
out.close()
'''


def _publish(topic, payload, qos=0, retain=False):
    body = bytes((len(topic) >> 8, len(topic) & 255)) + topic + (b"\x00\x07" if qos else b"") + payload
    return bytes((0x30 | qos << 1 | retain,)) + mqtt_packets._remaining_length(len(body)) + body


def _packet(r):
    k = r.randrange(12)
    if k < 4:  # a command, with the payloads test_fuzz_mqtt.py throws at the parser
        what = r.choice((b"ssr", b"interval", b"dhw", b"read", b"restart", b"bogus", b"", b"a/b"))
        payload = r.choice((b"on", b"off", b"10", b"\xb2", b"\xff\xfe", b"", b"restart", fuzz.noise(r, 0, 80),
                            json.dumps(fuzz.json_value(r)).encode()[:200]))
        return _publish(b"hpmon/hpmon/set/" + what, payload, retain=r.random() < 0.1)
    if k == 4:
        return _publish(b"homeassistant/status", r.choice((b"online", b"offline", b"")))
    if k == 5:
        return _publish(b"t", fuzz.noise(r, 0, 50), qos=r.choice((1, 1, 2)))
    if k == 6:  # bigger than RX_MAX: skipped in pieces
        return _publish(b"hpmon/hpmon/set/ssr", b"x" * r.choice((1100, 3000, 9000)))
    if k == 7:
        return b"\xd0\x00"
    if k == 8:
        return b"\x90\x03\x00\x01" + bytes((r.choice((0, 1, 0x80)),))
    if k == 9:  # a PUBLISH that ends before its topic does
        return r.choice((b"\x30\x00", b"\x30\x01\x00", b"\x30\x02\x00\x05", b"\x30\x03\x00\x09ab"))
    if k == 10:
        return r.choice((b"\x30\xff\xff\xff\xff\x01", b"\xd0\x05hello", b"\x20\x02\x00\x00", b"\xf0\x00"))
    return fuzz.noise(r, 1, 12)


def _streams(t):
    """One line a stream: mode, seed:index, whether the broker closes after it, the socket reads."""
    lines = []
    for r, i in fuzz.inputs("mqtt.rx", N_STREAMS + N_CONNACK, t):
        mode = "rx" if i < N_STREAMS else "connack"
        if mode == "rx":
            data = b"".join(_packet(r) for _ in range(r.randint(1, 6)))
            if r.random() < 0.3:
                data = fuzz.mutate(r, data, inserts=(0x80, 0xFF, 0x30, 0x00))
        else:  # what a broker (or something else on that port) answers a CONNECT with
            data = r.choice((b"\x20\x02\x00\x00", b"\x20\x02\x00\x05", b"\x20\x03\x00\x00\x00",
                             b"\x20\x7f" + b"x" * r.randint(0, 300), b"\x30\xff\x7f" + b"y" * 20000,
                             b"HTTP/1.1 400 Bad Request\r\n\r\n", fuzz.noise(r, 1, 40)))
            if r.random() < 0.3:
                data = fuzz.mutate(r, data)
        pieces = [p.hex() for p in fuzz.chunks(r, data, 300)] or [""]
        lines.append("%s %d:%d %d %s\n" % (mode, t.seed, i, r.random() < 0.3, " ".join(pieces)))
    return lines


def _run(lines, timeout=60):
    """RUNNER on these stream lines in the unix port: (one (mode, where, outcome) a line, its stats)."""
    work = tempfile.mkdtemp(prefix="fuzz-mqtt-")
    streams, out = os.path.join(work, "streams.txt"), os.path.join(work, "out.txt")
    with open(streams, "w") as f:
        f.writelines(lines)
    res = run_upy("STREAMS_PATH = %r\nOUT_PATH = %r\n" % (streams, out) + RUNNER, heap="2M", timeout=timeout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    with open(out) as f:
        rows = [line.split() for line in f]
    assert rows and rows[-1][0] == "done", rows[-20:]
    assert len(rows) == len(lines) + 1
    return rows[:-1], dict(kv.split("=") for kv in rows[-1][1:])


def test_broker_streams_into_the_service():
    rx = fuzz.Tally("mqtt rx (service, upy)")
    connack = fuzz.Tally("mqtt CONNACK wait (upy)")
    rows, stats = _run(_streams(rx), timeout=600)
    unexpected = []
    for mode, where, kind in rows:
        t = rx if mode == "rx" else connack
        if kind == "ok":
            t.accept()
        elif kind in ("MqttError", "OSError"):  # the run loop drops the link and reconnects
            t.reject(kind)
        else:
            t.reject(kind.split("_File_")[0] + " UNEXPECTED")
            unexpected.append((mode, where, kind))
    rx.report()
    connack.report()
    print("mqtt rx: receive buffer at most %s bytes (RX_MAX 1024); %s commands answered; free heap at the end %s"
          % (stats["worst_rx"], stats["commands"], stats["free"]))
    for kind in sorted(set(k for _m, _w, k in unexpected)):
        print("UNEXPECTED", kind)
    assert not unexpected, unexpected[:10]
    assert rx.accepted and int(stats["commands"]) > 0


def _one(mode, data):
    """The outcome of one stream, handed over in a single read."""
    return _run(["%s 0:0 0 %s\n" % (mode, data.hex())])[0][0][2]


def test_a_publish_shorter_than_its_topic_is_an_mqtt_error():
    # MqttService._packet checks the topic length, packet id and QoS before umqtt.simple reads
    # them (MQTT 3.1.1 section 3.3.2): a PUBLISH that ends inside its topic drops the link
    for pkt in (b"\x30\x02\x00\x05", b"\x30\x00", b"\x30\x01\x00",
                b"\x32\x04\x00\x02ab",  # QoS 1 without its packet id
                b"\x34\x05\x00\x01t\x00\x07"):  # QoS 2: never subscribed to, refused
        assert _one("rx", pkt) == "MqttError", pkt


def test_the_connack_wait_buffers_no_more_than_a_connack():
    # mqtt_connect._read_connack refuses a first packet that is not a 4-byte CONNACK (section
    # 3.2) as soon as its fixed header is in, before buffering what it claims to hold
    assert _one("connack", b"\x30\xff\x7f" + b"y" * 20000) == "MqttError"
    assert _one("connack", b"\x20\x7f" + b"x" * 300) == "MqttError"
