import json

from firmware import config


def _errors_for(**overlay):
    cfg, errors = config.parse(json.dumps(overlay))
    return cfg, errors


def test_defaults_are_valid():
    assert config.validate(config.defaults()) == []


def test_overlay_changes_only_what_it_names():
    cfg, errors = _errors_for(node="loft", mqtt={"host": "10.0.0.2"})
    assert errors == []
    assert cfg["node"] == "loft"
    assert cfg["mqtt"]["host"] == "10.0.0.2"
    assert cfg["mqtt"]["port"] == 1883
    assert cfg["pins"]["ct1"] == config.DEFAULT_PINS["ct1"]


def test_corrupt_json_boots_defaults_and_says_why():
    cfg, errors = config.parse('{"node": "x", ')
    assert cfg == config.defaults()
    assert errors and "not valid JSON" in errors[0]
    cfg, errors = config.parse("[1, 2]")
    assert cfg == config.defaults() and "JSON object" in errors[0]


def test_wrong_types_and_unknown_keys_are_reported():
    cfg, errors = _errors_for(interval_s="10", colour="red", mqtt=5)
    text = " | ".join(errors)
    assert "interval_s: must be a whole number" in text
    assert "colour: unknown setting" in text
    assert "mqtt: must be an object" in text
    assert cfg == config.defaults()


def test_ranges():
    _, errors = _errors_for(interval_s=0)
    assert any(e.startswith("interval_s: must be between") for e in errors)
    _, errors = _errors_for(mqtt={"port": 70000})
    assert any(e.startswith("mqtt.port") for e in errors)


def test_pins_must_exist_not_repeat_and_analog_on_adc1():
    _, errors = _errors_for(pins={"ct1": 7})
    assert any("GPIO 7 does not exist or drives the flash" in e for e in errors)
    _, errors = _errors_for(pins={"ct2": 39})
    assert any("GPIO 39 is already used" in e for e in errors)
    _, errors = _errors_for(pins={"vac": 25, "rs485_de": -1})
    assert any("not an ADC1 pin" in e for e in errors)
    _, errors = _errors_for(pins={"led": 34, "ct2": -1})
    assert any("input only" in e for e in errors)
    cfg, errors = _errors_for(pins={"ct3": -1, "ssr": -1})
    assert errors == [] and cfg["pins"]["ct3"] == -1


def test_onewire_roles_are_checked():
    _, errors = _errors_for(onewire={"roles": {"28ff641e821603e2": "heatpump_flowT"}})
    assert errors == []
    _, errors = _errors_for(onewire={"roles": {"28ff": "heatpump_flowT", "28ff641e821603e2": "kitchen"}})
    assert any("not a 16-digit ROM code" in e for e in errors)
    assert any("unknown role" in e for e in errors)


def test_node_name_is_safe_for_topics():
    _, errors = _errors_for(node="my node/1")
    assert any(e.startswith("node:") for e in errors)


def test_public_view_hides_secrets():
    cfg = config.defaults()
    cfg["mqtt"]["password"] = "hunter2"
    shown = config.public(cfg)
    assert shown["mqtt"]["password"] is True
    assert shown["wifi"]["key"] is False
    assert "hunter2" not in json.dumps(shown)
    assert cfg["mqtt"]["password"] == "hunter2"
