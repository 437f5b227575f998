"""Configuration of the electrical inputs (issue 3): defaults, ranges, validation, services."""
import json

from firmware import config


def _parse(**overlay):
    return config.parse(json.dumps(overlay))


def _errors(**overlay):
    return " | ".join(_parse(**overlay)[1])


def test_defaults_are_ct1_with_acac_feeding_heatpump_elec():
    cfg = config.defaults()
    assert config.validate(cfg) == []
    assert cfg["ct"]["enabled"] and cfg["ct"]["inputs"] == [1] and cfg["ct"]["acac"]
    assert not cfg["pulse"]["enabled"] and not cfg["irda"]["enabled"] and not cfg["modbus"]["enabled"]
    assert cfg["elec"]["source"] == "auto" and config.elec_source(cfg) == "ct1"
    names = [s[0] for s in config.input_services(cfg)]
    assert "ct" in names and "pulse" not in names and "irda" not in names and "modbus" not in names
    assert ("ct", "firmware.services.electric", "CtService") in config.input_services(cfg)


def test_each_enabled_input_starts_its_service():
    cfg, errors = _parse(pulse={"enabled": True}, modbus={"enabled": True, "model": "sdm630"},
                         ct={"enabled": False}, elec={"source": "modbus"})
    assert errors == []
    services = config.input_services(cfg)
    assert ("pulse", "firmware.services.electric_meters", "PulseService") in services
    assert ("modbus", "firmware.services.electric_meters", "ModbusService") in services
    assert "ct" not in [s[0] for s in services]


def test_auto_source_prefers_a_meter_and_disabling_cts_stays_valid():
    cfg, errors = _parse(ct={"enabled": False})
    assert errors == [] and config.elec_source(cfg) == "none"
    cfg, errors = _parse(pulse={"enabled": True})
    assert errors == [] and config.elec_source(cfg) == "pulse"
    cfg, errors = _parse(pulse={"enabled": True}, irda={"enabled": True})
    assert config.elec_source(cfg) == "irda"
    cfg, errors = _parse(ct={"inputs": [3, 2]})
    assert errors == [] and config.elec_source(cfg) == "ct2"
    cfg, errors = _parse(pulse={"enabled": True}, elec={"source": "ct1"})
    assert errors == [] and config.elec_source(cfg) == "ct1"


def test_irda_and_modbus_share_uart1():
    text = _errors(irda={"enabled": True}, modbus={"enabled": True})
    assert "both use UART1" in text


def test_calibration_values_must_be_sane():
    text = _errors(ct={"ical": [60.6, 0.0, 60.6], "lead_deg": [4.2, 4.2], "vratio": 5.0, "uv_per_count": 200.0})
    assert "ct.ical" in text and "ct.lead_deg" in text and "ct.vratio" in text and "ct.uv_per_count" in text
    assert _errors(ct={"uv_per_count": 760.0}) == ""  # a fixed ADC slope instead of read_uv
    assert "ct.fallback_vrms" in _errors(ct={"fallback_vrms": 20.0})
    assert "ct.nominal_hz" in _errors(ct={"nominal_hz": 55})
    assert "ct.export" in _errors(ct={"export": [1, 0, 0]})


def test_ct_inputs_need_their_pins_and_sources_must_be_enabled():
    assert "ct.inputs" in _errors(ct={"inputs": [1, 4]})
    assert "ct.inputs" in _errors(ct={"inputs": [2, 2]})
    assert "CT2 needs pins.ct2" in _errors(ct={"inputs": [1, 2]}, pins={"ct2": -1})
    assert "ct.acac" in _errors(pins={"vac": -1})
    assert _errors(pins={"vac": -1}, ct={"acac": False}) == ""
    assert "elec.source" in _errors(elec={"source": "ct2"})
    assert "elec.source" in _errors(elec={"source": "pulse"})
    assert "elec.source" in _errors(elec={"source": "solar"})
    assert _errors(ct={"inputs": [1, 2, 3]}, elec={"source": "ct_sum"}) == ""
    assert _errors(elec={"source": "none"}) == ""


def test_burst_timing_keeps_whole_cycles_and_leaves_the_scheduler_time():
    assert "ct.burst_ms" in _errors(ct={"burst_ms": 30})
    assert "ct.burst_period_ms" in _errors(ct={"burst_period_ms": 150})
    assert "ct.set_us" in _errors(ct={"set_us": 1000})
    assert _errors(ct={"nominal_hz": 60, "burst_ms": 45, "set_us": 300}) == ""


def test_modbus_settings():
    assert "modbus.model" in _errors(modbus={"model": "sdm72"})
    assert "modbus.baudrate" in _errors(modbus={"baudrate": 1234})
    assert "modbus.parity" in _errors(modbus={"parity": "mark"})
    assert "modbus.address" in _errors(modbus={"address": 0})
    cfg, errors = _parse(modbus={"enabled": True, "address": 7, "baudrate": 9600, "parity": "even"},
                         elec={"source": "modbus"})
    assert errors == [] and cfg["modbus"]["address"] == 7


def test_pulse_settings():
    assert "pulse.enabled: needs pins.pulse" in _errors(pulse={"enabled": True}, pins={"pulse": -1})
    assert "pulse.wh_per_pulse" in _errors(pulse={"wh_per_pulse": 0.0})
    assert _errors(pulse={"enabled": True, "imp_per_kwh": 3200}, elec={"source": "pulse"}) == ""
