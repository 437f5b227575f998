"""CT + AC-AC real power maths on a burst of interleaved ADC samples (pure module).

Input: an array('H') of raw ADC values, one "sample set" after another, each set being
[V, I1, I2, ...] read in that order. `period_us` is the time between the starts of two sets
(measured by the sampler over the whole burst) and `skew[j]` the delay of CT j's read after the
V read of the same set, as a fraction of `period_us` (default: reads evenly spaced, (j+1)/nch).

Method (per burst):
1. Pass 1: sum/min/max per channel -> integer DC offsets, saturation, bias and clipping checks.
2. Positive-going zero crossings of V with hysteresis and sub-sample (linear) interpolation.
   The window runs from the first to the last crossing, i.e. whole mains cycles only; the
   fractional ends are handled by a second-order end correction, so every mean is over
   (crossings-1) cycles. Sets per cycle and line frequency come from the same crossings.
3. Per CT, integer-only sums over the window: S(v[k+m+n] * i[k]) for n = -2..3, S(w * i[k]),
   S(i^2), S(i), where w is the running (trapezoid) integral of v. DC offsets are removed
   exactly afterwards from the sums (covariance form), as EmonLibCM does.
4. Phase correction (EmonLibCM-style interpolation between successive V samples): V is moved in
   time by phi = theta*skew (theta = 2*pi/sets-per-cycle; in "phase" mode plus CT lead minus
   VT lead, as EmonLibCM's phaseCal): m whole sets plus a fraction,
   interpolated from the 6 surrounding V samples (quintic Lagrange, see taps(); EmonLibCM uses 2,
   which is exact at the fundamental only, so harmonic power, e.g. V5*I5, was under-read at
   20-30 sets per cycle). The taps are made exact at the fundamental like EmonLibCM's.
   The CT's (and AC-AC adapter's) own phase lead is corrected either the same way (lead_model
   "phase", as EmonLibCM does) or, by default ("hp1"), with the inverse of a first-order
   magnetising-branch model, i_true = cos(lead)*(i + w_c * integral(i)), w_c = w*tan(lead):
   exact at every harmonic for such a CT, where a fixed time shift would apply h*lead at the h-th
   harmonic. By parts over whole cycles, mean(v*integral(i)) = -mean(i*integral(v)); the same
   model is applied to the voltage transformer's lead (vt_lead_deg).
5. Real power = mean of the corrected v*i; Vrms, Irms, VA = Vrms*Irms, PF = P/VA.

Calibration: counts -> volts at the ADC pin with `uv_per_count` (default 3100 mV / 4095 counts,
the nominal 11 dB full scale, as the emulator's ADC models it);
mains volts = pin volts * `vratio` (AC-AC adapter ratio times divider ratio); amps = pin volts *
`ical` (= CT turns / burden ohms). The ESP32 ADC (11 dB) is linear from about 150 to 2450 mV
(MicroPython ESP32 docs; ESP-IDF's own calibration is a straight line a*raw+b there and only adds
a lookup-table correction near the top of the range). So: (a) the front end keeps the signal in
that range (bias 1.65 V, about +/-0.8 V swing), (b) the offset b drops out with the DC removal,
(c) the slope a is the calibration (or use `adc_gain()` with a read_uv() burst: RMS ratio of the
same AC signal in uV and in counts), (d) samples outside [lin_lo, lin_hi] flag the channel
"nonlinear", and `linearize()` applies a piecewise-linear table in place when a characterised
curve is wanted. A sampler may also store read_uv()//100 (units of 100 uV; uv_per_count=100).

Noise: uncorrelated ADC noise averages out of real power as sigma_P = noise * A_per_count *
Vrms / sqrt(sets in the window), about 10.5 W / sqrt(N) for 1 LSB with the default front end; so
0.5 % at 200 W needs ~1000 sets per reported value (one burst or several averaged, weighted by
`window`). A real power below `squelch` such sigmas (noise_lsb configured) reads 0, so an idle
CT does not integrate noise into energy. Accuracy is proven in tests/pure/test_ctpower.py.

Use: pc = PowerCalc(n_ct, ...); pc.compute(buf, nsets, period_us) (or prepare() then channel(j)
for each CT, yielding to the scheduler in between). Inner loops use small ints only (no float
boxing, no allocation: the per-burst float work is a constant few KB of garbage) so they can be
decorated @micropython.native; partial sums are folded into (hi, lo) pairs to stay small ints.
"""

import math

from micropython import const

_MARGIN = const(8)  # sets at both ends of the burst not searched for crossings (room for V taps)
_TAPS = const(6)
_LO_BITS = const(24)
_LO_MASK = const(0xFFFFFF)
_HI = 16777216.0  # 2**_LO_BITS

LEAD_HP1 = "hp1"
LEAD_PHASE = "phase"

# Default analog front end (matches tools/emulator/sim/sim_waveforms.py):
ADC_UV_PER_COUNT = 3100000.0 / 4095  # 12 bit, 11 dB: ~0-3.1 V, 757.0 uV per count
VT_RATIO = 460.0  # mains V per V at the pin: 230:9 V adapter (25.6) x 18:1 divider; 230 V -> 0.5 Vrms
CT_TURNS = 2000  # SCT-013-000 style, 100 A : 50 mA
CT_BURDEN_OHM = 33.0  # 34 A rms (7.8 kW at 230 V) at +/-0.8 V peak, clips at 88 A peak
LIN_LO_COUNT = 198  # 150 mV: lower end of the ESP32 11 dB linear range (for lin_lo=)
LIN_HI_COUNT = 3236  # 2450 mV: upper end
BIAS_COUNT = 2180  # mid-rail bias 1.65 V

# Channel / voltage status strings
OK = "ok"
NO_AC = "no_ac"  # no AC-AC signal: apparent power at fallback_vrms
SATURATED = "saturated"  # a sample hit 0 or adc_max
NONLINEAR = "nonlinear"  # a sample outside [lin_lo, lin_hi]
DISCONNECTED = "disconnected"  # input mean far from the bias (no bias: input open or shorted)
UNSTABLE = "unstable"  # irregular zero-crossing intervals
PHASE_RANGE = "phase_range"  # phase shift larger than the burst margin allows


class CTPowerError(ValueError):
    pass


def ical(turns=CT_TURNS, burden_ohm=CT_BURDEN_OHM):
    """Current calibration: primary amps per volt across the burden."""
    return turns / burden_ohm


def adc_gain(rms_uv, rms_counts):
    """uV per count from the AC RMS of the same signal read with read_uv() and with read()."""
    if rms_counts <= 0:
        raise CTPowerError("no signal")
    return rms_uv / rms_counts


def linearize(buf, start, stride, n, table, shift=8):
    """Correct n samples in place with a piecewise-linear table.

    table[k] is the corrected value at raw k << shift (len = (full scale >> shift) + 1)."""
    top = len(table) - 2
    p = start
    for _ in range(n):
        x = buf[p]
        k = x >> shift
        if k > top:
            k = top
        t0 = table[k]
        y = t0 + (((table[k + 1] - t0) * (x - (k << shift))) >> shift)
        if y < 0:
            y = 0
        buf[p] = y
        p += stride


def _scan(buf, start, stride, n):
    s = 0
    mn = 65535
    mx = 0
    p = start
    for _ in range(n):
        x = buf[p]
        s += x
        if x < mn:
            mn = x
        if x > mx:
            mx = x
        p += stride
    return s, mn, mx


def _crossings(buf, stride, lo, hi, ov, hyst):
    """Positive-going crossings of buf[k*stride]-ov for k in [lo, hi), with hysteresis."""
    count = 0
    kf = af = bf = kl = al = bl = 0
    prev_k = 0
    dmin = 1 << 30
    dmax = 0
    armed = False
    vp = buf[(lo - 1) * stride] - ov
    p = lo * stride
    for k in range(lo, hi):
        v = buf[p] - ov
        if v < -hyst:
            armed = True
        elif armed and v >= 0 and vp < 0:
            armed = False
            if count == 0:
                kf = k
                af = vp
                bf = v
            else:
                d = k - prev_k
                if d < dmin:
                    dmin = d
                if d > dmax:
                    dmax = d
            kl = k
            al = vp
            bl = v
            prev_k = k
            count += 1
        vp = v
        p += stride
    return count, kf, af, bf, kl, al, bl, dmin, dmax


def _vsums(buf, stride, k0, k1, ov, chunk, col=0):
    """S(x), S(x^2) of column col (default V) over sets [k0, k1), and max |w| of the running
    trapezoid integral (of use for V only)."""
    p = k0 * stride + col
    v0 = buf[p] - ov
    vp = v0
    w = 0
    wmax = 0
    sv = 0
    hh = ll = 0
    k = k0
    while k < k1:
        ke = k + chunk
        if ke > k1:
            ke = k1
        vv = 0
        for _ in range(ke - k):
            v0 = buf[p] - ov
            w += vp + v0
            if w > wmax:
                wmax = w
            elif -w > wmax:
                wmax = -w
            vv += v0 * v0
            sv += v0
            vp = v0
            p += stride
        ll += vv
        hh += ll >> _LO_BITS
        ll &= _LO_MASK
        k = ke
    return sv, hh, ll, wmax


def _csums(buf, stride, col, k0, k1, m, ov, oi, ws, chunk):
    """Integer sums for one CT over sets [k0, k1): S(v[k+m+n]*i[k]) for n = -2..3, S(w*i), S(i*i)."""
    pv = (k0 + m) * stride
    pi = k0 * stride + col
    vn2 = buf[pv - 2 * stride] - ov
    vn1 = buf[pv - stride] - ov
    v0 = buf[pv] - ov
    v1 = buf[pv + stride] - ov
    v2 = buf[pv + 2 * stride] - ov
    p3 = pv + 3 * stride
    w = -v0 - vn1
    sv = si = sw = 0
    h0 = l0 = h1 = l1 = h2 = l2 = h3 = l3 = h4 = l4 = h5 = l5 = qh = ql = ih = il = 0
    k = k0
    while k < k1:
        ke = k + chunk
        if ke > k1:
            ke = k1
        s0 = s1 = s2 = s3 = s4 = s5 = q = ii = 0
        for _ in range(ke - k):
            v3 = buf[p3] - ov
            i = buf[pi] - oi
            w += vn1 + v0
            wq = w >> ws
            s0 += vn2 * i
            s1 += vn1 * i
            s2 += v0 * i
            s3 += v1 * i
            s4 += v2 * i
            s5 += v3 * i
            q += wq * i
            ii += i * i
            si += i
            sv += v0
            sw += wq
            vn2 = vn1
            vn1 = v0
            v0 = v1
            v1 = v2
            v2 = v3
            p3 += stride
            pi += stride
        l0 += s0
        h0 += l0 >> _LO_BITS
        l0 &= _LO_MASK
        l1 += s1
        h1 += l1 >> _LO_BITS
        l1 &= _LO_MASK
        l2 += s2
        h2 += l2 >> _LO_BITS
        l2 &= _LO_MASK
        l3 += s3
        h3 += l3 >> _LO_BITS
        l3 &= _LO_MASK
        l4 += s4
        h4 += l4 >> _LO_BITS
        l4 &= _LO_MASK
        l5 += s5
        h5 += l5 >> _LO_BITS
        l5 &= _LO_MASK
        ql += q
        qh += ql >> _LO_BITS
        ql &= _LO_MASK
        il += ii
        ih += il >> _LO_BITS
        il &= _LO_MASK
        k = ke
    return sv, si, sw, h0, l0, h1, l1, h2, l2, h3, l3, h4, l4, h5, l5, qh, ql, ih, il


def _colsum(buf, stride, a, b, off):
    """S(buf[k*stride]-off) for k in [a, b), negated when b < a."""
    if b < a:
        return -_colsum(buf, stride, b, a, off)
    s = 0
    for k in range(a, b):
        s += buf[k * stride] - off
    return s


def taps(f, theta):
    """6-tap fractional delay at offsets -2..3 for a shift of f (0 <= f < 1) samples.

    Quintic Lagrange (flat to O(w^6) at each harmonic w), with the two middle taps adjusted so
    the response is exactly exp(j*f*theta) at the fundamental (the EmonLibCM condition)."""
    c = [1.0] * _TAPS
    for n in range(_TAPS):
        for k in range(_TAPS):
            if k != n:
                c[n] *= (f - (k - 2)) / (n - k)
    gr = 0.0
    gi = 0.0
    for n in range(_TAPS):
        gr += c[n] * math.cos((n - 2) * theta)
        gi += c[n] * math.sin((n - 2) * theta)
    rr = math.cos(f * theta) - gr
    ri = math.sin(f * theta) - gi
    d1 = ri / math.sin(theta)
    c[2] += rr - d1 * math.cos(theta)
    c[3] += d1
    return c


def _interp(buf, stride, col, c, off):
    k = int(math.floor(c))
    t = c - k
    p = k * stride + col
    return (buf[p] - off) * (1.0 - t) + (buf[p + stride] - off) * t


def _chunk(max_a, max_b):
    c = (1 << 29) // (max_a * max_b + 1)
    if c < 1:
        return 1
    return 64 if c > 64 else c


def _per(value, n, default):
    if value is None:
        return [default] * n
    if isinstance(value, (int, float)):
        return [value] * n
    if len(value) != n:
        raise CTPowerError("need %d values" % n)
    return list(value)


class PowerCalc:
    """Real power, Vrms, Irms, VA, PF and frequency for one V channel and n_ct CTs.

    Per-CT settings are lists (or one value for all): ical (A per V at the pin), ct_lead_deg,
    skew (fraction of the set period from the V read to that CT's read). Results after compute():
    vrms, freq, ac_ok, vstatus, cycles, sets_per_cycle, window, and per CT the lists power (W),
    va, irms (A), pf, status. A value is None when not available. v_present without ac_ok means
    the V signal is there but the burst held no whole cycle (too short): drop it, it is not NO_AC."""

    def __init__(
        self,
        n_ct=1,
        ical=None,
        ct_lead_deg=None,
        skew=None,
        vratio=VT_RATIO,
        vt_lead_deg=0.0,
        uv_per_count=ADC_UV_PER_COUNT,
        lead_model=LEAD_HP1,
        fallback_vrms=230.0,
        min_vrms=40.0,
        nominal_hz=50.0,
        bias_count=BIAS_COUNT,
        bias_tol=400,
        adc_max=4095,
        lin_lo=LIN_LO_COUNT,
        lin_hi=LIN_HI_COUNT,
        noise_lsb=1.0,
        squelch=3.0,
    ):
        if n_ct < 1:
            raise CTPowerError("n_ct")
        if lead_model not in (LEAD_HP1, LEAD_PHASE):
            raise CTPowerError("lead_model")
        self.n_ct = n_ct
        self.nch = n_ct + 1
        self.ical = _per(ical, n_ct, CT_TURNS / CT_BURDEN_OHM)
        self.ct_lead_deg = _per(ct_lead_deg, n_ct, 0.0)
        self.skew = _per(skew, n_ct, None)
        for j in range(n_ct):
            if self.skew[j] is None:
                self.skew[j] = (j + 1) / self.nch
        self.vratio = vratio
        self.vt_lead_deg = vt_lead_deg
        self.uv_per_count = uv_per_count
        self.lead_model = lead_model
        self.fallback_vrms = fallback_vrms
        self.min_vrms = min_vrms
        self.nominal_hz = nominal_hz
        self.bias_count = bias_count
        self.bias_tol = bias_tol
        self.adc_max = adc_max
        self.lin_lo = lin_lo
        self.lin_hi = lin_hi
        self.noise_lsb = noise_lsb
        self.squelch = squelch
        n = n_ct
        self.power = [None] * n  # type: list
        self.va = [None] * n  # type: list
        self.irms = [None] * n  # type: list
        self.pf = [None] * n  # type: list
        self.status = [OK] * n
        self._off = [0] * self.nch
        self._mn = [0] * self.nch
        self._mx = [0] * self.nch
        self.vrms = None  # type: float | None
        self.freq = None  # type: float | None
        self.ac_ok = False
        self.v_present = False  # V swing above min_vrms: without ac_ok the burst held no whole cycle
        self.vstatus = OK
        self.cycles = 0
        self.sets_per_cycle = None  # type: float | None
        self.window = 0.0  # sets averaged (whole cycles), the weight for averaging bursts

    def _range_status(self, ch):
        mn = self._mn[ch]
        mx = self._mx[ch]
        if mn <= 0 and mx >= self.adc_max:
            # rail to rail: clipped on both sides, unevenly (the bias is not mid-range), so the
            # mean of a burst says nothing about the bias; a loose input sits at one rail at most
            return SATURATED
        if abs(self._off[ch] - self.bias_count) > self.bias_tol:
            return DISCONNECTED
        if mn <= 0 or mx >= self.adc_max:
            return SATURATED
        if mn < self.lin_lo or mx > self.lin_hi:
            return NONLINEAR
        return OK

    def compute(self, buf, nsets, period_us=None):
        """Process one burst; returns self. period_us: time between sets (for freq only)."""
        self.prepare(buf, nsets, period_us)
        for j in range(self.n_ct):
            self.channel(j)
        return self

    def prepare(self, buf, nsets, period_us=None):
        """Offsets, zero crossings, window and V statistics (call channel(j) after)."""
        nch = self.nch
        if nsets < 4 * _MARGIN or len(buf) < nsets * nch:
            raise CTPowerError("burst too short")
        self._buf = buf
        self._nsets = nsets
        for c in range(nch):
            s, mn, mx = _scan(buf, c, nch, nsets)
            self._off[c] = (s + nsets // 2) // nsets
            self._mn[c] = mn
            self._mx[c] = mx
        self.vk = self.uv_per_count * 1e-6 * self.vratio
        self.vstatus = self._range_status(0)
        self.ac_ok = False
        self.vrms = None
        self.freq = None
        self.cycles = 0
        self.sets_per_cycle = None
        ov = self._off[0]
        vamp = (self._mx[0] - self._mn[0]) // 2
        self.v_present = self.vstatus != DISCONNECTED and vamp * self.vk * 0.70710678 >= self.min_vrms
        if self.v_present:
            self._find_window(buf, nsets, period_us, ov, vamp)
        if not self.ac_ok:
            if self.vstatus == OK:
                self.vstatus = NO_AC
            self._fallback_window(nsets, period_us)

    def _find_window(self, buf, nsets, period_us, ov, vamp):
        nch = self.nch
        hyst = vamp // 4
        if hyst < 2:
            hyst = 2
        cnt, kf, af, bf, kl, al, bl, dmin, dmax = _crossings(buf, nch, _MARGIN, nsets - _MARGIN, ov, hyst)
        if cnt < 2:
            return
        c0 = kf - 1 + (-af) / (bf - af)
        c1 = kl - 1 + (-al) / (bl - al)
        ncyc = cnt - 1
        spc = (c1 - c0) / ncyc
        if spc < 4.0:
            return
        k0 = int(math.ceil(c0))
        k1 = int(math.ceil(c1))
        length = c1 - c0
        # The sum over sets k0..k1-1 is the midpoint rule for the integral over [k0-0.5, k1-0.5];
        # the strips [k0-0.5, c0] and [k1-0.5, c1] (signed widths a0, a1) are taken out and put in
        # with the midpoint rule too, so the window is exactly [c0, c1] to second order.
        a0 = c0 - k0 + 0.5
        a1 = c1 - k1 + 0.5
        s0 = k0 - 0.5 + 0.5 * a0
        s1 = k1 - 0.5 + 0.5 * a1
        maxv = max(abs(self._mx[0] - ov), abs(self._mn[0] - ov)) + 1
        sv, hh, ll, wmax = _vsums(buf, nch, k0, k1, ov, _chunk(maxv, maxv))
        e0 = _interp(buf, nch, 0, s0, ov)
        e1 = _interp(buf, nch, 0, s1, ov)
        mv = (sv - a0 * e0 + a1 * e1) / length
        vv = (hh * _HI + ll - a0 * e0 * e0 + a1 * e1 * e1) / length - mv * mv
        vrms = math.sqrt(vv) * self.vk if vv > 0 else 0.0
        if vrms < self.min_vrms:
            return
        self.ac_ok = True
        self.vrms = vrms
        self.cycles = ncyc
        self.sets_per_cycle = spc
        self.freq = 1e6 / (spc * period_us) if period_us else None
        if dmax - dmin > 2 + spc * 0.1 and self.vstatus == OK:
            self.vstatus = UNSTABLE
        # one tuple, not six attributes: keeps the instance dict in a smaller size class
        self._ends = (c0, c1, a0, a1, s0, s1)
        self._k0 = k0
        self._k1 = k1
        self._len = length
        self.window = length
        self._theta = 2.0 * math.pi / spc
        self._ov2 = ov + int(math.floor(mv + 0.5))
        ws = 0
        while ((2 * wmax + 2) >> ws) >= 4096:
            ws += 1
        self._ws = ws
        self._maxv = maxv + abs(self._ov2 - ov)

    def _fallback_window(self, nsets, period_us):
        k0 = _MARGIN
        k1 = nsets - _MARGIN
        if period_us and self.nominal_hz:
            spc = 1e6 / (period_us * self.nominal_hz)
            ncyc = int((k1 - k0) / spc)
            if ncyc >= 1:
                k1 = k0 + int(ncyc * spc + 0.5)
        self._k0 = k0
        self._k1 = k1
        self._len = float(k1 - k0)
        self.window = self._len

    def channel(self, j):
        """Compute CT j (0-based) after prepare()."""
        buf = self._buf
        nch = self.nch
        col = j + 1
        oi = self._off[col]
        ik = self.uv_per_count * 1e-6 * self.ical[j]
        st = self._range_status(col)
        self.status[j] = st
        self.power[j] = self.va[j] = self.irms[j] = self.pf[j] = None
        if st == DISCONNECTED:
            return
        maxi = max(abs(self._mx[col] - oi), abs(self._mn[col] - oi)) + 1
        k0 = self._k0
        k1 = self._k1
        length = self._len
        if not self.ac_ok:
            si, ih, il, _ = _vsums(buf, nch, k0, k1, oi, _chunk(maxi, maxi), col)
            mi = si / length
            ii = (ih * _HI + il) / length - mi * mi
            irms = math.sqrt(ii) * ik if ii > 0 else 0.0
            self.irms[j] = irms
            self.power[j] = self.va[j] = self.fallback_vrms * irms
            if st == OK:
                self.status[j] = NO_AC
            return
        theta = self._theta
        lam = math.radians(self.ct_lead_deg[j])
        lamv = math.radians(self.vt_lead_deg)
        phi = theta * self.skew[j]
        hp1 = self.lead_model == LEAD_HP1
        if not hp1:
            phi += lam - lamv
        r = phi / theta
        m = int(math.floor(r))
        f = r - m
        nsets = self._nsets
        c0, c1, a0, a1, s0, s1 = self._ends
        if k0 + m < 3 or k1 + m + 5 >= nsets:
            # the shifted V taps run off the burst: drop whole cycles at that end
            spc = self.sets_per_cycle
            if spc is None:
                self.status[j] = PHASE_RANGE
                return
            while math.ceil(c0) + m < 3:
                c0 += spc
            while math.ceil(c1) + m + 5 >= nsets:
                c1 -= spc
            if c1 - c0 < 0.5 * spc:
                self.status[j] = PHASE_RANGE
                return
            k0 = int(math.ceil(c0))
            k1 = int(math.ceil(c1))
            length = c1 - c0
            a0 = c0 - k0 + 0.5
            a1 = c1 - k1 + 0.5
            s0 = k0 - 0.5 + 0.5 * a0
            s1 = k1 - 0.5 + 0.5 * a1
        ov = self._ov2
        chunk = _chunk(max(self._maxv, 4096), maxi)
        res = _csums(buf, nch, col, k0, k1, m, ov, oi, self._ws, chunk)
        sv = res[0]
        si = res[1]
        sw = res[2]
        # end strips (see _find_window): f(s0), f(s1) from interpolated samples
        i0 = _interp(buf, nch, col, s0, oi)
        i1 = _interp(buf, nch, col, s1, oi)
        mi = (si - a0 * i0 + a1 * i1) / length
        cf = taps(f, theta)
        p = 0.0
        s = [0.0] * _TAPS
        for n in range(_TAPS):
            sh = m + n - 2
            v0 = _interp(buf, nch, 0, s0 + sh, ov)
            v1 = _interp(buf, nch, 0, s1 + sh, ov)
            svn = sv + _colsum(buf, nch, k1 + m, k1 + sh, ov) - _colsum(buf, nch, k0 + m, k0 + sh, ov)
            mvn = (svn - a0 * v0 + a1 * v1) / length
            s[n] = (res[3 + 2 * n] * _HI + res[4 + 2 * n] - a0 * v0 * i0 + a1 * v1 * i1) / length - mvn * mi
            p += cf[n] * s[n]
        ii = (res[17] * _HI + res[18] - a0 * i0 * i0 + a1 * i1 * i1) / length - mi * mi
        if hp1 and (lam != 0.0 or lamv != 0.0):
            # v_true = cos(lv)*(v + a*int(v)), i_true = cos(li)*(i + b*int(i)), a = w*tan(lv), b = w*tan(li):
            # mean(v_true*i_true) = cos*cos*(P + (a - b)*mean(i*int(v)) + a*b*mean(int(v)*int(i))),
            # using mean(v*int(i)) = -mean(i*int(v)); the last mean is P/w^2 at the fundamental.
            # q = mean(i * integral of v up to the I sample time) in count^2 * sets; w*Ts becomes
            # 2*tan(theta/2), undoing the trapezoid sum's gain (theta/2)/tan(theta/2) at the fundamental.
            q = ((res[15] * _HI + res[16]) / length - (sw / length) * mi) * (1 << self._ws) * 0.5
            q += (f - 0.5 * f * f) * s[2] + 0.5 * f * f * s[3]
            tv = math.tan(lamv)
            ti = math.tan(lam)
            p = math.cos(lamv) * math.cos(lam) * (p * (1.0 + tv * ti) + (tv - ti) * 2.0 * math.tan(0.5 * theta) * q)
        vrms = self.vrms or 0.0
        irms = math.sqrt(ii) * ik if ii > 0 else 0.0
        power = p * self.vk * ik
        if self.squelch and abs(power) < self.squelch * self.noise_lsb * ik * vrms / math.sqrt(length):
            power = 0.0
        va = vrms * irms
        self.power[j] = power
        self.irms[j] = irms
        self.va[j] = va
        if va > 0:
            pf = power / va
            self.pf[j] = 1.0 if pf > 1.0 else (-1.0 if pf < -1.0 else pf)
        else:
            self.pf[j] = 0.0
