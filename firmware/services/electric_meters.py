"""Pulse/S0, Elster A100C IrDA and Modbus SDM services (issue 3); channels, statuses and the
heatpump_elec mapping are described in firmware/services/electric.py. Kept apart from the CT
service so the typical configuration (CT + AC-AC only) does not load them.
"""
import asyncio
import time

from firmware.services.electric import OK, _Elec


class PulseService(_Elec):
    def __init__(self, ctx):
        _Elec.__init__(self, ctx, "pulse")
        from firmware.drivers.pulse_counter import PulseInput, PulseMeter

        cfg = ctx.cfg["pulse"]
        self.inp = PulseInput(ctx.board, cfg["min_period_ms"])
        self.meter = PulseMeter(self.inp, cfg["wh_per_pulse"], cfg["imp_per_kwh"] or None, cfg["timeout_s"] * 1000)
        self.poll_ms = cfg["poll_ms"]
        if self.inp.mode == "pcnt":
            self.log.info("pulse: counting with machine.Counter (PCNT)")
        elif self.inp.mode == "irq":
            self.log.warning("pulse: no machine.Counter in this firmware (< 1.26): counting with Pin.irq")
        else:
            self.log.error("pulse: no pulse pin")

    async def run(self, supervisor=None):
        last = time.ticks_ms()
        while True:
            if supervisor:
                supervisor.checkin(self.name)
            now = time.ticks_ms()
            self.meter.poll(now)
            if time.ticks_diff(now, last) >= self.interval_ms:
                last = now
                self.report()
            await asyncio.sleep_ms(self.poll_ms)

    def report(self):
        m = self.meter
        p = m.interval_power()
        if p is None:
            st = "waiting"
        elif p == 0 and m.pp.power == 0:
            st = "no_pulses"
        else:
            st = OK
        self.put("pulse_power", p, "W", st)
        self.put("pulse_wh", m.wh, "Wh", OK)
        self.note("pulse", st, "no pulses for %d s" % (m.pp.timeout_ms // 1000) if st == "no_pulses" else None)
        if self.source == "pulse":
            self.mapped(p, m.wh, st, OK)


class IrdaService(_Elec):
    def __init__(self, ctx):
        _Elec.__init__(self, ctx, "irda")
        from firmware.drivers.elster_reader import ElsterInput, RegisterRate

        cfg = ctx.cfg["irda"]
        self.uart = ctx.board.ir_uart(1, 2400, cfg["invert"])
        self.inp = ElsterInput(cfg["max_jump_wh"])
        self.rate = RegisterRate()
        self.timeout_ms = cfg["timeout_s"] * 1000
        now = time.ticks_ms()
        self.last_rx = now
        self.last_good = None
        self.started = now
        self.wh = None
        self._good = 0
        self._bad = 0
        self._task = None

    async def _receive(self):
        sr = asyncio.StreamReader(self.uart)
        while True:
            data = await sr.read(128)
            if not data:
                continue
            now = time.ticks_ms()
            self.last_rx = now
            v = self.inp.feed(data)
            if v is not None:
                self.wh = v
                self.last_good = now
                self.rate.update(v, now)

    async def run(self, supervisor=None):
        self._task = asyncio.create_task(self._receive())
        while True:
            if supervisor:
                supervisor.checkin(self.name)
            await asyncio.sleep_ms(self.interval_ms)
            if self._task.done():  # the receiver died: let the service restart
                raise RuntimeError("irda: receiver stopped")
            self.report(time.ticks_ms())

    def report(self, now):
        good, bad, _ = self.inp.counts()
        new_good = good - self._good
        new_bad = bad - self._bad
        self._good = good
        self._bad = bad
        fresh = self.last_good is not None and time.ticks_diff(now, self.last_good) < self.timeout_ms
        if time.ticks_diff(now, self.last_rx) >= self.timeout_ms:
            st = "no_signal"
        elif new_bad and not new_good:
            st = "garbage"  # the last good values are kept (flagged) until irda.timeout_s
        elif fresh:
            st = OK
        elif time.ticks_diff(now, self.started) < self.timeout_ms:
            st = "waiting"
        else:
            st = "garbage"
        wh = self.wh if fresh else None
        # power as of the last good frame: garbage must not look like a register that stopped
        p = self.rate.power(self.last_good) if fresh else None
        self.put("irda_wh", wh, "Wh", st)
        self.put("irda_power", p, "W", st if p is not None or st != OK else "waiting")
        if st == "no_signal":
            text = "no data from the meter for %d s" % (self.timeout_ms // 1000)
        elif st == "garbage":
            text = "no valid frame in the last interval (%d bad frames so far)" % bad
        else:
            text = None
        if st != "waiting":
            self.note("irda", st, text)
        if st == OK and "polarity" not in self._seen:
            self._seen["polarity"] = 1
            self.log.info("irda: reading the meter (%s data)" % ("inverted" if self.inp.inverted else "plain"))
        if self.source == "irda":
            self.mapped(p, wh, st if p is not None or st != OK else "waiting", st)


# SDM630 per-line registers (firmware.modbus_rtu._SDM3 keys "l<n>_<key>") -> channel modbus_l<n>_<suffix>
_PHASE = (("voltage_v", "voltage", "V"), ("current_a", "current", "A"), ("power_w", "power", "W"),
          ("va", "va", "VA"), ("pf", "pf", ""))


class ModbusService(_Elec):
    def __init__(self, ctx):
        _Elec.__init__(self, ctx, "modbus")
        from firmware.drivers.modbus_meter import ModbusMeter

        cfg = ctx.cfg["modbus"]
        baud = cfg["baudrate"] or (9600 if cfg["model"] == "sdm630" else 2400)  # Eastron factory settings
        parity = {"none": None, "even": 0, "odd": 1}[cfg["parity"]]
        uart, de = ctx.board.rs485(1, baud, parity, cfg["stop"])
        self.meter = ModbusMeter(uart, de, cfg["model"], cfg["address"], baud, parity, cfg["stop"],
                                 cfg["timeout_ms"], cfg["retries"])
        self.max_silence_ms = self.interval_ms * 3 + (cfg["retries"] + 1) * (cfg["timeout_ms"] + 2000) + 5000
        self.phases = cfg["model"] == "sdm630"  # a three-phase meter: each line's values too
        self.log.info("modbus: %s at address %d, %d baud" % (cfg["model"], cfg["address"], baud))

    async def run(self, supervisor=None):
        from firmware.drivers.modbus_meter import MeterError

        while True:
            if supervisor:
                supervisor.checkin(self.name)
            t0 = time.ticks_ms()
            try:
                vals = await self.meter.read()
                st = OK
            except MeterError as exc:
                vals = None
                text = str(exc)
                st = ("crc_error" if text == "crc error" else "no_answer" if text == "no answer"
                      else "exception" if text.startswith("exception") else "bad_frame")
                self.note("modbus", st, "meter %d: %s (after %d tries)" % (self.meter.address, text,
                                                                            self.meter.retries + 1))
            self.report(vals, st)
            if vals is not None:
                self.note("modbus", OK)
            wait = self.interval_ms - time.ticks_diff(time.ticks_ms(), t0)
            await asyncio.sleep_ms(wait if wait > 100 else 100)

    def report(self, vals, st):
        g = vals.get if vals is not None else (lambda key: None)
        self.put("modbus_power", g("power_w"), "W", st)
        self.put("modbus_voltage", g("voltage_v"), "V", st)
        self.put("modbus_current", g("current_a"), "A", st)
        self.put("modbus_va", g("va"), "VA", st)
        self.put("modbus_pf", g("pf"), "", st)
        self.put("modbus_freq", g("freq_hz"), "Hz", st)
        self.put("modbus_import_wh", g("import_wh"), "Wh", st)
        self.put("modbus_export_wh", g("export_wh"), "Wh", st)
        if self.phases:
            for n in (1, 2, 3):
                for key, suffix, unit in _PHASE:
                    self.put("modbus_l%d_%s" % (n, suffix), g("l%d_%s" % (n, key)), unit, st)
        if self.source == "modbus":
            self.mapped(g("power_w"), g("import_wh"), st)
