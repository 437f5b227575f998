"""Log texts of the CT service (firmware/services/electric.py), imported only while one is
formatted and dropped again: long string constants are heap objects on the board, and
these are needed only when a condition changes (or once at start)."""

_CT = {
    "no_ac": "no AC-AC signal: apparent power only, not counted",
    "no_current": "no current (CT unplugged, or no load)",
    "saturated": "ADC saturated: reading too low (burden too large for this current?)",
    "nonlinear": "signal outside the ADC's linear range",
    "disconnected": "input far from the bias: front end disconnected",
    "no_data": "no usable sample burst",
}


def ct(st):
    return _CT.get(st, st)


def vac(vst, fallback_vrms, ac):
    if vst == "no_data":
        return _CT[vst] + " (interrupts held the CPU?): readings unknown, energy counted after"
    if ac:
        return "AC-AC %s" % vst
    return "AC-AC signal %s: CTs read apparent power at %g V, not counted as energy" % (vst, fallback_vrms)


def no_cal(upc):
    return ("ct: cannot calibrate the ADC from read_uv (no AC-AC signal?); "
            "using %.1f uV/count until it can" % upc)


def cal(res):
    return "ct: ADC %.2f uV/count, bias %d counts (from read_uv)" % res
