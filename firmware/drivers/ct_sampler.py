"""CT + AC-AC sampling: paced bursts into one preallocated array('H'), and averaging of the
per-burst results of firmware.ctpower.PowerCalc over a reporting interval.

A burst reads `nsets` sample sets (V, CT a, CT b, ...) every `set_us` us for about
`burst_ms` (default 50 ms = 2.5 mains cycles at 50 Hz: enough for two positive V
crossings inside PowerCalc's margins, short enough not to starve the scheduler). The
reads run in native code (ct_sampler_native; how it is built for the board and the
emulator is explained there). The caller awaits between bursts and PowerCalc's steps.

Timing: sets are paced on absolute deadlines, so the set period is exactly set_us. A set
read late or slowly (an interrupt, Wi-Fi; on the emulator the host or the simulator) is
replaced by cubic interpolation from two good sets on each side (repair(): at 80 sets per
cycle that is exact to about 1e-6 at 50 Hz and 1.5 % of a 7th-harmonic sample); a longer
disturbance restarts the burst, and a burst that cannot be completed is dropped.

Skew: within a set the reads follow each other, so CT j is read later than V by the
durations of the reads before it. They are timed once per channel at start (the reads
of different channels need not take equally long, e.g. the emulator's) and scaled each
burst by the measured time spent inside the on-time sets' reads; PowerCalc turns the
skew into a fractional delay of V.

ADC slope: the 12-bit count (read_u16() // 16) is converted with uv_per_count. calibrate()
takes the slope and offset of ESP-IDF's eFuse calibration (read_uv(), a straight line
a * raw + b over the 11 dB linear range) from the same live AC-AC signal read both ways;
the bias count follows from the offset.

Averaging (CtAverager): each burst's results weigh by PowerCalc.window (sets in its
whole-cycle window). Mean squares are averaged, then the ADC noise power (noise_lsb^2 +
1/12 counts^2, quantisation included) is taken out of Irms^2 (never more than 3/4 of it,
in case noise_lsb is set too high), and a real power within 3 sigma of the noise (sigma =
noise * A/count * Vrms / sqrt(sets)) reads 0. Irms within 1.25 x the noise with no real
power is NO_CURRENT (CT unplugged, or no load).
"""
from array import array
from math import sqrt

from firmware import ctpower

U16_DIV = 16  # read_u16() // 16 = the 12-bit count (ESP32 scales 12 bits to 16)
MAX_BAD = 24  # sets per burst that may be interpolated
MAX_RUN = 4  # consecutive ones


# CtAverager statuses beyond ctpower's
NO_CURRENT = "no_current"  # Irms within the ADC noise: CT unplugged, or no load
NO_DATA = "no_data"  # no usable burst in the interval

_PRIORITY = (ctpower.DISCONNECTED, ctpower.SATURATED, ctpower.NONLINEAR, ctpower.PHASE_RANGE, ctpower.NO_AC)


def _kernels():
    try:
        return __import__("firmware.drivers.ct_sampler_native", None, None, ["burst"])
    except ValueError:
        # build/ holds the xtensawin .mpy for the board; the emulator (x64) uses its twin.
        return __import__("firmware.drivers.ct_sampler_native_x64", None, None, ["burst"])


def _cal():
    from firmware.drivers import ct_cal
    return ct_cal


def _forget_cal():
    """Drop the start-up calibration code from the heap (needed once, or until it succeeds)."""
    from firmware.transient import forget
    forget("firmware.drivers.ct_cal")


def repair(buf, nch, n, bad, nbad):
    """Replace the values of the bad sets (sorted indices) by cubic interpolation from the two
    good sets on each side of their run. Returns the sets still usable: the burst ends before
    a run too close to its end or too long (0 if that leaves nothing)."""
    i = 0
    while i < nbad:
        a = b = bad[i]
        i += 1
        while i < nbad and bad[i] <= b + 2:  # fewer than 2 good sets between: one run
            b = bad[i]
            i += 1
        if a < 2 or b - a >= MAX_RUN or b + 2 >= n:
            return a if a >= 2 else 0
        xs = (a - 2, a - 1, b + 1, b + 2)
        for m in range(a, b + 1):
            w = [1.0, 1.0, 1.0, 1.0]
            for q in range(4):
                for r in range(4):
                    if r != q:
                        w[q] *= (m - xs[r]) / (xs[q] - xs[r])
            for c in range(nch):
                v = 0.0
                for q in range(4):
                    v += w[q] * buf[xs[q] * nch + c]
                v = int(v + 0.5)
                buf[m * nch + c] = 0 if v < 0 else (65535 if v > 65535 else v)
    return n


class _Level:
    """Stand-in for an absent input (no AC-AC adapter): a constant read_u16()."""

    def __init__(self, count):
        self.value = count * U16_DIV

    def read_u16(self):
        return self.value


class CtSampler:
    """Paced bursts of V + n CTs into self.buf (sets of nch = n + 1 counts)."""

    def __init__(self, v_adc, ct_adcs, set_us=250, burst_ms=50, bias_count=ctpower.BIAS_COUNT):
        self.nch = 1 + len(ct_adcs)
        if not 2 <= self.nch <= 4:
            raise ValueError("1 to 3 CTs")
        self.v_adc = v_adc
        self.set_us = set_us
        self.nsets = burst_ms * 1000 // set_us
        # 1.6 cycles at 45 Hz plus PowerCalc's margins: shorter runs rarely hold a whole cycle
        # and their mean is too far from the bias
        self.min_sets = min(self.nsets, 36000 // set_us + 16)
        self.buf = array("H", bytes(2 * self.nch * self.nsets))
        v = v_adc if v_adc is not None else _Level(bias_count)
        self.reads = tuple([v.read_u16] + [a.read_u16 for a in ct_adcs])
        self._k = _kernels()
        self.skew = [0.0] * (self.nch - 1)
        self.period_us = float(set_us)
        self.restarts = 0
        self.repaired = 0
        self.sets = 0
        self.bad = array("H", bytes(2 * MAX_BAD))
        self.read_us = [0.0] * self.nch
        self.tick_us = 0.0
        self.dlim_us = 0  # set by time_reads()
        self.time_reads()

    def time_reads(self):
        """Time each channel's read and a ticks_us() call (for the skew)."""
        _cal().time_reads(self, U16_DIV)
        _forget_cal()

    def burst(self):
        """Sample one burst (blocks for about burst_ms; up to twice that if runs restart).

        Returns the number of evenly spaced sets in buf (0 if too few). Sets that could not
        be read on time are interpolated (repair()); the reads of CT j follow the V read by
        skew[j] set periods."""
        n = self.nsets
        k, restarts, busy, good, nbad = self._k.burst(self.buf, self.reads, self.nch, n, self.set_us, U16_DIV,
                                                      2 * n * self.set_us, self.bad, self.dlim_us)
        self.restarts = restarts
        self.repaired = nbad
        if nbad:
            k = repair(self.buf, self.nch, k, self.bad, nbad)
        self.sets = k
        if k < self.min_sets or not good:
            return 0
        total = sum(self.read_us)
        scale = (busy / good - self.tick_us) / total if total > 0 else 1.0
        if scale <= 0:
            scale = 1.0
        acc = 0.0
        for j in range(self.nch - 1):
            acc += self.read_us[j]
            self.skew[j] = acc * scale / self.set_us
        return k

    def calibrate(self, n=200, bias_mv=1650, min_span=400, pause_us=250):
        """(uv_per_count, bias_count) from read_uv() against the count on the V input.

        The reads spread over about 5 mains cycles (once, at start: it holds the scheduler
        for ~0.1 s). None when the V input is absent or its swing is too small (no AC-AC
        signal). The code lives in ct_cal, dropped from the heap again afterwards."""
        try:
            return _cal().calibrate(self.v_adc, U16_DIV, n, bias_mv, min_span, pause_us)
        finally:
            _forget_cal()


class CtAverager:
    """Window-weighted mean of PowerCalc results over the bursts of one interval."""

    def __init__(self, n_ct, ik, vk, noise_lsb=1.0, squelch=3.0):
        self.n = n_ct
        self.ik = list(ik)  # A per count, per CT
        self.vk = vk  # V per count
        self.noise_var = noise_lsb * noise_lsb + 1.0 / 12.0  # counts^2
        self.squelch = squelch
        self.reset()

    def reset(self):
        n = self.n
        self.w = 0.0  # weight of bursts with AC (real power)
        self.sv2 = 0.0
        self.sf = 0.0
        self.spc = 0.0
        self.vbad_ac = None  # worst V status of the bursts with AC, and of those without
        self.vbad_na = None
        self.wn = 0.0  # weight of bursts without AC (apparent power)
        self.sp = [0.0] * n
        self.si2 = [0.0] * n
        self.si2n = [0.0] * n
        self.bad = [None] * n  # worst CT status of the bursts with AC, and of those without
        self.bad_na = [None] * n
        self.bursts = 0
        self.ac_bursts = 0
        self.dropped = 0

    @staticmethod
    def _worse(a, b):
        if a is None:
            return b
        if b is None or b == ctpower.OK:
            return a
        if a == ctpower.OK:
            return b
        ia = _PRIORITY.index(a) if a in _PRIORITY else len(_PRIORITY)
        ib = _PRIORITY.index(b) if b in _PRIORITY else len(_PRIORITY)
        return a if ia <= ib else b

    def add_v(self, pc):
        """After PowerCalc.prepare(): False if the burst must be dropped (no whole cycle)."""
        if not pc.ac_ok and pc.v_present:
            self.dropped += 1
            return False
        self.bursts += 1
        w = pc.window
        if pc.ac_ok:
            self.ac_bursts += 1
            self.w += w
            v = pc.vrms
            self.sv2 += w * v * v
            self.sf += w * pc.freq
            self.spc += w * pc.sets_per_cycle
            self.vbad_ac = self._worse(self.vbad_ac, pc.vstatus)
        else:
            self.wn += w
            self.vbad_na = self._worse(self.vbad_na, pc.vstatus)
        return True

    @property
    def vbad(self):
        """Worst V status of the bursts the results come from (those with AC if any)."""
        return self.vbad_ac if self.w > 0 else self.vbad_na

    def add_ct(self, pc, j):
        """After PowerCalc.channel(j) of a burst accepted by add_v()."""
        st = pc.status[j]
        if pc.ac_ok:
            self.bad[j] = self._worse(self.bad[j], st)
        else:
            self.bad_na[j] = self._worse(self.bad_na[j], st)
        irms = pc.irms[j]
        if irms is None:
            return
        i2 = (irms / self.ik[j]) ** 2  # counts^2
        w = pc.window
        if pc.ac_ok:
            self.sp[j] += w * pc.power[j]
            self.si2[j] += w * i2
        else:
            self.si2n[j] += w * i2

    def vrms(self):
        if self.w <= 0:
            return None
        v2 = self.sv2 / self.w - self.noise_var * self.vk * self.vk
        return sqrt(v2) if v2 > 0 else 0.0

    def freq(self):
        return self.sf / self.w if self.w > 0 else None

    def sets_per_cycle(self):
        return self.spc / self.w if self.w > 0 else None

    def ct(self, j, fallback_vrms):
        """(power W, irms A, va VA, pf, status, ac) for CT j; values None when unknown.

        ac is True when power is real power, False when it is apparent power at
        fallback_vrms (no AC-AC signal)."""
        ac = self.w > 0
        st = self.bad[j] if ac else self.bad_na[j]
        if st == ctpower.DISCONNECTED:
            return None, None, None, None, st, False
        w = self.w if ac else self.wn
        if w <= 0:
            return None, None, None, None, st or NO_DATA, False
        ik = self.ik[j]
        raw = (self.si2[j] if ac else self.si2n[j]) / w
        floor = self.noise_var
        v = self.vrms() or 0.0
        p = self.sp[j] / w if ac else 0.0
        quiet = not ac or abs(p) < self.squelch * sqrt(floor) * ik * v / sqrt(w)
        if quiet and raw < 1.5625 * floor:  # no real power and Irms < 1.25 x the noise floor
            if st is None or st == ctpower.OK or st == ctpower.NO_AC:
                st = NO_CURRENT
            return 0.0, 0.0, 0.0, None, st, ac
        # the noise adds its power to Irms^2; never take more than 3/4 (noise_lsb set too high)
        i2 = raw - floor
        irms = sqrt(i2 if i2 > 0.25 * raw else 0.25 * raw) * ik
        if not ac:
            va = fallback_vrms * irms
            return va, irms, va, None, st or ctpower.NO_AC, False
        if quiet:
            p = 0.0
        va = v * irms
        pf = None
        if va > 0:
            pf = p / va
            pf = 1.0 if pf > 1.0 else (-1.0 if pf < -1.0 else pf)
        return p, irms, va, pf, st or ctpower.OK, True
