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


def test_the_transient_slot_serialises_holders_and_a_waiter_checks_in():
    import asyncio

    from firmware import transient
    order = []
    checkins = []

    async def poll():
        assert await transient.take("mbus")
        order.append("mbus loaded")
        await asyncio.sleep(0.12)
        order.append("mbus dropped")
        transient.give("mbus")

    async def connect():
        await asyncio.sleep(0.01)  # the poll holds the slot by now
        assert not transient.try_take("ha")  # discovery skips its turn instead of waiting
        assert await transient.take("mqtt", checkin=lambda: checkins.append(1))
        order.append("mqtt loaded")
        transient.give("mqtt")

    async def both():
        await asyncio.gather(poll(), connect())

    asyncio.run(both())
    assert order == ["mbus loaded", "mbus dropped", "mqtt loaded"]
    assert len(checkins) >= 3  # the waiter kept checking in with the supervisor
    assert transient.holder() is None


def test_a_slow_holder_delays_a_waiter_only_up_to_its_limit():
    import asyncio
    import time

    from firmware import transient
    assert transient.try_take("ha")
    assert transient.try_take("ha")  # already theirs
    t0 = time.time()
    took = asyncio.run(transient.take("mbus", max_wait_ms=100))
    assert took is False and 0.09 <= time.time() - t0 < 1.0  # goes ahead without the slot
    transient.give("mbus")  # not the holder: no effect
    assert transient.holder() == "ha"
    transient.give("ha")
    assert transient.holder() is None
