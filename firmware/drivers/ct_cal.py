"""Start-up calibration for the CT sampler, imported only while it runs (see
ct_sampler.CtSampler.time_reads / calibrate, which drop it from the heap again).

time_reads(): each channel's read and a ticks_us() call, timed in the native kernels
(for the V-to-CT skew). calibrate(): ESP-IDF's eFuse ADC line (read_uv() = a * raw + b
over the 11 dB linear range) from the live AC-AC signal read both ways.
"""
import time
from math import sqrt

CAL_READS = 48


def time_reads(s, div):
    k = s._k
    for c in range(s.nch):
        r = s.reads[c]
        r()  # the first read may set things up
        s.read_us[c] = min(k.read_time(r, CAL_READS, div), k.read_time(r, CAL_READS, div)) / CAL_READS
    s.tick_us = k.ticks_cost(CAL_READS) / CAL_READS
    # a set whose reads take longer than this was interrupted
    s.dlim_us = int(1.5 * sum(s.read_us) + 2 * s.tick_us) + 20


def calibrate(adc, div, n, bias_mv, min_span, pause_us):
    """(uv_per_count, bias_count), or None (no read_uv(), or too small a swing).

    a = std(uv) / std(count) and b = mean(uv) - a * mean(count) over readings of the same
    AC signal: unlike a fit of pairs this does not care when each read happened."""
    if adc is None or not hasattr(adc, "read_uv"):
        return None
    ru = adc.read_uv
    rc = adc.read_u16
    x0 = rc() // div
    y0 = ru() // 10
    sx = sy = sxx = syy = 0
    lo = hi = x0
    for _ in range(n):
        time.sleep_us(pause_us)
        # both reads of each kind spread over the same times: alternate the order
        x = rc() // div - x0
        y = ru() // 10 - y0
        y2 = ru() // 10 - y0
        x2 = rc() // div - x0
        sx += x + x2
        sy += y + y2
        sxx += x * x + x2 * x2
        syy += y * y + y2 * y2
        if x + x0 < lo:
            lo = x + x0
        if x + x0 > hi:
            hi = x + x0
    m = 2 * n
    vx = m * sxx - sx * sx
    vy = m * syy - sy * sy
    if hi - lo < min_span or vx <= 0 or vy <= 0:
        return None
    slope = 10.0 * sqrt(vy / vx)  # uV per count
    icpt = 10.0 * (y0 + sy / m) - slope * (x0 + sx / m)  # uV at count 0
    return slope, int((bias_mv * 1000.0 - icpt) / slope + 0.5)
