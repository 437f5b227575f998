"""Simulated `select` for the emulated board: poll() timeouts in virtual ms.

The frozen asyncio sleeps by polling with the time to its next task as the timeout; with the
board's clock running N times faster (time.py, $HPMON_SPEED) that wait is divided by N,
rounded up to whole real ms so that a task is never polled for too early. N = 1: the
built-in poll itself.

Known limit: asyncio's C task queue keys a task woken by I/O, by create_task() or by an
Event with the built-in (real) ticks, so such tasks sort before every sleeping task, whose
keys are virtual. While the host keeps up this only means "runnable now"; once the CPU
saturates (N too high for the configuration) a stream of woken tasks starves the sleepers,
the watchdog feeder among them, and the board resets: lower N (docs/scenario.md lists the N
that the scenarios keep up with).
"""
import os

import uselect as _rs

POLLIN = _rs.POLLIN
POLLOUT = _rs.POLLOUT
POLLERR = _rs.POLLERR
POLLHUP = _rs.POLLHUP

_speed = int(os.getenv("HPMON_SPEED") or 1)


def _real(timeout):
    if timeout is None or timeout < 0 or _speed <= 1:
        return timeout
    return (int(timeout) + _speed - 1) // _speed


class _Poll:
    """A real poll object whose waits are shortened N times."""

    def __init__(self):
        self._p = _rs.poll()

    def register(self, obj, eventmask=POLLIN | POLLOUT):
        self._p.register(obj, eventmask)

    def modify(self, obj, eventmask):
        self._p.modify(obj, eventmask)

    def unregister(self, obj):
        self._p.unregister(obj)

    def poll(self, timeout=-1):
        return self._p.poll(_real(timeout))

    def ipoll(self, timeout=-1, flags=0):
        return self._p.ipoll(_real(timeout), flags)


if _speed <= 1:
    poll = _rs.poll
else:
    poll = _Poll
