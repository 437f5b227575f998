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

OK = "ok"  # mbus_master.OK
# The poll/scan steps (services/mbus_poll), the master driver, the frame and the record
# codec (~35 KB of heap on the emulator) are imported for one poll or scan and dropped
# again afterwards: between polls the service keeps only its meters and run loop.
# Reloading costs a flash read of ~22 KB of .mpy per poll (~25-45 ms on the ESP32), small
# next to the >= 300 ms of bus time a poll takes at 2400 Bd. (Their qstrs, ~7 KB, stay
# interned after the first poll: MicroPython never frees them.)
_TRANSIENT = (("firmware.services", "mbus_poll"), ("firmware.drivers", "mbus_master"),
              ("firmware", "mbus_frame"))
# heat_summary key, channel suffix, unit
_CHANNELS = (("energy_wh", "_energy_wh", "Wh"), ("power_w", "_power", "W"),
             ("flow_t", "_flowT", "°C"), ("return_t", "_returnT", "°C"),
             ("delta_t", "_deltaT", "K"), ("flow_m3h", "_flowrate", "L/min"),
             ("volume_m3", "_volume", "m³"))


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
        self.uart = ctx.board.uart(2, "mbus_tx", "mbus_rx", self.cfg["baud"], bits=8, parity=0, stop=1)
        self.master = None  # an MBusMaster only while a poll or scan runs
        self.requests = 0
        self.failures = 0

    def _open(self):
        """Load the poll steps and the master driver, and make a master on the UART:
        (mbus_poll module, mbus_master module, master)."""
        from firmware.drivers import mbus_master as mm
        from firmware.services import mbus_poll
        self.master = mm.MBusMaster(self.uart, self.cfg["baud"], self.cfg["timeout_ms"],
                                    self.cfg["retries"], self._checkin)
        return mbus_poll, mm, self.master

    def _close(self):
        """Keep the master's counters, then drop it and its modules from the heap."""
        import sys
        master = self.master
        if master is not None:
            self.requests += master.requests
            self.failures += master.failures
            self.master = None
        mm = sys.modules.get("firmware.drivers.mbus_master")
        if mm is not None:
            mm.drop_codec()
        from firmware.transient import forget
        for pkg, name in _TRANSIENT:
            forget(pkg + "." + name)

    def _checkin(self):
        if self.supervisor is not None:
            self.supervisor.checkin("mbus")

    def state(self):
        """Meters and scan results, for the web API."""
        return {"meters": [m.state() for m in self.meters], "found": self.found,
                "requests": self.requests + (self.master.requests if self.master else 0),
                "failures": self.failures + (self.master.failures if self.master else 0)}

    # ------------------------------------------------------------ scan
    async def _scan(self, mode):
        if self.uart is None:
            return
        try:
            poll, _mm, master = self._open()
            await poll.scan(self, master, mode)
        finally:
            self._close()

    # ------------------------------------------------------------ polling
    async def _poll(self, m):
        if self.uart is None:
            return
        try:
            poll, mm, master = self._open()
            st, out = await poll.exchange(self, mm, master, m)
            if st == OK:
                poll.good(self, m, out)
            else:
                poll.failed(self, m, st)
        finally:
            self._close()

    async def run(self, supervisor=None):
        self.supervisor = supervisor
        if self.uart is None:
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
