"""GPIO 16/17 on a module with PSRAM (ESP32-WROVER): the simulator behaves like the chip (driving
them panics and resets it) and firmware.board refuses them with a clear error instead.
Real unix port, simulated hardware; scenario "board": {"psram": true}."""
from tests.host.upy import run_upy

WROVER = {"board": {"psram": True}}
PANIC_EXIT = 80  # the simulator's hard reset (tools/emulator/sim/machine.py EXIT_HARD_RESET)


def test_driving_a_psram_pin_panics_the_wrover_but_not_the_wroom():
    code = "import machine\nmachine.Pin(16, machine.Pin.OUT, value=1)\nprint('still here')\n"
    wrover = run_upy(code, WROVER)
    assert wrover.returncode == PANIC_EXIT and "Guru Meditation" in wrover.stdout, (wrover.stdout, wrover.stderr)
    assert "still here" not in wrover.stdout
    wroom = run_upy(code, {})
    assert wroom.returncode == 0 and "still here" in wroom.stdout, wroom.stderr


def test_a_uart2_without_pins_takes_its_defaults_16_and_17():
    result = run_upy("import machine\nmachine.UART(2, baudrate=2400)\nprint('opened')\n", WROVER)
    assert result.returncode == PANIC_EXIT and "opened" not in result.stdout, result.stdout


def test_the_board_finds_the_psram_and_refuses_its_pins_with_a_clear_error():
    code = r'''
from firmware import board, config
pins = config.defaults()["pins"]
reserved = board.psram_gpios()
print("reserved", reserved)
b = board.Board(pins, reserved)
no_tx = board.Board(dict(pins, mbus_tx=-1, mbus_rx=35), reserved)
for what, make in (("mbus", lambda: b.uart(2, "mbus_tx", "mbus_rx", 2400)),
                   ("no tx", lambda: no_tx.uart(2, "mbus_tx", "mbus_rx", 2400)),
                   ("onewire", lambda: board.Board(dict(pins, onewire=[4, 16]), reserved).onewire_buses()),
                   ("dhw", lambda: b.gpio_input(17, what="analytics.dhw_gpio"))):
    try:
        make()
        print(what, "opened")
    except ValueError as exc:
        print(what, "refused:", exc)
print("ct1", b.adc("ct1") is not None)
'''
    result = run_upy(code, WROVER)
    out = result.stdout
    assert result.returncode == 0 and "Guru Meditation" not in out, (out, result.stderr)
    assert "reserved (16, 17)" in out
    assert ("mbus refused: pins.mbus_tx: GPIO 17 drives the PSRAM on this module (ESP32-WROVER); wire the device "
            "to a free GPIO and set it in Settings (hardware/pinout.md)") in out, out
    assert "no tx refused: pins.mbus_tx (-1: UART 2 keeps its default TX pin): GPIO 17" in out, out
    assert "onewire refused: pins.onewire: GPIO 16" in out and "dhw refused: analytics.dhw_gpio: GPIO 17" in out, out
    assert "ct1 True" in out
    # a WROOM-32 has no PSRAM: nothing reserved, the default pin map opens
    wroom = run_upy(code, {})
    assert "reserved ()" in wroom.stdout and "mbus opened" in wroom.stdout, (wroom.stdout, wroom.stderr)
