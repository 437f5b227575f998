"""Simulated `time` for the emulated board: the board's clock, optionally N times faster.

The unix port lets a `time.py` on MICROPYPATH stand in for the built-in module (the
`utime` alias always names the built-in), so the firmware, the frozen asyncio and the
simulated hardware all read this clock. Environment (set by tools/emulator/board.py):
  HPMON_SPEED     N, how many virtual seconds pass per real second (default 1);
  HPMON_EPOCH_MS  host wall time (ms) of the board's first power-on: the world's epoch;
  HPMON_START_S   the board's wall time (unix seconds) at that epoch (default: the epoch).
Virtual wall time = START + (host now - EPOCH) x N, so it continues across resets of the
board, as the world's clock does (simworld.World.now_ms() = virtual wall - START).
With N = 1 and no start offset every function is the built-in one itself.
CPU-bound work does not speed up: a 50 ms burst of Python takes 50 x N virtual ms.
"""
import os

import utime as _rt

_speed = int(os.getenv("HPMON_SPEED") or 1)
if _speed < 1:
    _speed = 1
_epoch_ns = int(os.getenv("HPMON_EPOCH_MS") or _rt.time_ns() // 1000000) * 1000000
_start = os.getenv("HPMON_START_S")
_start_ns = int(float(_start) * 1000) * 1000000 if _start else _epoch_ns

# Unchanged whatever the speed: conversions and ticks arithmetic (same period).
mktime = _rt.mktime
ticks_add = _rt.ticks_add
ticks_diff = _rt.ticks_diff
ticks_cpu = _rt.ticks_cpu
_MASK = _rt.ticks_add(0, -1)  # ticks period - 1 (2**62 - 1 on the 64-bit unix port)


def speed():
    """N (1 = real time)."""
    return _speed


def real_time_ns():
    """Host wall time in ns, whatever the speed (for the simulated analog front end)."""
    return _rt.time_ns()


if _speed == 1 and _start_ns == _epoch_ns:
    time = _rt.time
    time_ns = _rt.time_ns
    ticks_ms = _rt.ticks_ms
    ticks_us = _rt.ticks_us
    localtime = _rt.localtime
    gmtime = _rt.gmtime
    sleep = _rt.sleep
    sleep_ms = _rt.sleep_ms
    sleep_us = _rt.sleep_us
else:
    def _elapsed_ns():
        """Virtual ns since the epoch."""
        return (_rt.time_ns() - _epoch_ns) * _speed

    def time_ns():
        return _start_ns + _elapsed_ns()

    def time():
        return time_ns() / 1e9

    # Ticks are the real ones times N: never behind the built-in ticks, which the C part of
    # asyncio uses as the key of a task made runnable now (it must not look to be due later).
    def ticks_ms():
        return (_rt.ticks_ms() * _speed) & _MASK

    def ticks_us():
        return (_rt.ticks_us() * _speed) & _MASK

    def localtime(secs=None):
        return _rt.localtime(int(time_ns() // 1000000000) if secs is None else secs)

    def gmtime(secs=None):
        return _rt.gmtime(int(time_ns() // 1000000000) if secs is None else secs)

    def sleep(seconds):
        _rt.sleep(seconds / _speed)

    def sleep_ms(ms):
        _rt.sleep_us(int(ms) * 1000 // _speed)

    def sleep_us(us):
        _rt.sleep_us(int(us) // _speed)
