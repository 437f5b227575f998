"""Persistent energy totals of the analytics service (pure): how a raw energy channel becomes
a total that survives every reboot, and the byte format of those totals in NVS / RTC memory.

Two kinds of source (the policy objects are firmware/analytics_totals.py):
- COUNTER: the input service integrates power (CT, pulse, VFS heat) into a Wh counter that
  starts at 0 when the board (or the service) starts. The total adds the counter's increase;
  when the counter falls (a restart) it adds the new count, which was counted from 0, if that is
  plausible for the uptime (<= max_w x uptime); otherwise the reading is held ("backwards").
  since_boot=None means the kind is not known: the first reading after a reboot then continues
  from the last raw value seen before it when it is not lower (a meter register goes on), and
  counts from 0 when it is (a counter restarted).
- REGISTER: a meter's own register (M-Bus, Modbus import, IrDA): total = register + offset
  (analytics_totals.RegisterTotal), so the register wins, also for the energy used while the
  board was off.
Blob: one entry per total, [name length u8][name][kind u8][record + CRC-16]; the same bytes go to
NVS (one set_blob + commit for all) and, hex-encoded, to RTC memory (every change).
"""
import struct

from firmware.analytics_totals import RegisterTotal, Total, TotalsError, _crc16

KIND_COUNTER = 0
KIND_REGISTER = 1
_CFMT = "<HIII"  # epoch, seq, wh, last raw (0xFFFFFFFF: none)
_RFMT = "<HiI"  # epoch, offset_wh, register_wh (0xFFFFFFFF: none)
_CSIZE = struct.calcsize(_CFMT) + 2
_RSIZE = struct.calcsize(_RFMT) + 2
_NONE = 0xFFFFFFFF
_U32 = 0xFFFFFFFF
SLACK_WH = 100  # plausibility margin of a restarted counter


class PersistError(ValueError):
    pass


def _with_crc(body):
    return body + struct.pack("<H", _crc16(body, len(body)))


def _check(buf, size):
    body = bytes(buf[:size - 2])
    if struct.unpack("<H", bytes(buf[size - 2:size]))[0] != _crc16(body, len(body)):
        return None
    return body


def encode_entry(name, kind, rec):
    """One blob entry. rec: (epoch, seq, wh, last_raw|None) or (epoch, offset, register|None)."""
    nb = name.encode()
    if not 1 <= len(nb) <= 40:
        raise PersistError("total name length")
    if kind == KIND_COUNTER:
        epoch, seq, wh, last = rec
        if not (0 <= epoch <= 0xFFFF and 0 <= seq <= _U32 and 0 <= wh <= _U32):
            raise PersistError("counter record out of range")
        last = _NONE if last is None or not 0 <= last < _NONE else last
        body = struct.pack(_CFMT, epoch, seq, wh, last)
    elif kind == KIND_REGISTER:
        epoch, offset, reg = rec
        if not (0 <= epoch <= 0xFFFF and -0x80000000 <= offset <= 0x7FFFFFFF):
            raise PersistError("register record out of range")
        reg = _NONE if reg is None or not 0 <= reg < _NONE else reg
        body = struct.pack(_RFMT, epoch, offset, reg)
    else:
        raise PersistError("kind")
    return bytes([len(nb)]) + nb + bytes([kind]) + _with_crc(body)


def decode_blob(buf):
    """{name: (kind, rec)} from a blob; a torn or corrupt entry ends the walk (earlier entries
    are kept), so a bad blob never raises."""
    out: dict = {}
    if not buf:
        return out
    i = 0
    n = len(buf)
    while i < n:
        ln = buf[i]
        if ln == 0 or i + 2 + ln > n:
            break
        try:
            name = bytes(buf[i + 1:i + 1 + ln]).decode()
        except UnicodeError:
            break
        kind = buf[i + 1 + ln]
        j = i + 2 + ln
        size = _CSIZE if kind == KIND_COUNTER else _RSIZE if kind == KIND_REGISTER else 0
        if not size or j + size > n:
            break
        body = _check(buf[j:j + size], size)
        if body is None:
            break
        if kind == KIND_COUNTER:
            epoch, seq, wh, last = struct.unpack(_CFMT, body)
            out[name] = (kind, (epoch, seq, wh, None if last == _NONE else last))
        else:
            epoch, offset, reg = struct.unpack(_RFMT, body)
            rrec = (epoch, offset, None if reg == _NONE else reg)
            out[name] = (kind, rrec)
        i = j + size
    return out


class Counter:
    """A persistent total fed by a restarting Wh counter (see the module docstring)."""

    kind = KIND_COUNTER

    def __init__(self, since_boot=True, min_change_wh=10, min_interval_s=60, max_w=100000):
        self.total = Total(min_change_wh, min_interval_s)
        self.since_boot = since_boot
        self.max_w = max_w
        self.last = None  # last raw value seen since this boot
        self.prev = None  # last raw value seen before this boot
        self.status = "no data"
        self.seen = False

    def restore(self, flash, rtc):
        """flash/rtc: (epoch, seq, wh, last_raw) or None each."""
        f = None if flash is None else flash[:3]
        r = None if rtc is None else rtc[:3]
        self.total.restore(f, r)
        src = rtc if rtc is not None and (flash is None or rtc[0] >= flash[0]) else flash
        self.prev = None if src is None else src[3]
        self.seen = src is not None

    def _plausible(self, raw, uptime_s):
        return raw <= self.max_w * uptime_s // 3600 + SLACK_WH

    def feed(self, raw, uptime_s):
        """A new raw counter value (int Wh); returns the total (int Wh)."""
        self.seen = True
        last = self.last
        if last is None:
            prev = self.prev
            if self.since_boot is None and prev is not None and raw >= prev:
                delta = raw - prev  # a register that went on while the board was off
            elif self._plausible(raw, uptime_s):
                delta = raw  # counted from 0 since this boot
            else:
                delta = -1
        elif raw >= last:
            delta = raw - last
        elif self._plausible(raw, uptime_s):
            delta = raw  # its service restarted and counts from 0 again
        else:
            delta = -1
        self.last = raw
        if delta < 0:
            self.status = "held: implausible restart"
            return self.total.wh
        self.total.add(delta)
        self.status = "ok"
        return self.total.wh

    def value(self):
        return self.total.wh if self.seen else None

    def due(self, now_s, graceful=False):
        return self.seen and self.total.due(now_s, graceful)

    def record(self, for_flash=False):
        t = self.total
        base = t.flash_record() if for_flash else t.rtc_record()
        last = self.last if self.last is not None else self.prev
        return base + (last,)

    def saved(self, rec, now_s):
        self.total.saved(rec[:3], now_s)

    def set(self, wh, now_s, reason):
        self.seen = True
        return self.total.set(wh, now_s, reason)


class Register:
    """A persistent total that follows a meter register (analytics_totals.RegisterTotal)."""

    kind = KIND_REGISTER

    def __init__(self, min_change_wh=10, min_interval_s=60, max_w=None):
        self.reg = RegisterTotal(tolerance_wh=0, max_w=max_w)
        self.min_change_wh = min_change_wh
        self.min_interval_s = min_interval_s
        self.saved_rec = None
        self.saved_s = None
        self.status = "no data"
        self.last_s = None

    def restore(self, flash, rtc):
        rec = rtc if rtc is not None and (flash is None or rtc[0] >= flash[0]) else flash
        self.reg.restore(rec)
        self.saved_rec = flash

    def feed(self, raw, uptime_s):
        dt = None if self.last_s is None else uptime_s - self.last_s
        self.last_s = uptime_s
        self.reg.accept(raw, dt)
        self.status = self.reg.status if self.reg.status == "ok" else "held: " + self.reg.status
        return self.reg.total_wh

    def value(self):
        return self.reg.total_wh

    def due(self, now_s, graceful=False):
        rec = self.reg.record()
        old = self.saved_rec
        if rec[2] is None or rec == old:
            return False
        if old is None or rec[0] != old[0] or rec[1] != old[1] or graceful:
            return True
        if old[2] is not None and rec[2] - old[2] < self.min_change_wh:
            return False
        return self.saved_s is None or now_s - self.saved_s >= self.min_interval_s

    def record(self, for_flash=False):
        return self.reg.record()

    def saved(self, rec, now_s):
        self.saved_rec = rec
        self.saved_s = now_s

    def set(self, wh, now_s, reason):
        return self.reg.set(wh, now_s, reason)

    def replace_meter(self, register_wh, now_s, reason):
        return self.reg.replace_meter(register_wh, now_s, reason)


class Book:
    """The persistent totals of one board, by channel name (e.g. heatpump_heat_wh)."""

    def __init__(self, min_change_wh=10, min_interval_s=60):
        self.min_change_wh = min_change_wh
        self.min_interval_s = min_interval_s
        self.items = {}
        self._pending = None

    def counter(self, name, since_boot=True):
        self.items[name] = Counter(since_boot, self.min_change_wh, self.min_interval_s)

    def register(self, name, max_w=None):
        self.items[name] = Register(self.min_change_wh, self.min_interval_s, max_w)

    def restore(self, flash_blob, rtc_blob):
        """Continue from the NVS blob and the RTC memory blob (either may be empty/None).
        An entry whose kind no longer matches the configuration is ignored."""
        flash = decode_blob(flash_blob)
        rtc = decode_blob(rtc_blob)
        for name, item in self.items.items():
            f = flash.get(name)
            r = rtc.get(name)
            f = f[1] if f is not None and f[0] == item.kind else None
            r = r[1] if r is not None and r[0] == item.kind else None
            item.restore(f, r)

    def feed(self, name, raw, uptime_s):
        """(total Wh, status) for a raw reading of a tracked channel."""
        item = self.items[name]
        if raw is None:
            return None, "no data"
        raw = int(raw)
        if raw < 0:
            return item.value(), "held: negative"
        return item.feed(raw, uptime_s), item.status

    def value(self, name):
        item = self.items.get(name)
        return None if item is None else item.value()

    def due(self, now_s, graceful=False):
        for item in self.items.values():
            if item.due(now_s, graceful):
                return True
        return False

    def _blob(self, for_flash):
        out = bytearray()
        recs = {}
        for name, item in self.items.items():
            if item.value() is None and not (item.kind == KIND_COUNTER and item.seen):
                continue
            rec = item.record(for_flash)
            recs[name] = rec
            out += encode_entry(name, item.kind, rec)
        return bytes(out), recs

    def flash_blob(self):
        """The blob to write now; call saved() once the NVS commit succeeded."""
        blob, self._pending = self._blob(True)
        return blob

    def saved(self, now_s):
        for name, rec in (self._pending or {}).items():
            self.items[name].saved(rec, now_s)
        self._pending = None

    def rtc_blob(self):
        return self._blob(False)[0]

    def set(self, name, wh, now_s, reason):
        item = self.items.get(name)
        if item is None:
            raise TotalsError("no total named %s" % name)
        return item.set(wh, now_s, reason)

    def replace_meter(self, name, register_wh, now_s, reason):
        item = self.items.get(name)
        if item is None or item.kind != KIND_REGISTER:
            raise TotalsError("%s does not follow a meter register" % name)
        return item.replace_meter(register_wh, now_s, reason)
