"""Every driver enabled at once on a WROVER-sized heap (--heap 2M): all start,
all report, nothing runs out of memory."""
import os

from tests.helpers import console, start_board, wait_state
from tools import paths

SCENARIO = os.path.join(paths.ROOT, "scenarios", "all-drivers.json")

# one channel per driver that must be reporting
EXPECTED = ("ct1_power", "ct2_power", "ct3_power", "vrms", "pulse_power", "modbus_power",
            "mbus_1_power", "vfs_flowrate", "heatpump_flowT", "emonth23_temp",
            "heatpump_elec", "heatpump_heat", "heatpump_cop")


def test_every_driver_runs_at_wrover_heap(broker):
    board = start_board(SCENARIO, broker_port=broker.port, heap="2M")
    try:
        def all_reporting(s):
            return all(s["channels"].get(name, {}).get("value") is not None for name in EXPECTED)

        state = wait_state(board.http_port, all_reporting, timeout=90)
        assert state["config_errors"] == []
        assert state["safe_mode"] is False
        assert state.get("failed_services", {}) == {}
        text = console(board)
        assert "MemoryError" not in text
        assert "Traceback" not in text, text[-3000:]
        assert board.boots == [1]
    finally:
        board.stop()
