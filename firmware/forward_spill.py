"""The flash half of the store-and-forward buffer (firmware/forward_buffer.py).

Records in numbered segment files under a folder, capped in bytes; the key table
beside them in <folder>/keys. Uses only open() and os (LittleFS on the board).
"""
from firmware.forward_buffer import KeyTable


class FileSpill:
    """Records in numbered segment files under `directory`, capped at cap_bytes.

    The key table is persisted in <directory>/keys (one name per line, append
    only). Segments are appended in whole batches (one flash write per spill),
    read from the oldest with a byte offset, deleted once delivered. After a
    reboot the oldest segment is read from its start again: records delivered
    just before the reboot may be sent twice (emoncms and the MQTT backfill
    carry their time, so a repeat overwrites the same point).
    """

    def __init__(self, directory, cap_bytes, segment_bytes=4096, keys=None):
        """keys: the RAM ring's key table, adopted when the folder holds no records."""
        import os
        self.os = os
        self.dir = directory
        self.cap = cap_bytes
        self.segment_bytes = segment_bytes
        self.segs = []  # [seq, size, count], oldest first
        self.pos = 0  # byte offset of the next record in the oldest segment
        self.done = 0  # records already taken from the oldest segment
        self.count = 0
        self.bytes = 0
        self.dropped = 0
        self.errors = 0
        self._ends = []
        try:
            os.mkdir(directory)
        except OSError:
            pass
        names = []
        for name in os.listdir(directory):
            if name.isdigit():
                names.append(int(name))
        names.sort()
        self.keys = KeyTable(self._read_keys() if names else ())
        if names and not self.keys.names:
            for seq in names:  # records without their key table cannot be decoded
                self.dropped += self._count(seq)
                self._remove(seq)
            names = []
        if not names:
            self._reset_keys()
            if keys is not None:
                self.keys = keys  # shared with the RAM ring; all of it is saved on the first append
        for seq in names:
            size = self._size(seq)
            count = self._count(seq)
            self.segs.append([seq, size, count])
            self.count += count
            self.bytes += size
        self._saved_keys = len(self.keys.names) if names else 0
        self._fresh = True  # never append to a segment a power cut may have left unfinished

    def _path(self, seq):
        return "%s/%08d" % (self.dir, seq)

    def _size(self, seq):
        try:
            return self.os.stat(self._path(seq))[6]
        except OSError:
            return 0

    def _count(self, seq):
        n = 0
        try:
            with open(self._path(seq), "rb") as f:
                while True:
                    chunk = f.read(512)
                    if not chunk:
                        break
                    n += chunk.count(b"\n")
        except OSError:
            pass
        return n

    def _remove(self, seq):
        try:
            self.os.remove(self._path(seq))
        except OSError:
            pass

    def _read_keys(self):
        try:
            with open(self.dir + "/keys") as f:
                return [line.strip() for line in f.read().split("\n") if line.strip()]
        except OSError:
            return []

    def _reset_keys(self):
        try:
            self.os.remove(self.dir + "/keys")
        except OSError:
            pass

    def _save_keys(self):
        names = self.keys.names
        if len(names) > self._saved_keys:
            with open(self.dir + "/keys", "a") as f:
                for name in names[self._saved_keys:]:
                    f.write(name + "\n")
            self._saved_keys = len(names)

    def append(self, records):
        """Append a batch (one file write). Raises OSError if flash fails."""
        try:
            self._save_keys()
            if self._fresh or not self.segs or self.segs[-1][1] >= self.segment_bytes:
                self._fresh = False
                seq = self.segs[-1][0] + 1 if self.segs else 1
                self.segs.append([seq, 0, 0])
            seg = self.segs[-1]
            data = b"\n".join(records) + b"\n"
            with open(self._path(seg[0]), "ab") as f:
                f.write(data)
        except OSError:
            self.errors += 1
            raise
        seg[1] += len(data)
        seg[2] += len(records)
        self.count += len(records)
        self.bytes += len(data)
        while self.bytes > self.cap and len(self.segs) > 1:
            self._drop_oldest()

    def _drop_oldest(self):
        seq, size, count = self.segs.pop(0)
        self._remove(seq)
        lost = count - self.done
        self.dropped += lost
        self.count -= lost
        self.bytes -= size
        self.pos = 0
        self.done = 0
        self._ends = []

    def peek(self, n):
        """Up to n records (bytes) from the oldest segment."""
        out: list = []
        self._ends = []
        if not self.segs:
            return out
        try:
            with open(self._path(self.segs[0][0]), "rb") as f:
                f.seek(self.pos)
                end = self.pos
                while len(out) < n:
                    line = f.readline()
                    if not line:
                        break
                    end += len(line)
                    # a line without its newline was cut by a power failure: corrupt
                    out.append(line[:-1] if line[-1:] == b"\n" else b"")
                    self._ends.append(end)
        except OSError:
            self.errors += 1
        if not out:
            # the segment is shorter than its count (a cut write): give it up
            self._drop_oldest()
        return out

    def pop(self, n):
        if n <= 0 or not self._ends:
            return
        n = min(n, len(self._ends))
        self.pos = self._ends[n - 1]
        self._ends = self._ends[n:]
        self.done += n
        self.count -= n
        seg = self.segs[0]
        if self.done >= seg[2] or self.pos >= seg[1]:
            self.segs.pop(0)
            self._remove(seg[0])
            self.bytes -= seg[1]
            self.count -= seg[2] - self.done  # normally 0
            self.pos = 0
            self.done = 0
            self._ends = []
            if not self.segs:
                self.count = 0
                self.bytes = 0
