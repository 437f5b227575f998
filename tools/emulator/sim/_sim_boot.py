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

_ballast = None
_target = os.getenv("HPMON_HEAP_TARGET")
if _target:
    gc.collect()
    # free heap the firmware would see on a board: the target heap less what a
    # bare interpreter had allocated before the simulator was loaded
    _extra = gc.mem_free() - (int(_target) - _base)
    if _extra > 0:
        _ballast = bytearray(_extra)
    gc.collect()

_firmware = os.getenv("HPMON_FIRMWARE") or "."
_globals = {"__name__": "__main__"}
for _name in ("boot.py", "main.py"):
    try:
        with open(_firmware + "/" + _name) as _f:
            _source = _f.read()
    except OSError:
        continue
    exec(_source, _globals)
