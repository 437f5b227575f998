# hpmon: heat-pump monitor firmware. Everything lives in firmware/app.py.
import os


def _reset_if_on_trial(exc=None):
    # An update on trial (swap.py): a crash or halt resets instead of stopping at the REPL,
    # so that the failed boot counts towards the update's rollback.
    if "update.json" in os.listdir():
        if exc is not None:
            import sys
            sys.print_exception(exc)
        import machine
        machine.reset()


try:
    import firmware.app
    firmware.app.main()
except Exception as exc:
    _reset_if_on_trial(exc)
    raise
_reset_if_on_trial()  # main() returned: a failed safe mode halts here
