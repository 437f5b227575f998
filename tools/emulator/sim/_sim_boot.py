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
# Reserve the firmware's budget first, as one block, while the heap is still
# empty: released after the simulator is loaded and the rest is filled, it
# gives the firmware a contiguous heap of --heap bytes, as a fresh board has.
_target = os.getenv("HPMON_HEAP_TARGET")
_reserve = bytearray(int(_target) - _base) if _target else None
if _reserve is not None and os.getenv("HPMON_IMPORT_CENSUS"):
    import uctypes  # where the firmware's heap lies, for the census's block map (mem_info(1))
    print("import-census-reserve %x %d" % (uctypes.addressof(_reserve), len(_reserve)))

# A firmware built with ROMFS (emulator --romfs): the image, in the heap the emulator added for
# it (a flash partition on the board), mounted at /rom; the firmware package and its libraries
# are imported from /rom and /rom/lib, in place, instead of from the firmware folder.
_romfs = os.getenv("HPMON_ROMFS")
if _romfs:
    import sys

    import vfs

    with open(_romfs, "rb") as _f:
        _rom_image = _f.read()
    vfs.mount(vfs.VfsRom(_rom_image), "/rom")
    _fw = os.getenv("HPMON_FIRMWARE") or "."
    sys.path[:] = [p for p in sys.path if p not in (_fw, _fw + "/lib")]
    sys.path[1:1] = ["/rom", "/rom/lib"]  # after the simulated hardware

import simworld  # noqa: E402

_world = simworld.world()
for _name in ("socket", "select", "machine", "network", "esp32", "ntptime", "sim_analog", "sim_waveforms",
              "_onewire", "onewire", "ds18x20", "sim_onewire_bus"):
    try:
        __import__(_name)
    except ImportError:
        pass
# Flash faults (fs_full, power_cut_write): the firmware's files go through sim_flash.FlashFS.
import sim_flash  # noqa: E402

sim_flash.mount_if_needed()
for _section, _module in (("heat_meter", "sim_mbus_meter"), ("modbus_meter", "sim_sdm"), ("irda", "sim_elster")):
    if _world.scenario.get(_section):
        __import__(_module)

# The simulated devices' own state is the world's, not the board's: build it
# now, before the ballast fixes the firmware's heap budget.
import machine  # noqa: E402

_world.prewarm()
try:
    import sim_waveforms  # noqa: E402
    sim_waveforms.millivolts(_world, "vac", 0)
except ImportError:
    pass

for _uart in (0, 1, 2):
    machine._devices_on(_uart)
machine._psram_gpios()  # whether the module has PSRAM (scenario "board"), decided once
try:
    import sim_onewire_bus  # noqa: E402
    _gpios = set(int(g) for g in (_world.scenario.get("onewire_buses") or {}).values())
    _gpios.add(int(_world.scenario.get("onewire_default_gpio", 4)))
    for _gpio in _gpios:
        sim_onewire_bus.bus_for(_world, _gpio)
except ImportError:
    pass

# Modules frozen into the stock ESP32 firmware (umqtt.simple here; onewire and ds18x20 are
# simulated above) run from flash on the board and cost its heap only their globals: load
# them before the ballast, or the emulated board would pay for bytecode a real one does not.
for _name in ("umqtt.simple",):
    try:
        __import__(_name)
    except ImportError:
        pass

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
if _target:
    gc.collect()
    # Fill whatever the simulator left free, so that only the reserve remains.
    _ballast = [None] * 1024
    _n = 0
    _size = 8192
    while _n < len(_ballast):
        try:
            _ballast[_n] = bytearray(_size)
            _n += 1
        except MemoryError:
            if _size <= 16:
                break
            _size //= 2
    _reserve = None
    gc.collect()

# python -m tools.bench heap --modules: each module's import cost, printed as it is imported
# ("import-census <inclusive B> <own B> <new modules> ..."), measured after a collection. With
# HPMON_IMPORT_CENSUS=N > 1, the first import after N s also prints the qstr pool (qstr_info).
if os.getenv("HPMON_IMPORT_CENSUS"):
    import builtins
    import sys
    import time as _time

    import micropython

    _plain_import = builtins.__import__
    _children = [0]
    _census_start = _time.time()
    _census_snap = [int(os.getenv("HPMON_IMPORT_CENSUS"))]

    def _census_import(name, globals=None, locals=None, fromlist=(), level=0):
        if _census_snap[0] > 1 and _time.time() - _census_start >= _census_snap[0]:
            _census_snap[0] = 0
            print("import-census-snapshot modules %s" % ",".join(sys.modules))
            micropython.qstr_info()
            gc.collect()
            micropython.mem_info(1)
        known = list(sys.modules)
        _children.append(0)
        gc.collect()
        before = gc.mem_alloc()
        try:
            return _plain_import(name, globals, locals, fromlist, level)
        finally:
            gc.collect()
            cost = gc.mem_alloc() - before
            nested = _children.pop()
            _children[-1] += cost
            new = [m for m in sys.modules if m not in known]
            if new:
                print("import-census %d %d %s %s" % (cost, cost - nested, ",".join(new), name))

    builtins.__import__ = _census_import

for _code in _sources:
    exec(_code, _globals)
