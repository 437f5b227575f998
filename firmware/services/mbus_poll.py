"""The M-Bus service's scan, poll and publish steps (firmware/services/mbus.py).

Imported for one poll or scan together with the master driver and dropped from the
heap again afterwards, so only the service's meters and its run loop stay resident.
Functions take the MBusService as `self`.
"""
import asyncio
import time

from firmware.services.mbus import _CHANNELS, Meter

ADDR_NETWORK = 0xFD
PAGE_SETTLE_MS = 300  # the seed firmware and emonhub wait >= 300 ms after a Sontex page select
# stop following telegrams once these are known (saves bus time and battery)
_ENOUGH = ("energy_wh", "power_w", "flow_t", "return_t", "flow_m3h", "volume_m3")
_HEAT = ("heatpump_heat", "heatpump_heat_wh", "heatpump_heat_kwh", "heatpump_flowrate")
_TEMPS = ("heatpump_flowT", "heatpump_returnT")


async def scan(self, master, mode):
    """The address scan (scan mode "secondary" or "primary") of service `self`."""
    self.log.info("mbus: %s address scan started" % mode)
    self.found = []

    def found(hdr, a):
        ident = hdr.get("id")
        entry = {"address": a, "id": ident, "manufacturer": hdr.get("manufacturer"),
                 "version": hdr.get("version"), "medium": hdr.get("medium")}
        self.found.append(entry)
        self.log.info("mbus: found meter id %s (%s, medium 0x%02x) at address %d" % (
            ident, entry["manufacturer"], entry["medium"] or 0, a))

    if mode == "secondary":
        n = await master.search(found)
    else:
        n = await master.scan_primary(found)
    self.log.info("mbus: scan found %d meter(s)" % n)
    self.store.update("mbus_meters_found", n, "", "ok", self.clock.ticks(), self.clock.wall())
    if not self.meters:  # nothing configured: poll whatever the scan found
        now = time.ticks_ms()
        for e in self.found:
            ident = e["id"]
            if mode == "secondary" and isinstance(ident, int):
                spec = {"secondary_id": "%08d" % ident}
            else:
                spec = {"address": e["address"]}
            self.meters.append(Meter(spec, self.cfg["baud"], self.poll_s, now))
        if self.source == "" and self.meters:
            self.source = self.meters[0].name


async def exchange(self, mm, master, m):
    """Select/reset, page and read one meter: (status, values)."""
    master.set_baud(m.baud)
    if m.secondary:
        a = ADDR_NETWORK
        st = await master.select(m.secondary)
    else:
        a = m.address
        st = await master.reset(a)
    if st == mm.OK and m.sontex:
        st = await master.page(a, m.page)
        if st == mm.OK:
            await asyncio.sleep_ms(PAGE_SETTLE_MS)
    out: dict = {}
    hdr = None
    if st == mm.OK:
        st, hdr = await master.read(a, out, self.cfg["max_telegrams"], _ENOUGH)
    if st == mm.OK and not out:
        st = "no heat values"
    if hdr is not None:
        m.ident = hdr.get("id", m.ident)
        m.manufacturer = hdr.get("manufacturer", m.manufacturer)
        if m.model == "auto" and m.manufacturer == "SON" and not m.sontex:
            m.sontex = True  # a Sontex Supercal: select its page from now on
    return st, out


def _set(self, name, value, unit, ticks, wall):
    if value is None:
        self.store.mark_unknown(name, "not sent by the meter")
    else:
        self.store.update(name, value, unit, "ok", ticks, wall)


def good(self, m, out):
    if m.fails:
        self.log.info("mbus: %s answers again after %d failed poll(s)" % (m.name, m.fails))
    m.fails = 0
    m.reads += 1
    m.status = "ok"
    ticks = self.clock.ticks()
    wall = self.clock.wall()
    ft = out.get("flow_t")
    rt = out.get("return_t")
    if "delta_t" not in out and ft is not None and rt is not None:
        out["delta_t"] = ft - rt
    q = out.get("flow_m3h")
    if q is not None:
        out["flow_m3h"] = q * 1000 / 60  # m³/h -> L/min
    for i in range(len(_CHANNELS)):
        key, _suffix, unit = _CHANNELS[i]
        _set(self, m.names[i], out.get(key), unit, ticks, wall)
    if m.name != self.source:
        return
    wh = out.get("energy_wh")
    _set(self, "heatpump_heat", out.get("power_w"), "W", ticks, wall)
    _set(self, "heatpump_heat_wh", wh, "Wh", ticks, wall)
    _set(self, "heatpump_heat_kwh", None if wh is None else wh / 1000, "kWh", ticks, wall)
    _set(self, "heatpump_flowrate", out.get("flow_m3h"), "L/min", ticks, wall)
    if self.meter_temps:
        _set(self, "heatpump_flowT", ft, "°C", ticks, wall)
        _set(self, "heatpump_returnT", rt, "°C", ticks, wall)


def failed(self, m, why):
    m.fails += 1
    m.status = why
    if m.fails == 1:
        self.log.warning("mbus: %s (address %s): %s" % (m.name, m.secondary or m.address, why))
    names = m.names
    if m.name == self.source:
        names = names + _HEAT + (_TEMPS if self.meter_temps else ())
    unknown = m.fails >= self.cfg["unknown_after"]
    channels = self.store.channels
    for name in names:
        if unknown:
            self.store.mark_unknown(name, why)
        else:
            ch = channels.get(name)
            if ch is not None and ch.value is not None:
                ch.status = "stale: " + why  # value and its old timestamp kept
