"""Heat maths (pure): water/glycol density and specific heat, heat power, integer-Wh totals.

Water: own polynomial fits in x = T/100 (T in degC) to IAPWS-95 (Wagner & Pruss, J. Phys. Chem.
Ref. Data 31, 387 (2002)) at 0.101325 MPa, as tabulated by the NIST Chemistry WebBook "isobaric
properties of water". Fitted over 0-95 degC; largest deviation over 5-80 degC: density 0.002 %,
cp 0.005 % (0-95 degC: 0.005 % / 0.011 %), in single-precision floats too.

Glycol (volume %, 10-60 % vol; below 10 % blended linearly towards water): own 9-term fits
(rho, cp = sum c_ij * v^i * x^j, v = volume fraction, i, j <= 2) to the CoolProp "APG"/"AEG"
incompressible correlations, which CoolProp fitted to the ASHRAE Handbook Fundamentals (2001)
propylene/ethylene glycol tables via the SecCool data set. Our fit reproduces those
correlations within 0.04 % over 0-90 degC; other published data differ more (Perry's Handbook
specific gravities of propylene glycol by volume are 0.5-0.7 % lower), and the concentration in
a real system is seldom known to better than +-5 % vol (about 1-2 % in rho*cp), so treat glycol
results as ~1-2 % accurate.
"""

WATER = 0
PROPYLENE_GLYCOL = 1
ETHYLENE_GLYCOL = 2
FLUIDS = {"water": WATER, "propylene_glycol": PROPYLENE_GLYCOL, "ethylene_glycol": ETHYLENE_GLYCOL}

# Horner coefficients, highest power first, in x = T/100.
_RHO_W = (-13.74109355, 42.36611474, -75.31311401, 5.061726396, 999.8896647)
_CP_W = (-371.3663353, 1192.250763, -1490.79005, 987.6748177, -322.1232508, 4219.001124)
# Glycol fits: 9 coefficients c[3*i + j] for v**i * x**j, (rho, cp) per fluid.
_GLYCOL = (
    (),  # water: no glycol fit
    (  # propylene glycol (CoolProp APG <- ASHRAE 2001)
        (1000.726898, -18.16648212, -23.59496558, 139.4366603, -56.81506463, -10.03496954,
         -70.76627667, 10.04801644, 11.78525232),
        (4132.253137, 106.941263, -3.337194757, -789.9465007, 561.3200417, 17.49099173,
         -1131.467568, -7.664633294, -20.65080375),
    ),
    (  # ethylene glycol (CoolProp AEG <- ASHRAE 2001)
        (1000.931715, -19.53023143, -24.08422563, 182.3775192, -25.74668463, -1.209101606,
         -43.89143192, -5.658185754, 1.4616665),
        (4098.784106, 117.3310346, 1.37558448, -1560.328383, 579.1287544, -9.631273002,
         -461.4442043, -82.79316128, 14.49322925),
    ),
)
_GLYCOL_MIN = 0.10  # lowest volume fraction of the source data
_GLYCOL_MAX = 0.60

# volume-flow unit -> factor to m3/s
_FLOW_UNITS = {"m3/h": 1.0 / 3600.0, "l/min": 1.0 / 60000.0, "l/h": 1.0 / 3600000.0,
               "l/s": 0.001, "m3/s": 1.0}


class HeatError(ValueError):
    pass


def _horner(coeffs, x):
    acc = 0.0
    for c in coeffs:
        acc = acc * x + c
    return acc


def _glycol_fit(coeffs, v, x):
    total = 0.0
    vi = 1.0
    for i in range(3):
        total += vi * (coeffs[3 * i] + x * (coeffs[3 * i + 1] + x * coeffs[3 * i + 2]))
        vi *= v
    return total


def water_density(t_c):
    """Density of liquid water at 1 atm, kg/m3 (IAPWS-95 fit, 0-95 degC)."""
    return _horner(_RHO_W, t_c / 100.0)


def water_cp(t_c):
    """Isobaric specific heat of liquid water at 1 atm, J/(kg K) (IAPWS-95 fit, 0-95 degC)."""
    return _horner(_CP_W, t_c / 100.0)


def fluid_code(name):
    """FLUIDS code for a config name ('water', 'propylene_glycol', 'ethylene_glycol')."""
    code = FLUIDS.get(name)
    if code is None:
        raise HeatError("unknown fluid %r" % (name,))
    return code


def _check(fluid, glycol_pct):
    if fluid == WATER or glycol_pct == 0:
        return 0.0
    if fluid not in (PROPYLENE_GLYCOL, ETHYLENE_GLYCOL):
        raise HeatError("unknown fluid %r" % (fluid,))
    v = glycol_pct / 100.0
    if not 0.0 <= v <= _GLYCOL_MAX:
        raise HeatError("glycol %% out of 0-60: %r" % (glycol_pct,))
    return v


def _property(which, t_c, fluid, glycol_pct):
    v = _check(fluid, glycol_pct)
    water = water_density(t_c) if which == 0 else water_cp(t_c)
    if v == 0.0:
        return water
    coeffs = _GLYCOL[fluid][which]
    x = t_c / 100.0
    if v >= _GLYCOL_MIN:
        return _glycol_fit(coeffs, v, x)
    # below the data's 10 % vol: linear between pure water and the 10 % mixture
    w = v / _GLYCOL_MIN
    return water + w * (_glycol_fit(coeffs, _GLYCOL_MIN, x) - water)


def density(t_c, fluid=WATER, glycol_pct=0):
    """Density, kg/m3, of water or a glycol mix (glycol_pct = % by volume)."""
    return _property(0, t_c, fluid, glycol_pct)


def specific_heat(t_c, fluid=WATER, glycol_pct=0):
    """Isobaric specific heat, J/(kg K), of water or a glycol mix."""
    return _property(1, t_c, fluid, glycol_pct)


def to_m3s(flow, unit):
    """Volume flow in m3/s from a value in unit ('m3/h', 'l/min', 'l/h', 'l/s', 'm3/s')."""
    factor = _FLOW_UNITS.get(unit)
    if factor is None:
        raise HeatError("unknown flow unit %r" % (unit,))
    return flow * factor


def heat_power_w(flow, unit, t_flow, t_return, meter="return", fluid=WATER, glycol_pct=0):
    """Heat power in W delivered by the flow (negative when t_return > t_flow, e.g. defrost).

    The volume flow is turned into mass flow with the density at the temperature of the pipe
    the flow meter sits in (meter = 'flow' or 'return'); cp is taken at the mean temperature,
    which matches the IAPWS-95 enthalpy difference (EN 1434-1 heat coefficient) within 0.04 %
    for dT up to 20 K over 5-80 degC (< 0.001 % at dT = 5 K). Properties are at 1 atm; 3 bar of
    system pressure changes rho*cp by < 0.02 %. None in, None out: unknown is never 0.
    """
    if flow is None or t_flow is None or t_return is None:
        return None
    if meter == "return":
        t_meter = t_return
    elif meter == "flow":
        t_meter = t_flow
    else:
        raise HeatError("meter side must be 'flow' or 'return', not %r" % (meter,))
    mass = to_m3s(flow, unit) * density(t_meter, fluid, glycol_pct)
    cp = specific_heat((t_flow + t_return) * 0.5, fluid, glycol_pct)
    return mass * cp * (t_flow - t_return)


class HeatCalc:
    """Heat power with the circuit's settings fixed (config: fluid, glycol %, meter side, unit)."""

    def __init__(self, fluid="water", glycol_pct=0, meter="return", unit="l/min"):
        self.fluid = fluid_code(fluid) if isinstance(fluid, str) else fluid
        _check(self.fluid, glycol_pct)
        to_m3s(0.0, unit)
        if meter not in ("flow", "return"):
            raise HeatError("meter side must be 'flow' or 'return', not %r" % (meter,))
        self.glycol_pct = glycol_pct
        self.meter = meter
        self.unit = unit

    def power_w(self, flow, t_flow, t_return):
        return heat_power_w(flow, self.unit, t_flow, t_return, self.meter, self.fluid,
                            self.glycol_pct)


_MJ_PER_WH = 3600000  # W*ms per Wh


class WhIntegrator:
    """Integer-Wh heat and cooling totals from power samples, carrying remainders as ints.

    Positive power adds to heat_wh, negative power to cool_wh (as EN 1434 meters keep separate
    heat and cooling registers). Each step's W*ms is rounded to an int mJ; the sub-Wh remainder
    is carried, so nothing is lost to float32 rounding however long it runs.
    """

    def __init__(self, heat_wh=0, cool_wh=0):
        self.heat_wh = heat_wh
        self.cool_wh = cool_wh
        self._heat_mj = 0
        self._cool_mj = 0

    def add(self, power_w, dt_ms):
        """Adds power_w held for dt_ms; returns heat_wh. None power adds nothing."""
        if power_w is None or dt_ms <= 0:
            return self.heat_wh
        mj = int(power_w * dt_ms + (0.5 if power_w >= 0 else -0.5))
        if mj >= 0:
            total = self._heat_mj + mj
            whole = total // _MJ_PER_WH
            self.heat_wh += whole
            self._heat_mj = total - whole * _MJ_PER_WH
        else:
            total = self._cool_mj - mj
            whole = total // _MJ_PER_WH
            self.cool_wh += whole
            self._cool_mj = total - whole * _MJ_PER_WH
        return self.heat_wh
