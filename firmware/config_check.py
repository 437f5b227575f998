"""Configuration checks: type-checked merge of config.json onto the defaults and
validate(), with every section's rules.

Imported only while checking (at boot, on a settings change) and dropped again
by firmware.config, so the rules never occupy the heap of a running board.
"""
import json

from firmware.config import ROLES, defaults, get
from firmware.transient import forget

# ESP32 (WROOM-32) GPIOs. 6-11 drive the SPI flash; 34-39 are input only.
VALID_GPIOS = (0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 25, 26, 27,
               32, 33, 34, 35, 36, 37, 38, 39)


INPUT_ONLY_GPIOS = (34, 35, 36, 37, 38, 39)


# ADC1 only: ADC2 cannot be read while Wi-Fi is on (ESP32 TRM §29.3; MicroPython
# v1.26-v1.28 even return 0 silently).
ADC1_GPIOS = (32, 33, 34, 35, 36, 37, 38, 39)


ANALOG_PINS = ("vac", "ct1", "ct2", "ct3", "vfs_flow", "vfs_temp")


OUTPUT_PINS = ("led", "ssr", "mbus_tx", "uart1_tx", "rs485_de",
               "rfm_sck", "rfm_mosi", "rfm_cs", "pi_tx")  # radio, Pi header (issue 8)


# Numeric ranges: dotted key -> (min, max)
RANGES = {
    "interval_s": (1, 3600),
    "http_port": (1, 65535),
    "wifi.ap_after_s": (10, 86400),
    "mqtt.port": (1, 65535),
    "mqtt.keepalive_s": (0, 3600),
    "mqtt.connect_timeout_s": (1, 60),
    "mqtt.retry_max_s": (5, 3600),
    "wifi.ap_hold_s": (10, 86400),
    "wifi.button_hold_s": (1, 30),
    "emoncms.timeout_s": (2, 60),
    "emoncms.retry_max_s": (5, 3600),
    "emoncms.bulk_max": (1, 100),
    "forward.ram_kb": (1, 64),
    "forward.flash_kb": (0, 4096),
    "ssr.timeout_s": (0, 604800),
    "watchdog_s": (5, 300),
    "web.history_points": (0, 5000),
    "web.history_s": (10, 3600),
    "web.sse_clients": (0, 4),
    "onewire.resolution": (9, 12),
    "onewire.retries": (0, 5),
    "mbus.timeout_ms": (0, 5000),
    "mbus.retries": (0, 5),
    "mbus.unknown_after": (1, 20),
    "mbus.max_telegrams": (1, 16),
    "vfs.divider": (0.1, 1.0),
    "vfs.zero_lpm": (-1, 400),
    "vfs.samples": (1, 64),
    "vfs.clip_mv": (500, 3300),
    "heat.glycol_pct": (0, 60),
    "heat.diff_min_w": (0, 100000),
    "analytics.starting_power_w": (10, 10000),
    "analytics.hysteresis_w": (0, 5000),
    "analytics.off_w": (0, 1000),
    "analytics.min_on_s": (0, 3600),
    "analytics.min_off_s": (0, 3600),
    "analytics.defrost_w": (0, 20000),
    "analytics.defrost_exit_s": (0, 3600),
    "analytics.cop_tau_s": (0, 86400),
    "analytics.max_gap_s": (60, 86400),
    "analytics.carnot_cond_k": (-20, 20),
    "analytics.carnot_evap_k": (-30, 10),
    "analytics.dhw_on_above_c": (0, 100),
    "analytics.dhw_off_below_c": (0, 100),
    "totals.min_change_wh": (1, 100000),
    # >= 60 s keeps NVS wear at <= 1440 writes a day (docs/flash-wear.md)
    "totals.min_interval_s": (60, 86400),
    "totals.snapshot_s": (60, 86400),
    "ct.vratio": (50, 2000),
    "ct.vt_lead_deg": (-10, 10),
    "ct.fallback_vrms": (90, 270),
    "ct.nominal_hz": (50, 60),
    "ct.uv_per_count": (0, 1100),
    "ct.bias_mv": (1000, 2300),
    "ct.noise_lsb": (0, 20),
    "ct.burst_ms": (20, 100),
    "ct.set_us": (100, 750),
    "ct.burst_period_ms": (100, 10000),
    "pulse.wh_per_pulse": (0.001, 1000),
    "pulse.imp_per_kwh": (0, 100000),
    "pulse.timeout_s": (10, 3600),
    "pulse.min_period_ms": (1, 2000),
    "pulse.poll_ms": (10, 1000),
    "irda.max_jump_wh": (1, 100000),
    "irda.timeout_s": (5, 3600),
    "modbus.address": (1, 247),
    "modbus.baudrate": (0, 115200),
    "modbus.stop": (1, 2),
    "modbus.timeout_ms": (100, 10000),
    "modbus.retries": (0, 5),
    "serial_out.baud": (1200, 921600),
    "serial_out.every_s": (0, 3600),
    "radio.group": (0, 255),
    "radio.node_id": (1, 1023),
    "radio.stale_s": (30, 86400),
    "radio.tx_dest": (0, 1023),
    "radio.tx_every_s": (0, 3600),
}


# Dict-valued settings whose keys are free (ROM codes, roles) rather than schema.
FREE_KEYS = ("onewire.roles", "onewire.offsets", "radio.roles")


def merge(base, overlay, errors, prefix=""):
    """Overlay onto base (in place), type-checking against the defaults."""
    for key, value in overlay.items():
        path = prefix + key
        if key not in base:
            errors.append("%s: unknown setting" % path)
            continue
        current = base[key]
        if isinstance(current, dict) and path not in FREE_KEYS:
            if not isinstance(value, dict):
                errors.append("%s: must be an object" % path)
                continue
            merge(current, value, errors, path + ".")
        elif not _same_type(current, value):
            errors.append("%s: must be %s" % (path, _type_name(current)))
        else:
            base[key] = value
    return base


def _same_type(default, value):
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return type(default) is type(value)


def _type_name(value):
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def validate(cfg):
    """Human-readable errors (empty when the configuration is usable)."""
    errors = []
    for path, (lo, hi) in RANGES.items():
        value = get(cfg, path)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not lo <= value <= hi:
            errors.append("%s: must be between %s and %s" % (path, lo, hi))
    node = cfg.get("node")
    if not isinstance(node, str) or not 1 <= len(node) <= 32 or not _is_name(node):
        errors.append("node: 1-32 characters a-z, 0-9, _ or -")
    mqtt = cfg.get("mqtt", {})
    if mqtt.get("enabled") and len(mqtt.get("prefix", "")) == 0:
        errors.append("mqtt.prefix: must not be empty")
    _validate_pins(cfg.get("pins", {}), errors)
    _validate_onewire(cfg.get("onewire", {}), errors)
    _validate_connectivity(cfg, errors)
    _validate_heat_input(cfg, errors)
    _validate_analytics(cfg, errors)
    _validate_elec(cfg, errors)
    _validate_links(cfg, errors)
    return errors


def _is_name(text):
    for ch in text:
        if not ("a" <= ch <= "z" or "0" <= ch <= "9" or ch in "_-"):
            return False
    return True


def _validate_pins(pins, errors):
    used: dict = {}
    for name, value in pins.items():
        gpios = value if isinstance(value, list) else [value]
        for gpio in gpios:
            if not isinstance(gpio, int) or isinstance(gpio, bool):
                errors.append("pins.%s: must be a GPIO number or -1" % name)
                continue
            if gpio == -1:
                continue
            if gpio not in VALID_GPIOS:
                errors.append("pins.%s: GPIO %d does not exist or drives the flash" % (name, gpio))
                continue
            if name in ANALOG_PINS and gpio not in ADC1_GPIOS:
                errors.append("pins.%s: GPIO %d is not an ADC1 pin (use 32-39)" % (name, gpio))
            if (name in OUTPUT_PINS or name == "onewire") and gpio in INPUT_ONLY_GPIOS:
                errors.append("pins.%s: GPIO %d is input only" % (name, gpio))
            if gpio in used:
                errors.append("pins.%s: GPIO %d is already used by pins.%s" % (name, gpio, used[gpio]))
            else:
                used[gpio] = name
    buses = pins.get("onewire", [])
    if isinstance(buses, list) and len(buses) > 4:
        errors.append("pins.onewire: at most 4 buses")


def _validate_onewire(ow, errors):
    for rom, role in ow.get("roles", {}).items():
        if not _is_rom(rom):
            errors.append("onewire.roles: %r is not a 16-digit ROM code" % rom)
        if role not in ROLES:
            errors.append("onewire.roles.%s: unknown role %r" % (rom, role))
    for rom, offset in ow.get("offsets", {}).items():
        if not _is_rom(rom):
            errors.append("onewire.offsets: %r is not a 16-digit ROM code" % rom)
        elif not isinstance(offset, (int, float)) or isinstance(offset, bool) or not -10 <= offset <= 10:
            errors.append("onewire.offsets.%s: must be between -10 and 10" % rom)


def _is_rom(text):
    if not isinstance(text, str) or len(text) != 16:
        return False
    for ch in text:
        if ch not in "0123456789abcdef":
            return False
    return True


MBUS_BAUDS = (300, 600, 1200, 2400, 4800, 9600)


MBUS_SCANS = ("off", "primary", "secondary")


MBUS_MODELS = ("auto", "generic", "sontex")


MBUS_METER_KEYS = ("address", "secondary_id", "name", "model", "page", "poll_s", "baud")


HEAT_SOURCES = ("auto", "mbus", "vfs", "none")


HEAT_TEMPERATURES = ("auto", "ds18b20", "meter")


FLUIDS = ("water", "propylene_glycol", "ethylene_glycol")


def _validate_heat_input(cfg, errors):
    # The checks of mbus/vfs/heat live in their own module, dropped again after use:
    # validation runs once at boot (and on a save), its bytecode need not hold heap
    # for the whole run on a WROOM-32.

    from firmware import config_heat
    try:
        config_heat.validate(cfg, errors)
    finally:
        forget("firmware.config_heat")


def _validate_connectivity(cfg, errors):
    # wifi/mqtt/ha/emoncms/forward/ssr checks (issue 6): own module, dropped after use

    from firmware import config_net
    try:
        config_net.validate(cfg, errors)
    finally:
        forget("firmware.config_net")


def _validate_links(cfg, errors):
    """serial_out and radio: checked by firmware/config_links.py, imported only when
    either section is on or changed (its code stays out of a WROOM-32's heap)."""
    base = defaults()
    if cfg.get("serial_out") != base["serial_out"] or cfg.get("radio") != base["radio"]:
        from firmware import config_links
        try:
            config_links.validate(cfg, errors)
        finally:
            forget("firmware.config_links")


DHW_SOURCES = ("none", "channel", "flow", "gpio")


def _validate_analytics(cfg, errors):
    an = cfg.get("analytics", {})
    if an.get("enabled"):  # the time-zone parser is loaded only for this check
        import sys
        loaded = "firmware.analytics_tz" in sys.modules
        try:
            from firmware.analytics_tz import Tz
            Tz(an.get("tz"))
        except (ValueError, TypeError) as exc:
            errors.append("analytics.tz: not a POSIX TZ string like GMT0BST,M3.5.0/1,M10.5.0 (%s)" % exc)
        if not loaded:
            forget("firmware.analytics_tz")
    start = an.get("starting_power_w", 150)
    hyst = an.get("hysteresis_w", 20)
    if isinstance(start, (int, float)) and isinstance(hyst, (int, float)) and hyst >= start:
        errors.append("analytics.hysteresis_w: must be below analytics.starting_power_w")
    dhw = an.get("dhw")
    if dhw not in DHW_SOURCES:
        errors.append("analytics.dhw: one of %s" % ", ".join(DHW_SOURCES))
    elif dhw == "gpio":
        gpio = an.get("dhw_gpio", -1)
        if gpio not in VALID_GPIOS:
            errors.append("analytics.dhw_gpio: a GPIO for the DHW input")
        elif gpio in _analytics_pins_in_use(cfg.get("pins", {})):
            errors.append("analytics.dhw_gpio: GPIO %d is already used in pins" % gpio)
    elif dhw == "channel":
        name = an.get("dhw_channel", "")
        if not isinstance(name, str) or not 1 <= len(name) <= 32 or not _is_name(name.lower()):
            errors.append("analytics.dhw_channel: a channel name")
    lo, hi = an.get("dhw_off_below_c", 45.0), an.get("dhw_on_above_c", 50.0)
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo > hi:
        errors.append("analytics.dhw_off_below_c: must not be above analytics.dhw_on_above_c")


def _analytics_pins_in_use(pins):
    used = []
    for value in pins.values():
        for gpio in value if isinstance(value, list) else [value]:
            if isinstance(gpio, int) and gpio >= 0:
                used.append(gpio)
    return used


ELEC_SOURCES = ("auto", "none", "ct1", "ct2", "ct3", "ct_sum", "pulse", "irda", "modbus")


MODBUS_MODELS = ("sdm120", "sdm220", "sdm630")


MODBUS_BAUDS = (0, 1200, 2400, 4800, 9600, 19200, 38400)


def _num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _validate_elec(cfg, errors):
    """Electrical inputs (issue 3): calibration in sane ranges, pins fitted, UART1 shared."""
    ct = cfg.get("ct", {})
    pins = cfg.get("pins", {})
    inputs = ct.get("inputs")
    if not isinstance(inputs, list) or len(inputs) > 3 or any(
            not isinstance(k, int) or isinstance(k, bool) or k not in (1, 2, 3) for k in inputs) \
            or len(set(inputs)) != len(inputs):
        errors.append("ct.inputs: a list of distinct CT numbers 1-3")
        inputs = []
    for key, lo, hi in (("ical", 1.0, 500.0), ("lead_deg", -10.0, 20.0)):
        vals = ct.get(key)
        if not isinstance(vals, list) or len(vals) != 3 or any(not _num(v) or not lo <= v <= hi for v in vals):
            errors.append("ct.%s: 3 numbers (CT1-CT3) between %s and %s" % (key, lo, hi))
    exp = ct.get("export")
    if not isinstance(exp, list) or len(exp) != 3 or any(not isinstance(v, bool) for v in exp):
        errors.append("ct.export: 3 true/false values (CT1-CT3)")
    if ct.get("nominal_hz") not in (50, 60):
        errors.append("ct.nominal_hz: 50 or 60")
    upc = ct.get("uv_per_count")
    if _num(upc) and upc != 0 and not 500 <= upc <= 1100:
        errors.append("ct.uv_per_count: 0 (calibrate from read_uv) or 500-1100 uV per count")
    burst = ct.get("burst_ms", 50)
    set_us = ct.get("set_us", 250)
    hz = ct.get("nominal_hz", 50)
    if _num(burst) and _num(set_us) and hz in (50, 60):
        # 2.25 mains cycles plus PowerCalc's 8-set margins at each end (ctpower._MARGIN)
        if burst * 1000 < 2250000 / hz + 16 * set_us:
            errors.append("ct.burst_ms: too short for 2.25 mains cycles plus margins at ct.set_us")
        if _num(ct.get("burst_period_ms")) and ct["burst_period_ms"] < 4 * burst:
            errors.append("ct.burst_period_ms: at least 4 x ct.burst_ms (the scheduler runs between bursts)")
    if ct.get("enabled"):
        for k in inputs:
            if pins.get("ct%d" % k, -1) < 0:
                errors.append("ct.inputs: CT%d needs pins.ct%d" % (k, k))
        if ct.get("acac") and pins.get("vac", -1) < 0:
            errors.append("ct.acac: the AC-AC input needs pins.vac (or set ct.acac false)")
    pulse = cfg.get("pulse", {})
    if pulse.get("enabled") and pins.get("pulse", -1) < 0:
        errors.append("pulse.enabled: needs pins.pulse")
    ipk = pulse.get("imp_per_kwh", 0)
    if not isinstance(ipk, int) or isinstance(ipk, bool):
        errors.append("pulse.imp_per_kwh: a whole number (0: use pulse.wh_per_pulse)")
    irda = cfg.get("irda", {})
    mbus = cfg.get("modbus", {})
    if irda.get("enabled") and mbus.get("enabled"):
        errors.append("irda, modbus: both use UART1; enable only one")
    if (irda.get("enabled") or mbus.get("enabled")) and pins.get("uart1_rx", -1) < 0:
        errors.append("irda/modbus: needs pins.uart1_rx")
    if mbus.get("enabled") and pins.get("uart1_tx", -1) < 0:
        errors.append("modbus.enabled: needs pins.uart1_tx")
    if mbus.get("model") not in MODBUS_MODELS:
        errors.append("modbus.model: one of %s" % ", ".join(MODBUS_MODELS))
    if mbus.get("baudrate") not in MODBUS_BAUDS:
        errors.append("modbus.baudrate: 0 (the model's factory setting) or 1200-38400")
    if mbus.get("parity") not in ("none", "even", "odd"):
        errors.append("modbus.parity: none, even or odd")
    src = cfg.get("elec", {}).get("source")
    if src not in ELEC_SOURCES:
        errors.append("elec.source: one of %s" % ", ".join(ELEC_SOURCES))
    elif src.startswith("ct"):
        if not ct.get("enabled") or not inputs or (src != "ct_sum" and int(src[2]) not in inputs):
            errors.append("elec.source: %s is not enabled (ct.enabled, ct.inputs)" % src)
    elif src not in ("none", "auto") and not cfg.get(src, {}).get("enabled"):
        errors.append("elec.source: %s is not enabled (%s.enabled)" % (src, src))


def parse(text):
    """(config, errors) from the text of a config file; defaults when unusable."""
    errors: list = []
    try:
        overlay = json.loads(text)
    except (ValueError, RuntimeError) as exc:  # RuntimeError: CPython's RecursionError on deep nesting
        return defaults(), ["config.json is not valid JSON (%s); using defaults" % exc]
    if not isinstance(overlay, dict):
        return defaults(), ["config.json must hold a JSON object; using defaults"]
    cfg = merge(defaults(), overlay, errors)
    errors.extend(validate(cfg))
    if errors:
        errors.append("config.json has errors; using defaults")
        return defaults(), errors
    return cfg, []
