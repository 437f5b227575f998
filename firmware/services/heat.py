"""Heat from a Grundfos/Sika VFS flow sensor and the DS18B20 flow/return temperatures.

Every second the service reads `vfs.samples` ADC samples of the flow and temperature outputs
(board.adc("vfs_flow"/"vfs_temp"), eFuse-calibrated read_uv); each reporting interval it
averages them (firmware/vfs.py: divider, zero-flow threshold, range and clipping checks) and
computes heat power with firmware/heat.py (water or glycol, flow meter on the flow or return
side). Temperatures come from the DS18B20s whose roles are heatpump_flowT/heatpump_returnT
(their t_<rom> channels, offsets applied); the VFS's own temperature stands in for the pipe
it sits in when that role is not assigned.

Channels: vfs_flowrate (L/min), vfs_temp (°C), vfs_heat (W), vfs_heat_wh / vfs_cool_wh
(integer Wh of heating / of cooling and defrost, counted since boot), and, when
config.heat_source() is "vfs": heatpump_heat, heatpump_heat_wh, heatpump_heat_kwh,
heatpump_flowrate. When an M-Bus meter is configured too, heat_source_diff_pct is
100 x (VFS heat - meter heat) / meter heat while the meter reports at least heat.diff_min_w.
"""
import asyncio
import time

from firmware import config as configmod
from firmware import heat as heatmath
from firmware import vfs as vfsmod

SAMPLE_EVERY_MS = 1000


class HeatService:
    def __init__(self, ctx):
        cfg = ctx.cfg
        v = cfg["vfs"]
        h = cfg["heat"]
        self.store = ctx.store
        self.log = ctx.log
        self.clock = ctx.clock
        self.interval_ms = cfg["interval_s"] * 1000
        self.max_silence_ms = self.interval_ms + 10000
        zero = v["zero_lpm"]
        # config "divider" is pin volts / sensor volts (the board's 0.66); vfs.Vfs wants the inverse
        self.vfs = vfsmod.Vfs(flow_range=v["flow_range"], divider=1.0 / v["divider"],
                              zero_lpm=None if zero < 0 else zero, clip_mv=v["clip_mv"])
        self.samples = v["samples"]
        self.adc_flow = ctx.board.adc("vfs_flow")
        self.adc_temp = ctx.board.adc("vfs_temp")
        self.side = h["flow_meter_side"]
        self.calc = heatmath.HeatCalc(fluid=h["fluid"], glycol_pct=h["glycol_pct"], meter=self.side,
                                      unit="l/min")
        self.energy = heatmath.WhIntegrator()
        self.is_source = configmod.heat_source(cfg) == "vfs"
        self.diff_min_w = h["diff_min_w"]
        meter = configmod.heat_meter(cfg) if configmod.mbus_active(cfg) else ""
        self.meter_power = (meter + "_power") if meter else None
        self.flow_ch = self.return_ch = None
        if cfg["onewire"]["enabled"]:
            for rom, role in cfg["onewire"]["roles"].items():
                if role == "heatpump_flowT":
                    self.flow_ch = "t_" + rom
                elif role == "heatpump_returnT":
                    self.return_ch = "t_" + rom
        self._clear()

    def _clear(self):
        self.n = 0
        self.flow_sum = 0
        self.temp_sum = 0
        self.flow_clip = False
        self.temp_clip = False

    def _sample(self):
        """One burst of ADC samples into the running sums (ints: mV at the pin)."""
        top = self.vfs.clip_mv
        af = self.adc_flow
        at = self.adc_temp
        for _ in range(self.samples):
            if af is not None:
                mv = af.read_uv() // 1000
                self.flow_sum += mv
                if mv >= top:
                    self.flow_clip = True
            if at is not None:
                mv = at.read_uv() // 1000
                self.temp_sum += mv
                if mv >= top:
                    self.temp_clip = True
            self.n += 1

    def _mean_volts(self, total, clipped, present):
        """(sensor-side volts or None, status) of the interval's samples."""
        if not present:
            return None, "no ADC pin"
        if not self.n:
            return None, "no_samples"
        if clipped:
            return None, "clipped"
        return total / self.n * self.vfs.divider / 1000.0, "ok"

    def _fresh(self, name, now):
        """Value of a channel updated within the last few intervals, else None."""
        ch = self.store.channels.get(name) if name else None
        if ch is None or ch.value is None or ch.ticks is None:
            return None
        if time.ticks_diff(now, ch.ticks) > 3 * self.interval_ms + 5000:
            return None
        return ch.value

    def _put(self, name, value, unit, status, ticks, wall):
        if value is None:
            self.store.mark_unknown(name, status)
            self.store.channel(name, unit)
        else:
            self.store.update(name, value, unit, status, ticks, wall)

    def _compute(self, dt_ms):
        ticks = self.clock.ticks()
        wall = self.clock.wall()
        volts, st = self._mean_volts(self.flow_sum, self.flow_clip, self.adc_flow is not None)
        flow, fst = (None, st) if volts is None else self.vfs.flow_from_volts(volts)
        volts, st = self._mean_volts(self.temp_sum, self.temp_clip, self.adc_temp is not None)
        vtemp, tst = (None, st) if volts is None else self.vfs.temp_from_volts(volts)
        self._clear()
        # "zero" and "below_min" are known values with an informative status
        self._put("vfs_flowrate", flow, "L/min", fst, ticks, wall)
        self._put("vfs_temp", vtemp, "°C", tst, ticks, wall)
        t_flow = self._fresh(self.flow_ch, ticks)
        t_return = self._fresh(self.return_ch, ticks)
        if t_flow is None and self.flow_ch is None and self.side == "flow":
            t_flow = vtemp
        if t_return is None and self.return_ch is None and self.side == "return":
            t_return = vtemp
        why = "ok"
        if flow is None:
            power = None
            why = "flow: " + fst
        elif flow == 0.0:
            power = 0.0  # no flow, no heat, whatever the temperatures
        elif t_flow is None or t_return is None:
            power = None
            why = "no flow temperature" if t_flow is None else "no return temperature"
        else:
            power = self.calc.power_w(flow, t_flow, t_return)
        self.energy.add(power, dt_ms)
        self._put("vfs_heat", power, "W", why, ticks, wall)
        self._put("vfs_heat_wh", self.energy.heat_wh, "Wh", "ok", ticks, wall)
        self._put("vfs_cool_wh", self.energy.cool_wh, "Wh", "ok", ticks, wall)
        if self.is_source:
            wh = self.energy.heat_wh
            self._put("heatpump_heat", power, "W", why, ticks, wall)
            self._put("heatpump_heat_wh", wh, "Wh", "ok", ticks, wall)
            self._put("heatpump_heat_kwh", wh / 1000, "kWh", "ok", ticks, wall)
            self._put("heatpump_flowrate", flow, "L/min", fst, ticks, wall)
            if self.flow_ch is None and self.side == "flow":
                self._put("heatpump_flowT", t_flow, "°C", tst, ticks, wall)
            if self.return_ch is None and self.side == "return":
                self._put("heatpump_returnT", t_return, "°C", tst, ticks, wall)
        if self.meter_power is not None:
            meter = self._fresh(self.meter_power, ticks)
            if power is None or meter is None:
                self._put("heat_source_diff_pct", None, "%", "no reading", ticks, wall)
            elif abs(meter) < self.diff_min_w:
                self._put("heat_source_diff_pct", None, "%", "idle", ticks, wall)
            else:
                self._put("heat_source_diff_pct", 100.0 * (power - meter) / meter, "%", "ok", ticks, wall)

    async def run(self, supervisor=None):
        last = time.ticks_ms()
        next_compute = time.ticks_add(last, self.interval_ms)
        while True:
            if supervisor:
                supervisor.checkin("heat")
            self._sample()
            now = time.ticks_ms()
            if time.ticks_diff(now, next_compute) >= 0:
                # a stalled loop must not invent energy: at most three intervals count
                dt = min(time.ticks_diff(now, last), 3 * self.interval_ms)
                last = now
                next_compute = time.ticks_add(next_compute, self.interval_ms)
                if time.ticks_diff(now, next_compute) >= 0:
                    next_compute = time.ticks_add(now, self.interval_ms)
                self._compute(dt)
            await asyncio.sleep_ms(SAMPLE_EVERY_MS)
