"""Boots the emulated board like the ESP32 does: boot.py, then main.py.

Run by tools/emulator with the board's flash as the working directory and
$HPMON_FIRMWARE naming the folder that holds boot.py/main.py.
"""
import os

_firmware = os.getenv("HPMON_FIRMWARE") or "."
_globals = {"__name__": "__main__"}
for _name in ("boot.py", "main.py"):
    try:
        with open(_firmware + "/" + _name) as _f:
            _source = _f.read()
    except OSError:
        continue
    exec(_source, _globals)
