"""MQTT 3.1.1 packets of the connect phase: CONNECT, CONNACK, SUBSCRIBE (pure).

What umqtt.simple's blocking connect() and subscribe() would send, built here so
the wrapper can send them on its non-blocking socket (firmware/services/mqtt_connect.py,
which loads this module only while it connects). Sections of OASIS MQTT 3.1.1 cited.
"""
from firmware.mqtt_codec import MqttError

# CONNACK return codes (MQTT 3.1.1 §3.2.2.3, table 3.1)
CONNACK_REASONS = ("accepted", "unacceptable protocol version", "client identifier rejected",
                   "server unavailable", "bad user name or password", "not authorised")


def _remaining_length(n):
    """Variable-length encoding of the remaining length (§2.2.3)."""
    if not 0 <= n <= 268435455:
        raise MqttError("packet too long")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _utf8(text):
    """A UTF-8 string field: 2-byte big-endian length + bytes (§1.5.3)."""
    data = text.encode() if isinstance(text, str) else bytes(text)
    if len(data) > 65535:
        raise MqttError("string field too long")
    return bytes((len(data) >> 8, len(data) & 0xFF)) + data


def connect_packet(client_id, keepalive=0, user=None, password=None, will_topic=None, will_msg=b"",
                   will_retain=False, will_qos=0, clean=True):
    """CONNECT (§3.1): protocol "MQTT" level 4, then client id, will, user, password."""
    if not 0 <= keepalive <= 65535:
        raise MqttError("keepalive out of range")
    if will_qos not in (0, 1, 2):
        raise MqttError("bad will QoS")
    flags = 0x02 if clean else 0
    payload = _utf8(client_id)
    if will_topic:
        flags |= 0x04 | (will_qos << 3) | (0x20 if will_retain else 0)
        payload += _utf8(will_topic) + _utf8(will_msg)
    if user:
        flags |= 0x80
        payload += _utf8(user)
        if password:  # §3.1.2.9: no password flag without a user name
            flags |= 0x40
            payload += _utf8(password)
    variable = b"\x00\x04MQTT\x04" + bytes((flags, keepalive >> 8, keepalive & 0xFF))
    body = variable + payload
    return b"\x10" + _remaining_length(len(body)) + body


def subscribe_packet(pid, topics):
    """SUBSCRIBE (§3.8) for [(filter, qos), ...]; fixed-header flags must be 0010."""
    if not 1 <= pid <= 65535:
        raise MqttError("packet id out of range")
    body = bytes((pid >> 8, pid & 0xFF))
    for topic, qos in topics:
        body += _utf8(topic) + bytes((qos,))
    return b"\x82" + _remaining_length(len(body)) + body


def parse_connack(pkt):
    """(session_present, return code) of a CONNACK (§3.2)."""
    if len(pkt) != 4 or pkt[0] != 0x20 or pkt[1] != 2:
        raise MqttError("not a CONNACK")
    return bool(pkt[2] & 1), pkt[3]


def connack_reason(rc):
    if 0 <= rc < len(CONNACK_REASONS):
        return CONNACK_REASONS[rc]
    return "refused (code %d)" % rc


