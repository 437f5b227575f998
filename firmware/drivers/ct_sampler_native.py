"""Paced burst sampling kernel for the CT + AC-AC inputs (native code).

burst() reads one "sample set" (reads[0]() for V, then each CT's, back to back) every
set_us microseconds into an array('H'), up to `n` sets of nch values, storing
read_u16() // div (div 16: the 12-bit count). Set starts are paced on absolute
deadlines by a busy wait (on the ESP32 sleep_us is one too; on the unix port sleeping
overshoots by hundreds of us), so the set period is exactly set_us.

A set that starts more than set_us / 8 late, or whose reads take longer than dlim_us
(an interrupt, Wi-Fi, or on the emulated board a preempted host or the simulator's own
work), was not read at its place on the grid: its index goes to `bad` and the caller
replaces its values by interpolation from the good sets around it. A run starts again at
buf[0] on a new grid when a bad set comes among the first two, when `bad` is full or a
set is more than two periods late, unless budget_us has passed since the first start:
then the current run is returned as it is.

Returns (sets, restarts, busy_us, good, nbad): sets in buf, runs abandoned, the time
spent inside the reads of the `good` on-time sets of the kept run (for the V-to-CT
skew), and the number of indices in `bad`.

Build: this module holds @micropython.native code, so tools/build.py compiles it with
-march=xtensawin for the board and, as ct_sampler_native_x64.mpy, with -march=x64 for
the emulated board (the unix port rejects xtensawin code); ct_sampler.py imports
whichever this interpreter accepts. From the sources it is compiled at import for the
running architecture; under CPython the decorator is a no-op. No allocation happens in
the loops (small ints only).
"""
import time

import micropython


@micropython.native
def burst(buf, reads, nch, n, set_us, div, budget_us, bad, dlim_us):
    us = time.ticks_us
    diff = time.ticks_diff
    add = time.ticks_add
    lim = set_us // 8
    gap = 2 * set_us
    cap = len(bad)
    start = add(us(), 50)
    due = start
    restarts = 0
    busy = 0
    good = 0
    nbad = 0
    k = 0
    p = 0
    while k < n:
        while diff(due, us()) > 0:
            pass
        t = us()
        for c in range(nch):
            buf[p + c] = reads[c]() // div
        t2 = us()
        d = diff(t2, t)
        late = diff(t, due)
        if late > lim or d > dlim_us:
            if k < 2 or nbad >= cap or late > gap:
                if diff(t2, start) > budget_us:
                    break
                restarts += 1
                k = 0
                p = 0
                busy = 0
                good = 0
                nbad = 0
                due = add(t2, set_us)
                continue
            bad[nbad] = k
            nbad += 1
        else:
            busy += d
            good += 1
        due = add(due, set_us)
        k += 1
        p += nch
    return k, restarts, busy, good, nbad


@micropython.native
def read_time(r, n, div):
    """Total microseconds of n reads of r() // div (for the per-channel skew)."""
    us = time.ticks_us
    x = 0
    t = us()
    for _ in range(n):
        x += r() // div
    return time.ticks_diff(us(), t)


@micropython.native
def ticks_cost(n):
    """Total microseconds of n ticks_us() calls."""
    us = time.ticks_us
    t = us()
    for _ in range(n):
        us()
    return time.ticks_diff(us(), t)
