"""Integer Wh energy accumulator (pure module).

Energy is kept as integer Wh plus an integer remainder in mJ (= W*ms), so totals never drift
with float32 (ESP32 floats are single precision: 10000 + 0.001*1000 -> 10000.977). Each add()
converts one power*interval product (at most one float rounding, < 1 mJ for normal intervals)
and carries the rest exactly. 1 Wh = 3 600 000 mJ.

Import energy (power > 0) goes to `wh`; negative power is ignored unless `export=True`, in which
case it goes to `export_wh`. Both only ever increase, so each is a valid Home Assistant
`total_increasing` counter; `net_wh` = wh - export_wh may be negative only with export on.
"""

from micropython import const

_MJ_PER_WH = const(3600000)
_BIG = 536870912.0  # 2**29: above this the product is split so ints stay small


class EnergyError(ValueError):
    pass


class Energy:
    """Accumulate power (W) over intervals (ms) into integer Wh."""

    def __init__(self, wh=0, export=False, export_wh=0, max_interval_ms=None):
        self.export = export
        self.max_interval_ms = max_interval_ms
        self.wh = 0
        self.export_wh = 0
        self.rem_mj = 0
        self.rem_export_mj = 0
        self.restore(wh, export_wh)

    def restore(self, wh, export_wh=0):
        """Set the totals (e.g. from flash); remainders restart at 0."""
        wh = int(wh)
        export_wh = int(export_wh)
        if wh < 0 or export_wh < 0:
            raise EnergyError("negative total")
        self.wh = wh
        self.export_wh = export_wh
        self.rem_mj = 0
        self.rem_export_mj = 0

    @property
    def net_wh(self):
        return self.wh - self.export_wh

    def add(self, power_w, interval_ms):
        """Add power_w held for interval_ms. Returns the whole Wh added to the import total.

        power None (unknown) or a non-positive interval adds nothing; an interval longer than
        max_interval_ms is clamped (a stalled loop must not invent energy)."""
        if power_w is None or interval_ms is None or interval_ms <= 0:
            return 0
        if self.max_interval_ms is not None and interval_ms > self.max_interval_ms:
            interval_ms = self.max_interval_ms
        if power_w != power_w:  # NaN
            return 0
        if power_w >= 0:
            whole, mj = _split(power_w * interval_ms)
            self.rem_mj += mj
            if self.rem_mj >= _MJ_PER_WH:
                more = self.rem_mj // _MJ_PER_WH
                whole += more
                self.rem_mj -= more * _MJ_PER_WH
            self.wh += whole
            return whole
        if self.export:
            whole, mj = _split(-power_w * interval_ms)
            self.rem_export_mj += mj
            if self.rem_export_mj >= _MJ_PER_WH:
                more = self.rem_export_mj // _MJ_PER_WH
                whole += more
                self.rem_export_mj -= more * _MJ_PER_WH
            self.export_wh += whole
        return 0

    def add_wh(self, delta_wh):
        """Add whole Wh counted elsewhere (e.g. a meter register difference); ignores <= 0."""
        if delta_wh > 0:
            self.wh += int(delta_wh)


def _split(e_mj):
    """Non-negative float mJ -> (whole Wh, integer mJ remainder), keeping ints small."""
    if e_mj >= _BIG:
        whole = int(e_mj / _MJ_PER_WH)
        rest = e_mj - whole * float(_MJ_PER_WH)
        if rest < 0:
            rest = 0.0
        return whole, int(rest + 0.5)
    return 0, int(e_mj + 0.5)
