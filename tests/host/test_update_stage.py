"""Staged firmware update: staging, verification, commit, the boot-time swap with power cuts at
every step, trial boots, rollback, confirm; tools/update.py over real HTTP; boot.py/main.py/
swap.py under the MicroPython unix port."""
import asyncio
import hashlib
import http.server
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import threading
import urllib.parse

import pytest

import swap
from firmware import update_stage
from firmware.update_stage import Stager, UpdateError, confirm
from firmware.web_auth import Auth
from tools import paths
from tools import update as update_tool

OLD = {
    "boot.py": b"# boot v1\n",
    "main.py": b"# main v1\n",
    "firmware/__init__.py": b"",
    "firmware/app.py": b"VERSION = 'v1'\n",
    "firmware/old_only.py": b"# only in v1\n",
    "firmware/services/web.py": b"# web v1\n",
    "lib/microdot/microdot.mpy": b"M\x06microdot v1",
}
NEW = {
    "boot.py": b"# boot v2\n",
    "main.py": b"# main v2\n",
    "firmware/__init__.py": b"",
    "firmware/app.py": b"VERSION = 'v2'\n" + bytes(range(256)) * 40,
    "firmware/new_only.py": b"# only in v2\n",
    "firmware/services/web.py": b"# web v2\n",
    "lib/microdot/microdot.mpy": b"M\x06microdot v2",
    "lib/newlib/x.mpy": b"M\x06new library",
}
DATA = {"config.json": b'{"node": "hp"}', "auth.json": b"{}", "totals.bin": b"\x01\x02", "lib/user_lib.py": b"# mine"}


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _manifest(files, version="v2"):
    return {"version": version, "files": {p: _sha(d) for p, d in files.items()}}


def _write(root, files):
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def _tree(root, top=("boot.py", "main.py", "firmware", "lib", "config.json", "auth.json", "totals.bin")):
    """{relative path: bytes} of the board's own files (not upd/, prev/, state files)."""
    out = {}
    for name in top:
        path = os.path.join(root, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                out[name] = f.read()
        for dirpath, _dirs, files in os.walk(path):
            for fname in files:
                full = os.path.join(dirpath, fname)
                with open(full, "rb") as f:
                    out[os.path.relpath(full, root)] = f.read()
    return out


def _expected(version_files):
    """The board's files once `version_files` is installed over OLD + DATA."""
    tree = dict(DATA)
    tree.update(version_files)
    return tree


def _board(tmp_path):
    root = str(tmp_path / "flash")
    os.makedirs(root)
    _write(root, OLD)
    _write(root, DATA)
    return root + "/"


def _stage(root, files, chunk=100):
    st = Stager(root, version="v1")
    for rel, data in files.items():
        st.begin(rel, len(data))
        for i in range(0, len(data), chunk):
            st.write(data[i:i + chunk])
        assert st.finish() == _sha(data)
    return st


def _committed(tmp_path, files=NEW):
    root = _board(tmp_path)
    st = _stage(root, files)
    assert st.commit(_manifest(files)) == {"version": "v2", "files": len(files)}
    return root, st


def _state(root):
    with open(root + "update.json") as f:
        return json.load(f)


def _result(root):
    with open(root + "update_result") as f:
        return json.load(f)


# ------------------------------------------------------------ staging
def test_path_validation():
    for good in ("boot.py", "main.py", "firmware/app.mpy", "lib/microdot/sse.mpy", "firmware/www/app.js.gz",
                 "firmware/drivers/ct_sampler_native_x64.mpy"):
        assert update_stage.path_problem(good) is None, good
    for bad in ("", None, "/main.py", "../main.py", "firmware/../boot.py", "firmware//x.py", "firmware/./x.py",
                "config.json", "auth.json", "swap.py", "firmware", "firmware/", "lib", "firmware\\x.py",
                "upd/firmware/x.py", "prev/x", "firmware/.hidden", "firmware/x.py.part", "firmware/x y.py",
                "firmware/" + "a" * 100 + ".py", "/etc/passwd", "lib/../../etc/passwd", "./main.py"):
        assert update_stage.path_problem(bad) is not None, bad


def test_begin_refuses_bad_paths_and_writes_nothing(tmp_path):
    root = _board(tmp_path)
    st = Stager(root)
    for bad in ("../evil.py", "/tmp/evil.py", "firmware/../../evil.py", "config.json"):
        with pytest.raises(UpdateError):
            st.begin(bad, 3)
    assert not os.path.exists(root + "upd")
    assert not os.path.exists(os.path.join(str(tmp_path), "evil.py"))


def test_stage_streams_chunks_and_returns_sha256(tmp_path):
    root = _board(tmp_path)
    data = os.urandom(20000)
    st = Stager(root)
    st.begin("firmware/big.mpy", len(data))
    assert os.path.exists(root + "upd/firmware/big.mpy.part")
    for i in range(0, len(data), 1024):
        st.write(data[i:i + 1024])
    assert not os.path.exists(root + "upd/firmware/big.mpy")  # complete only when finished
    assert st.finish() == _sha(data)
    with open(root + "upd/firmware/big.mpy", "rb") as f:
        assert f.read() == data
    assert not os.path.exists(root + "upd/firmware/big.mpy.part")
    assert st.staged() == ["firmware/big.mpy"]
    assert _tree(root) == _expected(OLD)  # nothing that runs changed


class Trickle:
    """An async stream like Microdot's socket reader: short reads, maybe an early close."""

    def __init__(self, data, step=333, close_at=None):
        self.data = data
        self.pos = 0
        self.step = step
        self.close_at = close_at
        self.asked = []

    async def read(self, n):
        self.asked.append(n)
        if self.close_at is not None and self.pos >= self.close_at:
            return b""
        out = self.data[self.pos:self.pos + min(n, self.step)]
        self.pos += len(out)
        return out


def test_receive_reads_exactly_the_body_from_an_async_stream(tmp_path):
    root = _board(tmp_path)
    data = os.urandom(5000)
    stream = Trickle(data + b"NEXT REQUEST")  # bytes past the body belong to the next request
    st = Stager(root)
    assert asyncio.run(st.receive("firmware/x.mpy", stream, len(data))) == _sha(data)
    assert stream.pos == len(data) and max(stream.asked) <= 1024
    with open(root + "upd/firmware/x.mpy", "rb") as f:
        assert f.read() == data
    with pytest.raises(UpdateError, match="closed after 1998 of 5000"):
        asyncio.run(st.receive("firmware/y.mpy", Trickle(data, close_at=1998), len(data)))
    with pytest.raises(UpdateError) as err:
        asyncio.run(st.receive("firmware/y.mpy", Trickle(data), None))
    assert err.value.status == 411
    assert st.staged() == ["firmware/x.mpy"]
    assert not os.path.exists(root + "upd/firmware/y.mpy.part")


def test_read_manifest_from_a_stream_past_8_kb():
    files = {"firmware/module_%03d.mpy" % i: "%064x" % i for i in range(120)}
    files["main.py"] = "0" * 64
    files["firmware/app.mpy"] = "1" * 64
    body = json.dumps({"version": "v2", "files": files}).encode()
    assert len(body) > 8 * 1024
    doc = asyncio.run(update_stage.read_manifest(Trickle(body + b"GET / HTTP/1.1"), len(body)))
    assert update_stage.check_manifest(doc) == ("v2", files)
    for stream, length, status in ((Trickle(body), 40 * 1024, 413), (Trickle(b"{nope"), 5, 400),
                                   (Trickle(body, close_at=100), len(body), 400), (Trickle(body), None, 411)):
        with pytest.raises(UpdateError) as err:
            asyncio.run(update_stage.read_manifest(stream, length))
        assert err.value.status == status


def test_size_mismatch_and_abort_leave_no_file(tmp_path):
    root = _board(tmp_path)
    st = Stager(root)
    st.begin("firmware/a.py", 5)
    st.write(b"abc")
    with pytest.raises(UpdateError, match="3 of 5 bytes"):
        st.finish()
    st.begin("firmware/a.py", 5)
    with pytest.raises(UpdateError, match="more bytes"):
        st.write(b"abcdef")
    st.begin("firmware/a.py")
    st.write(b"abc")
    st.abort()
    assert st.staged() == []
    assert not os.path.exists(root + "upd/firmware/a.py.part")


def test_full_flash_refused_before_staging(tmp_path):
    root = _board(tmp_path)
    _stage(root, {"main.py": NEW["main.py"]})

    def statvfs(path):  # 4 KB blocks, 10 free: 40 KB
        return (4096, 4096, 100, 10, 10, 0, 0, 0, 0, 255)

    st = Stager(root, statvfs=statvfs)
    assert st.free_bytes() == 40960
    st.begin("firmware/small.py", 4000)  # 4 KB + 32 KB reserve fit
    st.write(b"x" * 4000)
    st.finish()
    with pytest.raises(UpdateError) as err:
        st.begin("firmware/app.py", 9000)
    assert err.value.status == 507 and "flash full" in str(err.value)
    assert not os.path.exists(root + "upd/firmware/app.py.part")
    assert sorted(st.staged()) == ["firmware/small.py", "main.py"]  # nothing lost
    assert _tree(root) == _expected(OLD)


def test_flash_running_out_while_writing(tmp_path):
    # A real write error from the OS: RLIMIT_FSIZE makes a file over 50 KB fail (EFBIG).
    root = _board(tmp_path)
    _stage(root, {"main.py": NEW["main.py"]})
    st = Stager(root)
    st.begin("firmware/huge.mpy")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (50000, hard))
    try:
        with pytest.raises(UpdateError) as err:
            for _ in range(100):
                st.write(b"z" * 1024)
            st.finish()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert err.value.status == 507 and "huge.mpy" in str(err.value)
    assert not os.path.exists(root + "upd/firmware/huge.mpy.part")
    assert not os.path.exists(root + "upd/firmware/huge.mpy")
    assert st.staged() == ["main.py"]
    assert _tree(root) == _expected(OLD)


# ------------------------------------------------------------ commit
def test_commit_a_complete_matching_set(tmp_path):
    root, st = _committed(tmp_path)
    assert _state(root) == {"state": "ready", "version": "v2", "from": "v1"}
    with open(root + "upd/manifest.json") as f:
        assert json.load(f) == _manifest(NEW)
    status = st.status()
    assert status["state"] == "ready" and status["pending"] == "v2" and status["running"] == "v1"
    assert _tree(root) == _expected(OLD)  # installs only at the next boot
    with pytest.raises(UpdateError) as err:  # nothing more can be staged now
        st.begin("firmware/x.py", 1)
    assert err.value.status == 409


@pytest.mark.parametrize("case", ["missing", "extra", "corrupted", "damaged_on_flash", "no_main", "no_app",
                                  "bad_hash", "traversal", "no_version"])
def test_commit_refuses_and_changes_nothing(tmp_path, case):
    root = _board(tmp_path)
    files = dict(NEW)
    man = _manifest(NEW)
    if case == "missing":
        del files["firmware/new_only.py"]
    elif case == "extra":
        files["firmware/stray.py"] = b"# stray"
    elif case == "corrupted":
        files["firmware/app.py"] = NEW["firmware/app.py"][:-1] + b"?"
    elif case == "no_main":
        del files["main.py"]
        del man["files"]["main.py"]
    elif case == "no_app":
        del files["firmware/app.py"]
        del man["files"]["firmware/app.py"]
    elif case == "bad_hash":
        man["files"]["main.py"] = "xyz"
    elif case == "traversal":
        man["files"]["../main.py"] = _sha(b"x")
    elif case == "no_version":
        del man["version"]
    st = _stage(root, files)
    if case == "damaged_on_flash":
        with open(root + "upd/lib/newlib/x.mpy", "r+b") as f:
            f.write(b"\x00")
    staged_before = sorted(st.staged())
    with pytest.raises(UpdateError) as err:
        st.commit(man)
    reason = str(err.value)
    expect = {"missing": "not staged: firmware/new_only.py", "extra": "firmware/stray.py",
              "corrupted": "firmware/app.py", "damaged_on_flash": "lib/newlib/x.mpy", "no_main": "main.py",
              "no_app": "firmware/app.mpy", "bad_hash": "sha256", "traversal": "../main.py",
              "no_version": "version"}[case]
    assert expect in reason, reason
    assert err.value.status == 400
    assert not os.path.exists(root + "update.json")
    assert not os.path.exists(root + "upd/manifest.json")
    assert sorted(st.staged()) == staged_before
    assert swap.boot(root) is None  # no state: boot.py would not even call it
    assert _tree(root) == _expected(OLD)


def test_discard_staging_and_a_committed_set(tmp_path):
    root, st = _committed(tmp_path)
    assert st.discard()["discarded"] > 0
    assert not os.path.exists(root + "upd") and not os.path.exists(root + "update.json")
    assert st.status()["state"] == "idle"
    assert _tree(root) == _expected(OLD)


# ------------------------------------------------------------ swap, trial, confirm, rollback
def test_swap_installs_keeps_backup_and_confirm_ends_the_trial(tmp_path):
    root, st = _committed(tmp_path)
    assert swap.boot(root) == "trial"
    assert _tree(root) == _expected(NEW)  # firmware/old_only.py gone: the folder is replaced whole
    assert os.path.exists(root + "lib/user_lib.py")  # lib files outside the set stay
    assert _state(root)["state"] == "trial" and _state(root)["boots"] == 1
    assert not os.path.exists(root + "upd")
    with open(root + "prev/firmware/old_only.py", "rb") as f:
        assert f.read() == OLD["firmware/old_only.py"]
    with open(root + "prev/boot.py", "rb") as f:
        assert f.read() == OLD["boot.py"]
    assert st.status()["trial"] == {"version": "v2", "boots": 1}
    with pytest.raises(UpdateError) as err:
        st.begin("firmware/x.py", 1)
    assert err.value.status == 409
    with pytest.raises(UpdateError):
        st.discard()
    assert confirm(root) == "update: version v2 confirmed after 1 boot(s)"
    assert confirm(root) is None
    assert not os.path.exists(root + "update.json")
    assert _result(root) == {"result": "ok", "version": "v2", "from": "v1", "boots": 1}
    assert swap.boot(root) is None
    assert _tree(root) == _expected(NEW)
    status = Stager(root, version="v2").status()
    assert status["state"] == "idle" and status["previous"] == "v1"
    # the next update's first file drops the confirmed update's backup
    Stager(root).begin("main.py", 1)
    assert not os.path.exists(root + "prev")


def test_leftover_backup_of_an_earlier_update_is_replaced(tmp_path):
    root, _ = _committed(tmp_path)
    _write(root, {"prev/firmware/app.py": b"# v0", "prev/main.py": b"# main v0"})
    assert swap.boot(root) == "trial"
    with open(root + "prev/main.py", "rb") as f:
        assert f.read() == OLD["main.py"]  # the backup is the set that ran until now
    assert swap.boot(root) == "trial" and swap.boot(root) == "rolled back"
    assert _tree(root) == _expected(OLD)


def test_rollback_after_two_unhealthy_boots(tmp_path):
    root, _ = _committed(tmp_path)
    assert swap.boot(root) == "trial"        # boot 1 of the new set (crashes, say)
    assert swap.boot(root) == "trial"        # boot 2
    assert _state(root)["boots"] == 2
    assert swap.boot(root) == "rolled back"  # boot 3: never healthy: the old set comes back
    assert _tree(root) == _expected(OLD)
    assert not os.path.exists(root + "lib/newlib/x.mpy")  # the new set's own files go
    for gone in ("prev", "upd", "update.json"):
        assert not os.path.exists(root + gone)
    result = _result(root)
    assert result["result"] == "rolled back" and result["version"] == "v2" and result["from"] == "v1"
    assert "did not become healthy in 2 boots" in result["reason"]
    assert swap.boot(root) is None
    assert Stager(root, version="v1").status()["last_result"]["result"] == "rolled back"


def test_incomplete_staging_at_boot_changes_nothing(tmp_path):
    root, _ = _committed(tmp_path)
    os.remove(root + "upd/firmware/new_only.py")
    shutil.rmtree(root + "upd/firmware/services")
    os.remove(root + "upd/main.py")
    assert swap.boot(root) == "failed"
    assert _tree(root) == _expected(OLD)
    assert "main.py" in _result(root)["reason"]
    assert not os.path.exists(root + "update.json")


def test_corrupt_state_file_restores_prev(tmp_path):
    root, _ = _committed(tmp_path)
    assert swap.boot(root) == "trial"
    with open(root + "update.json", "w") as f:
        f.write('{"state": "tri')
    assert swap.boot(root) == "rolled back"
    tree = _tree(root)
    for rel in ("boot.py", "main.py", "firmware/app.py", "lib/microdot/microdot.mpy"):
        assert tree[rel] == OLD[rel]
    assert "unreadable" in _result(root)["reason"]


class PowerCut(BaseException):
    """Not an Exception: swap.boot() cannot catch it, like a real power cut."""


def _cut_after(n):
    count = [0]

    def hook():
        count[0] += 1
        if count[0] > n:
            raise PowerCut()
    return hook, count


def _ops(root, boots=1):
    hook, count = _cut_after(10 ** 9)
    swap._hook = hook
    try:
        for _ in range(boots):
            swap.boot(root)
    finally:
        swap._hook = None
    return count[0]


def _assert_bootable(root):
    """What a board powering up finds: boot.py and main.py whole (old or new), and either a
    consistent set or a state file telling boot.py's swap.boot() to go on."""
    tree = _tree(root)
    for name in ("boot.py", "main.py"):
        assert tree.get(name) in (OLD[name], NEW[name]), name
    if not os.path.exists(root + "update.json"):
        assert tree in (_expected(OLD), _expected(NEW))


def _boot_cut_after(root, n):
    """swap.boot(root) with the power cut after its n-th filesystem step."""
    swap._hook = _cut_after(n)[0]
    try:
        with pytest.raises(PowerCut):
            swap.boot(root)
    finally:
        swap._hook = None
    _assert_bootable(root)


def test_power_cut_at_every_step_of_the_swap(tmp_path):
    total = _ops(_committed(tmp_path / "count")[0])
    assert total > 15
    for n in range(total):
        base = tmp_path / ("cut%d" % n)
        root, _ = _committed(base)
        _boot_cut_after(root, n)
        assert os.path.exists(root + "update.json")
        assert swap.boot(root) == "trial", n  # the next boot finishes the install
        assert _tree(root) == _expected(NEW), n
        assert _state(root)["boots"] in (1, 2)
        while os.path.exists(root + "update.json"):  # and a failing set still rolls back
            swap.boot(root)
        assert _tree(root) == _expected(OLD), n
        shutil.rmtree(str(base))


def test_two_power_cuts_during_the_swap(tmp_path):
    total = _ops(_committed(tmp_path / "count")[0])
    for n in range(0, total, 2):
        for m in range(0, total - n + 2, 3):
            base = tmp_path / ("cut%d-%d" % (n, m))
            root, _ = _committed(base)
            for cut in (n, m):
                swap._hook = _cut_after(cut)[0]
                try:
                    swap.boot(root)
                except PowerCut:
                    pass
                finally:
                    swap._hook = None
                _assert_bootable(root)
            swap.boot(root)
            state = _state(root) if os.path.exists(root + "update.json") else {}
            assert state.get("state") == "trial" or _tree(root) == _expected(OLD)
            if state.get("state") == "trial":
                assert _tree(root) == _expected(NEW), (n, m)
            shutil.rmtree(str(base))


def test_power_cut_at_every_step_of_the_rollback(tmp_path):
    def at_rollback(base):
        root, _ = _committed(base)
        swap.boot(root)
        swap.boot(root)
        return root
    total = _ops(at_rollback(tmp_path / "count"))
    assert total > 10
    for n in range(total):
        base = tmp_path / ("cut%d" % n)
        root = at_rollback(base)
        _boot_cut_after(root, n)
        assert swap.boot(root) in ("rolled back", None), n
        assert _tree(root) == _expected(OLD), n
        assert not os.path.exists(root + "update.json")
        assert _result(root)["result"] == "rolled back"
        shutil.rmtree(str(base))


def test_swap_error_rolls_back_at_once(tmp_path):
    # A file where the new set needs a folder: the install fails half-way and undoes itself.
    root, _ = _committed(tmp_path)
    _write(root, {"lib/newlib": b"a file in the way"})
    assert swap.boot(root) == "rolled back"
    assert "install failed" in _result(root)["reason"]
    expected = _expected(OLD)
    expected["lib/newlib"] = b"a file in the way"
    assert _tree(root) == expected
    assert not os.path.exists(root + "update.json") and not os.path.exists(root + "prev")


# ------------------------------------------------------------ tools/update.py over HTTP
class StubBoard(http.server.ThreadingHTTPServer):
    """The update routes as the lead's web layer will wire them: Auth + Stager."""

    def __init__(self, root, password):
        super().__init__(("127.0.0.1", 0), StubHandler)
        self.root = root
        self.auth = Auth(root.rstrip("/") + "-auth.json", iterations=50)  # not the board's test data
        assert self.auth.setup(password)[0] == 200
        self.requests = []


class StubHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self):
        board = self.server
        url = urllib.parse.urlsplit(self.path)
        board.requests.append((self.command, url.path))
        if not board.auth.check_basic(self.headers.get("Authorization"), self.client_address[0]):
            return self._send(401, {"error": "wrong password"})
        st = Stager(board.root, version="v1")
        length = int(self.headers.get("Content-Length") or 0)
        try:
            if self.command == "GET" and url.path == "/api/update":
                return self._send(200, st.status())
            if self.command == "DELETE" and url.path == "/api/update":
                return self._send(200, st.discard())
            if self.command == "PUT" and url.path == "/api/update/file":
                path = urllib.parse.parse_qs(url.query).get("path", [""])[0]
                st.begin(path, length)
                left = length
                while left:
                    chunk = self.rfile.read(min(1024, left))
                    st.write(chunk)
                    left -= len(chunk)
                return self._send(200, {"path": path, "sha256": st.finish(), "size": length})
            if self.command == "POST" and url.path == "/api/update/commit":
                return self._send(200, st.commit(json.loads(self.rfile.read(length))))
        except UpdateError as exc:
            st.abort()
            return self._send(exc.status, {"error": str(exc)})
        return self._send(404, {"error": "not found"})

    do_GET = do_PUT = do_POST = do_DELETE = _route


def _serve(root, password):
    server = StubBoard(root, password)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "http://127.0.0.1:%d" % server.server_address[1]


def test_update_tool_sends_a_build_and_the_board_installs_it(tmp_path):
    build = str(tmp_path / "build")
    _write(build, NEW)
    _write(build, {"firmware/version.py": b'VERSION = "9.9.9"\n'})
    root = _board(tmp_path)
    _write(root, {"upd/firmware/stale.py": b"from an interrupted upload"})
    server, url = _serve(root, "correct horse")
    try:
        out = io.StringIO()
        answer = update_tool.update(url, "correct horse", build, out=out)
        assert answer == {"version": "9.9.9", "files": len(NEW) + 1}
        assert "committed 9.9.9" in out.getvalue()
        puts = [r for r in server.requests if r[0] == "PUT"]
        assert len(puts) == len(NEW) + 1
        assert server.requests[1] == ("DELETE", "/api/update")  # the stale staging went first
        with pytest.raises(SystemExit, match="HTTP 401"):
            update_tool.update(url, "wrong horse", build, out=io.StringIO())
        # sending again before the restart replaces the committed set (DELETE discards it first)
        assert update_tool.update(url, "correct horse", build, out=io.StringIO())["version"] == "9.9.9"
    finally:
        server.shutdown()
        server.server_close()
    assert _state(root) == {"state": "ready", "version": "9.9.9", "from": "v1"}
    assert swap.boot(root) == "trial"
    expected = _expected(NEW)
    expected["firmware/version.py"] = b'VERSION = "9.9.9"\n'
    assert _tree(root) == expected


def test_update_tool_refuses_a_folder_that_is_not_a_build(tmp_path):
    with pytest.raises(SystemExit, match="not a build"):
        update_tool.manifest(str(tmp_path))


def test_update_tool_manifest_of_the_real_build():
    if not os.path.exists(os.path.join(paths.BUILD_DIR, "main.py")):
        pytest.skip("no build/")
    doc, files = update_tool.manifest(paths.BUILD_DIR)
    assert "firmware/app.mpy" in doc["files"] and "main.py" in doc["files"] and "boot.py" in doc["files"]
    assert "lib/microdot/microdot.mpy" in doc["files"]
    for rel in doc["files"]:
        assert update_stage.path_problem(rel) is None, rel
    assert update_stage.check_manifest(doc)[1] == doc["files"]


# ------------------------------------------------------------ the unix port: boot.py, main.py, swap.py
# main() returns here (the real one runs for ever): it confirms as firmware/app.py will once healthy.
APP_OK = (b"VERSION = '%s'\n\ndef main():\n    print('app', VERSION, 'running')\n"
          b"    from firmware import update_stage\n    print(update_stage.confirm())\n")
APP_CRASH = b"raise ImportError('v2 is broken')\n"


def _upy_boot(flash, scenario):
    """One power-on of the emulated board's loader: boot.py then main.py from flash."""
    env = dict(os.environ, MICROPYPATH=":".join([paths.SIM_DIR, flash, os.path.join(flash, "lib")]),
               HPMON_SCENARIO=scenario, HPMON_SIM_DIR=os.path.dirname(scenario), HPMON_FIRMWARE=flash)
    return subprocess.run([paths.venv_bin("micropython"), "-X", "heapsize=2M",
                           os.path.join(paths.SIM_DIR, "_sim_boot.py")],
                          cwd=flash, env=env, capture_output=True, text=True, timeout=60)


def _upy_set(version, app):
    with open(os.path.join(paths.ROOT, "firmware", "update_stage.py"), "rb") as f:
        stage_src = f.read()
    files = {"firmware/__init__.py": b"", "firmware/app.py": app, "firmware/update_stage.py": stage_src,
             "lib/microdot/microdot.py": b"# microdot " + version.encode() + b"\n"}
    for name in ("boot.py", "main.py"):
        with open(os.path.join(paths.ROOT, name), "rb") as f:
            files[name] = f.read() + b"# " + version.encode() + b"\n"
    return files


@pytest.mark.parametrize("healthy", [False, True])
def test_unix_port_boots_trial_and_rolls_back(tmp_path, healthy):
    """The real boot.py, main.py and swap.py under MicroPython: a set whose app fails at
    import resets (sim machine: exit 80) on both trial boots, then the old set comes back.
    A healthy one confirms through firmware.update_stage (imported by MicroPython)."""
    flash = str(tmp_path / "flash")
    scenario = str(tmp_path / "scenario.json")
    with open(scenario, "w") as f:
        f.write("{}")
    old = _upy_set("v1", APP_OK % b"v1")
    new = _upy_set("v2", APP_OK % b"v2" if healthy else APP_CRASH)
    new["lib/extra/x.py"] = b"# v2 only"
    _write(flash, old)
    shutil.copy(os.path.join(paths.ROOT, "swap.py"), flash)
    # staged and committed on the host (the HTTP side is tested above)
    st = _stage(flash + "/", new)
    st.commit(_manifest(new))

    first = _upy_boot(flash, scenario)
    assert "swap: version v2 on trial, boot 1 of 2" in first.stdout, first.stdout + first.stderr
    if healthy:
        assert first.returncode == 0, first.stdout + first.stderr
        assert "app v2 running" in first.stdout
        assert "update: version v2 confirmed after 1 boot(s)" in first.stdout
        again = _upy_boot(flash, scenario)
        assert again.returncode == 0 and "app v2 running" in again.stdout and "swap" not in again.stdout
        assert _tree(flash) == new
        return
    assert first.returncode == 80, first.stdout + first.stderr  # machine.reset(), not the REPL
    assert "v2 is broken" in first.stdout + first.stderr
    second = _upy_boot(flash, scenario)
    assert second.returncode == 80 and "boot 2 of 2" in second.stdout
    third = _upy_boot(flash, scenario)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "swap: rolled back v2 version v2 did not become healthy in 2 boots" in third.stdout
    assert "app v1 running" in third.stdout
    assert _tree(flash) == old
    fourth = _upy_boot(flash, scenario)
    assert "app v1 running" in fourth.stdout and "swap" not in fourth.stdout


def test_unix_port_power_cut_resume(tmp_path):
    """Power cuts during the swap under MicroPython: swap.py's own os calls resume it."""
    flash = str(tmp_path / "flash")
    scenario = str(tmp_path / "scenario.json")
    with open(scenario, "w") as f:
        f.write("{}")
    old = _upy_set("v1", APP_OK % b"v1")
    new = _upy_set("v2", APP_OK % b"v2")
    _write(flash, old)
    shutil.copy(os.path.join(paths.ROOT, "swap.py"), flash)
    # staged and committed by MicroPython itself, through receive() from an asyncio stream
    env = dict(os.environ, MICROPYPATH=":".join([paths.ROOT, ".frozen"]))
    stage = ("import asyncio, json\nfrom firmware.update_stage import Stager, UpdateError\n"
             "class S:\n    def __init__(s, b):\n        s.b = b\n"
             "    async def read(s, n):\n        await asyncio.sleep_ms(0)\n"
             "        out = s.b[:min(n, 100)]\n        s.b = s.b[len(out):]\n        return out\n"
             "files = %r\nst = Stager('', version='v1')\nfor p, d in files.items():\n"
             "    print(p, asyncio.run(st.receive(p, S(d), len(d))))\n"
             "try:\n    st.begin('../x.py', 1)\nexcept UpdateError as e:\n    print('refused', e.status)\n"
             "print(st.commit(json.loads(%r)))\nprint(st.status()['state'])\n") % (new, json.dumps(_manifest(new)))
    res = subprocess.run([paths.venv_bin("micropython"), "-c", stage], cwd=flash, env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    for rel, data in new.items():
        assert "%s %s" % (rel, _sha(data)) in res.stdout
    assert "refused 400" in res.stdout and "'version': 'v2'" in res.stdout and res.stdout.endswith("ready\n")
    env = dict(os.environ, MICROPYPATH=flash)
    for cut in (3, 5, 8):  # die after the n-th change of the filesystem, three boots in a row
        code = ("import sys, swap\nn = [0]\ndef hook():\n    n[0] += 1\n    if n[0] > %d:\n"
                "        sys.exit(9)\nswap._hook = hook\nswap.boot()\n" % cut)
        res = subprocess.run([paths.venv_bin("micropython"), "-c", code], cwd=flash, env=env,
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 9, res.stdout + res.stderr
    booted = _upy_boot(flash, scenario)
    assert "app v2 running" in booted.stdout, booted.stdout + booted.stderr
    assert _tree(flash) == new


def test_update_tool_names_the_set_by_the_builds_version_file(tmp_path):
    from tools import update
    (tmp_path / "VERSION").write_text("7.7.7\n")
    assert update.build_version(str(tmp_path)) == "7.7.7"
    (tmp_path / "VERSION").unlink()  # an older build: the sources' version.py
    from firmware import version
    assert update.build_version(str(tmp_path)) == version.VERSION
