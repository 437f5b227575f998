"""Config of the wired and radio links (issue 8): serial_out, radio, pins."""
from firmware import config, config_links


def _errors(**sections):
    cfg = config.defaults()
    for name, values in sections.items():
        if isinstance(cfg.get(name), dict):
            cfg[name].update(values)
        else:
            cfg[name] = values
    return config.validate(cfg)


def _has(errors, prefix):
    return any(e.startswith(prefix) for e in errors)


def test_defaults_are_off_and_valid():
    cfg = config.defaults()
    assert cfg["serial_out"]["enabled"] is False
    assert cfg["radio"]["enabled"] is False
    assert config.validate(cfg) == []
    names = [name for name, _m, _c in config.input_services(cfg)]
    assert "radio" not in names and "serial_out" not in names


def test_enabled_links_are_started():
    cfg = config.defaults()
    cfg["radio"]["enabled"] = True
    cfg["serial_out"]["enabled"] = True
    assert config.validate(cfg) == []
    services = config.input_services(cfg)
    assert ("radio", "firmware.services.radio", "RadioService") in services
    assert ("serial_out", "firmware.services.serial_out", "SerialOutService") in services


def test_default_pins_include_radio_and_pi_header():
    pins = config.defaults()["pins"]
    assert (pins["rfm_sck"], pins["rfm_miso"], pins["rfm_mosi"], pins["rfm_cs"], pins["rfm_irq"]) == (18, 19, 23, 5, 22)
    assert pins["pi_tx"] == -1 and pins["pi_rx"] == -1


def test_serial_pins_follow_the_uart():
    cfg = config.defaults()
    assert config_links.serial_out_pins(cfg) == ("uart1_tx", "uart1_rx")
    cfg["serial_out"]["uart"] = 2
    assert config_links.serial_out_pins(cfg) == ("mbus_tx", "mbus_rx")
    cfg["pins"]["pi_tx"] = 4
    assert config_links.serial_out_pins(cfg) == ("pi_tx", "pi_rx")


def test_serial_uart_conflicts():
    assert _has(_errors(serial_out={"enabled": True, "uart": 1}, modbus={"enabled": True}), "serial_out.uart")
    assert _has(_errors(serial_out={"enabled": True, "uart": 1}, irda={"enabled": True}), "serial_out.uart")
    assert _has(_errors(serial_out={"enabled": True, "uart": 2}), "serial_out.uart")  # M-Bus is on by default
    assert not _errors(serial_out={"enabled": True, "uart": 2}, mbus={"enabled": False})
    assert not _errors(serial_out={"enabled": True, "uart": 0}, modbus={"enabled": True})
    assert _has(_errors(serial_out={"uart": 3}), "serial_out.uart")
    assert _has(_errors(serial_out={"baud": 100}), "serial_out.baud")


def test_serial_own_pins_must_both_be_fitted_and_unique():
    cfg = config.defaults()
    cfg["serial_out"]["enabled"] = True
    cfg["pins"]["pi_tx"] = 4
    assert _has(config.validate(cfg), "serial_out: pins.pi_tx")  # pi_rx missing
    assert _has(config.validate(cfg), "pins.")                    # GPIO 4 is a 1-Wire bus
    cfg["pins"]["onewire"] = [13, 14, 15]
    cfg["pins"]["pi_rx"] = 35
    assert _has(config.validate(cfg), "pins.pi_rx")                # GPIO 35 is CT3
    cfg["pins"]["ct3"] = -1
    assert config.validate(cfg) == []


def test_radio_settings_validation():
    assert _has(_errors(radio={"format": "rf12"}), "radio.format")
    assert _has(_errors(radio={"freq_mhz": 434}), "radio.freq_mhz")
    assert _has(_errors(radio={"key": "short"}), "radio.key")
    assert not _errors(radio={"key": ""})
    assert _has(_errors(radio={"format": "jeelib", "node_id": 31}), "radio.node_id")
    assert not _errors(radio={"format": "jeelib", "node_id": 30, "tx_dest": 0})
    assert _has(_errors(radio={"format": "native", "tx_dest": 63}), "radio.tx_dest")
    assert _has(_errors(radio={"group": 256}), "radio.group")
    assert _has(_errors(radio={"emonth_nodes": [0]}), "radio.emonth_nodes")
    assert _has(_errors(radio={"format": "jeelib", "emonth_nodes": [40]}), "radio.emonth_nodes")


def test_radio_roles():
    assert not _errors(radio={"roles": {"emonth23_temp": "heatpump_roomT", "emonth24_temp_ext": "heatpump_outsideT"}})
    assert _has(_errors(radio={"roles": {"emonth23_battery": "heatpump_roomT"}}), "radio.roles")
    assert _has(_errors(radio={"roles": {"emonth99_temp": "heatpump_roomT"}}), "radio.roles")
    assert _has(_errors(radio={"roles": {"emonth23_temp": "heatpump_kitchenT"}}), "radio.roles")
    assert _has(_errors(radio={"roles": {"emonthx_temp": "heatpump_roomT"}}), "radio.roles")
    # one role, one source
    two = _errors(radio={"roles": {"emonth23_temp": "heatpump_roomT", "emonth24_temp": "heatpump_roomT"}})
    assert _has(two, "radio.roles.emonth24_temp")
    cfg = config.defaults()
    cfg["onewire"]["roles"] = {"28ff641e821603e2": "heatpump_outsideT"}
    cfg["radio"]["roles"] = {"emonth23_temp_ext": "heatpump_outsideT"}
    assert _has(config.validate(cfg), "radio.roles.emonth23_temp_ext")


def test_radio_needs_its_pins():
    cfg = config.defaults()
    cfg["radio"]["enabled"] = True
    cfg["pins"]["rfm_irq"] = -1
    assert _has(config.validate(cfg), "radio.enabled")


def test_default_links_pass_their_own_checks():
    # config.validate() skips config_links while both sections are at their defaults
    errors = []
    cfg = config.defaults()
    cfg["serial_out"]["enabled"] = cfg["radio"]["enabled"] = True
    config_links.validate(cfg, errors)
    assert errors == []


def test_radio_key_is_a_secret():
    cfg = config.defaults()
    assert config.public(cfg)["radio"]["key"] is True


def test_overlay_types():
    cfg, errors = config.parse('{"radio": {"enabled": true, "roles": {"emonth23_temp": "heatpump_roomT"}}}')
    assert errors == [] and cfg["radio"]["roles"] == {"emonth23_temp": "heatpump_roomT"}
    cfg, errors = config.parse('{"radio": {"emonth_nodes": 23}}')
    assert errors
