"""`make deploy` for real: mpremote copies the build over a virtual serial port to
the emulated board's REPL, resets it, and the board then boots exactly the
files that were deployed (not the repository's)."""
import os
import subprocess
import tempfile
import time

from tests.helpers import console, start_board, wait_state
from tools import paths

DEFAULT = os.path.join(paths.ROOT, "scenarios", "default.json")


def test_make_deploy_to_the_emulated_board_then_boot_from_flash():
    state_dir = tempfile.mkdtemp(prefix="hpmon-deploy-")
    tty = os.path.join(state_dir, "ttyEMU")
    # firmware_dir=None: boot what is in flash once something is deployed there
    board = start_board(DEFAULT, state_dir=state_dir, serial=tty, firmware_dir=None)
    try:
        assert board.firmware() != board.flash_dir  # nothing deployed yet
        config = os.path.join(state_dir, "deploy-config.json")
        with open(config, "w") as f:
            f.write('{"node": "deployed", "mqtt": {"enabled": false}}')
        result = subprocess.run(["make", "--no-print-directory", "deploy", "PORT=" + tty, "CONFIG=" + config],
                                cwd=paths.ROOT, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        assert "deploy: 2/4 copying" in out and "deploy: 4/4 resetting" in out, out
        for rel in ("main.py", "boot.py", "firmware/app.mpy", "lib/microdot/microdot.mpy"):
            assert os.path.exists(os.path.join(board.flash_dir, rel)), rel
        # The reset reboots the board from its flash, with the deployed config.
        state = wait_state(board.http_port, lambda s: s["node"] == "deployed", timeout=60)
        assert state["config_errors"] == []
        assert board.firmware() == board.flash_dir
        deadline = time.time() + 10
        while "rebooting the board" not in console(board) and time.time() < deadline:
            time.sleep(0.1)
        assert "reset from the serial REPL" in console(board)
    finally:
        board.stop()
