"""Store-and-forward buffer for readings a publisher could not deliver yet.

A bounded RAM ring of encoded records; when it is full the records move to a
flash spill (FileSpill: segment files with a size cap), and when that is full
the oldest segment goes. Draining is oldest first (flash before RAM), and every
record that had to be thrown away is counted, never silently lost.

A record is (t, [(channel, value text), ...]) with t in unix seconds; t < 0
means "uptime seconds, wall time not known yet" (t = -1 - uptime) and such
records never go to flash (after a reboot their time would mean nothing).
Encoded as one text line "t,i=v,i=v": channel names are replaced by their index
in an append-only key table, which FileSpill persists beside the segments, so a
record costs about 8 bytes per value instead of 25.

This module (ForwardBuffer, KeyTable, encode/decode) is pure; the flash side,
FileSpill in firmware/forward_spill.py (open() and os only), is imported when a
publisher first has to spill, or at boot if readings wait in flash.
"""

MAX_KEYS = 250


class ForwardError(ValueError):
    pass


class KeyTable:
    """Channel name <-> index, append-only."""

    def __init__(self, names=()):
        self.names = []
        self.index = {}
        for name in names:
            self.add(name)

    def add(self, name):
        i = self.index.get(name)
        if i is None:
            if len(self.names) >= MAX_KEYS:
                return -1
            i = len(self.names)
            self.names.append(name)
            self.index[name] = i
        return i


def encode(t, pairs, keys):
    """One record as bytes (no newline). Pairs beyond MAX_KEYS names are left out."""
    parts = ["%d" % t]
    for name, text in pairs:
        i = keys.add(name)
        if i >= 0:
            parts.append("%d=%s" % (i, text))
    return ",".join(parts).encode()


def decode(line, keys):
    """(t, [(name, value text)]) of an encoded record; ForwardError if corrupt."""
    try:
        text = bytes(line).decode()
        fields = text.split(",")
        t = int(fields[0])
        pairs = []
        for field in fields[1:]:
            eq = field.find("=")
            i = int(field[:eq]) if eq > 0 else -1
            value = field[eq + 1:]
            if not 0 <= i < len(keys.names) or not value:
                raise ForwardError("unknown key or empty value")
            float(value)  # a number, or the record is corrupt
            pairs.append((keys.names[i], value))
    except (ValueError, UnicodeError, IndexError):
        raise ForwardError("corrupt record") from None
    if not pairs:
        raise ForwardError("record without values")
    return t, pairs


class ForwardBuffer:
    """RAM ring (ram_bytes of encoded records) in front of an optional spill."""

    def __init__(self, ram_bytes=4096, spill=None, spill_factory=None):
        self.cap = ram_bytes
        self.spill = spill
        self.spill_factory = spill_factory  # makes the spill on first need: f(keys)
        self.keys = spill.keys if spill is not None else KeyTable()
        self.ram = []
        self.ram_bytes = 0
        self.dropped = 0
        self.delivered = 0
        self.spill_errors = 0
        self._src = None
        self._n = 0

    def __len__(self):
        return len(self.ram) + (self.spill.count if self.spill is not None else 0)

    def push(self, t, pairs):
        rec = encode(t, pairs, self.keys)
        if len(rec) > self.cap:
            self.dropped += 1
            return False
        if self.ram_bytes + len(rec) > self.cap:
            self._make_room(len(rec))
        self.ram.append(rec)
        self.ram_bytes += len(rec)
        return True

    def _open_spill(self):
        """Make the flash spill on first need. A failure (the flash full, say) is counted and
        tried again next time: the flash may have room by then."""
        if self.spill is None and self.spill_factory is not None:
            try:
                self.spill = self.spill_factory(self.keys)
                self.spill_factory = None
            except OSError:
                self.spill_errors += 1

    def _make_room(self, need):
        self._open_spill()
        if self.spill is not None and self._spill_ram():
            return
        while self.ram and self.ram_bytes + need > self.cap:
            self._drop_ram_head()

    def _drop_ram_head(self):
        self.ram_bytes -= len(self.ram.pop(0))
        self.dropped += 1
        if self._src == "ram" and self._n:
            self._n -= 1

    def _spill_ram(self):
        """Move every RAM record to flash (one write); untimed ones are dropped."""
        batch = []
        for rec in self.ram:
            if rec[:1] == b"-":
                self.dropped += 1
            else:
                batch.append(rec)
        try:
            if batch:
                self.spill.append(batch)
        except OSError:
            self.spill_errors += 1
            return False
        self.ram = []
        self.ram_bytes = 0
        self._src = None
        self._n = 0
        return True

    def flush(self):
        """Before a restart: move what is in RAM to flash. True if nothing is left in RAM."""
        if not self.ram:
            return True
        self._open_spill()
        if self.spill is None:
            return False
        return self._spill_ram()

    def retime(self, offset):
        """Once wall time is known: untimed records get t = offset + uptime."""
        for i, rec in enumerate(self.ram):
            if rec[:1] == b"-":
                comma = rec.find(b",")
                comma = len(rec) if comma < 0 else comma
                uptime = -1 - int(rec[:comma])
                new = b"%d" % (offset + uptime) + rec[comma:]
                self.ram_bytes += len(new) - len(rec)
                self.ram[i] = new

    def peek_lines(self, n, max_bytes=0):
        """Up to n oldest records, still encoded (decode them one at a time with
        decode_line: a decoded record costs far more heap than its line); with
        max_bytes, only as many as fit (always at least one)."""
        if self.spill is not None and self.spill.count:
            lines = self.spill.peek(n)
            self._src = "spill"
        else:
            lines = self.ram[:n]
            self._src = "ram"
        if max_bytes:
            size = 0
            for i, line in enumerate(lines):
                size += len(line)
                if size > max_bytes and i:
                    lines = lines[:i]
                    break
        self._n = len(lines)
        return lines

    def decode_line(self, line):
        """(t, pairs) of a line from peek_lines(), or None if it is corrupt."""
        try:
            return decode(line, self.keys)
        except ForwardError:
            return None

    def peek(self, n):
        """Up to n oldest records as [(t, pairs)]; corrupt ones come back as None."""
        return [self.decode_line(line) for line in self.peek_lines(n)]

    def pop(self, n=None, bad=0):
        """Remove the first n (default all) of the records the last peek() returned;
        `bad` of them (corrupt ones) count as dropped, the rest as delivered."""
        n = self._n if n is None else min(n, self._n)
        if n <= 0:
            return
        if self._src == "spill":
            self.spill.pop(n)
        else:
            for rec in self.ram[:n]:
                self.ram_bytes -= len(rec)
            del self.ram[:n]
        self._n -= n
        bad = min(bad, n)
        self.delivered += n - bad
        self.dropped += bad

    def stats(self):
        spill = self.spill
        return {
            "pending": len(self),
            "ram": len(self.ram),
            "flash": spill.count if spill is not None else 0,
            "flash_bytes": spill.bytes if spill is not None else 0,
            "dropped": self.dropped + (spill.dropped if spill is not None else 0),
            "delivered": self.delivered,
            "errors": self.spill_errors + (spill.errors if spill is not None else 0),
        }


def make(fwd, name, log):
    """The buffer of one publisher from the "forward" config section:
    forward.ram_kb of RAM, forward.flash_kb of flash in the folder fwd_<name>.
    The flash code is loaded now only if readings from before a restart wait there."""
    ram = fwd["ram_kb"] * 1024
    if not fwd["flash_kb"]:
        return ForwardBuffer(ram)
    import os
    directory = "fwd_" + name
    cap = fwd["flash_kb"] * 1024
    try:
        waiting = any(n.isdigit() for n in os.listdir(directory))
    except OSError:
        waiting = False

    def factory(keys=None):
        from firmware.forward_spill import FileSpill
        return FileSpill(directory, cap, keys=keys)

    if not waiting:
        return ForwardBuffer(ram, spill_factory=factory)
    try:
        spill = factory()
    except OSError as exc:
        from firmware.errtext import describe  # on a failure only
        log.error("%s: flash spill unreadable (%s); buffering in RAM only" % (name, describe(exc)))
        return ForwardBuffer(ram)
    if spill.count:
        log.info("%s: %d readings from before the restart wait to be sent" % (name, spill.count))
    return ForwardBuffer(ram, spill)
