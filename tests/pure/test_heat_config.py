"""Heat-input configuration (issue 4): mbus/vfs/heat defaults, validation, source mapping."""
from firmware import config


def _cfg(overlay):
    cfg = config.defaults()
    errors = []
    config.merge(cfg, overlay, errors)
    return cfg, errors + config.validate(cfg)


def _has(errors, prefix):
    for e in errors:
        if e.startswith(prefix):
            return True
    return False


def test_defaults_poll_one_meter_at_address_1_and_feed_the_heat_channels():
    cfg = config.defaults()
    assert config.validate(cfg) == []
    assert cfg["mbus"]["meters"] == [{"address": 1}] and cfg["mbus"]["baud"] == 2400
    names = [s[0] for s in config.input_services(cfg)]
    assert "mbus" in names and "heat" not in names  # the VFS is off by default
    assert config.heat_source(cfg) == "mbus" and config.heat_meter(cfg) == "mbus_1"
    # no DS18B20 roles for flow/return: the meter's temperatures are the heat pump's
    assert config.heat_temperatures(cfg) == "meter"


def test_ds18b20_roles_win_the_temperatures_in_auto():
    cfg, errors = _cfg({"onewire": {"roles": {"28ff641e821603e2": "heatpump_flowT"}}})
    assert errors == []
    assert config.heat_temperatures(cfg) == "ds18b20"
    cfg, errors = _cfg({"onewire": {"roles": {"28ff641e821603e2": "heatpump_flowT"}},
                        "heat": {"temperatures": "meter"}})
    assert errors == [] and config.heat_temperatures(cfg) == "meter"
    cfg, errors = _cfg({"onewire": {"enabled": False, "roles": {"28ff641e821603e2": "heatpump_flowT"}}})
    assert config.heat_temperatures(cfg) == "meter"


def test_source_auto_and_explicit():
    cfg, errors = _cfg({"mbus": {"enabled": False}, "vfs": {"enabled": True}})
    assert errors == [] and config.heat_source(cfg) == "vfs"
    assert [s[0] for s in config.input_services(cfg)].count("heat") == 1
    assert "mbus" not in [s[0] for s in config.input_services(cfg)]
    assert config.heat_temperatures(cfg) == "ds18b20"
    cfg, errors = _cfg({"mbus": {"enabled": False}})
    assert errors == [] and config.heat_source(cfg) == "none"
    cfg, errors = _cfg({"vfs": {"enabled": True}, "heat": {"source": "vfs"}})
    assert errors == [] and config.heat_source(cfg) == "vfs"
    # an empty meter list with a scan still needs the service; without a scan it does not
    cfg, errors = _cfg({"mbus": {"meters": [], "scan": "secondary"}})
    assert errors == [] and config.mbus_active(cfg) and config.heat_meter(cfg) == ""
    cfg, errors = _cfg({"mbus": {"meters": []}})
    assert errors == [] and not config.mbus_active(cfg) and config.heat_source(cfg) == "none"


def test_inconsistent_sources_are_rejected():
    _c, errors = _cfg({"heat": {"source": "vfs"}})
    assert _has(errors, "heat.source: vfs needs")
    _c, errors = _cfg({"mbus": {"enabled": False}, "heat": {"source": "mbus"}})
    assert _has(errors, "heat.source: mbus needs")
    _c, errors = _cfg({"mbus": {"enabled": False}, "vfs": {"enabled": True}, "heat": {"temperatures": "meter"}})
    assert _has(errors, "heat.temperatures: meter needs")
    _c, errors = _cfg({"heat": {"meter": "mbus_9"}})
    assert _has(errors, "heat.meter:")
    for key, bad in (("source", "ir"), ("fluid", "oil"), ("flow_meter_side", "middle"), ("temperatures", "x")):
        _c, errors = _cfg({"heat": {key: bad}})
        assert _has(errors, "heat." + key), (key, errors)
    _c, errors = _cfg({"heat": {"glycol_pct": 70}})
    assert _has(errors, "heat.glycol_pct")


def test_meter_list_validation():
    good = [{"address": 1, "poll_s": 900, "model": "sontex", "page": 3},
            {"secondary_id": "12345678", "name": "cellar", "baud": 9600},
            {"address": 0, "poll_s": 0}]
    cfg, errors = _cfg({"mbus": {"meters": good, "baud": 4800}})
    assert errors == [], errors
    assert [config.meter_name(m) for m in good] == ["mbus_1", "cellar", "mbus_0"]
    bad = (
        ({"address": 251}, "mbus.meters.0.address"),
        ({"address": 1, "secondary_id": "12345678"}, "mbus.meters.0: give either"),
        ({}, "mbus.meters.0: give either"),
        ({"secondary_id": "1234567"}, "mbus.meters.0.secondary_id"),
        ({"secondary_id": 12345678}, "mbus.meters.0.secondary_id"),
        ({"address": 1, "model": "kamstrup_402"}, "mbus.meters.0.model"),
        ({"address": 1, "page": 4}, "mbus.meters.0.page"),
        ({"address": 1, "poll_s": 1}, "mbus.meters.0.poll_s"),
        ({"address": 1, "baud": 19200}, "mbus.meters.0.baud"),
        ({"address": 1, "name": "Bad Name"}, "mbus.meters.0.name"),
        ({"address": 1, "colour": "red"}, "mbus.meters.0.colour: unknown"),
        ("meter", "mbus.meters.0: must be an object"),
    )
    for spec, prefix in bad:
        _c, errors = _cfg({"mbus": {"meters": [spec]}})
        assert _has(errors, prefix), (spec, errors)
    _c, errors = _cfg({"mbus": {"meters": [{"address": 3}, {"address": 3}]}})
    assert _has(errors, "mbus.meters.1.address: 3 is used twice")
    _c, errors = _cfg({"mbus": {"meters": [{"address": 3, "name": "x"}, {"address": 4, "name": "x"}]}})
    assert _has(errors, "mbus.meters.1: channel prefix x")
    _c, errors = _cfg({"mbus": {"meters": [{"address": a} for a in range(17)]}})
    assert _has(errors, "mbus.meters: a list of at most 16")
    for key, bad in (("baud", 19200), ("scan", "all"), ("retries", 9), ("timeout_ms", 9000),
                     ("unknown_after", 0), ("max_telegrams", 0)):
        _c, errors = _cfg({"mbus": {key: bad}})
        assert _has(errors, "mbus." + key), (key, errors)


def test_vfs_and_onewire_settings():
    _c, errors = _cfg({"vfs": {"enabled": True, "flow_range": "5-100", "divider": 0.5, "zero_lpm": 3}})
    assert errors == []
    _c, errors = _cfg({"vfs": {"enabled": True, "flow_range": "forty"}})
    assert _has(errors, "vfs.flow_range")
    _c, errors = _cfg({"vfs": {"divider": 1.5}})
    assert _has(errors, "vfs.divider")
    _c, errors = _cfg({"vfs": {"samples": 0}})
    assert _has(errors, "vfs.samples")
    _c, errors = _cfg({"onewire": {"resolution": 10, "retries": 0}})
    assert errors == []
    for key, bad in (("resolution", 8), ("resolution", 13), ("retries", 6)):
        _c, errors = _cfg({"onewire": {key: bad}})
        assert _has(errors, "onewire." + key), (key, bad, errors)


def test_validation_module_is_dropped_after_use():
    import sys
    config.validate(config.defaults())
    assert "firmware.config_heat" not in sys.modules
