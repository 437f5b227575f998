# hpmon boot: tiny on purpose. A held BOOT button requests safe mode
# (access point + settings only) by leaving a one-shot flag file.
import os

import micropython

if hasattr(micropython, "alloc_emergency_exception_buf"):  # absent on the unix port
    micropython.alloc_emergency_exception_buf(100)
try:
    if "update.json" in os.listdir():  # a firmware update to install, on trial or to roll back:
        __import__("swap").boot()      # first, before anything imports firmware/; never raises
    from firmware.board import boot_button_held
    if boot_button_held():
        open("safe_mode", "w").close()
except Exception as exc:  # boot must never fail
    print("boot:", exc)
