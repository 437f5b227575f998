"""Supervisor: feeds the hardware watchdog only while every critical task lives.

Each critical task calls checkin(name) at least once per its max_silence_ms.
If one falls silent the supervisor stops feeding and the WDT resets the board,
which is the only cure for a task stuck in a driver. It also measures how late
its own wake-ups are: the longest scheduler stall seen.
"""
import asyncio
import gc
import time

GC_EVERY = 10  # supervisor periods: a small, regular collection beats one long one


class Supervisor:
    PERIOD_MS = 1000

    def __init__(self, wdt=None, log=None):
        self.wdt = wdt
        self.log = log
        self.tasks = {}
        self.longest_stall_ms = 0
        self.starving = None
        self.free_heap = gc.mem_free()
        self.min_free_heap = self.free_heap
        self._ticks = GC_EVERY - 1  # measure on the first period

    def register(self, name, max_silence_ms):
        self.tasks[name] = [max_silence_ms, time.ticks_ms()]

    def checkin(self, name):
        entry = self.tasks.get(name)
        if entry is not None:
            entry[1] = time.ticks_ms()

    def silent_tasks(self, now=None):
        now = time.ticks_ms() if now is None else now
        return [name for name, (limit, last) in self.tasks.items()
                if time.ticks_diff(now, last) > limit]

    def measure_heap(self):
        """Free heap after a collection: what is really left, not garbage."""
        gc.collect()
        self.free_heap = gc.mem_free()
        if self.free_heap < self.min_free_heap:
            self.min_free_heap = self.free_heap

    async def run(self):
        expected = time.ticks_add(time.ticks_ms(), self.PERIOD_MS)
        while True:
            await asyncio.sleep_ms(self.PERIOD_MS)
            now = time.ticks_ms()
            late = time.ticks_diff(now, expected)
            if late > self.longest_stall_ms:
                self.longest_stall_ms = late
            self._ticks += 1
            if self._ticks % GC_EVERY == 0:
                self.measure_heap()
            expected = time.ticks_add(time.ticks_ms(), self.PERIOD_MS)
            silent = self.silent_tasks(now)
            if silent:
                if self.starving != silent and self.log:
                    self.log.error("task(s) %s stopped checking in; letting the watchdog reset" % ",".join(silent))
                self.starving = silent
            else:
                self.starving = None
                if self.wdt is not None:
                    self.wdt.feed()
