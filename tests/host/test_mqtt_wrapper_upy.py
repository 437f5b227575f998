"""The MQTT wrapper against the real umqtt.simple (PyPI 1.3.4, what the emulator runs),
in the MicroPython unix port: our CONNECT/SUBSCRIBE bytes are the ones umqtt.simple
itself sends, and umqtt.simple publishes into and decodes from the wrapper's _Pipe."""
from tests.host.upy import run_upy

RECORD_CONNECT = """
import umqtt.simple as simple
from firmware import mqtt_packets

class Recorder:
    def __init__(self):
        self.out = bytearray()
    def connect(self, addr):
        pass
    def settimeout(self, t):
        pass
    def setblocking(self, f):
        pass
    def write(self, buf, n=None):
        self.out.extend(buf if n is None else buf[:n])
    def read(self, n):
        return b"\\x20\\x02\\x00\\x00"

class Shim:
    def __init__(self):
        self.rec = Recorder()
    def socket(self, *a):
        return self.rec
    def getaddrinfo(self, host, port, *a):
        return [(2, 1, 0, "", ("127.0.0.1", port))]

for user, pw, keep in ((None, None, 0), ("hpmon", "secret", 60), ("u", "p", 300)):
    shim = Shim()
    simple.socket = shim  # only umqtt's own module global: the test records what it writes
    c = simple.MQTTClient("hpmon-a1b2c3", "h", user=user, password=pw, keepalive=keep)
    c.set_last_will(b"hpmon/hpmon/status", b"offline", retain=True)
    c.connect()
    ours = mqtt_packets.connect_packet("hpmon-a1b2c3", keep, user, pw, "hpmon/hpmon/status", b"offline",
                                     will_retain=True)
    assert bytes(shim.rec.out) == ours, (bytes(shim.rec.out), ours)
print("CONNECT OK")
"""

PIPE = """
from umqtt.simple import MQTTClient
from firmware.services.mqtt import _Pipe
from firmware import mqtt_codec, mqtt_packets

got = []
pipe = _Pipe()
c = MQTTClient("id", "h")
c.sock = pipe
c.set_callback(lambda t, m: got.append((t, m)))
c.publish(b"emon/hpmon/heatpump_flowT", b"38.125")
c.publish(b"hpmon/hpmon/status", b"online", True)
c.ping()
tx = bytes(pipe.queued())
# what umqtt put in the pipe frames as 3 packets: PUBLISH, PUBLISH retained, PINGREQ
total, hdr = mqtt_codec.frame(tx)
assert tx[0] == 0x30 and tx[hdr + 2:hdr + 2 + 25] == b"emon/hpmon/heatpump_flowT"
second = tx[total:]
t2, _ = mqtt_codec.frame(second)
assert second[0] == 0x31 and second[t2:] == b"\\xc0\\x00"
# incoming PUBLISH packets, framed by us, decoded by umqtt (also an empty payload)
for topic, payload in ((b"hpmon/hpmon/set/ssr", b"on"), (b"hpmon/hpmon/set/read", b""),
                       (b"t", b"x" * 300)):
    body = bytes((len(topic) >> 8, len(topic) & 255)) + topic + payload
    pkt = b"\\x30" + mqtt_packets._remaining_length(len(body)) + body
    assert mqtt_codec.frame(pkt)[0] == len(pkt)
    pipe.rx = pkt
    pipe.pos = 0
    c.check_msg()
assert got[0] == (b"hpmon/hpmon/set/ssr", b"on"), got
assert got[1][0] == b"hpmon/hpmon/set/read" and not got[1][1]
assert got[2][1] == b"x" * 300
pipe.rx = b""
assert c.check_msg() is None  # nothing there: returns at once, never blocks
# the send buffer is allocated once: a write that does not fit is refused, nothing of it
# queued (the service checks room() before each PUBLISH, so a packet is never cut)
small = _Pipe(64)
c.sock = small
c.publish(b"a", b"x" * 40)
assert small.pending() == 45 and small.room() == 19
try:
    small.write(b"y" * 20)
    raise AssertionError("overfilled")
except OSError:
    pass
assert small.pending() == 45 and bytes(small.queued())[-40:] == b"x" * 40
small.sent(45)
assert small.pending() == 0 and small.room() == 64
print("PIPE OK")
"""


def test_connect_packet_is_byte_identical_to_umqtt_simple():
    r = run_upy(RECORD_CONNECT)
    assert r.returncode == 0 and "CONNECT OK" in r.stdout, r.stdout + r.stderr


def test_umqtt_simple_publishes_and_decodes_through_the_pipe():
    r = run_upy(PIPE)
    assert r.returncode == 0 and "PIPE OK" in r.stdout, r.stdout + r.stderr
