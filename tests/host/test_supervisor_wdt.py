"""The supervisor feeds the (simulated) ESP32 watchdog only while every critical
task checks in; a silent task lets it starve, and the board resets."""
from tests.host.upy import run_upy

SNIPPET = """
import asyncio, machine
from firmware.supervisor import Supervisor
from firmware.log import Log

sup = Supervisor(wdt=machine.WDT(timeout=%(timeout)d), log=Log())
sup.register("sampler", 1500)

async def sampler(stop_after_ms):
    t = 0
    while stop_after_ms is None or t < stop_after_ms:
        sup.checkin("sampler")
        await asyncio.sleep_ms(100)
        t += 100
    while True:          # stuck: alive but no longer checking in
        await asyncio.sleep_ms(100)
        machine.Pin(2).value()   # touches the hardware, which is where the WDT bites

async def main():
    asyncio.create_task(sup.run())
    asyncio.create_task(sampler(%(stop)s))
    await asyncio.sleep_ms(%(run_ms)d)
    print("still alive, stall", sup.longest_stall_ms)

asyncio.run(main())
"""


def test_healthy_tasks_keep_the_board_running():
    result = run_upy(SNIPPET % {"timeout": 2000, "stop": "None", "run_ms": 5000})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "still alive" in result.stdout


def test_a_silent_task_starves_the_watchdog_and_resets():
    result = run_upy(SNIPPET % {"timeout": 2000, "stop": 1000, "run_ms": 8000})
    assert result.returncode == 82, result.stdout + result.stderr  # EXIT_WDT_RESET
    assert "stopped checking in" in result.stdout
    assert "still alive" not in result.stdout
