"""`python -m tools.bench heap --modules` reads the emulator's census right: the import lines, and
the block map of the real unix port's micropython.mem_info(1) inside the firmware's reserve."""
from tests.host.upy import run_upy
from tools.bench import heap

CENSUS = """\
import-census 2880 2880 firmware,firmware.board firmware.board
import-census 13344 13120 firmware.config_check,firmware.transient firmware.config_check
import-census 5472 2304 firmware.drivers.mbus_master,firmware.mbus_frame firmware.drivers.mbus_master
import-census 5600 2400 firmware.drivers.mbus_master,firmware.mbus_frame firmware.drivers.mbus_master
import-census 640 640 firmware.credentials firmware
import-census-snapshot modules firmware,firmware.board,firmware.credentials,firmware.transient
"""


def test_import_lines_give_each_module_its_first_cost_and_count():
    costs, resident = heap.import_costs(CENSUS)
    assert costs["firmware.board"] == [2880, 1]
    assert costs["firmware.config_check"] == [13120, 1]
    assert costs["firmware.drivers.mbus_master"] == [2304, 2]  # loaded twice: the first import's cost
    assert costs["firmware.credentials"] == [640, 1]  # `from firmware import credentials`
    assert "firmware.config_check" not in resident and "firmware.board" in resident


def test_block_map_of_the_real_port_is_read_inside_the_reserve_only():
    # a 4096-byte "reserve" (its data block) among other live objects: only its blocks count
    code = ("import gc, micropython, uctypes\n"
            "junk = [[i] for i in range(50)]\n"
            "reserve = bytearray(4096)\n"
            "more = [str(i) * 40 for i in range(50)]\n"
            "print('import-census-reserve %x %d' % (uctypes.addressof(reserve), len(reserve)))\n"
            "gc.collect()\n"
            "micropython.mem_info(1)\n")
    result = run_upy(code, heap="256K")
    assert result.returncode == 0, result.stderr
    kinds = heap.block_kinds(result.stdout)
    assert kinds == {"h": 4096}, kinds


def test_no_census_output_gives_nothing():
    assert heap.block_kinds("boot: running\n") == {}
    assert heap.import_costs("boot: running\n") == ({}, set())
