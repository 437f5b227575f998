# hpmon: heat-pump monitor firmware. Everything lives in firmware/app.py.
try:
    import firmware.app
    firmware.app.main()
except Exception as exc:
    import sys
    sys.print_exception(exc)

import os

if "update.json" in os.listdir():
    # An update on trial (swap.py): a crash or a halt resets, so the failed boot counts
    # towards its rollback.
    import machine
    machine.reset()
