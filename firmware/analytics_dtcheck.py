"""Flow/return sensor-pair self-check (pure): learns the offset flowT - returnT should be 0.

With the circulation pump running and no heat input (compressor off) both sensors see the
same water, so their difference is the pair's calibration error; 0.2 K at 20 l/min is already
~280 W of phantom heat. A sample is taken every sample_s [120 s] once the compressor has been
off and the flow present (>= min_flow [2.0, the flow channel's unit, l/min by default]) for
settle_s [900 s], and only if the mean water temperature moved less than max_rate_k_min
[0.05 K/min] since the previous sample: in a cooling pipe the transport delay between the two
sensors would otherwise show up as an offset (rate x delay). The estimate is the median of the
last `size` [64] samples, published after min_samples [15]. It is only ever offered on the
dashboard's Sensors page (POST /api/dtcheck/apply, by an admin); nothing here changes a reading.

Known bias: heat lost from the outdoor unit while idle makes the true difference slightly
negative (about -0.04 K for 50 W at 20 l/min), which is below a DS18B20's 0.0625 K step.
"""
from array import array


class DtCheck:
    def __init__(self, starting_power_w=150, min_flow=2.0, settle_s=900, sample_s=120,
                 max_rate_k_min=0.05, size=64, min_samples=15):
        self.starting_power_w = starting_power_w
        self.min_flow = min_flow
        self.settle_s = settle_s
        self.sample_s = sample_s
        self.max_rate = max_rate_k_min
        self.min_samples = min_samples
        self.samples = array("h", [0] * size)  # centi-kelvin
        self.count = 0
        self.head = 0
        self._quiet_s = 0.0
        self._since_s = 0.0
        self._prev_mean = None

    def _reset_quiet(self):
        self._quiet_s = 0.0
        self._since_s = 0.0
        self._prev_mean = None

    def update(self, dt_s, elec_w, flow, flow_t, return_t):
        """One reading. Returns True when a sample was taken."""
        if (elec_w is None or elec_w >= self.starting_power_w or flow is None
                or flow < self.min_flow or flow_t is None or return_t is None):
            self._reset_quiet()
            return False
        self._quiet_s += dt_s
        if self._quiet_s < self.settle_s:
            return False
        self._since_s += dt_s
        if self._prev_mean is not None and self._since_s < self.sample_s:
            return False
        mean = (flow_t + return_t) * 0.5
        prev, since = self._prev_mean, self._since_s
        self._prev_mean = mean
        self._since_s = 0.0
        if prev is None or abs(mean - prev) * 60.0 > self.max_rate * since:
            return False
        v = int(round((flow_t - return_t) * 100))
        self.samples[self.head] = max(-32768, min(32767, v))
        self.head = (self.head + 1) % len(self.samples)
        if self.count < len(self.samples):
            self.count += 1
        return True

    def _sorted(self):
        return sorted(self.samples[i] for i in range(self.count))

    def offset_k(self):
        """Median flowT - returnT in K (subtract it from flowT to correct), or None."""
        if self.count < self.min_samples:
            return None
        s = self._sorted()
        n = len(s)
        mid = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0
        return round(mid / 100.0, 3)

    def spread_k(self):
        """Inter-quartile range of the samples in K (confidence), or None."""
        if self.count < self.min_samples:
            return None
        s = self._sorted()
        n = len(s)
        return round((s[(3 * n) // 4] - s[n // 4]) / 100.0, 3)
