"""MQTT 3.1.1 framing of the byte stream from the broker (pure).

The wrapper in firmware/services/mqtt.py does all socket I/O itself: it frames
what arrives here (PINGRESP, SUBACK, PUBLISH for umqtt.simple to decode). The
packets needed only while connecting are built in firmware/mqtt_packets.py, so
that this, the part in use all the time, stays small (OASIS MQTT 3.1.1).
"""

PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"


class MqttError(ValueError):
    pass


def frame(buf, start=0):
    """(total length, header length) of the packet at buf[start:] once its fixed header
    has arrived, even if the rest has not (compare total with what is buffered);
    (0, 0) before that. Raises MqttError on a malformed remaining length (§2.2.3)."""
    n = len(buf) - start
    value = 0
    shift = 0
    i = 1
    while True:
        if i >= n:
            return 0, 0
        byte = buf[start + i]
        value |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return i + value, i
        if i > 4:
            raise MqttError("malformed remaining length")
        shift += 7


def parse_suback(pkt):
    """(packet id, [granted QoS or 0x80 failure, ...]) of a SUBACK (§3.9)."""
    if len(pkt) < 5 or pkt[0] != 0x90:
        raise MqttError("not a SUBACK")
    return (pkt[2] << 8) | pkt[3], list(pkt[4:])
