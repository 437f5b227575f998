"""MQTT topic and payload builders (pure).

`emon/<node>/<key>` carries a plain number, as emonhub and EmonESP publish it, so
emoncms creates one input per key under the node automatically. `emon/<node>`
with a JSON object carrying "time" is emoncms' timestamped form, used to backfill
readings that could not be delivered live. `hpmon/<node>/state` is one JSON
object per interval (Home Assistant reads it); `hpmon/<node>/status` is the
retained online/offline birth and last will; commands arrive on
`hpmon/<node>/set/<what>` and are answered on `hpmon/<node>/ack`.
"""

ONLINE = b"online"
OFFLINE = b"offline"


def emon_topic(prefix, node, key):
    return "%s/%s/%s" % (prefix, node, key)


def emon_node_topic(prefix, node):
    return "%s/%s" % (prefix, node)


def base_topic(node):
    return "hpmon/" + node


def status_topic(node):
    return "hpmon/%s/status" % node


def state_topic(node):
    return "hpmon/%s/state" % node


def ack_topic(node):
    return "hpmon/%s/ack" % node


def command_filter(node):
    return "hpmon/%s/set/+" % node


def command_name(topic, node):
    """<what> of hpmon/<node>/set/<what>, or None for any other topic."""
    if isinstance(topic, (bytes, bytearray)):
        try:
            topic = bytes(topic).decode()
        except UnicodeError:
            return None
    prefix = "hpmon/%s/set/" % node
    if not topic.startswith(prefix):
        return None
    what = topic[len(prefix):]
    return what if what and "/" not in what else None


def valid_key(name):
    """A channel name usable as a topic level and a JSON key without escaping."""
    if not isinstance(name, str) or not 1 <= len(name) <= 64:
        return False
    for ch in name:
        if not ("a" <= ch <= "z" or "A" <= ch <= "Z" or "0" <= ch <= "9" or ch in "_-."):
            return False
    return True


def format_value(value):
    """A plain number as text, or None for an unknown value (never "0").

    Floats get at most 3 decimals with trailing zeros removed: on the ESP32's
    single-precision floats more digits would only show rounding noise.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, float):
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    text = "%.3f" % value
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text == "-0":
        text = "0"
    return text


def snapshot(channels):
    """[(name, value text)] of every channel with a known numeric value.

    channels: objects with .name and .value (the store's Channel).
    """
    out = []
    for ch in channels:
        if not valid_key(ch.name):
            continue
        text = format_value(ch.value)
        if text is not None:
            out.append((ch.name, text))
    return out


def json_object(pairs, t=None, with_time=True, nulls=()):
    """'{"time":t,"k":v,...}' from value texts (numbers, so no escaping is needed).

    nulls: names to include as null (unknown now), so that a template reading
    the key sees "unknown" rather than a missing key.
    """
    parts = []
    if with_time:
        parts.append('"time":%s' % ("null" if t is None else "%d" % t))
    for key, text in pairs:
        parts.append('"%s":%s' % (key, text))
    for key in nulls:
        parts.append('"%s":null' % key)
    return "{" + ",".join(parts) + "}"


def state_payload(channels, t):
    """hpmon/<node>/state: every valid channel, unknown ones as null."""
    pairs = []
    nulls = []
    for ch in channels:
        if not valid_key(ch.name):
            continue
        text = format_value(ch.value)
        if text is None:
            nulls.append(ch.name)
        else:
            pairs.append((ch.name, text))
    return json_object(pairs, t, True, nulls)


def form_json(pairs):
    """json_object(pairs, with_time=False) already form-urlencoded (for emoncms): channel
    names (valid_key) and numbers are RFC 3986 unreserved characters, so only the JSON
    punctuation needs its %XX, and no second, escaped copy of the text is made."""
    return "%7B" + "%2C".join("%22" + k + "%22%3A" + v for k, v in pairs) + "%7D"
