"""Simulated S0 pulse output (IEC 62053-31) wired to the board's pulse input (scenario "pulse").

The meter closes its open-collector output once per whole pulse of energy: pulse k starts when the
import energy (the positive part of the integral of "pulse.power_w") reaches k x wh_per_pulse, the
same count machine.Counter reports. The board's pull-up holds the line high between pulses, so a
pulse is a falling edge, the line held low for `width_ms` (IEC 62053-31: at least 30 ms), then a
rising edge. With `bounce` n > 0 the output bounces like a contact: after the real falling edge the
line goes high for half of `bounce_ms` and falls again, n times (n extra falling edges within
n x bounce_ms). "pulse_disconnected" cuts the line: no pulse reaches the pin while it lasts (the
line reads high), and those pulses are never counted, by the Counter either.

Pin IRQs are soft on the ESP32 (machine_pin.c: the GPIO ISR mp_sched_schedule()s the handler and
drops the edge when the queue is full). Here, once the firmware sets a Pin.irq on the pulse pin, a
small _thread sleeps until the next edge is due and micropython.schedule()s `tick`, which runs in
the main thread, computes the edges and schedules the handler once per edge matching its trigger;
a full queue loses the edge (`lost`). The unix port's queue holds 4 callbacks, the ESP32's 8.

Known difference: a scheduled callback runs when the main thread next runs bytecode, and the unix
port does not interrupt a poll() on sockets for it, so while asyncio waits there the handler runs
when that wait ends (at most the firmware's shortest sleep, e.g. the pulse service's poll_ms). The
firmware timestamps an edge in its handler, so its edge times are late by up to that wait; the
ESP32 runs a soft IRQ about a millisecond after the edge when idle. For the same reason the bounce
edges of a pulse are raised together with its first edge: a bounce lasts a few ms, and raising
them at their own times would let this latency split a pulse's edges by more than a board does
(the real edge handled at once, its bounces after a 100-ms wait, counted as a second pulse).
Level reads (Pin.value) follow the true bounce timing.

Every tick after a new pulse rewrites $HPMON_SIM_DIR/pulse_s0.json: pulses on the pin (and of
those, while an IRQ was set), pulses missed while disconnected, IRQ edges raised, scheduled, lost.
"""
import json

try:
    import micropython
except ImportError:  # CPython tests
    micropython = None
try:
    import _thread
except ImportError:
    _thread = None

IRQ_RISING = 1  # machine.Pin.IRQ_RISING / IRQ_FALLING (ESP32 port values)
IRQ_FALLING = 2
_MAX_TIMED = 16  # a backlog beyond this many pulses at once could never fit the schedule queue
_POWER = "pulse.power_w"


class S0:
    """The pulse output of one meter and the line to the board's pulse GPIO."""

    def __init__(self, world, spec):
        self.world = world
        self.gpio = int(spec.get("gpio", 21))
        self.per = float(spec.get("wh_per_pulse", 1) or 1)
        self.width_ms = float(spec.get("width_ms", 100))
        self.bounce = int(spec.get("bounce", 0))
        self.bounce_ms = float(spec.get("bounce_ms", 2))
        self.track = world._track(_POWER)
        now = world.now_ms()
        self.t_done = now  # world ms up to which pulses are known
        self.k = self._whole(now)  # whole pulses of energy by then
        self.missed = 0  # pulses while the line was cut
        self.pulses = 0  # pulses that reached the pin
        self.irq_pulses = 0  # ...of which while the firmware had an IRQ on it
        self.last_edge = None  # world ms of the newest pulse's falling edge
        self.events = []  # [world ms, sequence, trigger bit]: edges not yet raised
        self.seq = 0
        self.pin = None  # the firmware's Pin with the IRQ, once it sets one
        self.edges = 0
        self.scheduled = 0
        self.lost = 0
        self.busy = False
        self.dirty = False  # stats changed since pulse_s0.json was written
        self.tick_pending = False
        self.wake_at = now
        self.started = False
        self._tick_cb = self.tick  # bound once: the clock thread schedules it without allocating

    # ------------------------------------------------------------ the truth
    def _energy_wh(self, t_ms):
        if not hasattr(self.track, "integral"):
            return 0.0
        return self.track.integral(t_ms / 1000.0, True) / 3600.0

    def _whole(self, t_ms):
        return int(self._energy_wh(t_ms) / self.per)

    def _crossing(self, j, lo, hi):
        """The first world ms at which pulse j is due (j pulses of energy), within (lo, hi]."""
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._whole(mid) >= j:
                hi = mid
            else:
                lo = mid
        return hi

    def advance(self, now):
        """Bring the pulses up to world time now (main thread only)."""
        if now <= self.t_done or self.busy:
            return
        self.busy = True  # a tick scheduled in the middle of a Pin.value() must not re-enter
        try:
            k = self._whole(now)
            if k > self.k:
                if self.world.fault("pulse_disconnected"):
                    self.missed += k - self.k
                else:
                    # every pulse is timed for the IRQ up to what the schedule queue could hold;
                    # without an IRQ only the newest one matters (Pin.value)
                    n = k - self.k
                    timed = min(n - 1, _MAX_TIMED if self.pin is not None else 0)
                    for j in range(self.k + 1, self.k + 1 + timed):
                        self._pulse(self._crossing(j, self.t_done, now))
                    skipped = n - 1 - timed  # their IRQ edges would not have fitted the queue
                    self.pulses += skipped
                    if self.pin is not None:
                        self.irq_pulses += skipped
                        self.lost += skipped
                    self._pulse(self._crossing(k, self.t_done, now))
                self.k = k
                self.dirty = True
            self.t_done = now
        finally:
            self.busy = False

    def _pulse(self, t):
        self.pulses += 1
        self.last_edge = t
        if self.pin is None:
            return
        self.irq_pulses += 1
        # The bounce edges are raised with the real one (see the module docstring), the rising
        # edge at the end of the pulse on its own; the list stays in time order (sort is not
        # stable in MicroPython: the sequence number keeps the edges of one time in order).
        ev = self.events
        seq = self.seq
        ev.append([t, seq, IRQ_FALLING])
        for _ in range(self.bounce):
            ev.append([t, seq + 1, IRQ_RISING])
            ev.append([t, seq + 2, IRQ_FALLING])
            seq += 2
        ev.append([t + self.width_ms, seq + 3, IRQ_RISING])
        self.seq = seq + 4
        ev.sort(key=lambda e: (e[0], e[1]))

    def count(self):
        """Pulses that reached the pin since the world started (what a PCNT counts)."""
        self.advance(self.world.now_ms())
        return self.k - self.missed

    def level(self):
        """The line as the pin reads it: 1 idle (pulled up), 0 during a pulse."""
        now = self.world.now_ms()
        self.advance(now)
        t = self.last_edge
        if t is None or self.world.fault("pulse_disconnected"):
            return 1
        d = now - t
        if d < 0 or d >= self.width_ms:
            return 1
        b = self.bounce_ms
        if d < self.bounce * b and d % b >= b / 2:
            return 1  # bouncing back up
        return 0

    # ------------------------------------------------------------ the IRQ
    def arm(self, pin):
        """The firmware set (or cleared) a Pin.irq on the pulse pin."""
        now = self.world.now_ms()
        self.advance(now)  # the pulses so far came before the IRQ: none of them is raised
        handler = pin._irq[0] if pin._irq else None
        self.pin = pin if handler is not None else None
        if self.pin is None:
            self.events = []
            return
        self._plan(now)
        if not self.started and _thread is not None and micropython is not None:
            self.started = True
            _thread.start_new_thread(self._clock, ())

    def tick(self, _arg=None):
        """Deliver the edges that are due (runs in the main thread, scheduled by the clock)."""
        try:
            self._deliver()
        finally:
            self.tick_pending = False  # only now: a second tick would take a slot of the queue

    def _deliver(self):
        now = self.world.now_ms()
        self.advance(now)
        pin = self.pin
        ev = self.events
        raised = 0
        while ev and ev[0][0] <= now:
            bit = ev.pop(0)[2]
            if pin is None or pin._irq is None:
                continue
            handler, trigger = pin._irq
            if handler is None or not trigger & bit:
                continue
            raised += 1
            self.edges += 1
            try:
                micropython.schedule(handler, pin)
                self.scheduled += 1
            except RuntimeError:
                self.lost += 1  # the schedule queue is full: the edge is lost, as on the ESP32
        self._plan(now)
        if raised or self.dirty:
            self.dirty = False
            self._save()

    def _plan(self, now):
        """When the clock thread should wake next: the next edge, or the next pulse from the power now."""
        wake = now + 200  # the power may ramp: look again at least every 200 ms
        if self.events:
            wake = min(wake, self.events[0][0])
        else:
            p = self.world.get(_POWER, 0) or 0
            if p > 0:
                need_wh = (self.k + 1) * self.per - self._energy_wh(now)
                wake = min(wake, now + max(1, int(need_wh * 3600000.0 / p) + 1))
        self.wake_at = wake

    def _clock(self):
        import time
        while True:
            now = self.world.now_ms()
            if self.tick_pending:
                time.sleep_ms(5)
                continue
            if now >= self.wake_at:
                self.tick_pending = True
                try:
                    micropython.schedule(self._tick_cb, None)
                except RuntimeError:  # the queue is full: try again shortly
                    self.tick_pending = False
                time.sleep_ms(1)
                continue
            time.sleep_ms(max(1, min(int(self.wake_at - now), 200)))

    def stats(self):
        return {"gpio": self.gpio, "pulses": self.pulses, "irq_pulses": self.irq_pulses, "missed": self.missed,
                "edges": self.edges,
                "scheduled": self.scheduled, "lost": self.lost, "bounce": self.bounce}

    def _save(self):
        import simworld
        try:
            with open(simworld.state_path("pulse_s0.json"), "w") as f:
                f.write(json.dumps(self.stats()))
        except OSError:
            pass
