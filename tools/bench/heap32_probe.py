# Runs on any MicroPython port (tools/bench/heap32.py): the unix port (64-bit) and the
# WebAssembly port (32-bit, like the ESP32). The host prepends MODULES, TRANSIENT and
# PRELOAD. The simulated hardware (PRELOAD) is imported first and not counted: on the
# board those are C or frozen modules. Then each module's import is measured in the
# given order, each after a collection, so both ports do exactly the same work.
import gc

for _name in PRELOAD:  # noqa: F821 - MODULES, TRANSIENT, PRELOAD come from the host
    try:
        __import__(_name)
    except ImportError:
        pass


def _measure(tag, names):
    total = 0
    for name in names:
        gc.collect()
        before = gc.mem_alloc()
        try:
            __import__(name)
        except Exception as exc:  # noqa: BLE001 - a probe reports, it does not stop
            print("probe-error %s %s %r" % (tag, name, exc))
            continue
        gc.collect()
        cost = gc.mem_alloc() - before
        total += cost
        print("probe %s %d %s" % (tag, cost, name))
    print("probe-total %s %d" % (tag, total))


class _Six:
    def __init__(self, i):
        self.a = self.b = self.c = self.d = self.e = self.f = i


def _objects():
    """Objects made of pointers only: what halves on a 32-bit port."""
    gc.collect()
    before = gc.mem_alloc()
    keep = [_Six(i) for i in range(200)] + [{"a": i, "b": 2, "c": 3, "d": 4} for i in range(200)]
    gc.collect()
    print("probe-objects %d" % (gc.mem_alloc() - before))
    return keep


_measure("held", MODULES)  # noqa: F821
_measure("transient", TRANSIENT)  # noqa: F821
_objects()
