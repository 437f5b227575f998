"""`python -m tools.mbus scan|read` logic against simulated meters (CPython).

A fake serial port stands between tools.mbus.Bus and the emulator's sim_mbus_meter Devices:
every meter hears every request, and the answers of several meters arrive one after the
other (as the emulator's UART delivers them), so a shared E5 shows as two ACKs.
"""
import argparse
import io
import json
import os
import sys
from contextlib import redirect_stdout

import pytest

from firmware import mbus_search as ms
from tools import mbus as cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.append(os.path.join(ROOT, "tools", "emulator", "sim"))
try:
    import sim_mbus_meter as sm
finally:
    sys.path.pop()


class World:
    def __init__(self, faults=()):
        self.scenario = {}
        self.faults = list(faults)

    def now_ms(self):
        return 7200000

    def get(self, path, default=None):
        return {"power_w": 4200.0, "flow_m3h": 0.72, "flowT": 40.0,
                "returnT": 35.0}.get(path.rsplit(".", 1)[-1], default)

    def energy_wh(self, path, positive=False):
        v = self.get(path) * 2
        return max(v, 0.0) if positive else v

    def fault(self, kind, target=None):
        return any(k == kind and t in (None, target) for k, t in self.faults)


class FakeSerial:
    def __init__(self, devices):
        self.devices = devices
        self.rx = bytearray()
        self.sent = []

    def reset_input_buffer(self):
        self.rx = bytearray()

    def write(self, data):
        self.sent.append(bytes(data))
        for d in self.devices:
            reply, _delay = d.write(bytes(data), 0)
            self.rx += reply
        return len(data)

    def flush(self):
        pass

    def read(self, n):
        out = bytes(self.rx[:n])
        del self.rx[:n]
        return out


def _meters(world=None):
    world = world or World()
    specs = [{"model": "kamstrup_multical_403", "address": 1, "secondary_id": 12345678},
             {"model": "sontex_supercal_531", "address": 2, "secondary_id": 12349999},
             {"model": "multi_telegram", "address": 3, "secondary_id": 87654321,
              "energy_wh_initial": 1000}]
    devs = []
    for s in specs:
        d = sm.Device(world, s)
        d.configure(2400, 8, 0, 1, 0)
        devs.append(d)
    return devs


def _bus(devs):
    return cli.Bus(None, 2400, timeout=0.02, ser=FakeSerial(devs))


def _run(fn, bus, **kw):
    args = argparse.Namespace(verbose=False, **kw)
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = fn(args, bus=bus)
    return rc, json.loads(buf.getvalue()) if buf.getvalue() else None


def test_primary_scan_finds_each_address():
    rc, found = _run(cli.cmd_scan, _bus(_meters()), secondary=False, first=0, last=6)
    assert rc == 0 and found == [{"address": 1}, {"address": 2}, {"address": 3}]


def test_secondary_scan_finds_every_id():
    bus = _bus(_meters())
    rc, found = _run(cli.cmd_scan, bus, secondary=True)
    assert rc == 0
    assert sorted(f["id"] for f in found) == [12345678, 12349999, 87654321]
    # a wildcard search, not 10^8 probes
    selects = [f for f in bus.ser.sent if f[0] == 0x68 and f[6] == 0x52]
    assert len(selects) < 60


def test_read_follows_more_records_with_fcb_toggling():
    bus = _bus(_meters())
    rc, frames = _run(cli.cmd_read, bus, address=3, id=None, all=True)
    assert rc == 0 and len(frames) == 3
    assert [f["header"]["more"] for f in frames] == [True, True, False]
    reqs = [f for f in bus.ser.sent if f[0] == 0x10 and f[1] & 0x4F == 0x4B]
    assert [r[1] for r in reqs] == [0x7B, 0x5B, 0x7B]   # FCB 1, 0, 1 after SND_NKE
    energy = [r for f in frames for r in f["records"] if r["quantity"] == "Energy" and
              r["storage"] == 0]
    assert energy[0]["value"] == 1000 + 2 * 4200


def test_read_by_secondary_id():
    rc, frames = _run(cli.cmd_read, _bus(_meters()), address=None, id="12349999", all=False)
    assert rc == 0 and frames[0]["header"]["id"] == 12349999
    assert frames[0]["header"]["manufacturer"] == "SON"


def test_read_reports_checksum_fault_as_error():
    devs = _meters(World(faults=[("mbus_checksum", 1)]))
    bus = _bus(devs)
    bus.retries = 1
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = cli.cmd_read(argparse.Namespace(verbose=False, address=1, id=None, all=False),
                          bus=bus)
    assert rc == 1 and buf.getvalue() == ""
    # the retry repeated the same FCB (a repetition, not a new request)
    reqs = [f for f in bus.ser.sent if f[0] == 0x10 and f[1] & 0x4F == 0x4B]
    assert len(reqs) == 2 and reqs[0] == reqs[1]


def test_secondary_selection_collision_is_detected():
    bus = _bus(_meters())
    assert bus.select("1234FFFF") == ms.PROBE_COLLISION
    assert bus.select("12345678") == ms.PROBE_ONE
    assert bus.select("99999999") == ms.PROBE_NONE


def test_cli_without_port_hardware_fails_cleanly():
    pytest.importorskip("serial")
    with pytest.raises(Exception) as e:
        cli.Bus("/dev/nonexistent-mbus", 2400)
    assert "nonexistent" in str(e.value)
