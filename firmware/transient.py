"""Modules loaded only for a moment, then forgotten to give their heap back.

On a WROOM-32 imported .mpy bytecode lives in the ~100 KB Python heap, so code
needed only at boot, on a settings change or during a meter poll is imported,
used and then dropped here. (Interned names stay: MicroPython never frees qstrs.)
"""
import sys


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
