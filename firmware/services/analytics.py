"""On-device analytics and persistent energy totals (config "analytics" and "totals").

Each reporting interval: reads heatpump_elec/heat/flowT/returnT/outsideT/flowrate from the
store, feeds the analytics engine (firmware/analytics_engine.py) and publishes its channels
(COP windows, state, starts, defrosts, Carnot, daily sums, flow/return self-check). At local
midnight the closed day goes to a ring of 64 fixed 84-byte slots in analytics_days.bin (one slot
rewritten in place) and, as JSON, to MQTT hpmon/<node>/daily (retained).

Totals: the store's update() is filtered for the energy channels of config (heatpump_elec_wh,
heatpump_heat_wh, their _kwh, ct<n>_wh, pulse_wh): the value an input service writes is its
raw counter or register, the value the store keeps (and MQTT / /api/state carry) is the
persistent total (firmware/analytics_persist.py): it never goes backwards and is never doubled
across reboots; a meter register wins. Totals live in NVS (one blob, throttled by
totals.min_change_wh / min_interval_s: docs/flash-wear.md) and, on every change, in RTC memory
(key "an" of the JSON dict that app.py shares), so a soft or watchdog reset loses nothing.
flush() writes everything on a graceful restart; set_total() corrects a total with an audit line
in the log and in totals_audit.log (firmware/analytics_files.py).
"""
import asyncio
import json
import time

from firmware.analytics_engine import CHANNELS, Analytics
from firmware.analytics_persist import Book
from firmware.rtcmem import RtcMemory

NVS_NAMESPACE = "hpmon"
NVS_TOTALS = "totals"
NVS_SNAP = "snap"
RTC_KEY = "an"
_BLOB_MAX = 640
# aliases whose value is the total of another channel, in kWh
KWH = {"heatpump_elec_kwh": "heatpump_elec_wh", "heatpump_heat_kwh": "heatpump_heat_wh"}


_FILES = "firmware.analytics_files"


def _files():
    """Boot/midnight/correction file work, imported for the moment (heap: see its docstring)."""
    return __import__(_FILES, None, None, ["load_ring"])


def _drop_files():
    from firmware.transient import forget
    for name in (_FILES, "firmware.analytics_summary", "firmware.analytics_tz"):
        forget(name)


def _hex(data):
    import binascii
    return binascii.hexlify(data).decode()


def _unhex(text):
    if not isinstance(text, str) or not text:
        return None
    import binascii
    try:
        return binascii.unhexlify(text)
    except ValueError:
        return None


class _Mean:
    """Time-weighted mean of a power channel between two analytics steps. Each reading holds
    from its own timestamp (ticks) until the next one, so when the input's and the analytics'
    intervals drift against each other a reading is never used twice or skipped (at a 5 kW
    start or defrost edge that would be 5 kW x one interval of energy)."""

    __slots__ = ("v", "t", "acc", "ms")

    def __init__(self):
        self.v = None
        self.t = None
        self.acc = 0.0
        self.ms = 0

    def _hold(self, until):
        if self.v is not None and self.t is not None:
            d = time.ticks_diff(until, self.t)
            if d > 0:
                self.acc += self.v * d
                self.ms += d
                self.t = until

    def put(self, value, ticks):
        self._hold(ticks)
        self.v = value
        self.t = ticks

    def take(self, now, stale_ms, known):
        """The mean since the last take, or None. known False: the channel is unknown now, so
        its last value is not held any further; a value is held at most stale_ms."""
        if known and self.t is not None:
            self._hold(now if time.ticks_diff(now, self.t) <= stale_ms else time.ticks_add(self.t, stale_ms))
        elif not known:
            self.v = None
        mean = self.acc / self.ms if self.ms > 0 else (self.v if known else None)
        self.acc = 0.0
        self.ms = 0
        if self.t is not None and time.ticks_diff(now, self.t) > 0 and known:
            self.t = now
        return mean


_MEANS = ("heatpump_elec", "heatpump_heat")


class AnalyticsService:
    def __init__(self, ctx):
        cfg = ctx.cfg
        self.ctx = ctx
        self.acfg = cfg["analytics"]
        tcfg = cfg["totals"]
        self.node = cfg["node"]
        self.store = ctx.store
        self.log = ctx.log
        self.clock = ctx.clock
        self.interval_ms = cfg["interval_s"] * 1000
        self.max_silence_ms = self.interval_ms * 3 + 5000
        self.stale_ms = max(self.interval_ms * 3, 30000)
        self.snapshot_s = tcfg["snapshot_s"]
        self.rtcmem = RtcMemory(ctx.board.rtc())
        self.nvs = None
        self.flash_error = None
        self.daily = None  # yesterday's summary (dict), also after a reboot
        self.daily_pending = None
        self._daily_conn = None
        self._snap_hex = ""
        self._snap_saved_s = None
        self._dhw_pin = None
        self._dhw_rule = None
        self._fed_wh = {}
        self._means = {}
        for name in _MEANS:
            self._means[name] = _Mean()
        # --- totals: NVS and RTC copies, before any input service publishes
        self.book = Book(tcfg["min_change_wh"], tcfg["min_interval_s"])
        files = _files()
        for name, kind, since_boot in files.totals_plan(cfg):
            if kind == "register":
                self.book.register(name)
            else:
                self.book.counter(name, since_boot)
        try:
            self.nvs = ctx.board.nvs(NVS_NAMESPACE)
        except Exception as exc:  # no esp32 module / NVS partition: RTC memory only
            self.flash_error = "no NVS: %r" % exc
            self.log.error("analytics: " + self.flash_error)
        rtc = self.rtcmem.load().get(RTC_KEY)
        rtc = rtc if isinstance(rtc, dict) else {}
        self.book.restore(self._nvs_get(NVS_TOTALS), _unhex(rtc.get("t")))
        # --- analytics: closed days from the ring, then today so far
        self.engine = Analytics.from_config(self.acfg)
        self.days_loaded, self.ring_status = files.load_ring(self.engine, self.log)
        snap = _unhex(rtc.get("s"))
        if snap and self.engine.restore(snap, True):
            self.log.info("analytics: today continued from RTC memory")
        else:
            snap = self._nvs_get(NVS_SNAP)
            if snap and self.engine.restore(snap, False):
                self.log.info("analytics: today continued from flash")
        if self.engine.yesterday is not None:
            self.daily = files.summary(self.engine.yesterday)
        files = None
        _drop_files()
        self._setup_dhw(ctx.board)
        self._install_filter()
        for name in self.book.items:
            self._publish_total(name)

    # ------------------------------------------------------------ NVS
    def _nvs_get(self, key):
        if self.nvs is None:
            return None
        buf = bytearray(_BLOB_MAX)
        try:
            n = self.nvs.get_blob(key, buf)
        except OSError:
            return None  # not written yet (ESP_ERR_NVS_NOT_FOUND) or unreadable
        return bytes(buf[:n])

    def _persist(self, graceful=False, snapshot=False):
        """Write the totals (and today's snapshot) to NVS when due. True when written."""
        now = self.clock.uptime_s()
        due = self.book.due(now, graceful)
        snap_due = snapshot or graceful or (due and (
            self._snap_saved_s is None or now - self._snap_saved_s >= self.snapshot_s))
        if not due and not snap_due:
            return False
        if self.nvs is None:
            return False
        try:
            if due:
                self.nvs.set_blob(NVS_TOTALS, self.book.flash_blob())
            if snap_due:
                self.nvs.set_blob(NVS_SNAP, self.engine.snapshot())
            self.nvs.commit()
        except OSError as exc:
            from firmware.errtext import describe  # on a failure only
            if self.flash_error is None:
                self.log.error("analytics: saving totals to flash failed: %s (kept in RTC memory)" % describe(exc))
            self.flash_error = describe(exc)
            return False
        if self.flash_error is not None:
            self.log.info("analytics: totals saved to flash again")
            self.flash_error = None
        if due:
            self.book.saved(now)
        if snap_due:
            self._snap_saved_s = now
        return True

    def _save_rtc(self):
        self.rtcmem.update(**{RTC_KEY: {"t": _hex(self.book.rtc_blob()), "s": self._snap_hex}})

    def flush(self):
        """Graceful restart/update: everything unsaved goes to flash now. True if written."""
        self._snap_hex = _hex(self.engine.snapshot())
        self._save_rtc()
        ok = self._persist(graceful=True)
        self.log.info("analytics: totals flushed" if ok else "analytics: nothing to flush")
        return ok

    prepare_restart = flush  # the MQTT "restart" command's graceful path calls this name

    # ------------------------------------------------------------ the store filter
    def _install_filter(self):
        store = self.store
        self._update = store.update
        store.update = self._filtered_update

    def _filtered_update(self, name, value, unit="", status="ok", ticks=None, wall=None):
        """store.update() for everyone: raw energy readings become persistent totals."""
        mean = self._means.get(name)
        if mean is not None:
            mean.put(value, time.ticks_ms() if ticks is None else ticks)
        if value is not None:
            if name in self.book.items:
                value, status = self._feed(name, value, True, status)
            elif name in KWH:
                wh = KWH[name]
                if wh in self.book.items:
                    if not self._fed_wh.get(wh):  # only the kWh is published: take it
                        self._feed(wh, int(value * 1000 + 0.5), False)
                    total = self.book.value(wh)
                    value = None if total is None else total / 1000
                    held = self.book.items[wh].status
                    if held.startswith("held"):
                        status = held
        return self._update(name, value, unit, status, ticks, wall)

    def _feed(self, name, raw, direct=True, status="ok"):
        """(persistent total, status): the input's status, unless the total holds its value."""
        if direct:
            self._fed_wh[name] = True
        before = self.book.value(name)
        total, held = self.book.feed(name, raw, self.clock.uptime_s())
        if total != before:
            self._save_rtc()
        return total, held if held != "ok" else status

    def _publish_total(self, name):
        total = self.book.value(name)
        if total is None:
            return
        item = self.book.items[name]
        ticks, wall = self.clock.ticks(), self.clock.wall()
        self._update(name, total, "Wh", item.status, ticks, wall)
        for kwh, wh in KWH.items():
            if wh == name:
                self._update(kwh, total / 1000, "kWh", item.status, ticks, wall)

    def set_total(self, name, wh, reason="set by hand"):
        """Set/correct a total (Wh; a *_kwh alias names its Wh total): an audit line in the
        log and totals_audit.log, a flash write at once. Returns the audit record."""
        key = KWH.get(name, name)
        return self._audited(key, self.book.set(key, int(wh), self.clock.wall(), reason))

    def replace_meter(self, name, register_wh, reason="meter replaced"):
        """A new meter whose register starts at register_wh: the total carries on."""
        key = KWH.get(name, name)
        return self._audited(key, self.book.replace_meter(key, int(register_wh), self.clock.wall(), reason))

    def _audited(self, key, audit):
        audit["name"] = key
        self.log.warning("totals: %s %s %s -> %s Wh (%s)" % (
            key, audit["action"], audit["old_wh"], audit["new_wh"], audit["reason"]))
        _files().audit(json.dumps(audit), self.log)
        _drop_files()
        self._save_rtc()
        self._persist()
        self._publish_total(key)
        return audit

    # ------------------------------------------------------------ the daily ring
    def _day_closed(self, rec):
        files = _files()
        err = files.write_day(rec)
        summary = files.summary(rec)
        files = None
        _drop_files()
        if err:
            self.ring_status = err
            self.log.error("analytics: could not store the day: " + err)
        self.daily = summary
        self.daily_pending = summary
        self.log.info("analytics: day %s closed: elec %d Wh, heat %d Wh, COP %s, %d starts, %d defrosts"
                      % (summary["date"], summary["elec_wh"], summary["heat_wh"], summary["cop"],
                         summary["starts"], summary["defrosts"]))
        self._persist(snapshot=True)

    def _publish_daily(self):
        """The day's summary, retained. A publish only reaches the MQTT service's send buffer,
        which a dropped link discards: so the newest summary goes out again after every
        reconnect (retained, the same message: harmless) until the next day closes."""
        mqtt = self.ctx.mqtt
        msg = self.daily_pending
        if mqtt is None:
            self.daily_pending = None  # MQTT is off: the summary stays in state() and the ring
            return
        conn = getattr(mqtt, "connects", None)
        if msg is None:
            if self.daily is None or conn is None or conn == self._daily_conn:
                return
            msg = self.daily  # the link was re-established since the summary was sent
        if not getattr(mqtt, "connected", False):
            return  # try again next interval
        topic = "hpmon/%s/daily" % self.node
        try:
            pub = getattr(mqtt, "publish_json", None)
            if pub is not None:
                ok = pub(topic, msg, True)
            else:
                mqtt.client.publish(topic.encode(), json.dumps(msg).encode(), True)
                ok = True
        except Exception as exc:  # the connection broke: the MQTT service reconnects
            self.log.warning("analytics: daily summary not sent: %r" % exc)
            return
        if ok is not False:
            if self.daily_pending is not None:
                self.log.info("analytics: daily summary published on " + topic)
            self.daily_pending = None
            self._daily_conn = conn

    # ------------------------------------------------------------ inputs
    def _setup_dhw(self, board):
        how = self.acfg.get("dhw", "none")
        if how == "gpio":
            self._dhw_pin = board.gpio_input(self.acfg.get("dhw_gpio", -1), what="analytics.dhw_gpio")
        elif how == "flow":
            from firmware.analytics_state import DhwFlowRule
            self._dhw_rule = DhwFlowRule(self.acfg["dhw_on_above_c"], self.acfg["dhw_off_below_c"])

    def _dhw(self, flow_t):
        how = self.acfg.get("dhw", "none")
        if how == "channel":
            return bool(self.store.value(self.acfg["dhw_channel"]))
        rule = self._dhw_rule
        if how == "flow" and rule is not None:
            return rule.update(flow_t)
        if how == "gpio" and self._dhw_pin is not None:
            return self._dhw_pin.value() == 0  # volt-free contact to GND, pulled up
        return None

    def _input(self, name, now):
        ch = self.store.channels.get(name)
        if ch is None or ch.value is None:
            return None
        if ch.ticks is not None and time.ticks_diff(now, ch.ticks) > self.stale_ms:
            return None  # its service stopped updating it
        return ch.value

    def _mean(self, name, now):
        return self._means[name].take(now, self.stale_ms, self._input(name, now) is not None)

    def step(self, dt_ms):
        """One reading: analytics update, channels, the day ring, totals to flash."""
        now = time.ticks_ms()
        wall = self.clock.wall()
        flow_t = self._input("heatpump_flowT", now)
        closed = self.engine.update(dt_ms, wall, self._mean("heatpump_elec", now),
                                    self._mean("heatpump_heat", now), flow_t,
                                    self._input("heatpump_returnT", now),
                                    self._input("heatpump_outsideT", now),
                                    self._input("heatpump_flowrate", now), self._dhw(flow_t))
        if closed is not None:
            self._day_closed(closed)
        values = self.engine.values()
        update = self._update
        store = self.store
        for name, unit in CHANNELS:
            v = values.get(name)
            if isinstance(v, str):
                continue  # numbers only on emon/<node>/<key>; the mode name is in state()
            if v is None:
                store.channel(name, unit)
                store.mark_unknown(name, "no data")
            else:
                update(name, v, unit, "ok", now, wall)
        self._snap_hex = _hex(self.engine.snapshot())
        self._save_rtc()
        self._persist()
        self._publish_daily()

    def state(self):
        """For the web API: totals, the flash state, yesterday's summary."""
        totals = {}
        for name, item in self.book.items.items():
            v = item.value()
            if v is not None:
                totals[name] = {"wh": v, "status": item.status}
        return {"totals": totals, "flash_error": self.flash_error, "ring": self.ring_status,
                "days": self.days_loaded, "mode": self.engine.values()["heatpump_mode"],
                "yesterday": self.daily}

    async def run(self, supervisor=None):
        last = time.ticks_ms()
        due = last
        while True:
            if supervisor:
                supervisor.checkin("analytics")
            now = time.ticks_ms()
            self.step(time.ticks_diff(now, last))
            last = now
            due = time.ticks_add(due, self.interval_ms)
            wait = time.ticks_diff(due, time.ticks_ms())
            if wait < 0:  # fell behind: no burst of catch-up readings
                due = time.ticks_ms()
                wait = 0
            await asyncio.sleep_ms(max(wait, 50))
