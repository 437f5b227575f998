"""Serial output for emonhub on the emulated board: what a Raspberry Pi on UART1 receives.

scenarios/radio.json wires a simulated Pi (tools/emulator/sim/sim_serial_sink.py) to
UART1 at 115200 baud; it records the bytes the firmware sends in pi_serial.log. Each
line is parsed the way emonhub's OEM interfacer does and compared with /api/state.
"""
import os
import re
import sys
import time

import pytest

from tests.helpers import console, get_json, start_board
from tools import paths

RADIO = os.path.join(paths.ROOT, "scenarios", "radio.json")
_NAME = re.compile(r"^[\w-]+$")


@pytest.fixture(scope="module")
def board():
    b = start_board(RADIO, heap="2M")
    yield b
    b.stop()


def _log(board):
    try:
        with open(os.path.join(board.state_dir, "pi_serial.log"), "rb") as f:
            return f.read()
    except OSError:
        return b""


def _emonhub_parse(line):
    """emonhub EmonHubOEMInterfacer key:value frame -> {name: float}; None if it drops the line."""
    out = {}
    for kv_str in line.split(","):
        kv = kv_str.split(":")
        if len(kv) == 2:
            if not _NAME.match(kv[0]):
                return None
            if kv[1]:
                try:
                    out[kv[0]] = float(kv[1])
                except ValueError:
                    return None
    return out or None


@pytest.fixture(scope="module")
def lines(board):
    """The first three complete lines with the host time each was complete."""
    got = []
    deadline = time.time() + 45
    while len(got) < 3 and time.time() < deadline:
        n = _log(board).count(b"\r\n")
        while len(got) < n:
            got.append(time.time())
        time.sleep(0.05)
    raw = _log(board).split(b"\r\n")
    assert len(got) >= 3, console(board)[-3000:]
    return [(raw[i].decode(), got[i]) for i in range(3)]


def test_one_line_per_reporting_interval(board, lines):
    gaps = [b[1] - a[1] for a, b in zip(lines, lines[1:])]
    assert all(8.5 <= g <= 11.5 for g in gaps), gaps


def test_lines_are_emonhub_key_value_frames(lines):
    for i, (line, _t) in enumerate(lines):
        assert "\n" not in line and "\r" not in line
        values = _emonhub_parse(line)
        assert values is not None, line
        assert values["MSG"] == i + 1
        assert line.startswith("MSG:%d," % (i + 1))
        assert "None" not in line and "nan" not in line and "null" not in line
        names = [kv.split(":")[0] for kv in line.split(",")]
        assert len(names) == len(set(names))


def test_values_are_the_boards_channels(board, lines):
    state = get_json(board.http_port)
    values = _emonhub_parse(lines[-1][0])
    known = {n: c["value"] for n, c in state["channels"].items() if c["value"] is not None}
    # channels that hold still in the scenario's first minute
    for name in ("emonth23_humidity", "emonth23_battery", "heatpump_outsideT", "t_28ff9a3bc1160441",
                 "emonth24_pulse"):
        assert values[name] == pytest.approx(known[name], abs=1e-3), name
    # every channel the line carries exists on the board; unknown ones are left out
    assert set(values) - {"MSG"} <= set(state["channels"])
    assert "heatpump_flowT" in values and "emonth23_temp" in values and "heatpump_roomT" in values


def test_pi_with_the_wrong_baud_rate_gets_garbage():
    sys.path.insert(0, paths.SIM_DIR)
    try:
        import sim_serial_sink
    finally:
        sys.path.remove(paths.SIM_DIR)
    import tempfile
    work = tempfile.mkdtemp()
    os.environ["HPMON_SIM_DIR"] = work
    try:
        dev = sim_serial_sink.Device(None, {"baud": 115200, "file": "x.log"})
        dev.configure(9600, 8, None, 1, 0)
        assert dev.write(b"MSG:1\r\n", 0) == (b"", 0)
        dev.configure(115200, 8, None, 1, 0)
        dev.write(b"MSG:2\r\n", 0)
        with open(os.path.join(work, "x.log"), "rb") as f:
            assert f.read() == b"???????MSG:2\r\n"
    finally:
        del os.environ["HPMON_SIM_DIR"]


def test_no_errors_on_the_console(board, lines):
    text = console(board)
    assert "serial out: UART1 at 115200 baud" in text
    assert "Traceback" not in text and "MemoryError" not in text
