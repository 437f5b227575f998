"""On-device heat-pump analytics (pure): one update() per reading, channels out.

Composes the state machine, the per-day accumulators, the hour ring, the 7/30-day windows,
the smoothed COP and the flow/return self-check. Every reading's values stand for the dt_ms
before it (monotonic, from ticks_diff); wall_s (unix seconds, None before NTP) only places the
reading in a local day. An interval longer than max_gap_s [900 s, emoncms' gap-fill limit] is
a gap: no energy, counted as missing data. An interval that crosses local midnight is split at
midnight. Each interval's energy is turned into whole joules per category with its own
sub-joule carry (integer mJ), so every sum below is exact integer arithmetic.

Boot order for the service: load_day(rec) for each daily record in flash, then restore(snap)
with the last snapshot (RTC memory after a soft/WDT reset, else flash), then update() per
reading; update() returns the closed day's record at midnight (write it to the ring slot and
publish summary(rec)); snapshot() whenever the totals are saved.
"""
import struct

from firmware.analytics_cop import (
    H_DEFROSTS,
    H_ELEC,
    H_ELEC_RUN,
    H_HEAT,
    H_HEAT_RUN,
    H_STARTS,
    DayWindows,
    HourRing,
    SmoothedCop,
    carnot_cop,
    ratio,
)
from firmware.analytics_day import (
    C_DEFROST,
    C_DT_W,
    C_ELEC,
    C_ELEC_DHW,
    C_ELEC_RUN,
    C_FLOW_W,
    C_HEAT,
    C_HEAT_CARNOT,
    C_HEAT_DHW,
    C_HEAT_RUN,
    C_HEAT_W,
    C_IDEAL,
    C_OUT_BASE,
    C_OUT_W,
    EPOCH_DAY,
    R_CUM,
    R_DATE,
    R_ELEC,
    R_ELEC_RUN,
    R_HEAT,
    R_HEAT_RUN,
    SIZE,
    DayAcc,
    decode,
    encode,
)
from firmware.analytics_state import EV_DEFROST, EV_START, STATE_NAMES, StateMachine

UNIX_2020 = 1577836800
_SNAP_TAIL = "<IBB"  # snapshot wall time (s since 2020), state, flags
SNAPSHOT_SIZE = SIZE + 6
_F_COMPRESSOR = 1
_F_DEFROST = 2
_F_DATED = 4

# Channels proposed for the store / MQTT / /api/state: (name, unit).
CHANNELS = (
    ("heatpump_state", ""), ("heatpump_mode", ""),
    ("heatpump_cop", ""), ("heatpump_cop_hour", ""), ("heatpump_cop_run_hour", ""),
    ("heatpump_cop_today", ""), ("heatpump_cop_run_today", ""),
    ("heatpump_cop_space_today", ""), ("heatpump_cop_dhw_today", ""),
    ("heatpump_cop_yesterday", ""), ("heatpump_cop_run_yesterday", ""),
    ("heatpump_cop_7d", ""), ("heatpump_cop_run_7d", ""),
    ("heatpump_cop_30d", ""), ("heatpump_cop_run_30d", ""),
    ("heatpump_cop_lifetime", ""), ("heatpump_cop_run_lifetime", ""),
    ("heatpump_carnot_cop", ""), ("heatpump_carnot_pct", "%"), ("heatpump_carnot_pct_today", "%"),
    ("heatpump_starts_today", ""), ("heatpump_starts_hour", ""), ("heatpump_defrosts_today", ""),
    ("heatpump_runtime_today", "s"), ("heatpump_cycle_today", "s"),
    ("heatpump_elec_kwh_today", "kWh"), ("heatpump_heat_kwh_today", "kWh"),
    ("heatpump_standby_kwh_today", "kWh"), ("heatpump_defrost_kwh_today", "kWh"),
    ("heatpump_flowT_today", "°C"), ("heatpump_dT_today", "K"), ("heatpump_outsideT_today", "°C"),
    ("heatpump_quality_elec_today", "%"), ("heatpump_quality_heat_today", "%"),
    ("heatpump_dt_offset", "K"), ("heatpump_dt_offset_n", ""),
)


class LazyTz:
    """The local-time rules of a POSIX TZ string, parsed (firmware/analytics_tz.py) only when
    a day starts, at boot and at midnight: the parser is not kept in a WROOM-32's heap."""

    def __init__(self, spec):
        self.spec = spec
        self._call("local_day", 0)  # a bad spec raises TzError (a ValueError) now, not at midnight

    def _call(self, what, arg):
        import sys
        name = "firmware.analytics_tz"
        loaded = name in sys.modules
        from firmware.analytics_tz import Tz
        out = getattr(Tz(self.spec), what)(arg)
        if not loaded:
            from firmware.transient import forget
            forget(name)
        return out

    def local_day(self, t):
        return self._call("local_day", t)

    def day_start(self, day):
        return self._call("day_start", day)


def _dk(t):
    """Temperature in 0.1 K steps (int) for the weighted sums."""
    return int(t * 10 + (0.5 if t >= 0 else -0.5))


class Analytics:
    def __init__(self, tz=None, starting_power_w=150, hysteresis_w=20, off_w=5, min_on_s=0,
                 min_off_s=60, defrost_w=200, defrost_exit_s=60, cop_tau_s=300, max_gap_s=900,
                 cond_k=2.0, evap_k=-6.0, dtcheck=None, window_days=31):
        self.tz = tz if tz is not None else LazyTz("UTC0")
        self.on_w = starting_power_w
        self.max_gap_ms = max_gap_s * 1000
        self.cond_k = cond_k
        self.evap_k = evap_k
        self.sm = StateMachine(starting_power_w, hysteresis_w, off_w, min_on_s, min_off_s,
                               defrost_w, defrost_exit_s)
        self.smooth = SmoothedCop(cop_tau_s)
        self.hour = HourRing()
        self.windows = DayWindows(window_days)
        self.dtcheck = dtcheck
        self.day = DayAcc()
        self.next_midnight = None
        self.day_start = None
        self.wall = None
        self.yesterday = None
        self.last_date = -1  # newest closed day (days since 2020)
        self.life = [0, 0, 0, 0]  # closed days: elec, heat, elec_run, heat_run Wh
        self.dhw_seen = False
        self.carnot = None
        self._rem = [0] * (C_HEAT_W + 1)  # sub-joule carries, mJ
        self._mono_s = 0
        self._mono_ms = 0

    @classmethod
    def from_config(cls, cfg):
        """Build from the config section `analytics` (a dict; missing keys take defaults)."""
        g = cfg.get
        dt = g("dt_check", True)
        dtc = None
        if dt:
            from firmware.analytics_dtcheck import DtCheck  # only when configured

            dt = dt if isinstance(dt, dict) else {}
            dtc = DtCheck(g("starting_power_w", 150), dt.get("min_flow", 2.0),
                          dt.get("settle_s", 900), dt.get("sample_s", 120),
                          dt.get("max_rate_k_min", 0.05), dt.get("samples", 64),
                          dt.get("min_samples", 15))
        return cls(LazyTz(g("tz", "UTC0")), g("starting_power_w", 150), g("hysteresis_w", 20),
                   g("off_w", 5), g("min_on_s", 0), g("min_off_s", 60), g("defrost_w", 200),
                   g("defrost_exit_s", 60), g("cop_tau_s", 300), g("max_gap_s", 900),
                   g("carnot_cond_k", 2.0), g("carnot_evap_k", -6.0), dtc)

    # ---- per reading -------------------------------------------------------------------
    def update(self, dt_ms, wall_s, elec_w, heat_w, flow_t=None, return_t=None, outside_t=None,
               flow=None, dhw=None):
        """One reading. dhw: True/False from the configured DHW signal, None if there is none.
        Returns the record of a day that just closed, else None."""
        dt_ms = int(dt_ms) if dt_ms and dt_ms > 0 else 0
        ms = 0 if dt_ms > self.max_gap_ms else dt_ms
        self._mono_ms += dt_ms
        if self._mono_ms >= 1000:
            self._mono_s += self._mono_ms // 1000
            self._mono_ms %= 1000
        if dhw is not None:
            self.dhw_seen = True
        dhw = bool(dhw)
        self.carnot = carnot_cop(flow_t, outside_t, self.cond_k, self.evap_k)
        full_s = ms / 1000.0
        closed = None
        if wall_s is not None:
            self.wall = wall_s
            if self.next_midnight is None:
                closed = self._first_wall(wall_s)
            elif wall_s >= self.next_midnight:
                before = ms - int((wall_s - self.next_midnight) * 1000)
                before = max(0, min(ms, before))
                self._integrate(before, elec_w, heat_w, flow_t, return_t, outside_t, dhw)
                ms -= before
                closed = self._close()
                self._open(self.tz.local_day(wall_s))
        ev = self.sm.step(full_s, elec_w, heat_w, dhw)
        if ev & EV_START:
            self.day.starts += 1
            self.hour.add(self._mono_s, H_STARTS, 1)
            self.smooth.reset()
        if ev & EV_DEFROST:
            self.day.defrosts += 1
            self.hour.add(self._mono_s, H_DEFROSTS, 1)
        self._integrate(ms, elec_w, heat_w, flow_t, return_t, outside_t, dhw)
        self.smooth.update(full_s, elec_w, heat_w)
        if self.dtcheck is not None:
            self.dtcheck.update(full_s, elec_w, flow, flow_t, return_t)
        return closed

    def _j(self, cat, x):
        """x mJ (float) -> whole J for category cat, carrying the rest."""
        mj = int(x + 0.5) if x >= 0 else -int(0.5 - x)
        t = self._rem[cat] + mj
        q = t // 1000
        self._rem[cat] = t - q * 1000
        return q

    def _integrate(self, ms, elec, heat, flow_t, return_t, outside_t, dhw):
        if ms <= 0:
            return
        d = self.day
        mono = self._mono_s
        running = elec is not None and elec >= self.on_w
        if elec is not None:
            d.valid_elec_ms += ms
            x = (elec if elec > 0 else 0) * ms
            j = self._j(C_ELEC, x)
            d.add(C_ELEC, j)
            self.hour.add(mono, H_ELEC, j)
            if running:
                d.run_ms += ms
                j = self._j(C_ELEC_RUN, x)
                d.add(C_ELEC_RUN, j)
                self.hour.add(mono, H_ELEC_RUN, j)
                if self.carnot is not None and heat is not None:
                    d.add(C_IDEAL, self._j(C_IDEAL, x * self.carnot))
                    d.add(C_HEAT_CARNOT, self._j(C_HEAT_CARNOT, heat * ms))
            if dhw:
                d.add(C_ELEC_DHW, self._j(C_ELEC_DHW, x))
        if heat is None:
            return
        d.valid_heat_ms += ms
        x = heat * ms
        j = self._j(C_HEAT, x)
        d.add(C_HEAT, j)
        self.hour.add(mono, H_HEAT, j)
        if running:
            j = self._j(C_HEAT_RUN, x)
            d.add(C_HEAT_RUN, j)
            self.hour.add(mono, H_HEAT_RUN, j)
        if dhw:
            d.add(C_HEAT_DHW, self._j(C_HEAT_DHW, x))
        if heat < 0 and self.sm.compressor:
            d.add(C_DEFROST, self._j(C_DEFROST, -x))
        if heat > 0 and flow_t is not None and return_t is not None:
            w = self._j(C_HEAT_W, x)
            d.add(C_HEAT_W, w)
            d.add(C_FLOW_W, w * _dk(flow_t))
            d.add(C_DT_W, w * _dk(flow_t - return_t))
            if outside_t is not None:
                d.add(C_OUT_W, w * _dk(outside_t))
                d.add(C_OUT_BASE, w)

    # ---- days --------------------------------------------------------------------------
    def _open(self, day, acc=None):
        """Make `day` (days since 1970) current, with a fresh accumulator unless acc given."""
        self.day_start = self.tz.day_start(day)
        self.next_midnight = self.tz.day_start(day + 1)
        if acc is None:
            acc = DayAcc()
        acc.date = day - EPOCH_DAY
        acc.day_s = self.next_midnight - self.day_start
        self.day = acc

    def _first_wall(self, wall_s):
        day = self.tz.local_day(wall_s)
        closed = None
        date = self.day.date
        if date is not None:
            if date + EPOCH_DAY < day:
                closed = self._close()  # a restored day that has ended
            else:
                day = date + EPOCH_DAY  # restored today (or the clock is behind it)
        self._open(day, self.day)
        return closed

    def _cum(self):
        d = self.day
        return (self.life[0] + d.wh_of(C_ELEC), self.life[1] + d.wh_of(C_HEAT),
                self.life[2] + d.wh_of(C_ELEC_RUN), self.life[3] + d.wh_of(C_HEAT_RUN))

    def _close(self):
        rec = self.day.record(self._cum())
        self.load_day(rec)
        self.day = DayAcc()
        return rec

    def load_day(self, rec):
        """Feed a closed daily record (from the flash ring at boot, or a day just closed)."""
        self.windows.put(rec[R_DATE], rec[R_ELEC], rec[R_HEAT], rec[R_ELEC_RUN], rec[R_HEAT_RUN])
        if rec[R_DATE] > self.last_date:
            self.last_date = rec[R_DATE]
            self.yesterday = rec
            self.life = [rec[R_CUM], rec[R_CUM + 1], rec[R_CUM + 2], rec[R_CUM + 3]]

    # ---- persistence of today ----------------------------------------------------------
    def snapshot(self):
        """Today so far (SNAPSHOT_SIZE bytes) for RTC memory / flash."""
        d = self.day
        dated = d.date is not None
        rec = d.record(self._cum())
        t = 0 if self.wall is None else max(0, int(self.wall) - UNIX_2020)
        flags = ((_F_COMPRESSOR if self.sm.compressor else 0) | (_F_DEFROST if self.sm.defrost else 0)
                 | (_F_DATED if dated else 0))
        return encode(rec) + struct.pack(_SNAP_TAIL, t, self.sm.state, flags)

    def restore(self, snap, recent=False):
        """Continue today from a snapshot; recent=True (RTC memory after a soft/WDT reset)
        also continues a compressor run without counting a new start. False if unusable or
        the day is already closed in the ring."""
        if snap is None or len(snap) != SNAPSHOT_SIZE:
            return False
        rec = decode(snap)
        if rec is None:
            return False
        _t, _state, flags = struct.unpack(_SNAP_TAIL, bytes(snap[SIZE:]))
        dated = bool(flags & _F_DATED)
        if dated and rec[R_DATE] <= self.last_date:
            return False
        acc = DayAcc.from_record(rec)
        if not dated:
            acc.date = None
        self.day = acc
        prior = (rec[R_CUM] - rec[R_ELEC], rec[R_CUM + 1] - rec[R_HEAT],
                 rec[R_CUM + 2] - rec[R_ELEC_RUN], rec[R_CUM + 3] - rec[R_HEAT_RUN])
        for i in range(4):
            if prior[i] > self.life[i]:
                self.life[i] = prior[i]
        if recent:
            self.sm.restore(flags & _F_COMPRESSOR, flags & _F_DEFROST)
        return True

    # ---- outputs -----------------------------------------------------------------------
    def _today_elapsed_s(self):
        if self.wall is None or self.day_start is None:
            return None
        return self.wall - self.day_start

    def values(self):
        """{channel: value} for CHANNELS; None = not available (never published as 0)."""
        d = self.day
        sm = self.sm
        v = {}  # type: dict
        v["heatpump_state"] = sm.state
        v["heatpump_mode"] = STATE_NAMES[sm.state]
        cop = self.smooth.cop() if sm.compressor else None
        v["heatpump_cop"] = cop
        h = self.hour
        m = self._mono_s
        v["heatpump_cop_hour"] = ratio(h.total(m, H_HEAT), h.total(m, H_ELEC))
        v["heatpump_cop_run_hour"] = ratio(h.total(m, H_HEAT_RUN), h.total(m, H_ELEC_RUN))
        v["heatpump_cop_today"] = ratio(d.wh_of(C_HEAT), d.wh_of(C_ELEC))
        v["heatpump_cop_run_today"] = ratio(d.wh_of(C_HEAT_RUN), d.wh_of(C_ELEC_RUN))
        sp = dh = None
        if self.dhw_seen:
            dh = ratio(d.wh_of(C_HEAT_DHW), d.wh_of(C_ELEC_DHW))
            sp = ratio(d.wh_of(C_HEAT) - d.wh_of(C_HEAT_DHW), d.wh_of(C_ELEC) - d.wh_of(C_ELEC_DHW))
        v["heatpump_cop_space_today"] = sp
        v["heatpump_cop_dhw_today"] = dh
        y = self.yesterday
        if y is not None and d.date is not None and y[R_DATE] == d.date - 1:
            v["heatpump_cop_yesterday"] = ratio(y[R_HEAT], y[R_ELEC])
            v["heatpump_cop_run_yesterday"] = ratio(y[R_HEAT_RUN], y[R_ELEC_RUN])
        else:
            v["heatpump_cop_yesterday"] = v["heatpump_cop_run_yesterday"] = None
        for n, k, kr in ((7, "heatpump_cop_7d", "heatpump_cop_run_7d"),
                         (30, "heatpump_cop_30d", "heatpump_cop_run_30d")):
            s = (0, 0, 0, 0) if d.date is None else self.windows.sums(d.date - n, d.date - 1)
            v[k] = ratio(s[1], s[0])
            v[kr] = ratio(s[3], s[2])
        cum = self._cum()
        v["heatpump_cop_lifetime"] = ratio(cum[1], cum[0])
        v["heatpump_cop_run_lifetime"] = ratio(cum[3], cum[2])
        v["heatpump_carnot_cop"] = None if self.carnot is None else round(self.carnot, 2)
        v["heatpump_carnot_pct"] = (None if cop is None or self.carnot is None
                                    else round(100.0 * cop / self.carnot, 1))
        ideal = d.wh_of(C_IDEAL)
        v["heatpump_carnot_pct_today"] = (None if ideal <= 0
                                          else round(100.0 * d.wh_of(C_HEAT_CARNOT) / ideal, 1))
        v["heatpump_starts_today"] = d.starts
        v["heatpump_starts_hour"] = h.total(m, H_STARTS)
        v["heatpump_defrosts_today"] = d.defrosts
        v["heatpump_runtime_today"] = d.run_ms // 1000
        v["heatpump_cycle_today"] = d.run_ms // 1000 // d.starts if d.starts else None
        v["heatpump_elec_kwh_today"] = d.wh_of(C_ELEC) / 1000.0
        v["heatpump_heat_kwh_today"] = d.wh_of(C_HEAT) / 1000.0
        v["heatpump_standby_kwh_today"] = max(0, d.wh_of(C_ELEC) - d.wh_of(C_ELEC_RUN)) / 1000.0
        v["heatpump_defrost_kwh_today"] = d.wh_of(C_DEFROST) / 1000.0
        for k, cat in (("heatpump_flowT_today", C_FLOW_W), ("heatpump_dT_today", C_DT_W),
                       ("heatpump_outsideT_today", C_OUT_W)):
            t = d.mean_c(cat)
            v[k] = None if t is None else round(t, 2)
        el = self._today_elapsed_s()
        for k, ms in (("heatpump_quality_elec_today", d.valid_elec_ms),
                      ("heatpump_quality_heat_today", d.valid_heat_ms)):
            v[k] = None if not el or el <= 0 else round(min(100.0, ms / 10.0 / el), 1)
        dc = self.dtcheck
        v["heatpump_dt_offset"] = None if dc is None else dc.offset_k()
        v["heatpump_dt_offset_n"] = None if dc is None else dc.count
        return v
