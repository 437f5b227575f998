"""Admin authentication: HMAC/PBKDF2 against published vectors, sessions, CSRF, Basic, rate limit.

Runs under CPython pytest and the unix port (tests/upy_runner.py): no fixtures, files in /tmp.
"""
import binascii
import hashlib
import json
import os

from firmware import web_auth
from firmware.web_auth import Auth, derive, hmac_sha256, parse_basic, pbkdf2, same, ticks_diff

ITER = 200  # small for speed; the vectors below use their own counts


def _hex(data):
    return binascii.hexlify(data).decode()


def _b64(text):
    return binascii.b2a_base64(text.encode()).decode().strip()


class Clock:
    def __init__(self, start=1000):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, ms):
        self.now = (self.now + ms) & (web_auth.TICKS_PERIOD - 1)


def _path():
    return "/tmp/hpmon-test-auth-%s.json" % _hex(os.urandom(6))


def _auth(start=1000, path=None):
    clock = Clock(start)
    return Auth(path or _path(), ticks_ms=clock, iterations=ITER), clock


def _cleanup(auth):
    for p in (auth._path, auth._path + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass


# ------------------------------------------------------------ HMAC / PBKDF2 vectors
def test_hmac_sha256_rfc4231():
    # RFC 4231 test cases 1, 2 and 6 (a key longer than the 64-byte block is hashed first)
    assert _hex(hmac_sha256(b"\x0b" * 20, b"Hi There")) == \
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    assert _hex(hmac_sha256(b"Jefe", b"what do ya want for nothing?")) == \
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert _hex(hmac_sha256(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First")) == \
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"


def test_pbkdf2_known_vectors():
    # Widely published PBKDF2-HMAC-SHA256 vectors ("password"/"salt", dkLen 32) and RFC 7914
    # section 11 (dkLen 64: two blocks).
    assert _hex(pbkdf2("password", b"salt", 1)) == "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
    assert _hex(pbkdf2("password", b"salt", 2)) == "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"
    assert _hex(pbkdf2("password", b"salt", 4096)) == \
        "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
    assert _hex(pbkdf2("passwd", b"salt", 1, 64)) == (
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")
    assert _hex(pbkdf2("Password", b"NaCl", 80000, 64)) == (
        "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d")


def test_pbkdf2_matches_cpython_hashlib():
    ref = getattr(hashlib, "pbkdf2_hmac", None)
    if ref is None:  # the unix port: the constant vectors above are the check
        return
    for pw, salt, n in (("pässwörd-ü", b"\x00\x01\x02" * 7, 3), ("x" * 80, b"", 65), ("abcdefgh", b"s" * 16, 1000)):
        assert pbkdf2(pw, salt, n) == ref("sha256", pw.encode(), salt, n, 32)


def test_derive_yields_every_chunk_then_the_key():
    out = list(derive("password", b"salt", 200, chunk=64))
    # iterations 64, 128 and 192 end a step; the last item is the key
    assert out[:-1] == [None, None, None]
    assert out[-1] == pbkdf2("password", b"salt", 200)
    assert len(out[-1]) == 32


def test_iteration_count_and_step_size_as_documented():
    assert web_auth.ITERATIONS == 4000 and web_auth.CHUNK == 64
    steps = list(derive("password", b"salt", web_auth.ITERATIONS))
    assert len(steps) == 4000 // 64 + 1


def test_constant_time_compare():
    assert same(b"abc", b"abc") and same("abc", b"abc")
    assert not same(b"abc", b"abd")
    assert not same(b"abc", b"abcd")
    assert same(b"", b"")


def test_ticks_diff_wraps_like_micropython():
    top = web_auth.TICKS_PERIOD
    assert ticks_diff(5, top - 5) == 10
    assert ticks_diff(top - 5, 5) == -10
    assert ticks_diff(1000, 400) == 600
    assert ticks_diff(top // 2 - 1, 0) == top // 2 - 1
    assert ticks_diff(top // 2, 0) == -(top // 2)


# ------------------------------------------------------------ Basic and cookies
def test_parse_basic():
    assert parse_basic("Basic " + _b64("admin:secret pass")) == "secret pass"
    assert parse_basic("basic  " + _b64("admin:a:b:c")) == "a:b:c"  # only the first colon splits
    assert parse_basic("Basic " + _b64("root:secret pass")) is None
    assert parse_basic("Basic " + _b64("admin")) is None
    assert parse_basic("Basic !!!notbase64") is None
    assert parse_basic("Bearer abc") is None
    assert parse_basic("") is None and parse_basic(None) is None


def test_cookie_value():
    assert web_auth.cookie_value("a=1; hpmon_session=abc123; b=2") == "abc123"
    assert web_auth.cookie_value("abc123") == "abc123"
    assert web_auth.cookie_value("a=1") is None
    assert web_auth.cookie_value(None) is None


# ------------------------------------------------------------ setup, login, sessions
def test_first_setup_needs_the_access_point_password_and_counts_wrong_ones():
    auth, clock = _auth()
    try:
        for proof in (None, "", "wrongwrongxx", "abcdefghijk", "abcdefghijkM"):
            assert auth.setup("correct horse", proof, "abcdefghijkm", "10.0.0.9")[0] == 403
        assert not auth.is_set()
        # a wrong proof counts as a failed login: the right one waits out the block too
        assert auth.setup("correct horse", "abcdefghijkm", "abcdefghijkm", "10.0.0.9")[0] == 429
        clock.advance(web_auth.BACKOFF_S * 1000 + 1)
        status, session = auth.setup("correct horse", "abcdefghijkm", "abcdefghijkm", "10.0.0.9")
        assert status == 200 and auth.is_set()
    finally:
        _cleanup(auth)


def test_setup_stores_salted_hash_never_the_password():
    auth, _ = _auth()
    try:
        assert not auth.is_set()
        assert auth.setup("short")[0] == 400
        assert auth.setup("x" * 65)[0] == 400
        assert not auth.is_set()
        status, session = auth.setup("correct horse")
        assert status == 200 and session[0] and session[1]
        assert auth.is_set()
        with open(auth._path) as f:
            text = f.read()
        doc = json.loads(text)
        assert "correct horse" not in text
        assert doc["alg"] == "pbkdf2-sha256" and doc["iterations"] == ITER
        salt = binascii.unhexlify(doc["salt"])
        assert len(salt) == 16
        assert doc["hash"] == _hex(pbkdf2("correct horse", salt, ITER))
        assert auth.setup("another password")[0] == 409  # only while none is set
        # a fresh boot reads it back
        again = Auth(auth._path, ticks_ms=Clock(), iterations=ITER)
        assert again.is_set()
        assert again.login("correct horse")[0] == 200
        assert again.login("correct horsE")[0] == 401
    finally:
        _cleanup(auth)


def test_login_without_password_set_is_refused():
    auth, _ = _auth()
    assert auth.login("anything at all") == (401, None)
    assert not auth.check_basic("Basic " + _b64("admin:anything at all"))


def test_sessions_tokens_cookie_csrf_logout():
    auth, _ = _auth()
    try:
        auth.setup("correct horse")
        status, s = auth.login("correct horse", "10.0.0.5")
        assert status == 200
        assert len(s[0]) == 32 and len(s[1]) == 32 and s[0] != s[1]
        int(s[0], 16)
        int(s[1], 16)
        assert auth.session_for("lang=en; hpmon_session=" + s[0]) is s
        assert auth.session_for(s[0]) is s
        assert auth.session_for(s[0][:-1] + ("0" if s[0][-1] != "0" else "1")) is None
        assert auth.session_for(None) is None and auth.session_for("") is None
        assert auth.csrf_ok(s, s[1])
        assert not auth.csrf_ok(s, s[0])
        assert not auth.csrf_ok(s, None) and not auth.csrf_ok(s, "")
        assert not auth.csrf_ok(None, s[1])
        auth.logout(s)
        assert auth.session_for(s[0]) is None
    finally:
        _cleanup(auth)


def test_session_idle_expiry_and_touch():
    auth, clock = _auth()
    try:
        s = auth.setup("correct horse")[1]
        clock.advance(20 * 60 * 1000)
        assert auth.session_for(s[0]) is s     # used: idle time starts again
        clock.advance(20 * 60 * 1000)
        assert auth.session_for(s[0]) is s
        clock.advance(30 * 60 * 1000 + 1)
        assert auth.session_for(s[0]) is None
        assert auth.sessions == []
    finally:
        _cleanup(auth)


def test_session_survives_tick_wrap():
    auth, clock = _auth(start=web_auth.TICKS_PERIOD - 1000)
    try:
        s = auth.setup("correct horse")[1]
        clock.advance(5000)  # the counter wraps to 4000
        assert clock.now == 4000
        assert auth.session_for(s[0]) is s
        clock.advance(30 * 60 * 1000 + 1)
        assert auth.session_for(s[0]) is None
    finally:
        _cleanup(auth)


def test_at_most_four_sessions_least_recently_used_goes():
    auth, clock = _auth()
    try:
        auth.setup("correct horse")
        auth.sessions = []
        sessions = []
        for _ in range(4):
            clock.advance(1000)
            sessions.append(auth.login("correct horse")[1])
        clock.advance(1000)
        assert auth.session_for(sessions[0][0]) is sessions[0]  # now the most recent
        clock.advance(1000)
        fifth = auth.login("correct horse")[1]
        assert len(auth.sessions) == 4
        assert auth.session_for(sessions[1][0]) is None        # least recently used
        for s in (sessions[0], sessions[2], sessions[3], fifth):
            assert auth.session_for(s[0]) is s
        tokens = set(s[0] for s in auth.sessions)
        assert len(tokens) == 4
    finally:
        _cleanup(auth)


def test_change_password_ends_other_sessions():
    auth, _ = _auth()
    try:
        mine = auth.setup("correct horse")[1]
        other = auth.login("correct horse")[1]
        basic_old = "Basic " + _b64("admin:correct horse")
        assert auth.check_basic(basic_old)
        assert auth.change(mine, "wrong horse", "battery staple")[0] == 401
        assert auth.change(mine, "correct horse", "short")[0] == 400
        assert auth.session_for(other[0]) is other  # failures change nothing
        assert auth.change(mine, "correct horse", "battery staple") == (200, None)
        assert auth.session_for(mine[0]) is mine
        assert auth.session_for(other[0]) is None
        assert not auth.check_basic(basic_old)  # the remembered Basic header is forgotten too
        assert auth.login("correct horse")[0] == 401
        assert auth.login("battery staple")[0] == 200
        assert auth.check_password("battery staple")
    finally:
        _cleanup(auth)


def test_basic_auth_is_remembered_without_a_second_derivation():
    auth, clock = _auth()
    try:
        auth.setup("correct horse")
        header = "Basic " + _b64("admin:correct horse")
        first = list(auth.check_basic_steps(header, "10.0.0.9"))
        assert first[:-1] == [None, None, None] and first[-1] == (200, None)
        again = list(auth.check_basic_steps(header, "10.0.0.9"))
        assert again == [(200, None)]  # no key derivation: no steps
        assert auth.check_basic("Basic " + _b64("admin:correct horsf"), "10.0.0.9") is False
        assert auth.check_basic("Basic " + _b64("root:correct horse")) is False
        clock.advance(30 * 60 * 1000 + 1)  # unused for longer than a session: derive again
        assert len(list(auth.check_basic_steps(header))) == 4
    finally:
        _cleanup(auth)


def test_unreadable_auth_file_locks_rather_than_opens():
    path = _path()
    with open(path, "w") as f:
        f.write('{"alg": "pbkdf2-sha256", "salt": "zz')
    auth, _ = _auth(path=path)
    try:
        assert auth.is_set()
        assert "remove it over USB" in auth.error
        assert auth.setup("correct horse")[0] == 409
        assert auth.login("correct horse")[0] == 401
    finally:
        _cleanup(auth)


# ------------------------------------------------------------ rate limit
def test_rate_limit_doubles_per_client_up_to_five_minutes():
    auth, clock = _auth()
    try:
        auth.setup("correct horse")
        for _ in range(5):
            assert auth.login("nope nope", "10.0.0.7") == (401, None)
        # after the 5th failure: 429 for 10 s, without checking (even the right password)
        assert auth.login("correct horse", "10.0.0.7") == (429, 10)
        assert auth.retry_after("10.0.0.7") == 10
        assert auth.login("correct horse", "10.0.0.8")[0] == 200  # another client is not affected
        clock.advance(4000)
        assert auth.retry_after("10.0.0.7") == 6
        clock.advance(6000)
        assert auth.login("nope nope", "10.0.0.7") == (401, None)  # 6th failure
        assert auth.login("nope nope", "10.0.0.7") == (429, 20)
        waits = []
        for _ in range(6):
            clock.advance(auth.retry_after("10.0.0.7") * 1000)
            assert auth.login("nope nope", "10.0.0.7") == (401, None)
            waits.append(auth.retry_after("10.0.0.7"))
        assert waits == [40, 80, 160, 300, 300, 300]
        clock.advance(300 * 1000)
        assert auth.login("correct horse", "10.0.0.7")[0] == 200  # success starts afresh
        for _ in range(4):
            assert auth.login("nope nope", "10.0.0.7") == (401, None)
        assert auth.retry_after("10.0.0.7") == 0
    finally:
        _cleanup(auth)


def test_basic_and_password_change_count_as_failures():
    auth, _ = _auth()
    try:
        s = auth.setup("correct horse")[1]
        for _ in range(3):
            assert not auth.check_basic("Basic " + _b64("admin:guess one"), "10.0.0.3")
        for _ in range(2):
            assert auth.change(s, "guess two", "battery staple", "10.0.0.3")[0] == 401
        assert auth.change(s, "correct horse", "battery staple", "10.0.0.3") == (429, 10)
        assert auth.check_basic("Basic " + _b64("admin:correct horse"), "10.0.0.3") is False  # blocked
    finally:
        _cleanup(auth)


def test_global_cap_and_bounded_client_table():
    auth, clock = _auth()
    try:
        auth.setup("correct horse")
        for i in range(19):
            clock.advance(10)
            assert auth.login("nope nope", "10.0.1.%d" % i)[0] == 401
            assert len(auth._fails) <= web_auth.MAX_CLIENTS
        assert auth.retry_after("10.9.9.9") == 0
        assert auth.login("nope nope", "10.0.1.99")[0] == 401  # the 20th failure anywhere
        assert auth.login("correct horse", "10.9.9.9") == (429, 10)  # everyone waits
        clock.advance(10 * 1000)
        assert auth.login("correct horse", "10.9.9.9")[0] == 200
        # quiet for 15 minutes: the global count starts afresh
        clock.advance(15 * 60 * 1000 + 1)
        assert auth.login("nope nope", "10.0.2.1")[0] == 401
        assert auth.retry_after("10.9.9.9") == 0
    finally:
        _cleanup(auth)


def test_results_never_carry_the_password_or_hash():
    auth, _ = _auth()
    try:
        results = [auth.setup("correct horse"), auth.login("correct horse"), auth.login("wrong horse"),
                   auth.change(None, "correct horse", "battery staple")]
        with open(auth._path) as f:
            hash_hex = json.loads(f.read())["hash"]
        for _status, value in results:
            text = repr(value) + repr(getattr(value, "__dict__", ""))
            assert "horse" not in text and "battery" not in text and hash_hex not in text
    finally:
        _cleanup(auth)


def test_state_outlives_the_object_as_plain_data():
    # The web server drops this module between requests: sessions and failures live on in a
    # dict of builtins, shared by every Auth made on it.
    auth, clock = _auth()
    try:
        state = {}
        auth.attach(state)
        auth.setup("correct horse")
        session = auth.login("correct horse")[1]
        auth.login("wrong horse", client="10.0.0.9")
        auth.keep(state)
        for value in state.values():
            assert value is None or isinstance(value, (bool, str, bytes, list, dict, tuple))
        later = Auth(auth._path, ticks_ms=clock, iterations=ITER).attach(state)
        assert later.session_for(session[0]) is session
        assert later._fails["10.0.0.9"][0] == 1
        other = later.login("correct horse")[1]
        assert auth.session_for(other[0]) is other  # one list, seen by both
    finally:
        _cleanup(auth)
