"""Configuration: defaults in code, `/config.json` overlay, validation, atomic save.

Pure apart from load()/save(), which take file paths. A corrupt or invalid file
never stops the board: load() returns the defaults plus the reasons, and the
app starts in safe mode (access point + settings) and shows them.
"""
import json

CONFIG_FILE = "config.json"

# ESP32 (WROOM-32) GPIOs. 6-11 drive the SPI flash; 34-39 are input only.
VALID_GPIOS = (0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 25, 26, 27,
               32, 33, 34, 35, 36, 37, 38, 39)
INPUT_ONLY_GPIOS = (34, 35, 36, 37, 38, 39)
# ADC1 only: ADC2 cannot be read while Wi-Fi is on (ESP32 TRM §29.3; MicroPython
# v1.26-v1.28 even return 0 silently).
ADC1_GPIOS = (32, 33, 34, 35, 36, 37, 38, 39)

ANALOG_PINS = ("vac", "ct1", "ct2", "ct3", "vfs_flow", "vfs_temp")
OUTPUT_PINS = ("led", "ssr", "mbus_tx", "uart1_tx", "rs485_de")

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
        "wifi": {"ssid": "", "key": "", "ap_after_s": 300},
        "mqtt": {"enabled": True, "host": "", "port": 1883, "user": "", "password": "",
                 "prefix": "emon", "keepalive_s": 60, "connect_timeout_s": 5},
        "onewire": {"enabled": True, "roles": {}, "offsets": {}},
        "watchdog_s": 30,
    }


# Numeric ranges: dotted key -> (min, max)
RANGES = {
    "interval_s": (1, 3600),
    "http_port": (1, 65535),
    "wifi.ap_after_s": (10, 86400),
    "mqtt.port": (1, 65535),
    "mqtt.keepalive_s": (0, 3600),
    "mqtt.connect_timeout_s": (1, 60),
    "watchdog_s": (5, 300),
}

SECRETS = ("wifi.key", "mqtt.password")

# Dict-valued settings whose keys are free (ROM codes, roles) rather than schema.
FREE_KEYS = ("onewire.roles", "onewire.offsets")

ROLES = ("heatpump_flowT", "heatpump_returnT", "heatpump_outsideT", "heatpump_roomT",
         "heatpump_dhwT", "heatpump_targetT")


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


def get(cfg, path, default=None):
    node = cfg
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


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


def input_services(cfg):
    """(name, module, class) of every input service the configuration uses.

    Only these modules get imported: a board without a feature never pays
    for its code in heap.
    """
    out = []
    if cfg["onewire"]["enabled"] and any(g >= 0 for g in cfg["pins"]["onewire"]):
        out.append(("temperatures", "firmware.services.temperatures", "TemperatureService"))
    return out


def parse(text):
    """(config, errors) from the text of a config file; defaults when unusable."""
    errors: list = []
    try:
        overlay = json.loads(text)
    except ValueError as exc:
        return defaults(), ["config.json is not valid JSON (%s); using defaults" % exc]
    if not isinstance(overlay, dict):
        return defaults(), ["config.json must hold a JSON object; using defaults"]
    cfg = merge(defaults(), overlay, errors)
    errors.extend(validate(cfg))
    if errors:
        errors.append("config.json has errors; using defaults")
        return defaults(), errors
    return cfg, []


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
        return ["could not save config.json: %s" % exc]
    return []


def public(cfg):
    """A copy safe to show: secrets replaced by whether they are set."""
    out = json.loads(json.dumps(cfg))
    for path in SECRETS:
        section, key = path.split(".")
        if section in out and key in out[section]:
            out[section][key] = bool(out[section][key])
    return out
