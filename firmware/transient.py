"""Modules loaded only for a moment, then forgotten to give their heap back.

On a WROOM-32 imported .mpy bytecode lives in the ~100 KB Python heap, so code
needed only at boot, on a settings change or during a meter poll is imported,
used and then dropped here. (Interned names stay: MicroPython never frees qstrs.)

The services that hold such code across awaits (an M-Bus poll ~14 KB on the
emulator, the MQTT connect ~3 KB, Home Assistant discovery ~5 KB) take turns:
one slot, so the heap's peak is the largest of them, not their sum (at boot they
would all start together).
"""
import asyncio
import sys

_holder = [None]
WAIT_POLL_MS = 20


def forget(fullname):
    """Drop a module from sys.modules and from its parent package. Never raises."""
    sys.modules.pop(fullname, None)
    parent_name, _, child = fullname.rpartition(".")
    parent = sys.modules.get(parent_name)
    # MicroPython's delattr on a module raises KeyError (not AttributeError)
    # for a missing name: check first.
    if parent is not None and hasattr(parent, child):
        try:
            delattr(parent, child)
        except (AttributeError, KeyError, TypeError):
            pass


def try_take(who):
    """Take the slot for `who` if it is free (or already theirs); True if they hold it now."""
    if _holder[0] is None or _holder[0] == who:
        _holder[0] = who
        return True
    return False


async def take(who, checkin=None, max_wait_ms=15000):
    """Wait until the slot is free, calling checkin() meanwhile (the supervisor), then take it.

    After about max_wait_ms the caller goes ahead anyway (False): a slow holder may cost
    heap, never a missed poll or a watchdog reset."""
    for _ in range(max_wait_ms // WAIT_POLL_MS):
        if try_take(who):
            return True
        if checkin is not None:
            checkin()
        await asyncio.sleep(WAIT_POLL_MS / 1000)
    return try_take(who)


def give(who):
    """Free the slot if `who` holds it."""
    if _holder[0] == who:
        _holder[0] = None


def holder():
    return _holder[0]
