"""Read-only API handlers behind /api/history, /api/system, /api/meters, /api/sensors.

Imported by firmware/services/web.py for one request and dropped after it (heap).
Each takes the Context and returns plain data.
"""
import gc
import json

from firmware import version
from firmware.services.web import forward_stats

LOG_LINES = 30
# Decimal places per unit in /api/history: what a chart can show (a 4-hour view of 6 channels
# is then about 7 KB, inside the dashboard's 30 KB first load).
PLACES = {"W": 0, "°C": 1, "K": 2}


def history(ctx, args):
    """The history ring, oldest first: {"step_s", "t0": unix s of the first sample, "dt": [0, s since
    the sample before...], "series": {name: [...]}} (deltas: a reboot leaves a longer step)."""
    ring = ctx.store.history
    if ring is None:
        return {"error": "no history kept (web.history_points is 0)"}, 404
    wanted = args.get("channels")
    names = [n for n in wanted.split(",") if n in ring.names] if wanted else list(ring.names)
    since = None
    minutes = args.get("minutes")
    if minutes:
        try:
            minutes = int(minutes)
        except ValueError:
            return {"error": "minutes must be a whole number"}, 400
        now = ctx.clock.wall()
        if now is not None:
            since = now - minutes * 60
    positions = list(ring.indices(since))
    from firmware.store import HISTORY_EPOCH
    times = [ring.times[j] + HISTORY_EPOCH for j in positions]
    series = {}
    for name in names:
        ch = ctx.store.channels.get(name)
        places = PLACES.get(ch.unit if ch else "", 2)
        series[name] = [None if v is None else (int(round(v)) if places == 0 else round(v, places))
                        for v in ring.series(name, positions)]
    doc = {"step_s": ctx.cfg["web"]["history_s"], "t0": times[0] if times else None,
           "dt": [0] + [b - a for a, b in zip(times, times[1:])] if times else [], "series": series}
    from microdot import Response
    return Response(json.dumps(doc, separators=(",", ":")), headers={"Content-Type": "application/json"})


def system(ctx):
    sup = ctx.supervisor
    gc.collect()
    doc = {
        "node": ctx.cfg["node"], "version": version.VERSION, "uptime_s": ctx.clock.uptime_s(),
        "time": ctx.clock.wall(), "reset_cause": ctx.reset_cause, "safe_mode": ctx.safe_mode,
        "free_heap": gc.mem_free(),
        "min_free_heap": sup.min_free_heap if sup else None,
        "longest_stall_ms": sup.longest_stall_ms if sup else None,
        "config_errors": ctx.config_errors, "failed_services": ctx.failed,
        "restart_needed": ctx.pending_cfg is not None,
        "services": sorted(ctx.services),
        "forward": forward_stats(ctx),
        "log": ctx.log.tail(LOG_LINES),
        "log_errors": ctx.log.errors,
    }
    if ctx.wifi is not None:
        doc["wifi"] = ctx.wifi.state()
    mqtt = ctx.services.get("mqtt")
    if mqtt is not None:
        st = mqtt.state()
        doc["mqtt"] = {k: st.get(k) for k in ("connected", "published", "failures", "connects", "error")}
    emon = ctx.services.get("emoncms")
    if emon is not None:
        doc["emoncms"] = emon.state()
    analytics = ctx.services.get("analytics")
    if analytics is not None:
        st = analytics.state()
        doc["analytics"] = {"flash_error": st.get("flash_error"), "ring": st.get("ring"), "days": st.get("days"),
                            "yesterday": st.get("yesterday")}
    return doc


def meters(ctx):
    doc = {}
    mbus = ctx.services.get("mbus")
    if mbus is not None:
        doc["mbus"] = mbus.state()
        # every record of each meter, as published (<meter name>_<record>)
        records = {}
        for meter in doc["mbus"]["meters"]:
            prefix = meter["name"] + "_"
            records[meter["name"]] = {ch.name[len(prefix):]: {"value": ch.value, "unit": ch.unit,
                                                            "status": ch.status}
                                      for ch in ctx.store.channels.values() if ch.name.startswith(prefix)}
        doc["records"] = records
    for name in ("modbus", "irda", "pulse"):
        svc = ctx.services.get(name)
        if svc is not None:
            state = getattr(svc, "state", None)
            doc[name] = state() if state else {"running": True}
    return doc


def _channel(ctx, name):
    ch = ctx.store.channels.get(name)
    return None if ch is None else {"value": ch.value, "unit": ch.unit, "status": ch.status}


def sensors(ctx):
    """DS18B20 sensors with roles and offsets, CT calibration, the flow/return self-check."""
    from firmware.config import ROLES
    cfg = ctx.cfg
    sensors = []
    temps = ctx.services.get("temperatures")
    seen = set()
    if temps is not None:
        for bus in temps.buses:
            for rom in bus.roms:
                rom_hex = "".join("%02x" % b for b in rom)
                seen.add(rom_hex)
                sensors.append(_sensor(ctx, rom_hex, bus.gpio, bus.error))
    for rom_hex in cfg["onewire"]["roles"]:  # assigned but not on any bus now
        if rom_hex not in seen:
            sensors.append(_sensor(ctx, rom_hex, None, "not found"))
    cts = []
    ct = cfg["ct"]
    for n in ct["inputs"] if ct["enabled"] else ():
        cts.append({"ct": n, "ical": ct["ical"][n - 1], "lead_deg": ct["lead_deg"][n - 1],
                    "power": _channel(ctx, "ct%d_power" % n), "irms": _channel(ctx, "ct%d_irms" % n),
                    "pf": _channel(ctx, "ct%d_pf" % n)})
    return {"onewire": sensors, "roles": list(ROLES),
            "ct": {"inputs": cts, "vratio": ct["vratio"], "acac": ct["acac"], "vrms": _channel(ctx, "vrms"),
                   "freq": _channel(ctx, "freq")} if ct["enabled"] else None,
            "dtcheck": {"offset_k": ctx.store.value("heatpump_dt_offset"),
                        "samples": ctx.store.value("heatpump_dt_offset_n")}}


def _sensor(ctx, rom_hex, gpio, error):
    ow = ctx.cfg["onewire"]
    ch = ctx.store.channels.get("t_" + rom_hex)
    return {"rom": rom_hex, "bus": gpio, "role": ow["roles"].get(rom_hex, ""),
            "offset": ow["offsets"].get(rom_hex, 0), "value": ch.value if ch else None,
            "status": error or (ch.status if ch else "no data")}
