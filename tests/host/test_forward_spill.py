"""FileSpill (the flash half of the store-and-forward buffer) on real files, under
CPython and under the MicroPython unix port (its os/file API is what the board has)."""
import os

from firmware import forward_buffer as fb
from firmware.forward_spill import FileSpill
from tests.host.upy import run_upy


def _rec(i):
    return 1700000000 + 10 * i, [("heatpump_elec", "%d" % (1000 + i)), ("t_28ff641e821603e2", "38.125")]


def test_spill_survives_a_restart_and_drains_oldest_first(tmp_path):
    d = str(tmp_path / "fwd_mqtt")
    buf = fb.ForwardBuffer(200, FileSpill(d, 64 * 1024, segment_bytes=256))
    for i in range(40):
        buf.push(*_rec(i))
    assert buf.spill.count > 0 and len(os.listdir(d)) > 2  # several segments + keys
    assert buf.flush()  # before a restart: RAM goes to flash too
    # power cycle: a new buffer on the same folder
    buf = fb.ForwardBuffer(200, FileSpill(d, 64 * 1024, segment_bytes=256))
    assert len(buf) == 40
    out = []
    while len(buf):
        recs = buf.peek(7)
        out.extend(recs)
        buf.pop()
    assert out == [_rec(i) for i in range(40)]
    assert [n for n in os.listdir(d) if n.isdigit()] == []  # delivered segments are deleted
    assert buf.stats()["dropped"] == 0


def test_cap_drops_whole_oldest_segments_and_counts_them(tmp_path):
    d = str(tmp_path / "fwd")
    spill = FileSpill(d, 1024, segment_bytes=256)
    buf = fb.ForwardBuffer(100, spill)
    for i in range(100):
        buf.push(*_rec(i))
    st = buf.stats()
    assert st["flash_bytes"] <= 1024 + 256
    assert st["dropped"] > 0 and st["pending"] + st["dropped"] == 100
    first = buf.peek(1)[0]
    assert first[0] == _rec(st["dropped"])[0]  # the newest survive, in order


def test_missing_key_table_or_cut_records_are_dropped_not_misread(tmp_path):
    d = str(tmp_path / "fwd")
    buf = fb.ForwardBuffer(100, FileSpill(d, 8192, segment_bytes=512))
    for i in range(10):
        buf.push(*_rec(i))
    buf.flush()
    os.remove(os.path.join(d, "keys"))
    spill = FileSpill(d, 8192)
    assert spill.count == 0 and spill.dropped == 10
    # a write cut by a power failure leaves half a line: that record is dropped
    buf = fb.ForwardBuffer(100, FileSpill(d, 8192))
    for i in range(3):
        buf.push(*_rec(i))
    buf.flush()
    seg = sorted(n for n in os.listdir(d) if n.isdigit())[-1]
    with open(os.path.join(d, seg), "ab") as f:
        f.write(b"17000001")
    buf = fb.ForwardBuffer(100, FileSpill(d, 8192))
    got = buf.peek(10)
    assert got[:3] == [_rec(i) for i in range(3)] and got[3] is None
    buf.pop(len(got), sum(1 for r in got if r is None))
    assert buf.stats()["dropped"] == 1 and len(buf) == 0


UPY = """
import os
from firmware import forward_buffer as fb
from firmware.forward_spill import FileSpill
from firmware.forward_spill import FileSpill
def rec(i):
    return 1700000000 + 10 * i, [("heatpump_elec", "%d" % (1000 + i)), ("x", "1.5")]
buf = fb.ForwardBuffer(150, FileSpill("fwd_t", 4096, segment_bytes=300))
for i in range(50):
    buf.push(*rec(i))
buf.flush()
buf = fb.ForwardBuffer(150, FileSpill("fwd_t", 4096, segment_bytes=300))
n = len(buf)
out = []
while len(buf):
    out.extend(buf.peek(6))
    buf.pop()
assert out == [rec(i) for i in range(50 - n, 50)], out[:3]
st = buf.stats()
print("OK", n, st["dropped"], sorted(os.listdir("fwd_t")))
"""


def test_the_same_on_the_micropython_unix_port():
    result = run_upy(UPY)
    assert result.returncode == 0, result.stdout + result.stderr
    line = result.stdout.strip().splitlines()[-1]
    _ok, n, dropped, _files = line.split(" ", 3)
    assert int(n) + int(dropped) == 50 and int(n) > 0
    assert "['keys']" in line  # every segment delivered and deleted


def test_make_loads_the_flash_code_only_when_needed(tmp_path, monkeypatch):
    import sys
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("firmware.forward_spill", None)

    class Log:
        def info(self, text):
            self.last = text

        def error(self, text):
            raise AssertionError(text)

    fwd = {"enabled": True, "ram_kb": 1, "flash_kb": 64}
    buf = fb.make(fwd, "mqtt", Log())
    assert buf.spill is None and "firmware.forward_spill" not in sys.modules
    for i in range(40):  # ~60 bytes each: the 1 KB ring overflows, the spill is made
        buf.push(*_rec(i))
    assert buf.spill is not None and buf.spill.count > 0
    buf.flush()
    log = Log()
    again = fb.make(fwd, "mqtt", log)  # after a restart: readings wait in flash
    assert again.spill is not None and len(again) == 40
    assert "40 readings" in log.last
    assert [again.peek(1)[0]] == [_rec(0)]
