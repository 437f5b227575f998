"""Admin API handlers: settings, totals, the flow/return offset, Wi-Fi scan, restart.

Imported by firmware/services/web.py for one authorised request and dropped after it.
Settings are validated as a whole and saved atomically by firmware.config; nothing is
saved unless every field is valid. A saved configuration takes effect at the next restart
(ctx.pending_cfg until then), so a running service never sees a half-applied change.
"""
import json

from firmware import config as configmod


def _copy(doc):
    return json.loads(json.dumps(doc))


def _current(ctx):
    return ctx.pending_cfg if ctx.pending_cfg is not None else ctx.cfg


def field_errors(messages):
    """["mqtt.port: must be ..."] -> {"mqtt.port": "must be ..."}; others under "_"."""
    out: dict = {}
    for msg in messages:
        head, sep, tail = msg.partition(": ")
        key, text = (head, tail) if sep and " " not in head else ("_", msg)
        out[key] = out[key] + "; " + text if key in out else text
    return out


def _drop_kept_secrets(overlay):
    """A secret sent back as true/false (or null) means 'keep it': remove it from the overlay."""
    for path in configmod.SECRETS:
        section, key = path.split(".")
        part = overlay.get(section)
        if isinstance(part, dict) and key in part and not isinstance(part[key], str):
            del part[key]


def _apply(ctx, overlay, what):
    _drop_kept_secrets(overlay)
    new = _copy(_current(ctx))
    errors: list = []
    configmod.merge(new, overlay, errors)  # wrong types and unknown settings
    errors += configmod.validate(new)      # ranges, pins, names: every field's error at once
    if not errors:
        errors = configmod.save(new)
    if errors:
        return {"errors": field_errors(errors)}, 400
    ctx.pending_cfg = new
    changed = ", ".join(sorted(overlay))
    ctx.log.info("config: %s saved (%s); applies at the next restart" % (what, changed))
    return {"saved": True, "restart_needed": True}


def config_get(ctx):
    doc = configmod.public(_current(ctx))
    doc["_restart_needed"] = ctx.pending_cfg is not None
    return doc


def config_post(ctx, overlay):
    return _apply(ctx, overlay, "settings")


def config_upload(ctx, doc):
    return _apply(ctx, doc, "uploaded configuration")


def config_download(ctx):
    body = json.dumps(configmod.public(_current(ctx)))
    return body, 200, {"Content-Type": "application/json",
                       "Content-Disposition": 'attachment; filename="hpmon-config.json"'}


def wifi_scan(ctx):
    if ctx.wifi is None:
        return {"error": "Wi-Fi is not running"}, 503
    return {"networks": ctx.wifi.scan()}


def totals(ctx, doc):
    analytics = ctx.services.get("analytics")
    if analytics is None:
        return {"error": "analytics is not running"}, 409
    name = doc.get("name")
    value = doc.get("register_wh" if doc.get("replace_meter") else "wh")
    if not isinstance(name, str) or not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return {"errors": {"wh": "a whole number of Wh, 0 or more, and the total's name"}}, 400
    reason = str(doc.get("reason") or "set from the settings page")[:60]
    try:
        if doc.get("replace_meter"):
            audit = analytics.replace_meter(name, value, reason)
        else:
            audit = analytics.set_total(name, value, reason)
    except (KeyError, ValueError) as exc:
        return {"errors": {"name": "unknown total %r (%s)" % (name, exc)}}, 400
    return {"audit": audit, "totals": analytics.state()["totals"]}


def dtcheck_apply(ctx):
    """Add the learned flow-minus-return offset to the return sensor's offset (by hand only).

    The offset was learned with the running configuration's offsets, so it corrects those (not
    a saved one waiting for the restart): applying twice before the restart does not double it."""
    if configmod.heat_temperatures(ctx.cfg) == "meter":
        # the offset was learned from the meter's own flow/return: no DS18B20 to correct
        return {"error": "flow/return temperatures come from the heat meter (heat.temperatures): "
                         "no DS18B20 offset to apply"}, 409
    offset = ctx.store.value("heatpump_dt_offset")
    if offset is None:
        return {"error": "no offset learned yet"}, 409
    ow = ctx.cfg["onewire"]
    rom = None
    for rom_hex, role in ow["roles"].items():
        if role == "heatpump_returnT":
            rom = rom_hex
    if rom is None:
        return {"error": "the return temperature is not a DS18B20 with the heatpump_returnT role"}, 409
    new = round(ow["offsets"].get(rom, 0) + offset, 2)
    # a free-keyed setting: the overlay replaces it whole, so start from the saved one
    offsets = _copy(_current(ctx)["onewire"]["offsets"])
    offsets[rom] = new
    result = _apply(ctx, {"onewire": {"offsets": offsets}}, "flow/return offset %+.2f K" % offset)
    if isinstance(result, dict):
        result["rom"] = rom
        result["offset"] = new
    return result


def restart(ctx):
    import asyncio
    asyncio.create_task(_restart_soon(ctx))
    ctx.log.warning("restart requested from the web page")
    return {"restarting": True}


async def _restart_soon(ctx):
    import asyncio
    await asyncio.sleep_ms(500)  # let the answer leave first
    from firmware import app, board
    app.flush_all(ctx)
    board.reset()
