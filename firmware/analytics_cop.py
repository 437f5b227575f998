"""COP maths (pure): Carnot COP, smoothed instantaneous COP, last-hour and 7/30-day windows.

Carnot COP as the emoncms My Heatpump app: condensing = flowT + 2 K, evaporating =
outsideT - 6 K, COP = T_cond[K] / (T_cond - T_evap). Practical efficiency = COP / Carnot COP
(OEM's rule of thumb: about 0.47-0.5). Window sums are integer joules or Wh; a COP is only
formed at the end (heat / elec), so float32 never accumulates.
"""
import math
from array import array

from micropython import const

KELVIN = 273.15
MIN_LIFT_K = 1.0  # below this lift the Carnot COP is meaningless (division by ~0)


def carnot_cop(flow_t, outside_t, cond_k=2.0, evap_k=-6.0):
    """Carnot COP for a flow temperature and outside temperature (degC), or None."""
    if flow_t is None or outside_t is None:
        return None
    hot = flow_t + cond_k
    lift = hot - (outside_t + evap_k)
    if lift < MIN_LIFT_K:
        return None
    return (hot + KELVIN) / lift


def ratio(heat, elec, digits=2):
    """heat / elec rounded, or None when elec is not positive."""
    if heat is None or elec is None or elec <= 0:
        return None
    return round(heat / elec, digits)


class SmoothedCop:
    """Instantaneous COP: exponential moving averages of heat and elec power (time constant
    tau_s, default 300 s), COP = heat_avg / elec_avg. Averaging the powers, not the ratio,
    keeps a near-zero elec reading from producing a wild COP. reset() on a compressor start
    so standby readings do not pull the first minutes of a run down."""

    def __init__(self, tau_s=300.0):
        self.tau_s = float(tau_s)
        self.elec = None
        self.heat = None

    def reset(self):
        self.elec = None
        self.heat = None

    def update(self, dt_s, elec_w, heat_w):
        if elec_w is None or heat_w is None:
            return
        if self.elec is None or self.heat is None or self.tau_s <= 0:
            self.elec = float(elec_w)
            self.heat = float(heat_w)
            return
        a = 1.0 - math.exp(-dt_s / self.tau_s)
        self.elec += a * (elec_w - self.elec)
        self.heat += a * (heat_w - self.heat)

    def cop(self):
        if self.elec is None or self.heat is None or self.elec <= 0:
            return None
        return round(self.heat / self.elec, 2)


# HourRing columns
H_ELEC = const(0)
H_HEAT = const(1)
H_ELEC_RUN = const(2)
H_HEAT_RUN = const(3)
H_STARTS = const(4)
H_DEFROSTS = const(5)
_HCOLS = const(6)


class HourRing:
    """The last hour as 12 slots of 5 minutes, keyed by a monotonic second count. Each slot
    holds joules (elec, heat, running elec, running heat) and start/defrost counts; the window
    is the current slot plus the 11 before it (55-60 min)."""

    SLOT_S = 300
    SLOTS = 12

    def __init__(self):
        self.data = array("i", [0] * (self.SLOTS * _HCOLS))
        self.slot = None

    def _advance(self, mono_s):
        slot = mono_s // self.SLOT_S
        if self.slot is None or slot - self.slot >= self.SLOTS or slot < self.slot:
            for i in range(len(self.data)):
                self.data[i] = 0
        else:
            for s in range(self.slot + 1, slot + 1):
                base = (s % self.SLOTS) * _HCOLS
                for c in range(_HCOLS):
                    self.data[base + c] = 0
        self.slot = slot
        return (slot % self.SLOTS) * _HCOLS

    def add(self, mono_s, col, value):
        base = self._advance(mono_s)
        self.data[base + col] += value

    def total(self, mono_s, col):
        self._advance(mono_s)
        s = 0
        for i in range(col, len(self.data), _HCOLS):
            s += self.data[i]
        return s


# DayWindows columns
W_ELEC = const(0)
W_HEAT = const(1)
W_ELEC_RUN = const(2)
W_HEAT_RUN = const(3)
_WCOLS = const(5)  # date + 4 sums


class DayWindows:
    """Wh sums of the last `days` closed days (date, elec, heat, running elec, running heat),
    enough for the 7- and 30-day COPs; the full daily records live in flash."""

    def __init__(self, days=31):
        self.days = days
        self.data = array("i", [-1] * (days * _WCOLS))

    def put(self, date, elec_wh, heat_wh, elec_run_wh, heat_run_wh):
        base = (date % self.days) * _WCOLS
        d = self.data
        d[base] = date
        d[base + 1] = elec_wh
        d[base + 2] = heat_wh
        d[base + 3] = elec_run_wh
        d[base + 4] = heat_run_wh

    def sums(self, first, last):
        """(elec, heat, elec_run, heat_run, n_days) over stored dates first..last inclusive."""
        out = [0, 0, 0, 0, 0]
        d = self.data
        for i in range(0, len(d), _WCOLS):
            if first <= d[i] <= last:
                for c in range(4):
                    out[c] += d[i + 1 + c]
                out[4] += 1
        return out
