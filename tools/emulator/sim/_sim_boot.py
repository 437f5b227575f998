"""Boots the emulated board like the ESP32 does: boot.py, then main.py.

Run by tools/emulator with the board's flash as the working directory and
$HPMON_FIRMWARE naming the folder that holds boot.py/main.py.

Heap accounting: the simulated hardware lives in the same MicroPython heap as
the firmware, but a real board does not carry it. So the simulator is loaded
first, and a ballast block then takes exactly the extra heap the emulator
granted, leaving the firmware the free heap of a board with --heap bytes.
"""
import gc
import os

gc.collect()
_base = gc.mem_alloc()

import simworld  # noqa: E402

_world = simworld.world()
for _name in ("socket", "machine", "network", "esp32", "ntptime", "sim_analog", "sim_waveforms",
              "_onewire", "onewire", "ds18x20", "sim_onewire_bus"):
    try:
        __import__(_name)
    except ImportError:
        pass
for _section, _module in (("heat_meter", "sim_mbus_meter"), ("modbus_meter", "sim_sdm"), ("irda", "sim_elster")):
    if _world.scenario.get(_section):
        __import__(_module)

# The board's C runtime reads boot.py/main.py without touching the Python
# heap; read them before the ballast so the loader costs the firmware nothing.
_firmware = os.getenv("HPMON_FIRMWARE") or "."
_sources = []
for _name in ("boot.py", "main.py"):
    try:
        with open(_firmware + "/" + _name) as _f:
            _sources.append(compile(_f.read(), _name, "exec"))
    except OSError:
        pass
_globals = {"__name__": "__main__"}

_ballast = []
_target = os.getenv("HPMON_HEAP_TARGET")
if _target:
    gc.collect()
    # free heap the firmware would see on a board: the target heap less what a
    # bare interpreter had allocated before the simulator was loaded. Taken in
    # small blocks: the simulator leaves the heap fragmented.
    _ballast = [None] * 4096  # preallocated: growing the list would fragment further
    _n = 0
    _size = 8192
    _extra = gc.mem_free() - (int(_target) - _base)
    while _extra > 64 and _n < len(_ballast):
        try:
            _ballast[_n] = bytearray(min(_extra - 32, _size))
            _n += 1
        except MemoryError:
            if _size <= 64:
                break
            _size //= 2
        _extra = gc.mem_free() - (int(_target) - _base)
    gc.collect()

for _code in _sources:
    exec(_code, _globals)
