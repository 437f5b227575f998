import sys

import firmware
from firmware.transient import forget


def test_forget_drops_module_and_package_attribute():
    __import__("firmware.version")  # a tiny real module
    assert "firmware.version" in sys.modules and hasattr(firmware, "version")
    forget("firmware.version")
    assert "firmware.version" not in sys.modules
    assert not hasattr(firmware, "version")
    from firmware import version as again  # comes back on the next import
    assert again.VERSION


def test_forget_a_module_that_never_loaded_does_not_raise():
    # MicroPython's delattr on a module raises KeyError for a missing name
    forget("firmware.no_such_module")
    forget("no_such_package.no_such_module")
