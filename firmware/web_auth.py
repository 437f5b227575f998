"""Admin authentication (pure): the password hash on flash, sessions in RAM, HTTP Basic for
scripts, a login rate limit.

The password is stored as salt + PBKDF2-HMAC-SHA256 (RFC 8018) in auth.json, written
atomically. HMAC (RFC 2104) and PBKDF2 are written here over hashlib.sha256: MicroPython has
neither `hmac` nor `hashlib.pbkdf2_hmac`. A forgotten password, or an unreadable auth.json
(which locks every admin action rather than letting anyone set a new password), is reset
over USB: `mpremote rm :auth.json`.

Deriving the key takes the board ~0.5 s, so every operation that checks or sets a password
is a generator of *steps*: it yields None every CHUNK iterations (the caller does
`await asyncio.sleep_ms(0)` then) and finally yields one result tuple (status, value), with
status an HTTP code: see login_steps(). run() drives one to the end without pausing (tests).
Nothing here returns, logs or raises with the password or its hash.
"""
import binascii
import hashlib
import json
import os

AUTH_FILE = "auth.json"
# PBKDF2 iterations. The ESP32 (240 MHz) runs one iteration - two SHA-256 hashes of a 96-byte
# message (mbedTLS) plus interpreter overhead - in about 100-200 us (measured 3 us on an x86
# host's unix port; the board runs MicroPython 30-50x slower). 4000 iterations keep a login
# near 0.5 s on the board. Far below OWASP's 600 000 for servers, which would take minutes here;
# the hash is readable only with the board in hand, and guessing over the network is throttled.
ITERATIONS = 4000
# Iterations per step: 64 at up to ~0.4 ms each (a pessimistic board) is ~25 ms, inside the
# ~50 ms the scheduler may be held.
CHUNK = 64
SALT_BYTES = 16
MIN_LEN = 8
MAX_LEN = 64
USER = "admin"

MAX_SESSIONS = 4
SESSION_IDLE_MS = 30 * 60 * 1000
COOKIE = "hpmon_session"

FREE_FAILS = 5            # failed logins per client before the first 429
GLOBAL_FREE_FAILS = 20    # failed logins from all clients together before everyone waits
BACKOFF_S = 10            # first wait; doubles with every further failure
MAX_BACKOFF_S = 300
FORGET_MS = 15 * 60 * 1000  # a client without failures for this long starts afresh
MAX_CLIENTS = 8

TICKS_PERIOD = 1 << 30    # MicroPython's time.ticks_ms() wraps at 2**30
_HALF = TICKS_PERIOD >> 1


def ticks_diff(a, b):
    """a - b for wrapping 30-bit tick counts, in [-2**29, 2**29) (time.ticks_diff)."""
    return ((a - b + _HALF) & (TICKS_PERIOD - 1)) - _HALF


def _default_ticks():
    import time  # only when the caller passes no clock
    ticks = getattr(time, "ticks_ms", None)
    if ticks is not None:
        return ticks
    return lambda: int(time.time() * 1000) & (TICKS_PERIOD - 1)  # CPython


def _bytes(text):
    return text.encode() if isinstance(text, str) else bytes(text)


def same(a, b):
    """Constant-time equality of two byte strings (or str), for tokens and hashes."""
    a = _bytes(a)
    b = _bytes(b)
    if len(a) != len(b):
        return False
    diff = 0
    for x, y in zip(a, b):
        diff |= x ^ y
    return diff == 0


def _pads(key):
    """HMAC-SHA256 inner and outer key blocks (RFC 2104: block size 64)."""
    key = _bytes(key)
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key + bytes(64 - len(key))
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def _mac(ipad, opad, msg):
    sha = hashlib.sha256
    inner = sha(ipad)
    inner.update(msg)
    outer = sha(opad)
    outer.update(inner.digest())
    return outer.digest()


def hmac_sha256(key, msg):
    ipad, opad = _pads(key)
    return _mac(ipad, opad, _bytes(msg))


def derive(password, salt, iterations, dklen=32, chunk=CHUNK):
    """PBKDF2-HMAC-SHA256 in steps: yields None every `chunk` iterations, then the key."""
    ipad, opad = _pads(password)
    out = b""
    block = 1
    while len(out) < dklen:
        u = _mac(ipad, opad, bytes(salt) + block.to_bytes(4, "big"))
        acc = int.from_bytes(u, "big")  # XOR of all U_i as one big integer: fast in both Pythons
        n = 1
        while n < iterations:
            u = _mac(ipad, opad, u)
            acc ^= int.from_bytes(u, "big")
            n += 1
            if n % chunk == 0:
                yield None
        out += acc.to_bytes(32, "big")
        block += 1
    yield out[:dklen]


def run(steps):
    """Drive a steps generator to its result without pausing (tests, scripts)."""
    for out in steps:
        if out is not None:
            return out
    return None


def pbkdf2(password, salt, iterations, dklen=32):
    return run(derive(password, salt, iterations, dklen))


def parse_basic(header):
    """The password of an `Authorization: Basic` header for user admin, else None."""
    if not header or not isinstance(header, str):
        return None
    parts = header.strip().split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "basic":
        return None
    try:
        text = binascii.a2b_base64(parts[1].strip()).decode()
    except (ValueError, UnicodeError):
        return None
    user, sep, password = text.partition(":")
    if not sep or user != USER:
        return None
    return password


def cookie_value(header, name=COOKIE):
    """`name`'s value in a Cookie header ("a=1; hpmon_session=..."), or the text itself when
    it is a bare value (Microdot's request.cookies already split it)."""
    if not header:
        return None
    if "=" not in header:
        return header.strip()
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip()
    return None


def password_problem(password):
    """Why a new password is refused, or None."""
    if not isinstance(password, str):
        return "password must be text"
    if not MIN_LEN <= len(password) <= MAX_LEN:
        return "password must be %d to %d characters" % (MIN_LEN, MAX_LEN)
    return None


# A session is a plain list [token, csrf, ticks of last use] (hex, 128 bits each): plain data,
# so the web server can keep sessions in RAM between requests while this module is dropped
# from the heap (see state()).
TOKEN, CSRF, LAST = 0, 1, 2

# What lives on between requests: containers are shared (mutated in place), scalars copied.
STATE = ("sessions", "_fails", "_global", "_basic_key", "_basic", "_rec", "_loaded", "error")


class Auth:
    """Password, sessions and rate limit of the board's admin."""

    def __init__(self, path=AUTH_FILE, ticks_ms=None, urandom=None, iterations=ITERATIONS):
        self._path = path
        self._ticks = ticks_ms or _default_ticks()
        self._random = urandom or os.urandom
        self._iterations = iterations
        self._rec = None
        self._loaded = False
        self.error = None  # why auth.json is unusable, when it is
        self.sessions = []     # [token, csrf, last]
        self._fails = {}       # client -> [failures, ticks of the last one]
        self._global = [0, 0]
        self._basic_key = self._random(16)
        self._basic = None     # [MAC of the last good Basic header, ticks of its last use]

    def attach(self, state):
        """Continue from a state dict kept between requests (empty: start it)."""
        for key in STATE:
            if key in state:
                setattr(self, key, state[key])
        self.keep(state)
        return self

    def keep(self, state):
        """Store what must outlive this object in the state dict (plain data only)."""
        for key in STATE:
            state[key] = getattr(self, key)

    # ------------------------------------------------------------ the stored password
    def _load(self):
        if self._loaded:
            return self._rec
        self._loaded = True
        try:
            with open(self._path) as f:
                text = f.read()
        except OSError:
            self._rec = None
            return None
        try:
            doc = json.loads(text)
            rec = (binascii.unhexlify(doc["salt"]), binascii.unhexlify(doc["hash"]), int(doc["iterations"]))
            if doc.get("alg") != "pbkdf2-sha256" or len(rec[1]) != 32 or rec[2] < 1:
                raise ValueError
        except (ValueError, KeyError, TypeError, AttributeError):
            # Set, but unusable: locked until replaced over USB; never "not set" (anyone could claim it).
            rec = (b"", b"", 0)
            self.error = "%s is unreadable: remove it over USB to set a new password" % self._path
        self._rec = rec
        return rec

    def _save(self, salt, key, iterations):
        doc = {"alg": "pbkdf2-sha256", "iterations": iterations,
               "salt": binascii.hexlify(salt).decode(), "hash": binascii.hexlify(key).decode()}
        tmp = self._path + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(doc))
        os.rename(tmp, self._path)  # atomic on LittleFS: the old or the new password, never none
        self._rec = (salt, key, iterations)
        self._loaded = True
        self.error = None

    def is_set(self):
        return self._load() is not None

    def _verify_steps(self, password):
        """Steps, then True/False."""
        rec = self._load()
        if rec is None or not rec[2] or not isinstance(password, str):
            yield False
            return
        key = None
        for key in derive(password, rec[0], rec[2]):
            if key is None:
                yield None
        yield same(key, rec[1])

    def _store_steps(self, password):
        """Steps, then True: a new salt and hash written to flash."""
        salt = self._random(SALT_BYTES)
        key = None
        for key in derive(password, salt, self._iterations):
            if key is None:
                yield None
        self._save(salt, key, self._iterations)
        yield True

    def check_password_steps(self, password, client=None):
        """Steps, then (200, None) | (401, None) | (429, retry_after_s). Counts failures."""
        wait = self.retry_after(client)
        if wait:
            yield (429, wait)
            return
        ok = None
        for ok in self._verify_steps(password):
            if ok is None:
                yield None
        if ok:
            self._fails.pop(client, None)
            yield (200, None)
            return
        self._failed(client)
        yield (401, None)

    # ------------------------------------------------------------ what the routes call
    def setup_steps(self, password, proof=None, expected=None, client=None):
        """First password: steps, then (200, session) | (400, reason) | (403, reason) |
        (409, reason) | (429, retry_after_s).

        expected: a secret only the owner can read (the access point's password, on the serial
        console); proof must match it, or whoever reaches the board first on the home network
        could claim it. A wrong proof counts as a failed login (rate limit)."""
        if self.is_set():
            yield (409, "a password is set already; log in")
            return
        if expected is not None:
            wait = self.retry_after(client)
            if wait:
                yield (429, wait)
                return
            if not isinstance(proof, str) or not same(proof, expected):
                self._failed(client)
                yield (403, "the access point's password is needed (printed on the serial console)")
                return
        problem = password_problem(password)
        if problem:
            yield (400, problem)
            return
        for out in self._store_steps(password):
            if out is None:
                yield None
        yield (200, self._new_session())

    def login_steps(self, password, client=None):
        """Steps, then (200, session) | (401, None) wrong | (429, retry_after_s) too many failures."""
        if not self.is_set():
            yield (401, None)
            return
        result = (500, None)
        for result in self.check_password_steps(password, client):
            if result is None:
                yield None
        yield (200, self._new_session()) if result[0] == 200 else result

    def change_steps(self, session, old, new, client=None):
        """Steps, then (200, None) | (400, reason) | (401, None) | (429, s). Ends every other
        session and forgets the Basic credential."""
        problem = password_problem(new)
        if problem:
            yield (400, problem)
            return
        result = (500, None)
        for result in self.check_password_steps(old, client):
            if result is None:
                yield None
        if result[0] != 200:
            yield result
            return
        for out in self._store_steps(new):
            if out is None:
                yield None
        self.sessions[:] = [s for s in self.sessions if s is session]
        self._basic = None
        yield (200, None)

    def check_basic_steps(self, header, client=None):
        """Authorization header -> steps, then (200, None) | (401, None) | (429, s).

        A header that passed once is remembered (as an HMAC under a per-boot key) while it
        keeps being used, so a script's every request does not cost a key derivation."""
        password = parse_basic(header)
        if password is None or not self.is_set():
            yield (401, None)
            return
        now = self._ticks()
        mac = hmac_sha256(self._basic_key, header)
        cached = self._basic
        if cached is not None and self._fresh(cached[1], now) and same(mac, cached[0]):
            cached[1] = now
            yield (200, None)
            return
        result = (500, None)
        for result in self.check_password_steps(password, client):
            if result is None:
                yield None
        if result[0] == 200:
            self._basic = [mac, self._ticks()]
        yield result

    def check_basic(self, header, client=None):
        """Blocking check_basic_steps(): True when the header carries the admin password."""
        return run(self.check_basic_steps(header, client))[0] == 200

    def check_password(self, password, client=None):
        """Blocking: True for the admin password (counts failures like a login)."""
        return run(self.check_password_steps(password, client))[0] == 200

    def setup(self, password, proof=None, expected=None, client=None):
        return run(self.setup_steps(password, proof, expected, client))

    def login(self, password, client=None):
        return run(self.login_steps(password, client))

    def change(self, session, old, new, client=None):
        return run(self.change_steps(session, old, new, client))

    # ------------------------------------------------------------ sessions
    def _fresh(self, last, now):
        age = ticks_diff(now, last)
        return 0 <= age <= SESSION_IDLE_MS  # negative: the tick counter went round since

    def _token(self):
        return binascii.hexlify(self._random(16)).decode()

    def _new_session(self):
        now = self._ticks()
        live = [s for s in self.sessions if self._fresh(s[LAST], now)]
        while len(live) >= MAX_SESSIONS:
            oldest = live[0]
            for s in live:
                if ticks_diff(s[LAST], oldest[LAST]) < 0:
                    oldest = s
            live.remove(oldest)
        session = [self._token(), self._token(), now]
        live.append(session)
        self.sessions[:] = live
        return session

    def session_for(self, cookie):
        """The live session of a Cookie header (or the bare cookie value), else None."""
        token = cookie_value(cookie)
        if not token:
            return None
        now = self._ticks()
        found = None
        live = []
        for s in self.sessions:
            if not self._fresh(s[LAST], now):
                continue
            live.append(s)
            if same(s[TOKEN], token):
                found = s
        self.sessions[:] = live
        if found is not None:
            found[LAST] = now
        return found

    def csrf_ok(self, session, value):
        return session is not None and bool(value) and same(session[CSRF], value)

    def logout(self, session):
        self.sessions[:] = [s for s in self.sessions if s is not session]

    # ------------------------------------------------------------ rate limit
    def _wait_ms(self, entry, free, now):
        """Remaining block of a [failures, last] entry, ms (0: none): the free-th failure
        blocks for BACKOFF_S, each further one doubles it up to MAX_BACKOFF_S."""
        over = entry[0] - free
        since = ticks_diff(now, entry[1])
        if over < 0 or since < 0:  # negative: the tick counter went round since
            return 0
        return max(0, min(BACKOFF_S << min(over, 16), MAX_BACKOFF_S) * 1000 - since)

    def retry_after(self, client=None):
        """Seconds this client must wait before its next password check (0: go ahead)."""
        now = self._ticks()
        entry = self._fails.get(client)
        ms = self._wait_ms(entry, FREE_FAILS, now) if entry else 0
        ms = max(ms, self._wait_ms(self._global, GLOBAL_FREE_FAILS, now))
        return (ms + 999) // 1000

    def _failed(self, client):
        now = self._ticks()
        for entry in [self._global] + ([self._fails[client]] if client in self._fails else []):
            if ticks_diff(now, entry[1]) > FORGET_MS or ticks_diff(now, entry[1]) < 0:
                entry[0] = 0
        self._global[0] += 1
        self._global[1] = now
        entry = self._fails.get(client)
        if entry is None:
            # Bounded table: forget quiet clients first, then the longest-quiet one.
            for key in list(self._fails):
                if not 0 <= ticks_diff(now, self._fails[key][1]) <= FORGET_MS:
                    del self._fails[key]
            while len(self._fails) >= MAX_CLIENTS:
                oldest = None
                for key, value in self._fails.items():
                    if oldest is None or ticks_diff(value[1], self._fails[oldest][1]) < 0:
                        oldest = key
                del self._fails[oldest]
            entry = self._fails[client] = [0, now]
        entry[0] += 1
        entry[1] = now
