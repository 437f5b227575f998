# hpmon boot: tiny on purpose. A held BOOT button requests safe mode
# (access point + settings only) by leaving a one-shot flag file.
import micropython

if hasattr(micropython, "alloc_emergency_exception_buf"):  # absent on the unix port
    micropython.alloc_emergency_exception_buf(100)
try:
    from firmware.board import boot_button_held
    if boot_button_held():
        open("safe_mode", "w").close()
except Exception as exc:  # boot must never fail
    print("boot:", exc)
