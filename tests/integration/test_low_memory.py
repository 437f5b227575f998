"""Out of heap is a failure mode, never a boot loop. A board whose firmware does
not fit either stops at the REPL (not even the app could be imported: as on a
real board, main.py ends) or keeps running degraded, logging what it could not
start, or (a configured service that does not fit) resets and after three boots runs in safe
mode saying which service did not fit; never more than a few resets."""
import os
import tempfile
import time

import pytest

from tests.helpers import console, free_port, session_build
from tools import paths
from tools.emulator.board import EmulatedBoard

DEFAULT = os.path.join(paths.ROOT, "scenarios", "default.json")


@pytest.mark.parametrize("heap", ["64K", "110K", "130K"])
def test_a_heap_too_small_never_loops(heap):
    state_dir = tempfile.mkdtemp(prefix="hpmon-lowmem-")
    log = open(os.path.join(state_dir, "console.log"), "a")
    board = EmulatedBoard(DEFAULT, state_dir, http_port=free_port(), mqtt_host=None, heap=heap,
                          firmware_dir=session_build(), output=log, echo=False)
    board.console_path = log.name
    board.start()
    try:
        time.sleep(15)
        text = console(board)
        assert "MemoryError" in text
        # MAX_UNHEALTHY_BOOTS (3) resets at most, then safe mode
        assert len(board.boots) <= 4, (board.boots, text[-1500:])
        if board.exit_code is None:  # still running: degraded, and it says why
            assert ("could not start" in text or "restarting in 5 s" in text
                    or "memory: not enough heap to start" in text), text[-1500:]
    finally:
        board.stop()
