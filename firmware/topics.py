"""MQTT topic and payload builders (pure).

`emon/<node>/<key>` carries a plain number, as emonhub and EmonESP publish it, so
emoncms creates one input per key under the node automatically.
"""


def emon_topic(prefix, node, key):
    return "%s/%s/%s" % (prefix, node, key)


def status_topic(node):
    return "hpmon/%s/status" % node


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
    if value != value or value in (float("inf"), float("-inf")):
        return None
    text = "%.3f" % value
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text == "-0":
        text = "0"
    return text
