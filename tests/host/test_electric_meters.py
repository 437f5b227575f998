"""The Modbus and Elster drivers on the unix port against the simulated meters behind the
simulated UART (board.rs485 / board.ir_uart build them, as on the ESP32)."""
from tests.host.upy import run_upy

MODBUS = r"""
import asyncio, machine
from firmware import config
from firmware.board import Board
from firmware.drivers.modbus_meter import MeterError, ModbusMeter
board = Board(config.DEFAULT_PINS)
uart, de = board.rs485(1, BAUD, PARITY, 1)
m = ModbusMeter(uart, de, MODEL, ADDR, BAUD, PARITY, 1, 800, 1)
async def main():
    try:
        v = await m.read()
        print("vals", v["power_w"], v["voltage_v"], v.get("l2_power_w"), v["import_wh"], v["export_wh"], v["pf"])
    except MeterError as exc:
        print("error", str(exc).replace(" ", "_"))
    print("counts", m.requests, m.answers, m.timeouts, m.crc_errors, machine.Pin._outputs.get(25))
asyncio.run(main())
"""


def _modbus(meter, model="sdm120", addr=1, baud=2400, parity="None", faults=()):
    code = MODBUS.replace("BAUD", str(baud)).replace("PARITY", parity).replace("MODEL", repr(model))
    code = code.replace("ADDR", str(addr))
    scen = {"mains": {"vrms": 230.0, "freq_hz": 50.0}, "modbus_meter": meter, "faults": list(faults)}
    res = run_upy(code, scenario=scen, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    out = {}
    for line in res.stdout.splitlines():
        parts = line.split()
        if parts:
            out[parts[0]] = parts[1:]
    return out


def test_sdm630_totals_phases_and_exact_energy():
    meter = {"model": "sdm630", "address": 3, "uart": 1, "power_w": 3000.0, "voltage_v": 231.5, "pf": 0.9,
             "import_wh_initial": 12345678, "export_wh_initial": 42,
             "phases": {"1": {"power_w": 1200.0}}}
    out = _modbus(meter, model="sdm630", addr=3, baud=9600)
    p, v, l2, imp, exp, pf = out["vals"]
    assert float(p) == 3000.0 and abs(float(v) - 231.5) < 1e-4 and float(l2) == 1200.0
    assert abs(float(pf) - 0.9) < 1e-6
    # float32 kWh at 12345 kWh resolves about 1 Wh: the exact conversion is within that
    assert abs(int(imp) - 12345678) <= 1 and int(exp) == 42
    requests, answers, timeouts, crc, de = (int(x) for x in out["counts"])
    assert requests == answers == 1 and timeouts == crc == 0
    assert de == 0  # the driver is off again, listening


def test_wrong_serial_settings_and_silence_time_out_after_retries():
    meter = {"model": "sdm120", "address": 1, "uart": 1, "power_w": 500.0, "parity": 0, "baudrate": 9600}  # 8E1
    out = _modbus(meter, baud=9600, parity="None")
    assert out["error"] == ["no_answer"]
    assert [int(x) for x in out["counts"][:4]] == [2, 0, 2, 0]  # 1 retry
    out = _modbus(meter, baud=9600, parity="0")
    assert float(out["vals"][0]) == 500.0
    out = _modbus(dict(meter, parity=None), baud=9600, faults=[{"kind": "modbus_silent", "target": 1}])
    assert out["error"] == ["no_answer"]


def test_crc_errors_are_told_apart_from_silence():
    meter = {"model": "sdm120", "address": 9, "uart": 1, "power_w": 500.0, "baudrate": 9600}
    out = _modbus(meter, addr=9, baud=9600, faults=[{"kind": "modbus_crc"}])
    assert out["error"] == ["crc_error"]
    requests, answers, timeouts, crc, _de = (int(x) for x in out["counts"])
    assert requests == 2 and answers == 0 and crc == 2 and timeouts == 0


ELSTER = r"""
import asyncio, time
from firmware import config
from firmware.board import Board
from firmware.drivers.elster_reader import ElsterInput, RegisterRate
board = Board(config.DEFAULT_PINS)
uart = board.ir_uart(1, 2400, INVERT)
inp = ElsterInput()
rate = RegisterRate()
async def main():
    sr = asyncio.StreamReader(uart)
    t_end = time.ticks_add(time.ticks_ms(), 3500)
    last = None
    while time.ticks_diff(t_end, time.ticks_ms()) > 0:
        try:
            data = await asyncio.wait_for_ms(sr.read(128), 500)
        except asyncio.TimeoutError:
            continue
        v = inp.feed(data)
        if v is not None:
            last = v
    print("elster", last, inp.inverted, inp.counts()[0], inp.counts()[1])
asyncio.run(main())
"""


def test_elster_frames_decode_whatever_the_receiver_polarity():
    scen = {"irda": {"uart": 1, "import_wh_initial": 987654, "period_ms": 500}}
    for invert, inverted in (("True", "False"), ("False", "True")):
        res = run_upy(ELSTER.replace("INVERT", invert), scenario=scen, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        line = [x for x in res.stdout.splitlines() if x.startswith("elster")][0].split()
        assert line[1] == "987654" and line[2] == inverted and int(line[3]) >= 3 and line[4] == "0", line
