"""The store: latest reading of every channel plus a bounded history ring.

A reading is (channel, value, timestamp, status). value None means "not
available" and is never published as 0. Drivers write here; publishers read.
"""
from array import array

STATUS_OK = "ok"


class Channel:
    """Latest reading of one named quantity."""

    __slots__ = ("name", "unit", "value", "ticks", "wall", "status", "seq")

    def __init__(self, name, unit):
        self.name = name
        self.unit = unit
        self.value = None
        self.ticks = None
        self.wall = None
        self.status = "no data"
        self.seq = 0


# History times are stored as seconds since 2020-01-01 in an int32 array:
# unix seconds would overflow int32 in 2038.
HISTORY_EPOCH = 1577836800


class History:
    """Fixed-size ring of samples of a few channels on one shared time axis.

    Times are int32 seconds since HISTORY_EPOCH, values float32 with NaN for
    'unknown': 4 + 4 x channels bytes per sample (240 samples of 6 channels,
    4 hours at one a minute, take under 7 KB).
    """

    def __init__(self, names, size):
        self.names = tuple(names)
        self.size = size
        self.times = array("i", [0] * size)
        self.values = [array("f", [0.0] * size) for _ in self.names]
        self.count = 0
        self.head = 0

    def add(self, t, values):
        """values: one per name, None = unknown."""
        self.times[self.head] = int(t) - HISTORY_EPOCH
        for ring, v in zip(self.values, values):
            ring[self.head] = float("nan") if v is None else v
        self.head = (self.head + 1) % self.size
        if self.count < self.size:
            self.count += 1

    def indices(self, since=None):
        """Ring positions oldest first, optionally only at or after unix time since."""
        start = (self.head - self.count) % self.size
        for i in range(self.count):
            j = (start + i) % self.size
            if since is None or self.times[j] + HISTORY_EPOCH >= since:
                yield j

    def series(self, name, positions):
        ring = self.values[self.names.index(name)]
        return [None if ring[j] != ring[j] else ring[j] for j in positions]

    def items(self, name):
        """(t, value-or-None) of one channel, oldest first."""
        pos = list(self.indices())
        return list(zip([self.times[j] + HISTORY_EPOCH for j in pos], self.series(name, pos)))


class Store:
    def __init__(self, history_size=0, history_channels=()):
        self.channels = {}
        self.seq = 0
        self.history = History(history_channels, history_size) if history_size and history_channels else None

    def channel(self, name, unit=""):
        ch = self.channels.get(name)
        if ch is None:
            ch = Channel(name, unit)
            self.channels[name] = ch
        elif unit and not ch.unit:
            ch.unit = unit
        return ch

    def update(self, name, value, unit="", status=STATUS_OK, ticks=None, wall=None):
        """Record a reading. A None value keeps the channel but marks it unknown."""
        ch = self.channel(name, unit)
        ch.value = value
        ch.status = status if value is not None or status != STATUS_OK else "no data"
        ch.ticks = ticks
        ch.wall = wall
        self.seq += 1
        ch.seq = self.seq
        return ch

    def mark_unknown(self, name, status):
        """The source failed: the last value is no longer the truth."""
        ch = self.channels.get(name)
        if ch is not None and (ch.value is not None or ch.status != status):
            ch.value = None
            ch.status = status
            self.seq += 1
            ch.seq = self.seq

    def value(self, name):
        ch = self.channels.get(name)
        return None if ch is None else ch.value

    def changed_since(self, seq):
        for ch in self.channels.values():
            if ch.seq > seq:
                yield ch

    def record_history(self, wall):
        if self.history is not None:
            self.history.add(wall, [self.value(name) for name in self.history.names])
