"""Electrical input services (issue 3): CT + AC-AC, pulse/S0, Elster A100C IrDA, Modbus SDM meter.

config.input_services() starts each one that is enabled; drivers are imported only then. The
CT service is here; the pulse, IrDA and Modbus services are in electric_meters.py (not loaded by
the typical CT-only configuration).

Channels (raw ones always stay; units in brackets):
- CT ("ct"): ct<n>_power [W] real power (with no AC-AC signal: apparent power at
  ct.fallback_vrms, status no_ac), ct<n>_wh [Wh] integer import energy, never negative,
  ct<n>_export_wh [Wh] (only with ct.export[n-1]), ct<n>_pf, ct<n>_irms [A], ct<n>_va [VA],
  vrms [V], freq [Hz].
- Pulse ("pulse"): pulse_power [W], pulse_wh [Wh].
- IrDA ("irda"): irda_wh [Wh] (the meter's import register), irda_power [W] (its rate of change).
- Modbus ("modbus"): modbus_power [W], modbus_voltage [V], modbus_current [A], modbus_va [VA],
  modbus_pf, modbus_freq [Hz], modbus_import_wh / modbus_export_wh [Wh] (the meter's registers).
- elec.source (ct1 | ct2 | ct3 | ct_sum | pulse | irda | modbus | none, default auto: the Modbus,
  IrDA or pulse meter if one is enabled, else the first CT) feeds heatpump_elec [W],
  heatpump_elec_wh [Wh] and heatpump_elec_kwh [kWh, = Wh / 1000].

Statuses (a value is None, i.e. unknown, unless said otherwise; each change is logged once):
- CT: ok; no_ac (AC-AC configured but no signal: apparent power, NOT counted as energy);
  apparent (ct.acac false: apparent power, counted); no_current (Irms within the ADC noise:
  CT unplugged or no load; power 0); saturated / nonlinear (ADC clipped / outside its linear
  range: value kept, it under-reads); disconnected (input far from the bias); unstable (irregular
  mains cycles); phase_range; no_data (no usable burst in the interval).
- Pulse: ok; no_pulses (none for pulse.timeout_s: power 0); waiting (fewer than two pulses yet).
- IrDA: ok; no_signal (no bytes for irda.timeout_s); garbage (bytes but no valid frame).
- Modbus: ok; no_answer; crc_error; exception (the meter refused the request); bad_frame.

CT sampling holds the scheduler for one burst (ct.burst_ms, default 50 ms) every
ct.burst_period_ms (500 ms), then processes it with awaits between PowerCalc's steps; each report
averages the bursts of its interval (about 20 x 80 sets at the defaults). See
firmware/drivers/ct_sampler.py.
"""
import asyncio
import time

OK = "ok"


class _Elec:
    """What the electrical services share: publishing, logging changes, the heatpump_elec mapping."""

    def __init__(self, ctx, name):
        self.name = name
        self.store = ctx.store
        self.log = ctx.log
        self.clock = ctx.clock
        self.interval_ms = ctx.cfg["interval_s"] * 1000
        from firmware.config import elec_source

        self.source = elec_source(ctx.cfg)
        self.max_silence_ms = self.interval_ms * 3 + 5000
        self._seen = {}

    def put(self, name, value, unit, status=OK):
        if value is None:
            self.store.channel(name, unit)
            self.store.mark_unknown(name, status)
        else:
            self.store.update(name, value, unit, status, self.clock.ticks(), self.clock.wall())

    def note(self, key, status, text=None):
        """Log a change of a channel's condition (once per change, not every interval)."""
        old = self._seen.get(key)
        if old == status:
            return
        self._seen[key] = status
        if status == OK:
            if old is not None:
                self.log.info("%s: ok again" % key)
        else:
            self.log.warning("%s: %s" % (key, text or status))

    def mapped(self, power, wh, status=OK, wh_status=None):
        """Publish the standard heatpump_elec channels from this source."""
        self.put("heatpump_elec", power, "W", status)
        ws = wh_status or status
        self.put("heatpump_elec_wh", None if wh is None else int(wh), "Wh", ws)
        self.put("heatpump_elec_kwh", None if wh is None else wh / 1000.0, "kWh", ws)


class CtService(_Elec):
    def __init__(self, ctx):
        _Elec.__init__(self, ctx, "ct")
        from firmware import ctpower
        from firmware.drivers.ct_sampler import CtSampler
        from firmware.energy import Energy

        cfg = self.cfg = ctx.cfg["ct"]
        self.inputs = sorted(cfg["inputs"])
        self.acac = cfg["acac"]
        board = ctx.board
        v = board.adc("vac") if self.acac else None
        upc = cfg["uv_per_count"] or ctpower.ADC_UV_PER_COUNT
        bias = int(cfg["bias_mv"] * 1000.0 / upc + 0.5)
        self.sampler = CtSampler(v, [board.adc("ct%d" % k) for k in self.inputs], cfg["set_us"], cfg["burst_ms"], bias)
        self.calibrated = cfg["uv_per_count"] != 0 or v is None
        self._setup(upc, bias)
        self.energy = [Energy(export=cfg["export"][k - 1], max_interval_ms=4 * self.interval_ms)
                       for k in self.inputs]
        self.burst_period = cfg["burst_period_ms"]
        self.max_silence_ms = self.interval_ms * 3 + self.burst_period + 5000
        self.hold_ms = 0  # scheduler hold in the current interval (bursts + processing)
        self.max_hold_ms = 0
        self.restarts = 0
        self.repaired = 0
        self._cal_tries = 0
        self.unmeasured_ms = 0  # time of intervals whose every burst was spoiled, not yet counted

    def _setup(self, upc, bias):
        from firmware import ctpower
        from firmware.drivers.ct_sampler import CtAverager

        cfg = self.cfg
        ks = self.inputs
        self.pc = ctpower.PowerCalc(
            len(ks), ical=[cfg["ical"][k - 1] for k in ks], ct_lead_deg=[cfg["lead_deg"][k - 1] for k in ks],
            vratio=cfg["vratio"], vt_lead_deg=cfg["vt_lead_deg"], uv_per_count=upc,
            fallback_vrms=cfg["fallback_vrms"], nominal_hz=cfg["nominal_hz"], bias_count=bias,
            noise_lsb=cfg["noise_lsb"], squelch=0)
        ik = [upc * 1e-6 * cfg["ical"][k - 1] for k in ks]
        self.avg = CtAverager(len(ks), ik, upc * 1e-6 * cfg["vratio"], cfg["noise_lsb"])
        self.upc = upc

    def _calibrate(self):
        """ADC slope and bias from read_uv() on the live AC-AC signal (retried while there is none)."""
        res = self.sampler.calibrate(bias_mv=self.cfg["bias_mv"])
        self._cal_tries += 1
        if res is None or not 500 <= res[0] <= 1100:
            if self._cal_tries == 1:
                self.log.warning(_text("no_cal", self.upc))
            return
        self.calibrated = True
        self._setup(res[0], res[1])
        self.log.info(_text("cal", res))

    def _warns(self, key, status):
        """note(key, status) would log a warning with its text (only then is it formatted)."""
        return status != OK and self._seen.get(key) != status

    def _hold(self, t0):
        d = time.ticks_diff(time.ticks_ms(), t0)
        self.hold_ms += d
        if d > self.max_hold_ms:
            self.max_hold_ms = d

    async def _burst(self):
        """One burst, processed; False when it had to be dropped (no even run with a whole cycle)."""
        s = self.sampler
        pc = self.pc
        avg = self.avg
        t0 = time.ticks_ms()
        k = s.burst()
        self.restarts += s.restarts
        self.repaired += s.repaired
        if not k:  # too few evenly spaced sets (interrupted)
            avg.dropped += 1
            self._hold(t0)
            return False
        for j in range(len(self.inputs)):
            pc.skew[j] = s.skew[j]
        pc.prepare(s.buf, k, s.period_us)
        ok = avg.add_v(pc)
        self._hold(t0)
        if not ok:
            return False
        for j in range(len(self.inputs)):
            await asyncio.sleep_ms(0)
            t0 = time.ticks_ms()
            pc.channel(j)
            avg.add_ct(pc, j)
            self._hold(t0)
        return True

    async def run(self, supervisor=None):
        period = self.burst_period
        last = time.ticks_ms()
        due = last
        retries = 0
        while True:
            if supervisor:
                supervisor.checkin(self.name)
            wait = time.ticks_diff(due, time.ticks_ms())
            if wait > 0:
                await asyncio.sleep_ms(wait)
            due = time.ticks_add(due, period)
            if time.ticks_diff(time.ticks_ms(), due) > 0:  # fell behind: no catching up
                due = time.ticks_add(time.ticks_ms(), period)
            if not self.calibrated and self._cal_tries % 120 == 0:
                self._calibrate()
            elif not self.calibrated:
                self._cal_tries += 1
            if await self._burst():
                retries = 0
            elif retries < 2:
                # dropped (interrupted, or no whole cycle): try again soon, twice at most
                retries += 1
                due = time.ticks_add(time.ticks_ms(), 2 * self.cfg["burst_ms"])
            now = time.ticks_ms()
            elapsed = time.ticks_diff(now, last)
            if elapsed >= self.interval_ms:
                last = now
                self.report(elapsed)

    def report(self, elapsed_ms):
        from firmware import ctpower
        from firmware.drivers.ct_sampler import NO_CURRENT, NO_DATA

        avg = self.avg
        cfg = self.cfg
        vb = avg.vbad
        ac = avg.w > 0
        if ac:
            vst = OK if vb in (None, ctpower.OK) else vb
            self.put("vrms", avg.vrms(), "V", vst)
            self.put("freq", avg.freq(), "Hz", vst)
        else:
            vst = NO_DATA if vb is None else (vb if vb != ctpower.OK else ctpower.NO_AC)
            if not self.acac:
                vst = "not_fitted"
            self.put("vrms", None, "V", vst)
            self.put("freq", None, "Hz", vst)
        if self.acac:
            self.note("vac", vst, _text("vac", vst, cfg["fallback_vrms"], ac) if self._warns("vac", vst) else None)
        n_ac = avg.ac_bursts
        n_na = avg.bursts - n_ac
        # An interval whose every burst was spoiled (interrupts; on the emulator a starved host) reads
        # unknown, and its time counts with the next interval that has bursts, at that one's mean power:
        # bursts only ever sample the time between them. Energy.add caps the span at 3 intervals.
        span_ms = elapsed_ms + self.unmeasured_ms
        self.unmeasured_ms = 0 if avg.bursts else min(span_ms, 3 * self.interval_ms)
        total = 0.0  # type: float | None
        total_wh = 0
        worst = OK
        for j in range(len(self.inputs)):
            k = self.inputs[j]
            ch = "ct%d" % k
            p, irms, va, pf, st, is_ac = avg.ct(j, cfg["fallback_vrms"])
            if is_ac and vb in (ctpower.SATURATED, ctpower.NONLINEAR) and st == ctpower.OK:
                st = vb
            if not is_ac and not self.acac and st in (ctpower.NO_AC, ctpower.OK):
                st = "apparent"
            e = self.energy[j]
            counted = p is not None and (is_ac or not self.acac) and st != ctpower.DISCONNECTED
            if counted and avg.bursts:
                e.add(p, span_ms * (n_ac if is_ac else n_na) // avg.bursts)
            self.put(ch + "_power", p, "W", st)
            self.put(ch + "_irms", irms, "A", st)
            self.put(ch + "_va", va, "VA", st)
            self.put(ch + "_pf", pf, "", st if pf is not None or st != OK else "no_current")
            wst = OK if counted else st
            self.put(ch + "_wh", e.wh, "Wh", wst)
            if e.export:
                self.put(ch + "_export_wh", e.export_wh, "Wh", wst)
            self.note(ch, st, _text("ct", st) if self._warns(ch, st) else None)
            if p is None:
                total = None
            elif total is not None:
                total += p
            total_wh += e.wh
            if st != OK and st != NO_CURRENT and worst == OK:
                worst = st
            if self.source == ch:
                self.mapped(p, e.wh, st, wst)
        if self.source == "ct_sum":
            self.mapped(total, total_wh, worst, OK if worst == OK else worst)
        if avg.dropped:
            self.log.debug("ct: %d bursts dropped, %d kept, %d restarts, %d sets interpolated"
                           % (avg.dropped, avg.bursts, self.restarts, self.repaired))
        if "first" not in self._seen:
            self._seen["first"] = 1
            spc = avg.sets_per_cycle()
            self.log.info("ct: %d bursts of %d sets (%s sets/cycle), %d window sets per report, "
                          "scheduler held %d ms of %d (longest %d ms)"
                          % (avg.bursts, self.sampler.nsets, "%.1f" % spc if spc else "?", int(avg.w + avg.wn),
                             self.hold_ms, elapsed_ms, self.max_hold_ms))
        self.hold_ms = 0
        self.max_hold_ms = 0
        self.restarts = 0
        self.repaired = 0
        avg.reset()


def _text(name, *args):
    """A log text from electric_text, which is imported only for the call (see there)."""

    from firmware.services import electric_text
    try:
        return getattr(electric_text, name)(*args)
    finally:
        from firmware.transient import forget
        forget("firmware.services.electric_text")
