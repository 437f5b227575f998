import json

from firmware import topics


class Ch:
    def __init__(self, name, value):
        self.name = name
        self.value = value


def test_format_value_plain_numbers_and_unknowns():
    assert topics.format_value(None) is None
    assert topics.format_value(float("nan")) is None
    assert topics.format_value(float("inf")) is None
    assert topics.format_value("12") is None
    assert topics.format_value(True) == "1"
    assert topics.format_value(1450) == "1450"
    assert topics.format_value(38.1250) == "38.125"
    assert topics.format_value(2.0) == "2"
    assert topics.format_value(-0.0001) == "0"
    assert topics.format_value(0.1 + 0.2) == "0.3"
    assert topics.format_value(3.14159) == "3.142"
    assert topics.format_value(-4.25) == "-4.25"


def test_topics():
    assert topics.emon_topic("emon", "hp", "heatpump_elec") == "emon/hp/heatpump_elec"
    assert topics.emon_node_topic("emon", "hp") == "emon/hp"
    assert topics.status_topic("hp") == "hpmon/hp/status"
    assert topics.state_topic("hp") == "hpmon/hp/state"
    assert topics.ack_topic("hp") == "hpmon/hp/ack"
    assert topics.command_filter("hp") == "hpmon/hp/set/+"


def test_command_name():
    assert topics.command_name(b"hpmon/hp/set/ssr", "hp") == "ssr"
    assert topics.command_name("hpmon/hp/set/interval", "hp") == "interval"
    assert topics.command_name(b"hpmon/other/set/ssr", "hp") is None
    assert topics.command_name(b"hpmon/hp/set/", "hp") is None
    assert topics.command_name(b"hpmon/hp/set/a/b", "hp") is None
    assert topics.command_name(b"hpmon/hp/state", "hp") is None


def test_valid_key():
    assert topics.valid_key("t_28ff641e821603e2")
    assert topics.valid_key("heatpump_flowT")
    for bad in ("", "a/b", "a+b", "a#", 'a"b', "a b", "x" * 65, None):
        assert not topics.valid_key(bad)


def test_snapshot_skips_unknown_and_unsafe_channels():
    chans = [Ch("a", 1.5), Ch("b", None), Ch("c/d", 3), Ch("e", 2)]
    assert topics.snapshot(chans) == [("a", "1.5"), ("e", "2")]


def test_json_object_and_state_payload_parse_as_json():
    text = topics.json_object([("a", "1.5"), ("b", "-2")], 1700000000)
    assert json.loads(text) == {"time": 1700000000, "a": 1.5, "b": -2}
    assert json.loads(topics.json_object([("a", "1")], with_time=False)) == {"a": 1}
    state = json.loads(topics.state_payload([Ch("a", 2.25), Ch("b", None), Ch("bad key", 1)], None))
    assert state == {"time": None, "a": 2.25, "b": None}


def test_form_json_is_the_form_encoding_of_the_json_object():
    from firmware import http_client
    pairs = [("heatpump_flowT", "38.125"), ("t_28ff641e821603e2", "-4.5"), ("x.y-z", "12")]
    assert topics.form_json(pairs) == http_client.quote(topics.json_object(pairs, with_time=False))
    assert topics.form_json([]) == "%7B%7D"
