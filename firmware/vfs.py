"""Grundfos VFS / Sika vortex flow sensor analog outputs -> flow (L/min) and temperature (pure).

Both outputs are linear 0.5-3.5 V (Grundfos Direct Sensors VFS data booklet): flow 0 L/min at
v_lo to Qmax at v_hi, temperature 0-100 degC over the same span. The sensor cannot measure below
Qmin (no vortex shedding) and then sits at its zero level, so readings under the zero-flow
threshold (default Qmin) are a known 0.0. The output reaches the 3.3 V ADC through a divider of
ratio `divider` (sensor V = pin V * divider); keep the pin under ~2.45 V for the linear range of
ATTN_11DB. Results are (value, status); value is None whenever it is not known, never 0.

Statuses: ok, zero (flow below threshold: 0.0), below_min (threshold..Qmin: value reported,
outside the accuracy range), under_range / over_range (more than tol_v outside v_lo..v_hi:
wiring fault, unpowered sensor or beyond the range: None), clipped (a sample at the ADC's full
scale, so the mean is unknown: None), no_samples.
"""

# Grundfos VFS flow ranges, L/min (Qmin, Qmax)
RANGES = {
    "1-12": (1.0, 12.0),
    "1-20": (1.0, 20.0),
    "2-40": (2.0, 40.0),
    "5-100": (5.0, 100.0),
    "10-200": (10.0, 200.0),
    "20-400": (20.0, 400.0),
}


class VfsError(ValueError):
    pass


def parse_range(spec):
    """(qmin, qmax) L/min from a RANGES key, an 'a-b' string or a 2-sequence."""
    if isinstance(spec, str):
        known = RANGES.get(spec)
        if known is not None:
            return known
        parts = spec.split("-")
        if len(parts) != 2:
            raise VfsError("bad flow range %r" % (spec,)) from None
        try:
            spec = (float(parts[0]), float(parts[1]))
        except ValueError:
            raise VfsError("bad flow range %r" % (spec,)) from None
    try:
        lo, hi = float(spec[0]), float(spec[1])
    except (TypeError, ValueError, IndexError):
        raise VfsError("bad flow range %r" % (spec,)) from None
    if not 0.0 <= lo < hi:
        raise VfsError("bad flow range %r" % (spec,))
    return lo, hi


class Vfs:
    """One VFS sensor: conversion of ADC sample blocks (mV at the ADC pin)."""

    def __init__(self, flow_range="2-40", divider=1.0, v_lo=0.5, v_hi=3.5, zero_lpm=None,
                 temp_range=(0.0, 100.0), clip_mv=3250, tol_v=0.1):
        self.q_min, self.q_max = parse_range(flow_range)
        try:
            self.divider = float(divider)
            self.v_lo = float(v_lo)
            self.v_hi = float(v_hi)
            self.t_lo = float(temp_range[0])
            self.t_hi = float(temp_range[1])
            self.clip_mv = float(clip_mv)
            self.tol_v = float(tol_v)
            self.zero_lpm = self.q_min if zero_lpm is None else float(zero_lpm)
        except (TypeError, ValueError, IndexError):
            raise VfsError("bad VFS setting") from None
        if self.divider < 1.0 or not 0.0 <= self.v_lo < self.v_hi or self.t_hi <= self.t_lo:
            raise VfsError("bad VFS scaling")
        if self.clip_mv <= 0 or self.tol_v < 0 or self.zero_lpm < 0:
            raise VfsError("bad VFS limits")

    def sensor_volts(self, samples_mv):
        """(mean sensor-side volts, status) of a sample block; None unless 'ok'."""
        n = len(samples_mv)
        if not n:
            return None, "no_samples"
        total = 0
        top = self.clip_mv
        for s in samples_mv:
            if s >= top:
                return None, "clipped"
            total += s
        return total / n * self.divider / 1000.0, "ok"

    def _fraction(self, volts):
        """Position in v_lo..v_hi (0..1, clamped within tol_v) and a status."""
        if volts < self.v_lo - self.tol_v:
            return None, "under_range"
        if volts > self.v_hi + self.tol_v:
            return None, "over_range"
        frac = (volts - self.v_lo) / (self.v_hi - self.v_lo)
        if frac < 0.0:
            frac = 0.0
        elif frac > 1.0:
            frac = 1.0
        return frac, "ok"

    def flow_from_volts(self, volts):
        """(L/min or None, status) for a sensor-side voltage."""
        frac, status = self._fraction(volts)
        if frac is None:
            return None, status
        q = frac * self.q_max
        if q < self.zero_lpm:
            return 0.0, "zero"
        if q < self.q_min:
            return q, "below_min"
        return q, "ok"

    def temp_from_volts(self, volts):
        """(degC or None, status) for a sensor-side voltage."""
        frac, status = self._fraction(volts)
        if frac is None:
            return None, status
        return self.t_lo + frac * (self.t_hi - self.t_lo), "ok"

    def flow_lpm(self, samples_mv):
        """(L/min or None, status) from a block of ADC samples in mV."""
        volts, status = self.sensor_volts(samples_mv)
        if volts is None:
            return None, status
        return self.flow_from_volts(volts)

    def temperature_c(self, samples_mv):
        """(degC or None, status) from a block of ADC samples in mV."""
        volts, status = self.sensor_volts(samples_mv)
        if volts is None:
            return None, status
        return self.temp_from_volts(volts)

    def volts_for_flow(self, lpm):
        """Sensor output for a flow (inverse of flow_from_volts; for simulators and tests)."""
        return self.v_lo + (self.v_hi - self.v_lo) * lpm / self.q_max

    def volts_for_temp(self, t_c):
        return self.v_lo + (self.v_hi - self.v_lo) * (t_c - self.t_lo) / (self.t_hi - self.t_lo)


def from_config(cfg):
    """Vfs from a config dict (keys as Vfs.__init__; unknown keys raise VfsError)."""
    allowed = ("flow_range", "divider", "v_lo", "v_hi", "zero_lpm", "temp_range", "clip_mv",
               "tol_v")
    kwargs = {}
    for key in cfg:
        if key not in allowed:
            raise VfsError("unknown VFS setting %r" % (key,))
        kwargs[key] = cfg[key]
    return Vfs(**kwargs)
