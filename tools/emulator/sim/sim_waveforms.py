"""Mains voltage and CT current waveforms and the board's analog front end (emulator, pure).

Scenario values (dicts as in the scenario JSON):
  mains = {"vrms": 230.0, "freq_hz": 50.0, "harmonics": [[order, fraction, phase_deg], ...],
           "acac": True, "vt_phase_lead_deg": 0.0}
  ct    = [{"input": 1, "real_power_w": 1000.0, "pf": 0.9, "pf_leading": False,
           "harmonics": [[order, fraction, phase_deg], ...], "phase_lead_deg": 3.0, "connected": True}, ...]
           (input: CT number 1-3; default list position + 1)
  adc   = {"noise_lsb": 1.0}
  faults: "acac_missing" (the V pin sits at the bias), "ct_unplugged" (target: CT number; that
  input sits at the bias, i.e. reads 0 A), "irq_storm" (an interrupt holds the CPU for STORM_HOLD_US
  every STORM_EVERY_US, as a Wi-Fi storm would: sample reads come late, bursts cannot be paced;
  machine.ADC applies it).

Definitions (the truth the firmware is judged against):
- v(t) = sqrt2*V1*[sin(wt) + sum f_h sin(h*wt + p_h)], with vrms the total RMS, so
  V1 = vrms / sqrt(1 + sum f_h^2). t = 0 is a positive-going zero crossing of the fundamental.
- i(t) = sqrt2*I1*[sin(wt - phi1) + sum g_h sin(h*wt + q_h)]: pf is the displacement power
  factor cos(phi1) of the fundamental (lagging unless pf_leading); current harmonic phases are
  absolute, in the harmonic's own angle, like the voltage ones.
- Real power P = V1*I1*[cos(phi1) + sum over h in both of f_h*g_h*cos(p_h - q_h)] (only equal
  orders carry power), so I1 = real_power_w / (V1 * that bracket). Negative power = export.
- CT: output leads the primary current by phase_lead_deg at the fundamental; at harmonic h the lead
  is atan(tan(lead)/h) with gain cos(lead_h)/cos(lead) (first-order magnetising-branch model,
  normalised so the fundamental ratio is exactly turns:1). The AC-AC adapter is ideal unless
  vt_phase_lead_deg is set (same model).

Front end (defaults shared with firmware/ctpower.py):
  ADC 12 bit at 11 dB as modelled by the emulator's machine.ADC: 0..3100 mV -> 0..4095 counts
  (757.0 uV/count), clipped; Gaussian noise of noise_lsb counts RMS added here in mV.
  Bias 1.65 V (mid-rail) on every input: count 2180.
  Voltage: VT_RATIO = 460 mains V per V at the pin (230:9 V adapter x 18:1 divider): 230 V ->
           0.5 V rms, 253 V -> +/-0.78 V, inside the ESP32 11 dB linear range (0.15-2.45 V).
  Current: CT 2000 turns into a 33 ohm burden: pin volts = amps / 2000 * 33 (ical 60.6 A/V);
           +/-0.8 V peak at 34 A rms (end of the linear range); counts clip at
           1.65 V + 1.45 V (88 A peak).
  Time: millivolts(world, signal, t_us) takes t_us on the clock the firmware's ticks_us runs on;
  the fundamental's phase stays continuous when the scenario changes frequency.
  acac False: the V pin sits at the bias (no adapter). connected False: the CT input sits at
  the bias (jack unplugged, 0 A).
"""

import math

ADC_MAX = 4095
ADC_FULL_MV = 3100.0  # 11 dB full scale of the emulator's machine.ADC
BIAS_V = 1.65
VT_RATIO = 460.0
CT_TURNS = 2000
CT_BURDEN_OHM = 33.0
_SQRT2 = 1.4142135623730951


def _harm(lst):
    out = []
    for h in lst or ():
        out.append((int(h[0]), float(h[1]), math.radians(float(h[2]))))
    return out


def _lead(lead_deg, comps):
    """Apply the first-order CT/VT model to [(order, amplitude, phase)]."""
    if not lead_deg:
        return comps
    lam = math.radians(lead_deg)
    t = math.tan(lam)
    c1 = math.cos(lam)
    out = []
    for h, a, p in comps:
        lh = math.atan(t / h)
        out.append((h, a * math.cos(lh) / c1, p + lh))
    return out


class Signals:
    """Instantaneous mains volts, CT amps and ADC counts at time t (seconds)."""

    def __init__(self, mains=None, cts=(), adc=None):
        self.t0 = 0.0
        self.phase0 = 0.0
        self.freq = 50.0
        self.set(mains, cts, adc)

    def angle(self, t):
        """Fundamental angle (rad) at t seconds."""
        return self.phase0 + 2.0 * math.pi * self.freq * (t - self.t0)

    def set(self, mains=None, cts=(), adc=None, t=None):
        """(Re)load scenario values; with t, the fundamental's phase continues from time t."""
        if t is not None:
            self.phase0 = self.angle(t) % (2.0 * math.pi)
            self.t0 = t
        mains = mains or {}
        self.vrms = float(mains.get("vrms", 230.0))
        self.freq = float(mains.get("freq_hz", 50.0))
        self.acac = mains.get("acac", True)
        vh = _harm(mains.get("harmonics"))
        self.v1 = self.vrms / math.sqrt(1.0 + sum(f * f for _, f, _ in vh))
        self._vh = dict((h, (f, p)) for h, f, p in vh)
        vc = [(1, self.v1 * _SQRT2, 0.0)] + [(h, self.v1 * _SQRT2 * f, p) for h, f, p in vh]
        self._vcomp = _lead(mains.get("vt_phase_lead_deg", 0.0), vc)
        self._cts = []
        for ct in cts or ():
            self._cts.append(self._ct(ct))
        self.noise_lsb = float((adc or {}).get("noise_lsb", 0.0))

    def _ct(self, ct):
        p = float(ct.get("real_power_w", 0.0))
        pf = float(ct.get("pf", 1.0))
        if pf <= 0.0 or pf > 1.0:
            raise ValueError("pf must be in (0, 1]")
        phi1 = math.acos(pf)
        if ct.get("pf_leading"):
            phi1 = -phi1
        ih = _harm(ct.get("harmonics"))
        k = math.cos(phi1)
        for h, g, q in ih:
            if h in self._vh:
                f, pv = self._vh[h]
                k += f * g * math.cos(pv - q)
        i1 = p / (self.v1 * k) if p and k > 1e-9 else 0.0
        true = [(1, i1 * _SQRT2, -phi1)] + [(h, i1 * _SQRT2 * g, q) for h, g, q in ih]
        irms = abs(i1) * math.sqrt(1.0 + sum(g * g for _, g, _ in ih))
        real = self.v1 * i1 * k
        return {
            "true": true,
            "meas": _lead(ct.get("phase_lead_deg", 0.0), true),
            "connected": ct.get("connected", True),
            "truth": {
                "real_power_w": real,
                "vrms": self.vrms,
                "irms": irms,
                "apparent_va": self.vrms * irms,
                "pf": real / (self.vrms * irms) if irms else 0.0,
                "freq_hz": self.freq,
            },
        }

    def truth(self, n):
        """Analytic true values for CT n: real_power_w, vrms, irms, apparent_va, pf, freq_hz."""
        return self._cts[n]["truth"]

    def volts(self, t, measured=True):
        """Mains volts at t (measured=True: as seen through the adapter model)."""
        w = self.angle(t)
        s = 0.0
        comps = self._vcomp
        if not measured:
            comps = [(1, self.v1 * _SQRT2, 0.0)] + [(h, self.v1 * _SQRT2 * f, p) for h, (f, p) in self._vh.items()]
        for h, a, p in comps:
            s += a * math.sin(h * w + p)
        return s

    def amps(self, n, t, measured=True):
        """CT n primary amps at t (measured=True: as reproduced by the CT, with its lead)."""
        w = self.angle(t)
        s = 0.0
        for h, a, p in self._cts[n]["meas" if measured else "true"]:
            s += a * math.sin(h * w + p)
        return s

    def v_pin(self, t):
        if not self.acac:
            return BIAS_V
        return BIAS_V + self.volts(t) / VT_RATIO

    def i_pin(self, n, t):
        if not self._cts[n]["connected"]:
            return BIAS_V
        return BIAS_V + self.amps(n, t) / CT_TURNS * CT_BURDEN_OHM

    def v_count(self, t, rng=None):
        return counts(self.v_pin(t), self.noise_lsb, rng)

    def i_count(self, n, t, rng=None):
        return counts(self.i_pin(n, t), self.noise_lsb, rng)


def gauss(rng):
    """Standard normal sample from an object with random() (Box-Muller)."""
    u = rng.random()
    if u < 1e-12:
        u = 1e-12
    return math.sqrt(-2.0 * math.log(u)) * math.cos(2.0 * math.pi * rng.random())


def counts(pin_v, noise_lsb=0.0, rng=None):
    """ADC reading (0..4095) of pin_v volts, with optional Gaussian noise in counts RMS."""
    x = pin_v * 1000.0 * ADC_MAX / ADC_FULL_MV
    if noise_lsb and rng is not None:
        x += noise_lsb * gauss(rng)
    c = int(math.floor(x + 0.5))
    if c < 0:
        return 0
    if c > ADC_MAX:
        return ADC_MAX
    return c


# ---------------------------------------------------------------- emulator entry point

STORM_HOLD_US = 1500  # longer than ct_sampler can interpolate (MAX_RUN sets of 250 us)
STORM_EVERY_US = 5000
storm = False  # the "irq_storm" fault is on (refreshed with the scenario values)
_REFRESH_MS = 100  # re-read the scenario values this often (virtual ms)
_sig = None
_sig_ms = None
_ct_index = None


def _ct_list(world):
    cts = world.get("ct") or []
    order = {}
    for pos in range(len(cts)):
        inp = cts[pos].get("input", pos + 1) if isinstance(cts[pos], dict) else pos + 1
        if isinstance(inp, str) and inp.startswith("ct"):
            inp = inp[2:]
        order[int(inp)] = pos
    return len(cts), order


def _leaf(world, path, default):
    v = world.get(path, None)
    return default if v is None else v


def _load(world, t):
    global _sig, _sig_ms, _ct_index, storm
    storm = world.fault("irq_storm")
    n, _ct_index = _ct_list(world)
    mains = {
        "vrms": _leaf(world, "mains.vrms", 230.0),
        "freq_hz": _leaf(world, "mains.freq_hz", 50.0),
        "harmonics": world.get("mains.harmonics") or (),
        "vt_phase_lead_deg": _leaf(world, "mains.vt_phase_lead_deg", 0.0),
        "acac": _leaf(world, "mains.acac", True) and not world.fault("acac_missing"),
    }
    cts = []
    for pos in range(n):
        base = "ct.%d." % pos
        num = [k for k, v in _ct_index.items() if v == pos][0]
        cts.append({
            "real_power_w": _leaf(world, base + "real_power_w", 0.0),
            "pf": _leaf(world, base + "pf", 1.0),
            "pf_leading": _leaf(world, base + "pf_leading", False),
            "harmonics": world.get(base + "harmonics") or (),
            "phase_lead_deg": _leaf(world, base + "phase_lead_deg", 0.0),
            "connected": _leaf(world, base + "connected", True) and not world.fault("ct_unplugged", num),
        })
    adc = {"noise_lsb": _leaf(world, "adc.noise_lsb", 0.0)}
    if _sig is None:
        _sig = Signals(mains, cts, adc)
        _sig.t0 = t
    else:
        _sig.set(mains, cts, adc, t)
    _sig_ms = world.now_ms()


def millivolts(world, signal, t_us):
    """Pin voltage in mV for signal "vac" or "ct1".."ct3" at t_us (with ADC noise)."""
    t = t_us * 1e-6
    now = world.now_ms()
    if _sig is None or now - _sig_ms >= _REFRESH_MS or now < _sig_ms:
        _load(world, t)
    sig = _sig
    if signal == "vac":
        v = sig.v_pin(t)
    else:
        pos = _ct_index.get(int(signal[2:]))
        v = BIAS_V if pos is None else sig.i_pin(pos, t)
    mv = v * 1000.0
    if sig.noise_lsb:
        mv += sig.noise_lsb * (ADC_FULL_MV / ADC_MAX) * gauss(world.rng)
    return mv


def reset():
    """Forget the cached scenario values (tests)."""
    global _sig, _sig_ms, _ct_index, storm
    _sig = _sig_ms = _ct_index = None
    storm = False
