"""Polls the wired M-Bus heat meters of config "mbus" on UART2 and publishes their values.

Channels per meter, prefixed mbus_<address>, mbus_<secondary id> or the meter's "name":
  _energy_wh  heat register, integer Wh (exact: no float on the way)
  _power      W;  _flowT, _returnT  °C;  _deltaT  K (the meter's own, else flowT - returnT)
  _flowrate   L/min (meters send m³/h; L/min is what the heat-pump dashboards show)
  _volume     m³
The meter that config.heat_meter() names also feeds heatpump_heat (W), heatpump_heat_wh
(integer Wh), heatpump_heat_kwh and heatpump_flowrate when config.heat_source() is "mbus",
and heatpump_flowT/returnT when config.heat_temperatures() is "meter".

A failed poll marks the meter's channels "stale: <why>" (value and old timestamp kept);
after mbus.unknown_after failed polls in a row they become unknown with the reason
(silent, checksum, truncated, garbage, ...): a stale value is never shown as fresh, and
an unknown one is never 0. Battery meters: give them a long poll_s.
"""
import asyncio
import time

from firmware import config as configmod
from firmware.drivers import mbus_master as mm

ADDR_NETWORK = 0xFD
PAGE_SETTLE_MS = 300  # the seed firmware and emonhub wait >= 300 ms after a Sontex page select
# stop following telegrams once these are known (saves bus time and battery)
_ENOUGH = ("energy_wh", "power_w", "flow_t", "return_t", "flow_m3h", "volume_m3")
# heat_summary key, channel suffix, unit
_CHANNELS = (("energy_wh", "_energy_wh", "Wh"), ("power_w", "_power", "W"),
             ("flow_t", "_flowT", "°C"), ("return_t", "_returnT", "°C"),
             ("delta_t", "_deltaT", "K"), ("flow_m3h", "_flowrate", "L/min"),
             ("volume_m3", "_volume", "m³"))
_HEAT = ("heatpump_heat", "heatpump_heat_wh", "heatpump_heat_kwh", "heatpump_flowrate")
_TEMPS = ("heatpump_flowT", "heatpump_returnT")


class Meter:
    """One meter on the bus: how to reach it, when to poll it, how it is doing."""

    def __init__(self, spec, baud, poll_s, now):
        self.address = spec.get("address", -1)
        self.secondary = spec.get("secondary_id", "")
        self.name = configmod.meter_name(spec)
        self.model = spec.get("model", "auto")
        self.sontex = self.model == "sontex"
        self.page = spec.get("page", 0)
        self.poll_ms = (spec.get("poll_s", 0) or poll_s) * 1000
        self.baud = spec.get("baud", 0) or baud
        self.names = tuple(self.name + c[1] for c in _CHANNELS)
        self.due = now
        self.fails = 0
        self.reads = 0
        self.status = "no data"
        self.ident = None
        self.manufacturer = None

    def state(self):
        return {"name": self.name, "address": self.address, "secondary_id": self.secondary,
                "id": self.ident, "manufacturer": self.manufacturer, "status": self.status,
                "reads": self.reads, "poll_s": self.poll_ms // 1000}


class MBusService:
    def __init__(self, ctx):
        cfg = ctx.cfg
        self.cfg = cfg["mbus"]
        self.store = ctx.store
        self.log = ctx.log
        self.clock = ctx.clock
        self.supervisor = None
        self.max_silence_ms = 30000  # the master checks in before every exchange
        poll_s = cfg["interval_s"]
        now = time.ticks_ms()
        self.meters = [Meter(spec, self.cfg["baud"], poll_s, now) for spec in self.cfg["meters"]]
        self.found = []  # scan results (for /api/meters): dicts of id, manufacturer, address, ...
        self.poll_s = poll_s
        self.source = configmod.heat_meter(cfg) if configmod.heat_source(cfg) == "mbus" else None
        self.meter_temps = configmod.heat_temperatures(cfg) == "meter"
        uart = ctx.board.uart(2, "mbus_tx", "mbus_rx", self.cfg["baud"], bits=8, parity=0, stop=1)
        self.master = None
        if uart is not None:
            self.master = mm.MBusMaster(uart, self.cfg["baud"], self.cfg["timeout_ms"],
                                        self.cfg["retries"], self._checkin)

    def _checkin(self):
        if self.supervisor is not None:
            self.supervisor.checkin("mbus")

    def state(self):
        """Meters and scan results, for the web API."""
        return {"meters": [m.state() for m in self.meters], "found": self.found,
                "requests": self.master.requests if self.master else 0,
                "failures": self.master.failures if self.master else 0}

    # ------------------------------------------------------------ scan
    async def _scan(self, mode):
        master = self.master
        if master is None:
            return
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

    # ------------------------------------------------------------ polling
    async def _poll(self, m):
        master = self.master
        if master is None:
            return
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
        if st == mm.OK:
            self._good(m, out)
        else:
            self._failed(m, st)

    def _set(self, name, value, unit, ticks, wall):
        if value is None:
            self.store.mark_unknown(name, "not sent by the meter")
        else:
            self.store.update(name, value, unit, "ok", ticks, wall)

    def _good(self, m, out):
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
            self._set(m.names[i], out.get(key), unit, ticks, wall)
        if m.name != self.source:
            return
        wh = out.get("energy_wh")
        self._set("heatpump_heat", out.get("power_w"), "W", ticks, wall)
        self._set("heatpump_heat_wh", wh, "Wh", ticks, wall)
        self._set("heatpump_heat_kwh", None if wh is None else wh / 1000, "kWh", ticks, wall)
        self._set("heatpump_flowrate", out.get("flow_m3h"), "L/min", ticks, wall)
        if self.meter_temps:
            self._set("heatpump_flowT", ft, "°C", ticks, wall)
            self._set("heatpump_returnT", rt, "°C", ticks, wall)

    def _failed(self, m, why):
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

    async def run(self, supervisor=None):
        self.supervisor = supervisor
        if self.master is None:
            self.log.error("mbus: no UART (pins.mbus_rx not set)")
            while True:
                self._checkin()
                await asyncio.sleep_ms(5000)
        if self.cfg["scan"] != "off":
            await self._scan(self.cfg["scan"])
        while True:
            self._checkin()
            now = time.ticks_ms()
            wait = 1000
            for m in self.meters:
                left = time.ticks_diff(m.due, now)
                if left <= 0:
                    m.due = time.ticks_add(m.due, m.poll_ms)
                    if time.ticks_diff(m.due, now) <= 0:  # fell behind: no burst of polls
                        m.due = time.ticks_add(now, m.poll_ms)
                    await self._poll(m)
                    wait = 0
                    now = time.ticks_ms()
                elif left < wait:
                    wait = left
            if wait:
                await asyncio.sleep_ms(wait)
