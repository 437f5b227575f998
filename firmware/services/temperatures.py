"""Reads every DS18B20 on every configured 1-Wire bus each reporting interval.

Raw channels are named by ROM code (t_<romhex>), so swapping sensors never
reshuffles names; config assigns roles (heatpump_flowT, ...) and offsets.
When config.heat_temperatures() says the M-Bus meter provides heatpump_flowT and
heatpump_returnT, those two roles are not published here (t_<rom> still is), so two
sources never fight over one channel. A bus that fails (stuck low, no pull-up) marks its
sensors unknown with the reason at once; lost and found sensors are logged.
"""
import asyncio

from firmware import config as configmod
from firmware.drivers.ds18b20 import DS18B20Bus, forget_rules

RESCAN_EVERY = 6  # cycles: a hot-plugged sensor appears within a minute at 10 s


class TemperatureService:
    def __init__(self, ctx):
        self.cfg = ctx.cfg["onewire"]
        self.interval_ms = ctx.cfg["interval_s"] * 1000
        self.max_silence_ms = self.interval_ms * 3 + 5000
        self.store = ctx.store
        self.log = ctx.log
        self.clock = ctx.clock
        self.buses = [DS18B20Bus(gpio, ow, self.cfg.get("resolution", 12), self.cfg.get("retries", 2))
                      for gpio, ow in ctx.board.onewire_buses()]
        self.skip_roles: tuple = ()
        if configmod.heat_temperatures(ctx.cfg) == "meter":
            self.skip_roles = ("heatpump_flowT", "heatpump_returnT")
        self.cycle = 0

    def _rescan(self):
        for bus in self.buses:
            added, lost = bus.scan()
            for name in added:
                self.log.info("1-wire: sensor %s found on GPIO %d" % (name, bus.gpio))
            for name in lost:
                self.log.warning("1-wire: sensor %s lost from GPIO %d%s" % (
                    name, bus.gpio, (" (" + bus.error + ")") if bus.error else ""))
                self._publish(name, None, bus.error or "sensor lost")

    def _publish(self, rom, value, status):
        offset = self.cfg["offsets"].get(rom, 0)
        if value is not None:
            value = value + offset
        names = ["t_" + rom]
        role = self.cfg["roles"].get(rom)
        if role and role not in self.skip_roles:
            names.append(role)
        for name in names:
            if value is None:
                self.store.mark_unknown(name, status)
                self.store.channel(name, "°C")
            else:
                self.store.update(name, value, "°C", "ok", self.clock.ticks(), self.clock.wall())

    async def run(self, supervisor=None):
        while True:
            if supervisor:
                supervisor.checkin("temperatures")
            if self.cycle % RESCAN_EVERY == 0:
                self._rescan()
            self.cycle += 1
            started = []
            for bus in self.buses:
                if bus.start_conversion():
                    started.append(bus)
                elif bus.error:  # the bus failed: its last values are no longer the truth
                    from firmware.ds18b20_rules import rom_hex  # dropped again below
                    for rom in bus.roms:
                        self._publish(rom_hex(rom), None, bus.error)
            wait_ms = max([bus.conversion_ms() for bus in started] or [0])
            await asyncio.sleep_ms(wait_ms)
            for bus in started:
                for rom, value, status in bus.read():
                    self._publish(rom, value, status)
            forget_rules()  # the reading rules leave the heap until the next cycle
            await asyncio.sleep_ms(max(self.interval_ms - wait_ms, 100))
