from firmware import forward_buffer as fb


class MemorySpill:
    """The FileSpill interface kept in RAM (the file version is tested in tests/host)."""

    def __init__(self, cap_bytes):
        self.keys = fb.KeyTable()
        self.cap = cap_bytes
        self.records = []
        self.count = 0
        self.bytes = 0
        self.dropped = 0
        self.errors = 0
        self.fail = False
        self.appends = 0
        self._peeked = 0

    def append(self, records):
        if self.fail:
            self.errors += 1
            raise OSError(28)
        self.appends += 1
        self.records.extend(records)
        while sum(len(r) + 1 for r in self.records) > self.cap:
            self.records.pop(0)
            self.dropped += 1
        self.count = len(self.records)
        self.bytes = sum(len(r) + 1 for r in self.records)

    def peek(self, n):
        self._peeked = min(n, len(self.records))
        return self.records[:n]

    def pop(self, n):
        n = min(n, self._peeked)
        del self.records[:n]
        self._peeked -= n
        self.count = len(self.records)
        self.bytes = sum(len(r) + 1 for r in self.records)


def _rec(i):
    return 1700000000 + 10 * i, [("heatpump_elec", "%d" % (1000 + i)), ("t_28ff641e821603e2", "38.125")]


def test_encode_decode_round_trip_is_compact():
    keys = fb.KeyTable()
    t, pairs = _rec(1)
    line = fb.encode(t, pairs, keys)
    assert line == b"1700000010,0=1001,1=38.125"
    assert fb.decode(line, keys) == (t, pairs)
    assert keys.names == ["heatpump_elec", "t_28ff641e821603e2"]


def test_corrupt_records_raise_the_module_error():
    keys = fb.KeyTable(["a"])
    for bad in (b"", b"x,0=1", b"1,5=1", b"1,0=", b"1,0=abc", b"1,=3", b"\xff\xfe"):
        try:
            fb.decode(bad, keys)
        except fb.ForwardError:
            continue
        raise AssertionError(bad)


def test_oldest_first_in_ram():
    buf = fb.ForwardBuffer(4096)
    for i in range(5):
        buf.push(*_rec(i))
    assert len(buf) == 5
    got = buf.peek(3)
    assert [r[0] for r in got] == [_rec(i)[0] for i in range(3)]
    buf.pop()
    assert [r[0] for r in buf.peek(10)] == [_rec(i)[0] for i in (3, 4)]
    buf.pop(1)
    assert len(buf) == 1 and buf.stats()["delivered"] == 4


def test_ram_only_drops_the_oldest_and_counts_them():
    buf = fb.ForwardBuffer(200)
    for i in range(20):
        buf.push(*_rec(i))
    st = buf.stats()
    assert st["dropped"] == 20 - st["pending"] and st["pending"] > 0
    assert buf.ram_bytes <= 200
    assert buf.peek(1)[0][0] == _rec(20 - st["pending"])[0]  # the newest survive


def test_spill_takes_whole_batches_and_drains_flash_first():
    spill = MemorySpill(100000)
    buf = fb.ForwardBuffer(150, spill)
    for i in range(30):
        buf.push(*_rec(i))
    assert spill.count > 0 and spill.appends < 30  # batches, not one write per record
    assert buf.stats()["dropped"] == 0
    out = []
    while len(buf):
        recs = buf.peek(4)
        out.extend(r[0] for r in recs)
        buf.pop()
    assert out == [_rec(i)[0] for i in range(30)]
    assert buf.stats()["delivered"] == 30


def test_spill_cap_and_spill_failure_are_counted():
    spill = MemorySpill(300)
    buf = fb.ForwardBuffer(120, spill)
    for i in range(40):
        buf.push(*_rec(i))
    st = buf.stats()
    assert st["dropped"] == spill.dropped > 0
    assert st["pending"] + st["dropped"] == 40
    spill.fail = True
    before = buf.stats()["dropped"]
    for i in range(40, 60):
        buf.push(*_rec(i))
    st = buf.stats()
    assert st["errors"] > 0 and st["dropped"] > before
    assert st["pending"] + st["dropped"] == 60


def test_untimed_records_are_retimed_or_never_spilled():
    buf = fb.ForwardBuffer(4096)
    buf.push(-1 - 5, [("a", "1")])  # uptime 5 s, wall time not known yet
    buf.push(-1 - 15, [("a", "2")])
    buf.retime(1700000000)
    assert [r[0] for r in buf.peek(5)] == [1700000005, 1700000015]
    spill = MemorySpill(10000)
    buf = fb.ForwardBuffer(60, spill)
    buf.push(-1 - 5, [("a", "1")])
    buf.push(1700000000, [("a", "2")])
    for i in range(5):
        buf.push(1700000010 + i, [("a", "3")])
    assert all(not r.startswith(b"-") for r in spill.records)
    assert buf.stats()["dropped"] == 1


def test_corrupt_and_bad_pops_count_as_dropped():
    buf = fb.ForwardBuffer(4096)
    buf.push(*_rec(0))
    buf.ram.append(b"garbage")
    buf.ram_bytes += 7
    recs = buf.peek(5)
    assert recs[0] is not None and recs[1] is None
    buf.pop(2, 1)
    st = buf.stats()
    assert st["delivered"] == 1 and st["dropped"] == 1 and st["pending"] == 0


def test_flush_before_restart():
    spill = MemorySpill(10000)
    buf = fb.ForwardBuffer(4096, spill)
    for i in range(3):
        buf.push(*_rec(i))
    assert buf.flush() and not buf.ram and spill.count == 3
    assert fb.ForwardBuffer(100).flush()  # nothing to flush


def test_spill_made_on_first_need_shares_the_key_table():
    made = []

    def factory(keys):
        spill = MemorySpill(100000)
        spill.keys = keys
        made.append(spill)
        return spill

    buf = fb.ForwardBuffer(150, spill_factory=factory)
    buf.push(*_rec(0))
    assert made == [] and buf.spill is None
    for i in range(1, 10):
        buf.push(*_rec(i))
    assert len(made) == 1 and buf.spill is made[0] and made[0].keys is buf.keys
    assert [r[0] for r in buf.peek(3)] == [_rec(i)[0] for i in range(3)]

    def broken(keys):
        raise OSError(28)

    buf = fb.ForwardBuffer(150, spill_factory=broken)
    for i in range(10):
        buf.push(*_rec(i))
    st = buf.stats()
    assert st["errors"] >= 1 and st["dropped"] > 0 and st["pending"] + st["dropped"] == 10
    # the flash full at first, with room later: the spill is tried again and then made
    tries = []

    def full_then_room(keys):
        tries.append(1)
        if len(tries) < 3:
            raise OSError(28)
        return factory(keys)

    buf = fb.ForwardBuffer(150, spill_factory=full_then_room)
    for i in range(20):
        buf.push(*_rec(i))
    assert len(tries) == 3 and buf.spill is made[-1] and buf.stats()["errors"] == 2
