"""Persistent energy totals (pure policy): when to write flash, how to merge flash and RTC
memory after a reboot, and "the meter register wins" for sources with their own register.

A total is the record (epoch, seq, wh), all absolute:
- wh: the total in integer Wh;
- seq: +1 on every flash write, so the newer of two copies is known;
- epoch: +1 whenever the total is set/corrected by hand. Within one epoch the total only grows.
Flash (esp32.NVS blob) holds the last written record; RTC memory (survives soft and watchdog
resets, not power loss) holds the live record, rewritten every reading. After a reboot
merge(flash, rtc) takes, within the same epoch, the larger wh: because both copies are
absolute, a delta that already reached flash can never be added a second time, and the total
never goes backwards. A higher epoch wins outright (a correction whose flash write was lost
is still in RTC memory; a stale RTC copy from before a correction is dropped).
Wear budget at the defaults: docs/flash-wear.md.
"""
import struct

_FMT = "<HII"  # epoch, seq, wh
SIZE = 12  # 10-byte body + CRC-16
_U32 = 0xFFFFFFFF


class TotalsError(ValueError):
    pass


def _crc16(buf, n):
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of buf[:n]: catches the 0x00 <-> 0xFF
    flips of erased flash that a mod-255 Fletcher sum misses."""
    crc = 0xFFFF
    for i in range(n):
        crc ^= buf[i] << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def pack(rec):
    """(epoch, seq, wh) -> 12 bytes for NVS (set_blob) or RTC memory."""
    epoch, seq, wh = rec
    if not (0 <= epoch <= 0xFFFF and 0 <= seq <= _U32 and 0 <= wh <= _U32):
        raise TotalsError("total record out of range")
    body = struct.pack(_FMT, epoch, seq, wh)
    return body + struct.pack("<H", _crc16(body, len(body)))


def unpack(buf):
    """12 bytes -> (epoch, seq, wh), or None if missing, short or corrupt."""
    if buf is None or len(buf) != SIZE:
        return None
    body = bytes(buf[:SIZE - 2])
    if struct.unpack("<H", bytes(buf[SIZE - 2:]))[0] != _crc16(body, len(body)):
        return None
    return struct.unpack(_FMT, body)


def merge(flash, rtc):
    """The record to continue from after a reboot; either may be None (missing/corrupt)."""
    if rtc is None:
        return flash if flash is not None else (0, 0, 0)
    if flash is None or rtc[0] > flash[0]:
        return rtc
    if rtc[0] < flash[0]:
        return flash
    return (flash[0], max(flash[1], rtc[1]), max(flash[2], rtc[2]))


def _audit(action, now_s, old, new, epoch, reason, register=None):
    rec = {"t": now_s, "action": action, "old_wh": old, "new_wh": new, "epoch": epoch,
           "reason": reason}
    if register is not None:
        rec["register_wh"] = register
    return rec


class Total:
    """An integrated total (CT, pulse, heat from flow x dT) with throttled flash writes.

    due() is True when the unsaved change >= min_change_wh [10 Wh] and the last write is
    >= min_interval_s [60 s] old; always after set(); on a graceful restart whenever anything
    is unsaved. Times are monotonic seconds (uptime)."""

    def __init__(self, min_change_wh=10, min_interval_s=60):
        self.min_change_wh = min_change_wh
        self.min_interval_s = min_interval_s
        self.epoch = 0
        self.seq = 0
        self.wh = 0
        self.saved_wh = 0
        self.saved_epoch = 0
        self.saved_s = None

    def restore(self, flash, rtc):
        """Continue from flash and RTC records (tuples or None). Returns wh."""
        self.epoch, self.seq, self.wh = merge(flash, rtc)
        if flash is not None:
            self.saved_epoch, self.saved_wh = flash[0], flash[2]
        else:
            self.saved_epoch, self.saved_wh = -1, 0  # nothing in flash yet: write soon
        return self.wh

    def add(self, wh):
        if wh < 0:
            raise TotalsError("a total never goes backwards")
        self.wh += wh

    def unsaved_wh(self):
        return self.wh - self.saved_wh

    def due(self, now_s, graceful=False):
        if self.epoch != self.saved_epoch:
            return True
        change = self.wh - self.saved_wh
        if change <= 0:
            return False
        if graceful:
            return True
        if change < self.min_change_wh:
            return False
        return self.saved_s is None or now_s - self.saved_s >= self.min_interval_s

    def flash_record(self):
        """The record to write now (seq + 1); call saved() once the NVS commit succeeded."""
        return (self.epoch, self.seq + 1, self.wh)

    def saved(self, rec, now_s):
        self.seq = max(self.seq, rec[1])
        self.saved_epoch = rec[0]
        self.saved_wh = rec[2]
        self.saved_s = now_s

    def rtc_record(self):
        return (self.epoch, self.seq, self.wh)

    def set(self, wh, now_s, reason="set"):
        """Set/correct the total by hand; returns the audit record. Forces a flash write."""
        if not isinstance(wh, int) or not 0 <= wh <= _U32:
            raise TotalsError("total must be an int Wh >= 0")
        old = self.wh
        self.epoch += 1
        self.wh = wh
        return _audit("set", now_s, old, wh, self.epoch, reason)


class RegisterTotal:
    """A total that follows a meter's own register (M-Bus energy, Modbus import kWh, IrDA):
    total = register + offset, offset 0 unless the meter was replaced or the total was set.

    A register below the last accepted one by more than tolerance_wh is rejected (status
    'backwards') until replace_meter() is called; within the tolerance it is held. With max_w,
    a rise faster than max_w over dt_s is a 'jump' and is accepted only after `confirm`
    consecutive readings agree with it (a bad telegram is not believed, a real one is)."""

    def __init__(self, tolerance_wh=0, max_w=None, confirm=3):
        self.tolerance_wh = tolerance_wh
        self.max_w = max_w
        self.confirm = confirm
        self.epoch = 0
        self.offset_wh = 0
        self.register_wh = None
        self.status = "no data"
        self.rejects = 0
        self._pending = None
        self._count = 0

    @property
    def total_wh(self):
        if self.register_wh is None:
            return None
        return self.register_wh + self.offset_wh

    def record(self):
        """(epoch, offset_wh, register_wh) to persist with the other totals."""
        return (self.epoch, self.offset_wh, self.register_wh)

    def restore(self, rec):
        if rec is not None:
            self.epoch, self.offset_wh, self.register_wh = rec

    def accept(self, register_wh, dt_s=None):
        """A new register reading; returns the total or None when the reading is rejected."""
        if register_wh is None or not isinstance(register_wh, int) or register_wh < 0:
            self.status = "invalid"
            self.rejects += 1
            return None
        last = self.register_wh
        if last is None:
            self.register_wh = register_wh
            self.status = "ok"
            return self.total_wh
        if register_wh < last - self.tolerance_wh:
            self.status = "backwards"
            self.rejects += 1
            return None
        if register_wh > last and self.max_w is not None and dt_s is not None:
            if register_wh - last > self._limit(dt_s):
                p = self._pending
                if p is not None and p <= register_wh <= p + self._limit(dt_s):
                    self._count += 1
                else:
                    self._count = 1
                self._pending = register_wh
                if self._count < self.confirm:
                    self.status = "jump"
                    self.rejects += 1
                    return None
        self._pending = None
        self._count = 0
        if register_wh > last:
            self.register_wh = register_wh
        self.status = "ok"
        return self.total_wh

    def _limit(self, dt_s):
        return self.max_w * dt_s / 3600.0 + self.tolerance_wh + 1

    def replace_meter(self, new_register_wh, now_s, reason="meter replaced"):
        """A new meter (register restarts): the total carries on from where it was."""
        if not isinstance(new_register_wh, int) or new_register_wh < 0:
            raise TotalsError("register must be an int Wh >= 0")
        old = self.total_wh or 0
        self.offset_wh = old - new_register_wh
        self.register_wh = new_register_wh
        self.epoch += 1
        self.status = "ok"
        self._pending = None
        return _audit("replace", now_s, old, old, self.epoch, reason, new_register_wh)

    def set(self, total_wh, now_s, reason="set"):
        """Correct the total (keeps following the register from the new value)."""
        if not isinstance(total_wh, int) or total_wh < 0:
            raise TotalsError("total must be an int Wh >= 0")
        if self.register_wh is None:
            raise TotalsError("no register reading yet")
        old = self.total_wh
        self.offset_wh = total_wh - self.register_wh
        self.epoch += 1
        return _audit("set", now_s, old, total_wh, self.epoch, reason, self.register_wh)
