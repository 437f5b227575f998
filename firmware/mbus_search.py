# M-Bus secondary-address wildcard search (EN 13757-3 secondary addressing): plans which
# ID masks a master selects (SND_UD to FD, CI 52, mbus_frame.select_secondary) to find every
# meter on a bus. Pure: the caller sends the selection and reports what it heard.
# Licence: GPL-3.0-or-later.
"""Wildcard search planner for M-Bus secondary addresses."""
from micropython import const

PROBE_NONE = const(0)       # no answer to the selection
PROBE_ONE = const(1)        # exactly one slave answered E5 cleanly
PROBE_COLLISION = const(2)  # garbage / bad frame: several slaves answered


class SecondarySearch:
    """Depth-first wildcard search over the 8 ID digits (most significant first).

    Usage: while not s.done: mask = s.next(); send select_secondary(mask), observe the
    reply and s.report(PROBE_*). After PROBE_ONE the caller reads the selected slave
    (REQ_UD2 to address FD) and notes its ID. The first probe is the prefix alone (all
    wildcards by default), so a bus with one meter needs one probe. No recursion: an
    explicit stack of at most 8 levels.
    """

    def __init__(self, prefix=""):
        self._prefix = prefix
        self._stack = []  # [known leading digits, digit being probed]
        self._first = True
        self.done = False
        self.probes = 0

    def _mask(self):
        if self._first:
            p = self._prefix
        else:
            top = self._stack[-1]
            p = top[0] + str(top[1])
        return p

    def next(self):
        """Next ID mask to probe (8 characters, F = wildcard), or None when finished."""
        if self.done:
            return None
        p = self._mask()
        return p + "F" * (8 - len(p))

    def report(self, result):
        """Outcome of probing the mask returned by next()."""
        if self.done:
            return
        self.probes += 1
        p = self._mask()
        self._first = False
        if result == PROBE_COLLISION and len(p) < 8:
            self._stack.append([p, 0])  # several answered: narrow on the next digit
            return
        while self._stack:
            top = self._stack[-1]
            top[1] += 1
            if top[1] <= 9:
                return
            self._stack.pop()
        self.done = True
