# Wired M-Bus master (EN 13757-2 link layer, EN 13757-3 addressing) over a UART that the
# caller opened at 8E1. Every wait is an await: the UART is read through
# asyncio.StreamReader with asyncio.wait_for_ms, so a silent meter never stalls the scheduler.
# Frames are built and parsed by the pure firmware.mbus_frame / mbus_records / mbus_search.
# Licence: GPL-3.0-or-later.
"""M-Bus master: SND_NKE, REQ_UD2 with FCB, multi-telegram reads, secondary search."""
import asyncio
import time

from micropython import const

from firmware import mbus_frame as mf

# The record codec (mbus_records + mbus_vif, ~17 KB of heap on the emulator) is imported
# only for the duration of a read/scan and dropped afterwards, so it does not stay resident
# between polls. Reloading it costs a flash read of ~8 KB of .mpy (~10-20 ms on the
# ESP32) per poll: negligible against a poll that takes >= 300 ms of bus time at 2400 Bd.
_CODEC = ("mbus_records", "mbus_vif", "mbus_fixed", "mbus_names", "mbus_search")
_FN_MORE = const(5)  # mbus_records.FN_MORE: DIF 1F


def _codec():
    from firmware import mbus_records
    return mbus_records


def drop_codec():
    """Forget the record codec modules (they come back on the next import)."""
    from firmware.transient import forget
    for name in _CODEC:
        forget("firmware." + name)


# Outcome of an exchange (also the status the service shows for a failed poll).
OK = "ok"
SILENT = "silent"          # not a single byte came back
CHECKSUM = "checksum"      # a frame arrived but failed its checksum/length/stop checks
TRUNCATED = "truncated"    # a frame started but stopped before its end
GARBAGE = "garbage"        # bytes that never formed a frame (noise, wrong baud rate)
COLLISION = "collision"    # several slaves answered at once
DECODE = "decode error"    # a good frame whose application data does not parse
METER_ERROR = "meter error"  # CI 70: the meter reports an application error

BAUDS = (300, 600, 1200, 2400, 4800, 9600)

_W_ACK = const(1)    # an E5 (or anything that parses as one) ends the exchange
_W_LONG = const(2)   # wait for an RSP_UD long frame
_W_PROBE = const(3)  # listen until the line is quiet, counting E5s (collision detection)
_PRM = const(0x40)   # C-field bit set in master-to-slave frames: our own echo, not a reply
_READ_MAX = const(256)
# The longest answer: a long frame, 4 + 255 + 2 characters (EN 13757-2), and an E5 or two.
# Listening ends this many character times after the request at the latest, so a line that
# never goes quiet (a babbling device, noise) cannot hold the task.
_MAX_REPLY_CHARS = const(264)


def _watch(recs, more):
    """Pass records through, noting DIF 1F ("more records follow", EN 13757-3 §6.3.2)."""
    for r in recs:
        if r.function == _FN_MORE:
            more[0] = True
        yield r


def summarise(frame, out):
    """Merge the heat values of one RSP_UD frame into out (mbus_records.heat_summary keys).

    Returns (header dict, more records follow). Records are streamed, never listed.
    Raises mbus_records.MBusDecodeError (a ValueError) on malformed data."""
    mr = _codec()
    ci = frame.ci
    ud = frame.data
    if ci == 0x73 or ci == 0x77:  # fixed data structure (EN 13757-3 annex G): one telegram
        hdr, recs = mr.decode(ci, ud)
        mr.heat_summary(recs, out)
        return hdr, False
    hdr, pos, msb = mr.header(ci, ud)
    more = [False]
    mr.heat_summary(_watch(mr.records(ud, pos, len(ud), msb), more), out)
    return hdr, more[0]


class MBusMaster:
    """Half-duplex master on one UART. One exchange at a time (the caller serialises).

    timeout_ms 0 = automatic: EN 13757-2 lets a slave answer up to 330 bit times + 50 ms
    after the request; 100 ms more covers level converters. A reply has ended after 20
    character times of silence. Failed requests are repeated `retries` times with the
    same FCB, so a multi-telegram meter repeats its last answer (EN 13757-2 §5.4.2)."""

    def __init__(self, uart, baud=2400, timeout_ms=0, retries=2, checkin=None):
        self.uart = uart
        self.reader = asyncio.StreamReader(uart)  # type: ignore[call-arg, arg-type]
        self.parser = mf.FrameParser()
        self.retries = retries
        self.timeout_cfg = timeout_ms
        self.checkin = checkin
        self.baud = baud
        self.requests = 0
        self.failures = 0
        self._timing()

    def _timing(self):
        # 11 bits per character on the wire (start, 8 data, even parity, stop)
        self.char_ms = (11000 + self.baud - 1) // self.baud
        self.timeout_ms = self.timeout_cfg or (330000 // self.baud + 150)
        self.gap_ms = 20 * self.char_ms + 20
        self.batch_ms = 16 * self.char_ms

    def set_baud(self, baud):
        """Re-open the UART at another speed (a meter that talks at 300 or 9600 baud)."""
        if baud and baud != self.baud:
            self.uart.init(baudrate=baud, bits=8, parity=0, stop=1, timeout=0)
            self.baud = baud
            self._timing()

    def _flush(self):
        # a late answer to an earlier request or line noise must not pass as this reply
        u = self.uart
        n = 0
        while u.any() and n < 8:
            u.read()
            n += 1

    async def _exchange(self, req, want):
        """Send one request and listen. Returns (status, long frame or None)."""
        if self.checkin is not None:
            self.checkin()
        self._flush()
        p = self.parser
        p.reset()
        bad = p.bad
        garbage = p.garbage
        self.uart.write(req)
        self.requests += 1
        # our own characters are on the wire before the slave can start answering
        deadline = time.ticks_add(time.ticks_ms(), len(req) * self.char_ms + self.timeout_ms)
        limit = time.ticks_add(deadline, int(_MAX_REPLY_CHARS * self.char_ms) + self.gap_ms)
        acks = 0
        frame = None
        heard = False
        while True:
            left = time.ticks_diff(deadline, time.ticks_ms())
            if left <= 0:
                break
            try:
                data: bytes = await asyncio.wait_for_ms(self.reader.read(_READ_MAX), left)
            except asyncio.TimeoutError:
                break
            if not data:
                continue
            heard = True
            for f in p.feed(data):
                if f.kind == mf.F_ACK:
                    acks += 1
                elif f.kind == mf.F_LONG and not f.c & _PRM:
                    frame = f
            if want == _W_LONG and frame is not None:
                break
            if want == _W_ACK and acks and not p.pending():
                break
            # more is coming: let characters pile up in the UART buffer, then expect the
            # rest within the quiet gap
            await asyncio.sleep_ms(self.batch_ms)
            deadline = time.ticks_add(time.ticks_ms(), self.gap_ms)
            if time.ticks_diff(deadline, limit) > 0:
                deadline = limit
        if want == _W_LONG:
            if frame is not None:
                return OK, frame
        elif want == _W_ACK:
            if acks:
                return OK, None
        else:
            clean = p.bad == bad and p.garbage == garbage and not p.pending()
            if acks == 1 and clean:
                return OK, None
            if heard:
                return COLLISION, None
            return SILENT, None
        if not heard:
            return SILENT, None
        if p.bad != bad:
            return CHECKSUM, None
        if p.pending():
            return TRUNCATED, None
        return GARBAGE, None

    async def _transact(self, req, want):
        st = SILENT
        f = None
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep_ms(self.gap_ms)  # let a late or colliding answer die away
            st, f = await self._exchange(req, want)
            if st == OK:
                return st, f
            self.failures += 1
        return st, f

    # ------------------------------------------------------------ link layer
    async def reset(self, a):
        """SND_NKE: the slave answers E5 and restarts its FCB sequence. Returns a status."""
        return (await self._transact(mf.snd_nke(a), _W_ACK))[0]

    async def select(self, ident):
        """Select one slave by secondary address (8 digits, F = wildcard); then talk to it
        at address FD. A new selection also restarts its FCB sequence."""
        return (await self._transact(mf.select_secondary(ident), _W_ACK))[0]

    async def deselect(self):
        """SND_NKE to FD ends the selection."""
        return (await self._exchange(mf.snd_nke(mf.ADDR_NETWORK), _W_ACK))[0]

    async def page(self, a, page):
        """Sontex Supercal manufacturer-specific page select (SND_UD CI 51, 01 FF 08 page)."""
        return (await self._transact(mf.sontex_page(a, page), _W_ACK))[0]

    async def request(self, a, fcb):
        """REQ_UD2 (FCV set) with the given FCB. Returns (status, long frame or None)."""
        return await self._transact(mf.req_ud2(a, fcb), _W_LONG)

    async def probe(self, mask):
        """One secondary selection for the wildcard search: a mbus_search.PROBE_* result."""
        from firmware import mbus_search as ms  # scans only: not kept in heap by polling
        st, _ = await self._exchange(mf.select_secondary(mask), _W_PROBE)
        if st == OK:
            return ms.PROBE_ONE
        return ms.PROBE_NONE if st == SILENT else ms.PROBE_COLLISION

    # ------------------------------------------------------------ reads
    async def read(self, a, out, max_telegrams=8, enough=()):
        """Read a meter (after reset/select) into out, following DIF 1F telegrams.

        The FCB starts at 1 and toggles after every answered request (EN 13757-2
        §5.4.2), which asks a multi-telegram meter for its next telegram. Stops at the last
        telegram, after max_telegrams, or as soon as every key in `enough` is known.
        Returns (status, header of the first telegram or None)."""
        try:
            return await self._read(a, out, max_telegrams, enough)
        finally:
            drop_codec()

    async def _read(self, a, out, max_telegrams, enough):
        fcb = True
        first = None
        for _ in range(max_telegrams):
            st, f = await self.request(a, fcb)
            if f is None:
                return st, first
            fcb = not fcb
            try:
                hdr, more = summarise(f, out)
            except ValueError:
                return DECODE, first
            if first is None:
                first = hdr
            if hdr.get("ci") == 0x70:
                return METER_ERROR, first
            if not more:
                break
            done = True
            for key in enough:
                if key not in out:
                    done = False
                    break
            if done and enough:
                break
        return OK, first

    async def identify(self, a):
        """Header of one telegram from address a (after reset/select), or None."""
        st, f = await self.request(a, True)
        if f is None:
            return None
        try:
            return _codec().header(f.ci, f.data)[0]
        except ValueError:
            return None
        finally:
            drop_codec()

    async def search(self, found, prefix=""):
        """Wildcard secondary search: found(header, primary address) for every meter.

        After a selection that exactly one slave acknowledged, its header is read to learn
        the full ID; a failed read means two meters acknowledged as one, so the search
        narrows there instead. Returns the number found."""
        from firmware import mbus_search as ms
        s = ms.SecondarySearch(prefix)
        n = 0
        while not s.done:
            mask = s.next()
            res = await self.probe(mask)
            if res == ms.PROBE_ONE:
                st, f = await self.request(mf.ADDR_NETWORK, True)
                hdr = None
                if f is not None:
                    try:
                        hdr = _codec().header(f.ci, f.data)[0]
                    except ValueError:
                        hdr = None
                    finally:
                        drop_codec()
                if hdr is None or "id" not in hdr:
                    res = ms.PROBE_COLLISION
                else:
                    n += 1
                    found(hdr, f.a)
            s.report(res)
        await self.deselect()
        return n

    async def scan_primary(self, found, first=0, last=250):
        """SND_NKE to every primary address; found(header or {}, address) for each E5."""
        n = 0
        for a in range(first, last + 1):
            st, _ = await self._exchange(mf.snd_nke(a), _W_ACK)
            if st == OK:
                n += 1
                found(await self.identify(a) or {}, a)
        return n
