"""Configuration: defaults in code, `/config.json` overlay, validation, atomic save.

The rules live in firmware/config_check.py, loaded only while checking.
Pure apart from load()/save(), which take file paths. A corrupt or invalid file
never stops the board: load() returns the defaults plus the reasons, and the
app starts in safe mode (access point + settings) and shows them.
"""
import json

CONFIG_FILE = "config.json"


# Default pin map: an ESP32-WROOM-32 DevKit wired as the HeatpumpMonitor V2
# board (hardware/pinout.md). -1 means "not fitted".
DEFAULT_PINS = {
    "button": 0,
    "led": 2,
    "ssr": 12,
    "pulse": 21,
    "vac": 36,
    "ct1": 39,
    "ct2": 34,
    "ct3": 35,
    "vfs_flow": 32,
    "vfs_temp": 33,
    "mbus_tx": 17,
    "mbus_rx": 16,
    "uart1_tx": 27,
    "uart1_rx": 26,
    "rs485_de": 25,
    # RFM69 radio on VSPI (issue 8); Pi header UART: -1 = UART1's (or UART2's) own pins
    "rfm_sck": 18,
    "rfm_miso": 19,
    "rfm_mosi": 23,
    "rfm_cs": 5,
    "rfm_irq": 22,
    "pi_tx": -1,
    "pi_rx": -1,
    "onewire": [4, 13, 14, 15],
}


def _default_pins():
    pins = {}
    for name, value in DEFAULT_PINS.items():
        pins[name] = list(value) if isinstance(value, list) else value
    return pins


def defaults():
    """A fresh copy of the default configuration."""
    return {
        "node": "hpmon",
        "interval_s": 10,
        "http_port": 80,
        "pins": _default_pins(),
        # connectivity (issue 6): Wi-Fi, MQTT + HA discovery, emoncms, store-and-forward, SSR
        "wifi": {"ssid": "", "key": "", "ap_after_s": 300, "ap_hold_s": 600, "button_hold_s": 3},
        "mqtt": {"enabled": True, "host": "", "port": 1883, "user": "", "password": "",
                 "prefix": "emon", "keepalive_s": 60, "connect_timeout_s": 5, "retry_max_s": 120,
                 "tls": False, "ca_cert": "", "commands": True},
        "ha": {"enabled": True, "prefix": "homeassistant"},
        "emoncms": {"enabled": False, "url": "https://emoncms.org", "apikey": "", "node": "",
                    "timeout_s": 10, "retry_max_s": 300, "bulk_max": 30, "ca_cert": ""},
        "forward": {"enabled": True, "ram_kb": 3, "flash_kb": 512},
        "ssr": {"enabled": False, "safe_state": "off", "timeout_s": 0, "schedule": [], "invert": False},
        "onewire": {"enabled": True, "roles": {}, "offsets": {}, "resolution": 12, "retries": 2},
        # heat input (issue 4): M-Bus heat meters on UART2, VFS flow sensor, heat source mapping
        "mbus": {"enabled": True, "baud": 2400, "timeout_ms": 0, "retries": 2, "unknown_after": 2,
                 "max_telegrams": 8, "scan": "off", "meters": [{"address": 1}]},
        "vfs": {"enabled": False, "flow_range": "2-40", "divider": 0.66, "zero_lpm": -1.0,
                "samples": 16, "clip_mv": 3000},
        "heat": {"source": "auto", "meter": "", "temperatures": "auto", "fluid": "water",
                 "glycol_pct": 0, "flow_meter_side": "return", "diff_min_w": 300},
        # analytics and persistent totals (issue 5): firmware/analytics_engine.py, docs/flash-wear.md
        "analytics": {"enabled": True, "tz": "GMT0BST,M3.5.0/1,M10.5.0", "starting_power_w": 150,
                      "hysteresis_w": 20, "off_w": 5, "min_on_s": 0, "min_off_s": 60,
                      "defrost_w": 200, "defrost_exit_s": 60, "cop_tau_s": 300, "max_gap_s": 900,
                      "carnot_cond_k": 2.0, "carnot_evap_k": -6.0, "dt_check": True,
                      "dhw": "none", "dhw_channel": "heatpump_dhw", "dhw_gpio": -1,
                      "dhw_on_above_c": 50.0, "dhw_off_below_c": 45.0},
        "totals": {"min_change_wh": 10, "min_interval_s": 60, "snapshot_s": 900},
        # electrical input (issue 3): CT + AC-AC, pulse/S0, Elster IrDA, Modbus SDM (firmware/services/electric.py)
        "ct": {"enabled": True, "inputs": [1], "acac": True, "ical": [60.606, 60.606, 60.606],
               "lead_deg": [4.2, 4.2, 4.2], "export": [False, False, False], "vratio": 460.0,
               "vt_lead_deg": 0.0, "fallback_vrms": 240.0, "nominal_hz": 50, "uv_per_count": 0.0,
               "bias_mv": 1650, "noise_lsb": 1.0, "burst_ms": 50, "set_us": 250, "burst_period_ms": 500},
        "pulse": {"enabled": False, "wh_per_pulse": 1.0, "imp_per_kwh": 0, "timeout_s": 300,
                  "min_period_ms": 40, "poll_ms": 100},
        "irda": {"enabled": False, "invert": True, "max_jump_wh": 100, "timeout_s": 30},
        "modbus": {"enabled": False, "model": "sdm120", "address": 1, "baudrate": 0, "parity": "none",
                   "stop": 1, "timeout_ms": 1500, "retries": 2},
        "elec": {"source": "auto"},
        # wired and radio links (issue 8): emonhub serial lines, RFM69 (firmware/services/radio.py)
        "serial_out": {"enabled": False, "uart": 1, "baud": 115200, "msg": True, "every_s": 0},
        "radio": {"enabled": False, "format": "lpl", "freq_mhz": 433, "group": 210, "node_id": 1,
                  "key": "89txbe4p8aik5kt3", "promiscuous": True,
                  "emonth_nodes": [19, 20, 21, 22, 23, 24, 25, 26], "roles": {}, "stale_s": 300,
                  "tx_enabled": False, "tx_dest": 5, "tx_every_s": 0},
        # dashboard (issue 7): history ring for the charts, Server-Sent Events streams
        "web": {"history_points": 240, "history_s": 60, "sse_clients": 2},
        "watchdog_s": 30,
    }


SECRETS = ("wifi.key", "mqtt.password", "emoncms.apikey", "radio.key")


ROLES = ("heatpump_flowT", "heatpump_returnT", "heatpump_outsideT", "heatpump_roomT",
         "heatpump_dhwT", "heatpump_targetT")


def get(cfg, path, default=None):
    node = cfg
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def mbus_active(cfg):
    """M-Bus is on and has something to do (configured meters or a scan at boot)."""
    mbus = cfg.get("mbus", {})
    return bool(mbus.get("enabled")) and (bool(mbus.get("meters")) or mbus.get("scan", "off") != "off")


def meter_name(spec):
    """Channel prefix of a configured meter: its name, mbus_<address> or mbus_<secondary id>."""
    if spec.get("name"):
        return str(spec["name"])
    if "secondary_id" in spec:
        return "mbus_%s" % (spec["secondary_id"],)
    return "mbus_%s" % (spec.get("address", 0),)  # any value: validation reports a bad address


def heat_source(cfg):
    """'mbus', 'vfs' or 'none': what feeds heatpump_heat, _heat_kwh and _flowrate.
    'auto' picks the M-Bus meter when M-Bus is active, else the VFS when enabled."""
    src = get(cfg, "heat.source", "auto")
    if src != "auto":
        return src
    if mbus_active(cfg):
        return "mbus"
    if get(cfg, "vfs.enabled"):
        return "vfs"
    return "none"


def heat_meter(cfg):
    """Channel prefix of the M-Bus meter that feeds heatpump_* ('' = the first one found)."""
    name = get(cfg, "heat.meter", "")
    if name:
        return name
    meters = get(cfg, "mbus.meters", [])
    return meter_name(meters[0]) if meters else ""


def heat_temperatures(cfg):
    """'meter' when heatpump_flowT/returnT come from the M-Bus meter, else 'ds18b20'.

    'auto': the DS18B20 roles win when either is assigned (and 1-Wire is on), so the
    temperature service and the meter never write the same channel."""
    choice = get(cfg, "heat.temperatures", "auto")
    if choice != "auto":
        return choice
    if heat_source(cfg) != "mbus":
        return "ds18b20"
    if get(cfg, "onewire.enabled"):
        for role in get(cfg, "onewire.roles", {}).values():
            if role in ("heatpump_flowT", "heatpump_returnT"):
                return "ds18b20"
    return "meter"


def elec_source(cfg):
    """The input that feeds heatpump_elec: elec.source, or with "auto" the class-1 meter if one
    is enabled (Modbus, IrDA, pulses, in that order), else the first CT."""
    src = cfg["elec"]["source"]
    if src != "auto":
        return src
    for name in ("modbus", "irda", "pulse"):
        if cfg[name]["enabled"]:
            return name
    ct = cfg["ct"]
    return "ct%d" % min(ct["inputs"]) if ct["enabled"] and ct["inputs"] else "none"


def input_services(cfg):
    """(name, module, class) of every input service the configuration uses.

    Only these modules get imported: a board without a feature never pays
    for its code in heap.
    """
    out = []
    if cfg["onewire"]["enabled"] and any(g >= 0 for g in cfg["pins"]["onewire"]):
        out.append(("temperatures", "firmware.services.temperatures", "TemperatureService"))
    if mbus_active(cfg) and cfg["pins"].get("mbus_rx", -1) >= 0:
        out.append(("mbus", "firmware.services.mbus", "MBusService"))
    if cfg["vfs"]["enabled"]:
        out.append(("heat", "firmware.services.heat", "HeatService"))
    if cfg["ct"]["enabled"] and cfg["ct"]["inputs"]:
        out.append(("ct", "firmware.services.electric", "CtService"))
    if cfg["pulse"]["enabled"]:
        out.append(("pulse", "firmware.services.electric_meters", "PulseService"))
    if cfg["irda"]["enabled"]:
        out.append(("irda", "firmware.services.electric_meters", "IrdaService"))
    if cfg["modbus"]["enabled"]:
        out.append(("modbus", "firmware.services.electric_meters", "ModbusService"))
    if cfg["analytics"]["enabled"]:
        # reads the other inputs from the store; persists the energy totals
        out.append(("analytics", "firmware.services.analytics", "AnalyticsService"))
    if cfg["radio"]["enabled"]:
        out.append(("radio", "firmware.services.radio", "RadioService"))
    if cfg["serial_out"]["enabled"]:
        out.append(("serial_out", "firmware.services.serial_out", "SerialOutService"))
    return out


def _checker():
    from firmware import config_check
    return config_check


def _forget_checker():
    """Drop the rules from the heap again (they are only needed while checking)."""
    from firmware.transient import forget
    forget("firmware.config_check")


def validate(cfg):
    """Human-readable errors (empty when the configuration is usable)."""
    try:
        return _checker().validate(cfg)
    finally:
        _forget_checker()


def parse(text):
    """(config, errors) from the text of a config file; defaults when unusable."""
    try:
        return _checker().parse(text)
    finally:
        _forget_checker()


def merge(base, overlay, errors, prefix=""):
    """Overlay onto base (in place), type-checking against the defaults."""
    try:
        return _checker().merge(base, overlay, errors, prefix)
    finally:
        _forget_checker()


def load(path=CONFIG_FILE):
    """(config, errors). A missing file is not an error: first boot."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return defaults(), []
    except (UnicodeError, ValueError):
        return defaults(), ["config.json is not readable text; using defaults"]
    return parse(text)


def save(cfg, path=CONFIG_FILE):
    """Validate, then write atomically (temp file + rename). Returns errors."""
    errors = validate(cfg)
    if errors:
        return errors
    import os
    tmp = path + ".tmp"
    try:
        with open(tmp, "w") as f:
            f.write(json.dumps(cfg))
        os.rename(tmp, path)
    except OSError as exc:
        try:
            os.remove(tmp)
        except OSError:
            pass
        from firmware.errtext import describe
        return ["could not save config.json: %s" % describe(exc)]
    return []


def public(cfg):
    """A copy safe to show: secrets replaced by whether they are set."""
    out = json.loads(json.dumps(cfg))
    for path in SECRETS:
        section, key = path.split(".")
        if section in out and key in out[section]:
            out[section][key] = bool(out[section][key])
    return out
