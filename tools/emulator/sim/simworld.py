"""The physical truth behind the emulated board (runs inside MicroPython).

A scenario (JSON, see docs/scenario.md) gives base values for dotted paths
("heat_meter.power_w", "ct.0.real_power_w", "temperatures.28ff...") and a
timeline that steps or ramps them. Values are piecewise linear in time, so
energies are integrated exactly, however rarely a device asks.
"""
import json
import os
import random

try:
    import utime as _host  # the built-in clock: `time` may be the accelerated sim/time.py
except ImportError:  # CPython (tests compute the truth with this module)
    import time as _host

_INF = 1 << 60


def _lookup(tree, path):
    node = tree
    for part in path.split("."):
        if isinstance(node, dict):
            if part not in node:
                return None
            node = node[part]
        elif isinstance(node, list):
            try:
                node = node[int(part)]
            except (ValueError, IndexError):
                return None
        else:
            return None
    return node


class _Track:
    """Piecewise-linear value of one path over one timeline period."""

    def __init__(self, base, events, period_s):
        self.period = period_s
        points = [(0.0, float(base))]  # (t, value) knots; steps are two knots at one t
        value = float(base)
        for at_s, target, ramp_s in events:
            points.append((at_s, value))
            value = float(target)
            points.append((at_s + ramp_s, value))
        self.points = points
        self.end_value = value

    def value(self, t):
        if self.period:
            t = t % self.period
        pts = self.points
        result = pts[0][1]
        for i in range(1, len(pts)):
            t0, v0 = pts[i - 1]
            t1, v1 = pts[i]
            if t < t0:
                break
            if t < t1:
                return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
            result = v1
        return result

    def _integral_to(self, t, positive=False):
        """Integral of value dt over [0, t] within one period (value·s); of max(value, 0) if positive."""
        pts = self.points
        total = 0.0
        for i in range(1, len(pts)):
            t0, v0 = pts[i - 1]
            t1, v1 = pts[i]
            if t <= t0:
                return total
            if t1 <= t0:
                continue
            if t < t1:
                vt = v0 + (v1 - v0) * (t - t0) / (t1 - t0)
                return total + _area(v0, vt, t - t0, positive)
            total += _area(v0, v1, t1 - t0, positive)
        last_t = pts[-1][0]
        if t > last_t:
            total += _area(self.end_value, self.end_value, t - last_t, positive)
        return total

    def integral(self, t, positive=False):
        if not self.period:
            return self._integral_to(t, positive)
        whole = int(t // self.period)
        rest = t - whole * self.period
        return whole * self._integral_to(self.period, positive) + self._integral_to(rest, positive)


def _area(v0, v1, dt, positive):
    """Area under a straight segment from v0 to v1 over dt; only its part above 0 if positive."""
    if not positive or (v0 >= 0 and v1 >= 0):
        return (v0 + v1) * 0.5 * dt
    if v0 <= 0 and v1 <= 0:
        return 0.0
    # crosses zero: the triangle on the positive side
    top = v0 if v0 > 0 else v1
    return top * 0.5 * dt * top / (top - (v1 if v0 > 0 else v0))


class World:
    """Scenario truth at virtual time now."""

    def __init__(self, scenario, speed=1, seed=1):
        self.scenario = scenario
        self.speed = speed
        # The world keeps running across a reset of the board: its epoch is
        # host wall time handed down by the emulator, not this process's ticks.
        epoch = os.getenv("HPMON_EPOCH_MS")
        self._t0 = int(epoch) if epoch else _wall_ms()
        self._tracks = {}
        self._events = {}
        self.period_s = scenario.get("timeline_repeat_s") or 0
        for event in scenario.get("timeline", ()):
            at_s = float(event.get("at_s", 0))
            ramp_s = float(event.get("ramp_s", 0))
            for path, target in event.get("set", {}).items():
                self._events.setdefault(path, []).append((at_s, target, ramp_s))
        for events in self._events.values():
            events.sort(key=lambda e: e[0])
        self.rng = random.Random(seed) if hasattr(random, "Random") else _Rng(seed)

    def prewarm(self):
        """Build every value track now: the simulator's state must be allocated before the
        emulator fixes the firmware's heap budget (_sim_boot), not lazily inside it."""
        paths = list(self._events)

        def walk(node, prefix):
            if isinstance(node, dict):
                for key, value in node.items():
                    walk(value, prefix + str(key) + ".")
            elif isinstance(node, list):
                for pos in range(len(node)):
                    walk(node[pos], prefix + str(pos) + ".")
            elif isinstance(node, (int, float)) and not isinstance(node, bool):
                paths.append(prefix[:-1])

        for key, value in self.scenario.items():
            if key not in ("config", "timeline", "faults"):
                walk(value, key + ".")
        for path in paths:
            self._track(path)

    def now_ms(self):
        return (_wall_ms() - self._t0) * self.speed

    def now_s(self):
        return self.now_ms() / 1000.0

    def _track(self, path):
        track = self._tracks.get(path)
        if track is None:
            base = _lookup(self.scenario, path)
            events = self._events.get(path)
            if base is None and not events:
                return None
            if not isinstance(base, (int, float)) or isinstance(base, bool):
                if not events:
                    return base
                base = events[0][1] if base is None else base
            track = _Track(base if base is not None else 0, events or (), self.period_s)
            self._tracks[path] = track
        return track

    def get(self, path, default=None):
        track = self._track(path)
        if track is None:
            return default
        if not isinstance(track, _Track):
            return track
        return track.value(self.now_s())

    def energy_wh(self, path, positive=False):
        """Integral of path up to now, in value·h (Wh for a power); of its positive part if positive."""
        track = self._track(path)
        if not isinstance(track, _Track):
            return 0.0
        return track.integral(self.now_s(), positive) / 3600.0

    def fault(self, kind, target=None):
        now = self.now_s()
        for f in self.scenario.get("faults", ()):
            if f.get("kind") != kind:
                continue
            if target is not None and "target" in f and str(f["target"]) != str(target):
                continue
            if f.get("at_s", 0) <= now < f.get("until_s", _INF):
                return True
        return False


def _wall_ms():
    # REAL host time even when the board's clock runs N x faster (sim/time.py): the world
    # applies the speed itself, so world time = the board's wall time - its start time.
    return _host.time_ns() // 1000000


class _Rng:
    """Deterministic xorshift for ports whose random has no Random class."""

    def __init__(self, seed):
        self.state = (seed or 1) & 0xFFFFFFFF

    def getrandbits(self, n):
        out = 0
        for _ in range((n + 31) // 32):
            x = self.state
            x ^= (x << 13) & 0xFFFFFFFF
            x ^= x >> 17
            x ^= (x << 5) & 0xFFFFFFFF
            self.state = x
            out = (out << 32) | x
        return out & ((1 << n) - 1)

    def random(self):
        return self.getrandbits(24) / 16777216.0


_world = None


def world():
    """The process-wide world, loaded from $HPMON_SCENARIO on first use."""
    global _world
    if _world is None:
        path = os.getenv("HPMON_SCENARIO")
        scenario = {}
        if path:
            with open(path) as f:
                scenario = json.load(f)
        _world = World(scenario, speed=int(os.getenv("HPMON_SPEED") or 1))
    return _world


def state_path(name):
    """A file in the emulated board's persistent state (outside its flash)."""
    base = os.getenv("HPMON_SIM_DIR") or "."
    return base + "/" + name
