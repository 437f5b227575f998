from firmware import topics


def test_emon_topic_layout():
    assert topics.emon_topic("emon", "hpmon", "heatpump_elec") == "emon/hpmon/heatpump_elec"


def test_unknown_is_never_zero():
    assert topics.format_value(None) is None
    assert topics.format_value(float("nan")) is None
    assert topics.format_value(float("inf")) is None


def test_numbers_are_plain_and_trimmed():
    assert topics.format_value(1500) == "1500"
    assert topics.format_value(21.5) == "21.5"
    assert topics.format_value(21.0) == "21"
    assert topics.format_value(3.14159) == "3.142"
    assert topics.format_value(-0.0001) == "0"
    assert topics.format_value(-4.25) == "-4.25"
    assert topics.format_value(True) == "1"
