"""SSR / volt-free control output (the V2 board's opto-coupler on pins.ssr).

The pin is driven to the safe state (ssr.safe_state) the moment it is created
at boot. Then, every second, firmware/ssr_logic.py decides: a command (MQTT
hpmon/<node>/set/ssr or the settings page through set()) until it times out
(ssr.timeout_s) or the schedule's next edge; else the daily schedule
(ssr.schedule, local time per analytics.tz); else the safe state. The state is the
channel "ssr" (0/1), so it is published with every other reading.
"""
import asyncio
import time

from firmware import ssr_logic


class SsrService:
    def __init__(self, ctx):
        self.cfg = ctx.cfg["ssr"]
        self.store = ctx.store
        self.log = ctx.log
        self.clock = ctx.clock
        self.max_silence_ms = 10000
        self.safe_on = self.cfg["safe_state"] == "on"
        self.invert = self.cfg["invert"]
        self.pin = ctx.board.output("ssr", value=self._level(self.safe_on))
        self.windows = ssr_logic.parse_schedule(self.cfg["schedule"]) if self.cfg["schedule"] else []
        self.tz = None
        if self.windows:
            # local time as the analytics' day roll-over sees it (analytics.tz, POSIX TZ)
            from firmware import analytics_tz, config
            self.tz = analytics_tz.Tz(config.get(ctx.cfg, "analytics.tz", "UTC0"))
        self.on = self.safe_on
        self.mode = "safe"
        self.commanded = None
        self.cmd_ticks = time.ticks_ms()
        self.cmd_sched = None
        self.source = ""
        self.changes = 0
        self._publish()

    def _level(self, on):
        return (0 if on else 1) if self.invert else (1 if on else 0)

    def _schedule_now(self):
        tz = self.tz
        t = self.clock.wall()
        if tz is None or t is None:
            return None
        local = tz.local(t)
        return ssr_logic.in_schedule(self.windows, local[3] * 60 + local[4])

    def command(self, on, source="mqtt"):
        """On/off from MQTT or the settings page; it holds until ssr.timeout_s
        passes without another command, or the schedule's next edge."""
        self.commanded = bool(on)
        self.cmd_ticks = time.ticks_ms()
        self.cmd_sched = self._schedule_now()
        self.source = source
        self.evaluate()

    set = command  # the settings page's name for it

    def evaluate(self):
        age_s = time.ticks_diff(time.ticks_ms(), self.cmd_ticks) // 1000
        on, mode = ssr_logic.decide(self.commanded, age_s, self.cfg["timeout_s"], self.cmd_sched,
                                    self._schedule_now(), self.safe_on)
        if mode != "command" and self.commanded is not None:
            if self.cfg["timeout_s"] and age_s >= self.cfg["timeout_s"]:
                self.log.warning("ssr: no command for %d s: %s" % (age_s, mode))
            self.commanded = None
        self.mode = mode
        if on != self.on:
            self.on = on
            self.changes += 1
            if self.pin is not None:
                self.pin.value(self._level(on))
            self.log.info("ssr: %s (%s)" % ("on" if on else "off", mode if mode != "command" else self.source))
        self._publish()

    def _publish(self):
        self.store.update("ssr", 1 if self.on else 0, "", "ok", self.clock.ticks(), self.clock.wall())

    def state(self):
        return {"on": self.on, "mode": self.mode, "source": self.source if self.mode == "command" else self.mode,
                "safe_state": self.cfg["safe_state"], "schedule": self.cfg["schedule"], "changes": self.changes}

    def prepare_restart(self):
        if self.pin is not None:
            self.pin.value(self._level(self.safe_on))

    async def run(self, supervisor=None):
        while True:
            if supervisor:
                supervisor.checkin("ssr")
            self.evaluate()
            await asyncio.sleep_ms(1000)
