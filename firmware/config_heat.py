"""Validation of the heat-input settings: "mbus", "vfs", "heat" (issue 4).

Imported by config.validate() only while it runs, then dropped (see
config_check._validate_heat_input): defaults, ranges and the helpers the services use stay in
firmware/config.py.
"""
from firmware.config import heat_source, mbus_active, meter_name
from firmware.config_check import (
    FLUIDS,
    HEAT_SOURCES,
    HEAT_TEMPERATURES,
    MBUS_BAUDS,
    MBUS_METER_KEYS,
    MBUS_MODELS,
    MBUS_SCANS,
    _is_name,
)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def validate(cfg, errors):
    mbus = cfg.get("mbus", {})
    if mbus.get("baud") not in MBUS_BAUDS:
        errors.append("mbus.baud: one of %s" % ", ".join(str(b) for b in MBUS_BAUDS))
    if mbus.get("scan") not in MBUS_SCANS:
        errors.append("mbus.scan: one of %s" % ", ".join(MBUS_SCANS))
    meters = mbus.get("meters", [])
    names: list = []
    addresses: list = []
    if not isinstance(meters, list) or len(meters) > 16:
        errors.append("mbus.meters: a list of at most 16 meters")
        meters = []
    for i, spec in enumerate(meters):
        where = "mbus.meters.%d" % i
        if not isinstance(spec, dict):
            errors.append(where + ": must be an object")
            continue
        for key in spec:
            if key not in MBUS_METER_KEYS:
                errors.append("%s.%s: unknown setting" % (where, key))
        if ("address" in spec) == ("secondary_id" in spec):
            errors.append(where + ": give either address or secondary_id")
        if "address" in spec:
            a = spec["address"]
            if not _is_int(a) or not 0 <= a <= 250:
                errors.append(where + ".address: must be between 0 and 250")
            elif a in addresses:
                errors.append(where + ".address: %d is used twice" % a)
            else:
                addresses.append(a)
        if "secondary_id" in spec:
            sid = spec["secondary_id"]
            if not isinstance(sid, str) or len(sid) != 8 or not sid.isdigit():
                errors.append(where + ".secondary_id: 8 digits (text)")
        name = spec.get("name", "")
        if name and (not isinstance(name, str) or not 1 <= len(name) <= 24 or not _is_name(name)):
            errors.append(where + ".name: 1-24 characters a-z, 0-9, _ or -")
        elif meter_name(spec) in names:
            errors.append(where + ": channel prefix %s is used twice" % meter_name(spec))
        else:
            names.append(meter_name(spec))
        if spec.get("model", "auto") not in MBUS_MODELS:
            errors.append(where + ".model: one of %s" % ", ".join(MBUS_MODELS))
        page = spec.get("page", 0)
        if not _is_int(page) or not 0 <= page <= 3:
            errors.append(where + ".page: must be between 0 and 3")
        poll = spec.get("poll_s", 0)
        if not _is_int(poll) or not (poll == 0 or 2 <= poll <= 86400):
            errors.append(where + ".poll_s: 0 (the reporting interval) or 2-86400")
        baud = spec.get("baud", 0)
        if baud != 0 and baud not in MBUS_BAUDS:
            errors.append(where + ".baud: 0 (the bus speed) or one of %s" % ", ".join(str(b) for b in MBUS_BAUDS))
    vfs = cfg.get("vfs", {})
    if vfs.get("enabled"):
        from firmware import vfs as vfsmod  # only when used: keeps a VFS-less board's heap
        try:
            vfsmod.parse_range(vfs.get("flow_range"))
        except ValueError:
            errors.append("vfs.flow_range: like \"2-40\" (L/min)")
    heat = cfg.get("heat", {})
    src = heat.get("source")
    if src not in HEAT_SOURCES:
        errors.append("heat.source: one of %s" % ", ".join(HEAT_SOURCES))
    elif src == "mbus" and not mbus_active(cfg):
        errors.append("heat.source: mbus needs mbus.enabled and a meter (or a scan)")
    elif src == "vfs" and not vfs.get("enabled"):
        errors.append("heat.source: vfs needs vfs.enabled")
    temps = heat.get("temperatures")
    if temps not in HEAT_TEMPERATURES:
        errors.append("heat.temperatures: one of %s" % ", ".join(HEAT_TEMPERATURES))
    elif temps == "meter" and src in HEAT_SOURCES and heat_source(cfg) != "mbus":
        errors.append("heat.temperatures: meter needs an M-Bus heat source")
    if heat.get("meter") and names and heat.get("meter") not in names:
        errors.append("heat.meter: %r is not a configured meter (%s)" % (heat.get("meter"), ", ".join(names)))
    if heat.get("fluid") not in FLUIDS:
        errors.append("heat.fluid: one of %s" % ", ".join(FLUIDS))
    if heat.get("flow_meter_side") not in ("flow", "return"):
        errors.append("heat.flow_meter_side: flow or return")
