"""The short soak (the reliability issue): every driver at --heap 2M with MQTT, emoncms and two
dashboard event streams for ~60 s of wall time (2 s reporting interval, board clock x5:
~150 cycles). `python -m tools.bench soak` is the long version."""
import os

import pytest

from tests.helpers import Broker
from tests.integration.conn_helpers import Emoncms
from tools import paths
from tools.bench import soak

CYCLES = 150
INTERVAL_S = 2  # emoncms timestamps are whole seconds: at 1 s two readings can share one
SPEED = 5  # CT sampling keeps up to N = 5 (docs/scenario.md)
MIN_FREE = 25 * 1024  # the target on a WROOM-32; the WROVER must do at least as well
# Heap growth after warm-up is printed, not asserted: single free-heap samples (after a
# collection) swing by about +-20 KB with the requests in flight, so a bound over ~80 cycles
# would pass or fail by chance. (A drift of 200 B a cycle seen once was the simulated RFM69
# keeping every transmitted frame in the heap it shares with the firmware: docs/reliability.md.)


@pytest.fixture(scope="module")
def result():
    broker, emoncms = Broker(), Emoncms()
    try:
        path = soak.soak_scenario(os.path.join(paths.ROOT, "scenarios", "all-drivers.json"), INTERVAL_S, emoncms)
        r = soak.run(path, "2M", CYCLES, INTERVAL_S, SPEED, broker.port, emoncms, "all drivers (short soak)")
    finally:
        broker.stop()
        emoncms.close()
    print()
    print(soak.LOST_DEFINITION)
    soak.print_report(r)
    return r


def test_started_and_ran_the_cycles(result):
    assert "did_not_start" not in result, result
    assert result["cycles"] >= CYCLES * 0.9, result
    assert min(result["events"]) >= CYCLES * 0.5, result  # both dashboards kept receiving


def test_no_memory_error_no_reset(result):
    assert result["memory_errors"] == 0
    assert result["resets"] == 0
    assert not result["failed_services"]


def test_no_reading_lost(result):
    assert result["readings_lost"] == 0, result["sinks"]


def test_min_free_heap(result):
    assert result["min_free"] >= MIN_FREE
