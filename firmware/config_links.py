"""Validation of the wired and radio links (issue 8): config "serial_out" and "radio".

Imported by config.validate() only when either section is enabled or differs from
its defaults, so a board without them never loads this code.
"""
from firmware import config as configmod

RF_FORMATS = ("jeelib", "native", "lpl")
RF_BANDS = (433, 868, 915)
# Highest node id per format: RF12 header 5 bits (31 = catch-all), native 6 bits
# (63 = catch-all), LowPowerLab 10 bits.
RF_MAX_NODE = {"jeelib": 30, "native": 62, "lpl": 1023}
RF_ROLE_FIELDS = ("temp", "temp_ext", "humidity")


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


def serial_out_pins(cfg):
    """(tx pin name, rx pin name) of the serial output: pins.pi_tx/pi_rx when fitted,
    else the chosen UART's own header pins (UART1: uart1_*, UART2: mbus_*)."""
    if cfg["pins"].get("pi_tx", -1) >= 0:
        return "pi_tx", "pi_rx"
    if cfg["serial_out"]["uart"] == 2:
        return "mbus_tx", "mbus_rx"
    return "uart1_tx", "uart1_rx"


def validate(cfg, errors):
    so = cfg.get("serial_out", {})
    uart = so.get("uart")
    if uart not in (0, 1, 2):
        errors.append("serial_out.uart: 0 (the USB console), 1 or 2")
    elif so.get("enabled"):
        if uart == 1 and (configmod.get(cfg, "irda.enabled") or configmod.get(cfg, "modbus.enabled")):
            errors.append("serial_out.uart: UART1 is used by the IrDA/Modbus meter (use 2, or 0)")
        if uart == 2 and configmod.mbus_active(cfg):
            errors.append("serial_out.uart: UART2 is used by M-Bus (use 1, or 0)")
        if uart != 0:
            pins = cfg.get("pins", {})
            tx, rx = serial_out_pins(cfg)
            if pins.get(tx, -1) < 0 or pins.get(rx, -1) < 0:
                errors.append("serial_out: pins.%s and pins.%s must both be fitted" % (tx, rx))
    radio = cfg.get("radio", {})
    fmt = radio.get("format")
    if fmt not in RF_FORMATS:
        errors.append("radio.format: one of %s" % ", ".join(RF_FORMATS))
        fmt = "lpl"
    top = RF_MAX_NODE[fmt]
    if radio.get("freq_mhz") not in RF_BANDS:
        errors.append("radio.freq_mhz: one of 433, 868, 915")
    key = radio.get("key", "")
    if not isinstance(key, str) or (key and (len(key) != 16 or not all(" " <= c <= "~" for c in key))):
        errors.append("radio.key: 16 printable ASCII characters, or empty for no encryption")
    node_id = radio.get("node_id")
    if _whole(node_id) and node_id > top:
        errors.append("radio.node_id: at most %d in %s format" % (top, fmt))
    if _whole(radio.get("tx_dest")) and radio.get("tx_dest") > top:
        errors.append("radio.tx_dest: at most %d in %s format" % (top, fmt))
    nodes = radio.get("emonth_nodes", [])
    if not isinstance(nodes, list) or len(nodes) > 16:
        errors.append("radio.emonth_nodes: a list of at most 16 node ids")
        nodes = []
    for n in nodes:
        if not _whole(n) or not 1 <= n <= top:
            errors.append("radio.emonth_nodes: %r is not a node id 1-%d" % (n, top))
    taken = {}
    for role in configmod.get(cfg, "onewire.roles", {}).values():
        if isinstance(role, str):  # anything else is onewire.roles' own error
            taken[role] = "onewire.roles"
    for name, role in radio.get("roles", {}).items():
        where = "radio.roles.%s" % name
        node, field = _radio_channel(name)
        if node is None or node not in nodes or field not in RF_ROLE_FIELDS:
            errors.append("%s: not emonth<node>_temp, _temp_ext or _humidity of an emonth_nodes node" % where)
        if role not in configmod.ROLES:
            errors.append("%s: unknown role %r" % (where, role))
        elif role in taken:
            errors.append("%s: %s is already assigned by %s" % (where, role, taken[role]))
        else:
            taken[role] = "radio.roles"
    if radio.get("enabled"):
        pins = cfg.get("pins", {})
        for name in ("rfm_sck", "rfm_miso", "rfm_mosi", "rfm_cs", "rfm_irq"):
            if pins.get(name, -1) < 0:
                errors.append("radio.enabled: pins.%s is not fitted" % name)


def _radio_channel(name):
    """(node, field) of an emonTH channel name emonth<node>_<field>, else (None, None)."""
    if not isinstance(name, str) or not name.startswith("emonth"):
        return None, None
    i = 6
    while i < len(name) and "0" <= name[i] <= "9":
        i += 1
    if i == 6 or i >= len(name) or name[i] != "_":
        return None, None
    return int(name[6:i]), name[i + 1:]
