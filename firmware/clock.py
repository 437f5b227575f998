"""Monotonic and wall time. Wall time is only trusted after an NTP sync.

ESP32 counts time.time() from 2000-01-01, the unix port from 1970: everything
here is converted to unix seconds so that published timestamps agree.
"""
import time

UNIX_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0


class Clock:
    def __init__(self):
        self.boot_ticks = time.ticks_ms()
        self.synced = False

    def ticks(self):
        return time.ticks_ms()

    def uptime_s(self):
        # ticks wrap at 2^30 ms on the ESP32 (12.4 days): count the wraps.
        now = time.ticks_ms()
        elapsed = time.ticks_diff(now, self.boot_ticks)
        if elapsed > 0x10000000:
            self._wraps_s = getattr(self, "_wraps_s", 0) + elapsed // 1000
            self.boot_ticks = now
            elapsed = 0
        return getattr(self, "_wraps_s", 0) + elapsed // 1000

    def wall(self):
        """Unix seconds, or None before the first NTP sync."""
        if not self.synced:
            return None
        return int(time.time()) + UNIX_OFFSET

    def sync(self):
        """Set the clock from NTP; True on success. Blocks for up to ~1 s (UDP)."""
        try:
            import ntptime
            ntptime.settime()
        except (OSError, ImportError, OverflowError):
            return False
        self.synced = True
        return True
