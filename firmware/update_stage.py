"""Firmware update, board side: stage files, verify the set, hand it to swap.py.

PUT /api/update/file streams one file into upd/<path> (through upd/<path>.part, never
whole in RAM); POST /api/update/commit checks that upd/ holds exactly the manifest's files
with the manifest's SHA-256, then writes upd/manifest.json and the state file update.json
({"state": "ready"}). At the next boot swap.py (run by boot.py) installs the set, keeps the
old one in prev/ and rolls back unless the app calls confirm() once healthy.

Staging writes only under upd/: a refused, interrupted or full-flash upload changes nothing
that runs. Nothing can be staged while an update is committed or on trial (409).
Long operations (commit hashes every file, discard deletes them) are generators of steps
like firmware.web_auth's: they yield None between pieces, then one result.
"""
import binascii
import hashlib
import json
import os

UPD = "upd"
PREV = "prev"
STATE = "update.json"        # shared with swap.py
RESULT = "update_result"     # written by swap.py / confirm(): how the last update ended
MANIFEST = "manifest.json"
RESERVE = 32 * 1024          # flash kept free for config, totals and the logs
MAX_PATH = 96
MAX_FILES = 400
MAX_MANIFEST = 32 * 1024
TOP_FILES = ("boot.py", "main.py")
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-."


class UpdateError(Exception):
    """A refused update step; str() is the reason, .status the HTTP code."""

    def __init__(self, reason, status=400):
        super().__init__(reason)
        self.status = status


def path_problem(path):
    """Why a staged file's path is refused, or None: only boot.py, main.py or a relative
    path under firmware/ or lib/, made of [A-Za-z0-9_.-] names not starting with a dot."""
    if not isinstance(path, str) or not path:
        return "path missing"
    if len(path) > MAX_PATH:
        return "path longer than %d characters" % MAX_PATH
    if path in TOP_FILES:
        return None
    parts = path.split("/")
    if parts[0] not in ("firmware", "lib") or len(parts) < 2:
        return "path must be boot.py, main.py or under firmware/ or lib/: %r" % path
    for part in parts:
        if not part or part[0] == "." or len(part) > 48:
            return "bad path component in %r" % path
        for ch in part.lower():
            if ch not in _NAME_CHARS:
                return "bad character in %r" % path
    if path.endswith(".part"):
        return "bad path %r" % path
    return None


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _isdir(path):
    try:
        return os.stat(path)[0] & 0x4000 != 0
    except OSError:
        return False


def _read_json(path):
    try:
        with open(path) as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _write_json(path, doc):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(doc))
    os.rename(tmp, path)  # atomic on LittleFS


def _walk(base, rel=""):
    """Relative paths of the files under folder base."""
    out = []  # type: list
    try:
        names = os.listdir(base + "/" + rel if rel else base)
    except OSError:
        return out
    for name in names:
        sub = rel + "/" + name if rel else name
        if _isdir(base + "/" + sub):
            out += _walk(base, sub)
        else:
            out.append(sub)
    return out


def _rmtree_steps(path):
    """Delete a file or folder tree, yielding None after each entry."""
    if _isdir(path):
        for name in os.listdir(path):
            yield from _rmtree_steps(path + "/" + name)
        os.rmdir(path)
        yield None
    elif _exists(path):
        os.remove(path)
        yield None


def _drain(steps):
    for out in steps:
        if out is not None:
            return out
    return None


def _hash_steps(path, chunk=1024, every=8):
    """SHA-256 hex of a file: None every `every` chunks, then the digest."""
    sha = hashlib.sha256()
    buf = bytearray(chunk)
    n = 0
    with open(path, "rb") as f:
        while True:
            got = f.readinto(buf)
            if not got:
                break
            sha.update(buf if got == chunk else buf[:got])
            n += 1
            if n % every == 0:
                yield None
    yield binascii.hexlify(sha.digest()).decode()


def _running_version():
    try:
        from firmware import version
        return version.VERSION
    except ImportError:
        return None


def check_manifest(manifest):
    """{"version", "files": {path: sha256 hex}} -> (version, {path: hex}); raises UpdateError."""
    if not isinstance(manifest, dict):
        raise UpdateError("manifest must be a JSON object")
    version = manifest.get("version")
    if not isinstance(version, str) or not 0 < len(version) <= 40:
        raise UpdateError("manifest: version must be text of 1 to 40 characters")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise UpdateError("manifest: files must be an object {path: sha256}")
    if len(files) > MAX_FILES:
        raise UpdateError("manifest: more than %d files" % MAX_FILES)
    out = {}
    for path, digest in files.items():
        problem = path_problem(path)
        if problem:
            raise UpdateError("manifest: " + problem)
        if not isinstance(digest, str) or len(digest) != 64:
            raise UpdateError("manifest: %s: sha256 must be 64 hex digits" % path)
        digest = digest.lower()
        for ch in digest:
            if ch not in "0123456789abcdef":
                raise UpdateError("manifest: %s: sha256 must be 64 hex digits" % path)
        out[path] = digest
    if "main.py" not in out or ("firmware/app.mpy" not in out and "firmware/app.py" not in out):
        raise UpdateError("manifest: an update set needs main.py and firmware/app.mpy (or .py)")
    return version, out


async def read_manifest(stream, length, limit=MAX_MANIFEST):
    """The commit body as a dict, from an async stream of `length` bytes. A full set's
    manifest (~90 files: ~8.5 KB) is over Microdot's 8 KB in-memory body, so the commit
    route reads it here. Raises UpdateError (400, 411, 413)."""
    if length is None:
        raise UpdateError("Content-Length required", 411)
    if length > limit:
        raise UpdateError("manifest over %d KB" % (limit // 1024), 413)
    parts = []
    left = length
    while left:
        data = await stream.read(min(1024, left))
        if not data:
            raise UpdateError("the connection closed inside the manifest")
        parts.append(data)
        left -= len(data)
    try:
        return json.loads(b"".join(parts).decode())
    except (ValueError, UnicodeError):
        raise UpdateError("manifest is not JSON") from None


def _some(paths):
    paths = sorted(paths)
    text = ", ".join(paths[:5])
    return text + (" and %d more" % (len(paths) - 5) if len(paths) > 5 else "")


class Stager:
    """The staging area under root (the board: "", the filesystem's root)."""

    def __init__(self, root="", statvfs=None, version=None):
        self.root = root
        self._statvfs = statvfs if statvfs is not None else getattr(os, "statvfs", None)
        self._version = version
        self._file = None
        self._sha = hashlib.sha256()
        self._path = None  # type: str | None
        self._size = None
        self._written = 0

    def _p(self, rel):
        return self.root + rel

    def _state(self):
        return _read_json(self._p(STATE))

    def _idle(self):
        state = self._state()
        if state is None and not _exists(self._p(STATE)):
            return
        what = (state or {}).get("state")
        if what == "ready":
            raise UpdateError("version %s is committed and installs at the next restart" % state.get("version"), 409)
        raise UpdateError("an update is being installed or on trial (%s); wait until it is confirmed" % what, 409)

    def free_bytes(self):
        """Free flash in bytes, or None when unknown (no os.statvfs)."""
        if self._statvfs is None:
            return None
        try:
            st = self._statvfs(self.root or ".")
        except OSError:
            return None
        return (st[1] or st[0]) * st[4]  # f_frsize (or f_bsize) * f_bavail

    # ------------------------------------------------------------ one file
    def begin(self, path, size=None):
        """Start staging `path` (size in bytes if known: Content-Length). Raises UpdateError."""
        self.abort()
        problem = path_problem(path)
        if problem:
            raise UpdateError(problem)
        self._idle()
        if size is not None and (not isinstance(size, int) or size < 0):
            raise UpdateError("bad size")
        if not _isdir(self._p(UPD)):
            # A new staging session: the previous, confirmed update's backup goes (blocking,
            # once per update; discard_steps() does it in steps).
            _drain(_rmtree_steps(self._p(PREV)))
        free = self.free_bytes()
        if free is not None:
            block = 4096
            need = RESERVE + ((size or 0) + block - 1) // block * block
            if free < need:
                raise UpdateError("flash full: %d KB free, %s needs %d KB (keeping %d KB spare)"
                                  % (free // 1024, path, need // 1024, RESERVE // 1024), 507)
        target = self._p(UPD + "/" + path)
        try:
            cur = self._p(UPD)
            for part in path.split("/")[:-1] + [None]:
                if not _isdir(cur):
                    os.mkdir(cur)
                cur += "/" + (part or "")
            self._file = open(target + ".part", "wb")
        except OSError as exc:
            self.abort()
            raise UpdateError("cannot stage %s: %s" % (path, exc), 507) from None
        self._path = path
        self._size = size
        self._written = 0
        self._sha = hashlib.sha256()

    def write(self, chunk):
        if self._file is None:
            raise UpdateError("no file is being staged")
        if self._size is not None and self._written + len(chunk) > self._size:
            path = self._path
            self.abort()
            raise UpdateError("%s: more bytes than announced" % path)
        try:
            self._file.write(chunk)
        except OSError as exc:
            path = self._path
            self.abort()
            raise UpdateError("flash full while staging %s (%s); nothing else changed" % (path, exc), 507) from None
        self._sha.update(chunk)
        self._written += len(chunk)

    def finish(self):
        """Close the file; returns its SHA-256 hex. Raises UpdateError."""
        path = self._path
        if self._file is None or path is None:
            raise UpdateError("no file is being staged")
        try:
            self._file.close()
        except OSError as exc:
            self._file = None
            self.abort_path(path)
            raise UpdateError("flash full while staging %s (%s)" % (path, exc), 507) from None
        self._file = None
        if self._size is not None and self._written != self._size:
            self.abort_path(path)
            raise UpdateError("%s: %d of %d bytes arrived" % (path, self._written, self._size))
        target = self._p(UPD + "/" + path)
        os.rename(target + ".part", target)
        self._path = None
        return binascii.hexlify(self._sha.digest()).decode()

    async def receive(self, path, stream, length, chunk=1024):
        """Stage `path` from an async stream holding exactly `length` bytes (Microdot's
        request.stream: past 8 KB it is the socket itself, so never read beyond the body).
        Returns the SHA-256 hex; raises UpdateError and leaves no file behind."""
        if length is None:
            raise UpdateError("Content-Length required", 411)
        self.begin(path, length)
        try:
            left = length
            while left:
                data = await stream.read(min(chunk, left))
                if not data:
                    raise UpdateError("%s: the connection closed after %d of %d bytes"
                                      % (path, length - left, length))
                self.write(data)
                left -= len(data)
            return self.finish()
        except BaseException:  # also a cancelled request task: no half file stays behind
            self.abort()
            raise

    def abort(self):
        """Drop the file being staged, if any. Never raises."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
        if self._path is not None:
            self.abort_path(self._path)

    def abort_path(self, path):
        try:
            os.remove(self._p(UPD + "/" + path + ".part"))
        except OSError:
            pass
        self._path = None

    # ------------------------------------------------------------ the set
    def staged(self):
        """Relative paths of the complete staged files."""
        return [p for p in _walk(self._p(UPD)) if p != MANIFEST and not p.endswith(".part")
                and not p.endswith(".tmp")]

    def commit_steps(self, manifest):
        """Steps, then {"version", "files"}; raises UpdateError (nothing changes then)."""
        self._idle()
        version, files = check_manifest(manifest)
        staged = self.staged()
        missing = [p for p in files if p not in staged]
        if missing:
            raise UpdateError("not staged: " + _some(missing))
        extra = [p for p in staged if p not in files]
        if extra:
            raise UpdateError("staged but not in the manifest: %s (discard the staging first)" % _some(extra))
        for path in sorted(files):
            digest = None
            for digest in _hash_steps(self._p(UPD + "/" + path)):
                if digest is None:
                    yield None
            if digest != files[path]:
                raise UpdateError("%s: staged file does not match the manifest's sha256 (upload it again)" % path)
        _write_json(self._p(UPD + "/" + MANIFEST), {"version": version, "files": files})
        running = self._version if self._version is not None else _running_version()
        _write_json(self._p(STATE), {"state": "ready", "version": version, "from": running})
        yield {"version": version, "files": len(files)}

    def commit(self, manifest):
        return _drain(self.commit_steps(manifest))

    def discard_steps(self):
        """Steps, then {"discarded": n}: drop the staging (and a committed, not yet installed
        set, and the previous update's backup). Refused while an update is on trial."""
        state = self._state()
        if state is not None and state.get("state") == "ready":
            os.remove(self._p(STATE))
        self._idle()
        n = 0
        for path in (UPD, PREV):
            for _ in _rmtree_steps(self._p(path)):
                n += 1
                yield None
        yield {"discarded": n}

    def discard(self):
        return _drain(self.discard_steps())

    def status(self):
        """What GET /api/update reports."""
        state = self._state() or {}
        last = _read_json(self._p(RESULT))
        what = state.get("state")
        staged = self.staged() if _isdir(self._p(UPD)) and what is None else []
        previous = state.get("from") if what == "trial" else None
        if previous is None and last is not None and last.get("result") == "ok":
            previous = last.get("from")
        return {
            "running": self._version if self._version is not None else _running_version(),
            "previous": previous,
            "state": what or ("staging" if staged else "idle"),
            "staged_files": len(staged),
            "pending": state.get("version") if what in ("ready", "swap") else None,
            "trial": {"version": state.get("version"), "boots": state.get("boots")} if what == "trial" else None,
            "last_result": last,
            "free_kb": (self.free_bytes() or 0) // 1024 if self._statvfs is not None else None,
        }


def confirm(root=""):
    """The app is healthy (firmware/app.py _healthy_after): an update on trial becomes the
    running set. Returns a log line, or None when no update was on trial. The previous set
    stays in prev/ until the next update starts staging."""
    state = _read_json(root + STATE)
    if state is None or state.get("state") != "trial":
        return None
    _write_json(root + RESULT, {"result": "ok", "version": state.get("version"), "from": state.get("from"),
                                "boots": state.get("boots")})
    os.remove(root + STATE)
    return "update: version %s confirmed after %s boot(s)" % (state.get("version"), state.get("boots"))
