"""Shared fuzzing plumbing: fixed seeds, a scale factor, and one summary line per target.

Every fuzz test is bounded and deterministic: `make test` runs each target once with the
default input count. For a longer run set HPMON_FUZZ to a scale factor, e.g.

    HPMON_FUZZ=100 .venv/bin/python -m pytest -s tests/host/test_fuzz_*.py

which runs 100 seeds instead of one (each with the default count), so a long run always
repeats the short run first. A failure names its seed and input; HPMON_FUZZ_SEED=<seed>
with HPMON_FUZZ=1 replays that seed alone. `pytest -s` shows the summary lines:

    fuzz modbus.framer       seeds=1 inputs=20000 accepted=11520 rejected=8480 (...) 1.9 s

The fuzz tests run under CPython only (tests/host, tests/integration): tests/upy_runner.py
imports every tests/pure module in the unix port, which has neither pytest nor os.environ.
"""
import os
import random
import time

SCALE = max(1, int(os.environ.get("HPMON_FUZZ", "1") or 1))
BASE_SEED = int(os.environ.get("HPMON_FUZZ_SEED", "13757") or 13757)


def seeds():
    """The seed list: BASE_SEED, BASE_SEED+1, ... (SCALE of them)."""
    return [BASE_SEED + i for i in range(SCALE)]


def rng(target, seed):
    """A generator private to (target, seed): targets never share a random stream, so adding
    one target does not change another's inputs. (CPython seeds str deterministically.)"""
    return random.Random("%s/%d" % (target, seed))


def inputs(target, n, *tallies):
    """(generator, index) for n inputs of every seed, the generator private to (target, seed);
    each tally is told where the input comes from (at()). Index 0 starts a seed."""
    for seed in seeds():
        r = rng(target, seed)
        for i in range(n):
            for t in tallies:
                t.at(seed, i)
            yield r, i


class Unexpected(AssertionError):
    """A target raised an exception outside its documented set."""


class Tally:
    """Counts for one fuzz target: inputs, accepted, rejected by exception type, time.

    check(fn, *args) calls fn; an exception in `allowed` counts as a rejection (by type
    name), anything else fails the test with the input that caused it. A target whose
    rejection is a return value (None, an error list) calls accept()/reject(kind) itself.
    """

    def __init__(self, target, allowed=()):
        self.target = target
        self.allowed = tuple(allowed)
        self.inputs = 0
        self.accepted = 0
        self.rejected = 0
        self.kinds: dict = {}
        self.seed = None
        self.index = 0
        self.worst_s = 0.0
        self.t0 = time.monotonic()

    def at(self, seed, index):
        """Where the next input comes from (named in a failure)."""
        self.seed = seed
        self.index = index

    def accept(self):
        self.inputs += 1
        self.accepted += 1

    def reject(self, kind):
        self.inputs += 1
        self.rejected += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def count(self, ok, kind):
        """accept() if ok, else reject(kind)."""
        if ok:
            self.accept()
        else:
            self.reject(kind)

    def refuse(self, kind):
        """The input just accepted by check() was refused after all (its return value says so)."""
        self.accepted -= 1
        self.rejected += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def check(self, fn, *args, show=None):
        """(True, result) or (False, exception) for fn(*args); raises Unexpected otherwise."""
        t = time.perf_counter()
        try:
            out = fn(*args)
        except self.allowed as exc:
            self.reject(type(exc).__name__)
            return False, exc
        except Exception as exc:  # noqa: BLE001 - the point of a fuzz test
            raise Unexpected("%s: seed %s input %d: %s raised %r (allowed: %s)" % (
                self.target, self.seed, self.index, _short(show if show is not None else args), exc,
                ", ".join(e.__name__ for e in self.allowed) or "none")) from exc
        finally:
            self.worst_s = max(self.worst_s, time.perf_counter() - t)
        self.accept()
        return True, out

    def timed(self, t0):
        """Note the time of one input begun at time.perf_counter() t0 (for accept/reject users)."""
        self.worst_s = max(self.worst_s, time.perf_counter() - t0)

    def elapsed(self):
        return time.monotonic() - self.t0

    def line(self):
        kinds = ", ".join("%s %d" % kv for kv in sorted(self.kinds.items()))
        return "fuzz %-24s seeds=%d inputs=%d accepted=%d rejected=%d (%s) %.1f s, slowest input %.1f ms" % (
            self.target, SCALE, self.inputs, self.accepted, self.rejected, kinds or "-", self.elapsed(),
            self.worst_s * 1000)

    def report(self):
        """Print the summary line (pytest -s shows it) and return it."""
        text = self.line()
        print("\n" + text)
        return text


def _short(value, limit=300):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "... (%d chars)" % len(text)


def mutate(r, data, ops=4, inserts=(0x00, 0xFF)):
    """data with 1..ops random edits: bit flip, byte change, insert (one of `inserts` or a
    random byte), delete, cut, duplicate."""
    b = bytearray(data)
    for _ in range(r.randint(1, ops)):
        op = r.randrange(6)
        if not b:
            b.append(r.randrange(256))
            continue
        i = r.randrange(len(b))
        if op == 0:
            b[i] ^= 1 << r.randrange(8)
        elif op == 1:
            b[i] = r.randrange(256)
        elif op == 2:
            b.insert(i, r.choice(tuple(inserts) + (r.randrange(256),)))
        elif op == 3:
            del b[i]
        elif op == 4:
            del b[i:]
        else:
            j = r.randrange(len(b))
            b[i:i] = b[j:j + r.randint(1, 8)]
    return bytes(b)


def noise(r, lo=0, hi=40):
    return bytes(r.getrandbits(8) for _ in range(r.randint(lo, hi)))


def chunks(r, data, most=40):
    """data cut into random pieces of 1..most bytes (what a UART read hands over)."""
    i = 0
    while i < len(data):
        k = r.randint(1, most)
        yield data[i:i + k]
        i += k


def json_value(r, depth=0):
    """A random JSON-able value: extreme numbers (NaN and infinities too), odd text, nesting."""
    k = r.randrange(8 if depth < 4 else 5)
    if k == 0:
        return r.choice((0, 1, -1, 10, 3600, 65536, 2 ** 31, -(2 ** 63), 10 ** 30, r.randint(-1000, 100000)))
    if k == 1:
        return r.choice((0.5, -0.0, 1e308, 1e-9, 60.606, float("nan"), float("inf"), float("-inf")))
    if k == 2:
        return r.choice((True, False, None))
    if k == 3:
        return r.choice(("", "on", "hpmon", "x" * r.choice((16, 33, 65, 1000)), "a/b+#", "\u00e9\u2603\U0001f525",
                         "\x00\n\"\\", "06:00-08:00", "https://emoncms.org", "28ff641e821603e2"))
    if k == 4:
        return "".join(chr(r.randrange(32, 0x3000)) for _ in range(r.randint(0, 30)))
    if k == 5:
        return [json_value(r, depth + 1) for _ in range(r.randint(0, 4))]
    if k == 6:
        value = 1
        for _ in range(r.randint(5, 60)):
            value = [value] if r.random() < 0.5 else {"a": value}
        return value
    keys = ("a", "", "enabled", "address", "x" * 40)
    return {r.choice(keys): json_value(r, depth + 1) for _ in range(r.randint(0, 4))}
