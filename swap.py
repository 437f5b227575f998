"""Installs a committed firmware update at boot, counts its trial boots, rolls it back.

Not part of any update set (it is what replaces them). boot.py calls boot() before anything
imports from firmware/, and only while the state file update.json exists. Every change of
update.json is write-temp-then-rename, and a rename is atomic on LittleFS (the ESP32's
filesystem; it also replaces an existing file), so the file always holds one whole state:

  ready     firmware/update_stage.py checked upd/ against the manifest (POST /api/update/commit)
  swap      installing; "items" lists what moves, "new" the items the old set did not have
  trial     installed; "boots" counts the new set's boots; update_stage.confirm() ends it
  rollback  putting prev/ back

Order of operations, and why a power cut at any point leaves a bootable board:
 1. ready: check every item is in upd/; delete the previous update's prev/ (the running set
    is complete in place, so prev/ is only a leftover); then write state swap with the item
    list. A cut before that write redoes this step; after it, the next boot resumes step 2.
 2. swap, per item (firmware/ as a whole, then each lib/ file, then main.py, then boot.py):
    firmware/ and lib files: rename old -> prev/, then rename upd/ -> place. A cut between
    the two leaves the item missing, but boot.py is still there and resumes: an item whose
    upd/ copy exists is not installed yet, and the state of its old copy tells which rename
    is next. boot.py and main.py: *copy* the old one to prev/ (temp + rename), then rename
    the new one over it, so they never go missing: boot.py always exists to resume.
    Any error here rolls back.
 3. trial: state trial with boots 0 is written once every item is in place, then each boot
    (this one included) adds 1; the app confirms within HEALTHY_AFTER_S of a good boot.
    A boot finding boots > MAX_BOOTS (the new set failed to become healthy twice) rolls back.
    main.py resets instead of stopping at the REPL while update.json exists, so a crash
    at import counts too.
 4. rollback: state rollback first; then per item in reverse order (boot.py first): an item
    the old set did not have is deleted; one with a copy in prev/ is put back (files renamed
    over the new one; a folder deleted, then renamed back). Each step is idempotent, so a
    resumed rollback redoes nothing wrong. Then prev/ and upd/ go, update_result says why,
    and update.json is deleted last.
Only os.stat/listdir/mkdir/rename/remove/rmdir are used (MicroPython has no shutil).
"""
import json
import os

STATE = "update.json"
RESULT = "update_result"
UPD = "upd"
PREV = "prev"
MAX_BOOTS = 2
MAX_ERRORS = 3       # boots on which this module itself failed before it gives up
COPIED = ("boot.py", "main.py")

_hook = None  # tests only: called before every change to the filesystem (a power cut)


def _op():
    if _hook is not None:
        _hook()


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


def _rename(src, dst):
    _op()
    os.rename(src, dst)


def _mkdirs(root, rel):
    """The folders of relative file path rel, under root."""
    cur = root
    for part in rel.split("/")[:-1]:
        cur += part
        if not _isdir(cur):
            _op()
            os.mkdir(cur)
        cur += "/"


def _rmtree(path):
    if _isdir(path):
        for name in os.listdir(path):
            _rmtree(path + "/" + name)
        _op()
        os.rmdir(path)
    elif _exists(path):
        _op()
        os.remove(path)


def _read(path):
    """A state dict; None if there is none; {} if unreadable."""
    try:
        with open(path) as f:
            doc = json.loads(f.read())
    except OSError:
        return None
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _write(path, doc):
    _op()
    with open(path + ".tmp", "w") as f:
        f.write(json.dumps(doc))
    _rename(path + ".tmp", path)


def _copy(src, dst):
    _op()
    with open(src, "rb") as fin, open(dst + ".tmp", "wb") as fout:
        while True:
            chunk = fin.read(512)
            if not chunk:
                break
            fout.write(chunk)
    _rename(dst + ".tmp", dst)


def _walk(base, rel=""):
    out = []  # type: list
    for name in os.listdir(base + "/" + rel if rel else base):
        sub = rel + "/" + name if rel else name
        out += _walk(base, sub) if _isdir(base + "/" + sub) else [sub]
    return out


def items(paths):
    """What moves, in install order: firmware/ whole, the other files one by one, main.py, boot.py."""
    out = ["firmware"] if [p for p in paths if p.startswith("firmware/")] else []
    out += sorted(p for p in paths if not p.startswith("firmware/") and p not in COPIED)
    return out + [p for p in ("main.py", "boot.py") if p in paths]


def _finish(root, result):
    _write(root + RESULT, result)
    _op()
    os.remove(root + STATE)
    print("swap:", result["result"], result.get("version"), result.get("reason") or "")
    return result["result"]


def _prepare(root, st):
    man = _read(root + UPD + "/manifest.json") or {}
    files = man.get("files")
    todo = items(files) if isinstance(files, dict) else []
    missing = [x for x in todo if not _exists(root + UPD + "/" + x)]
    if not todo or missing or "main.py" not in todo:
        return None, _finish(root, {"result": "failed", "version": st.get("version"), "from": st.get("from"),
                                    "reason": "staged set incomplete: %s" % (missing or "no manifest")})
    new = [x for x in todo if not _exists(root + x)]
    _rmtree(root + PREV)
    st = {"state": "swap", "version": st.get("version"), "from": st.get("from"), "items": todo, "new": new}
    _write(root + STATE, st)
    return st, None


def _install(root, item, new):
    src = root + UPD + "/" + item
    if not _exists(src):
        return  # installed already (a resumed swap)
    dst = root + item
    bak = root + PREV + "/" + item
    if item in COPIED:
        if item not in new and _exists(dst) and not _exists(bak):
            _mkdirs(root, PREV + "/" + item)
            _copy(dst, bak)
    elif _exists(dst):
        if _exists(bak):
            raise OSError("%s and its backup both exist" % item)
        _mkdirs(root, PREV + "/" + item)
        _rename(dst, bak)
    _mkdirs(root, item)
    _rename(src, dst)


def _rollback(root, st, reason):
    if st.get("state") != "rollback":
        st["state"] = "rollback"
        st["reason"] = reason
        _write(root + STATE, st)
    new = st.get("new") or []
    for item in reversed(st.get("items") or []):
        dst = root + item
        bak = root + PREV + "/" + item
        if item in new:
            _rmtree(dst)
        elif _exists(bak):
            if _isdir(dst):
                _rmtree(dst)  # a folder cannot be renamed over; a file can (atomically)
            _rename(bak, dst)
    _rmtree(root + PREV)
    _rmtree(root + UPD)
    return _finish(root, {"result": "rolled back", "version": st.get("version"), "from": st.get("from"),
                          "reason": reason})


def _run(root):
    st = _read(root + STATE)
    if st is None:
        return None
    state = st.get("state")
    if state == "ready":
        st, done = _prepare(root, st)
        if st is None:
            return done
        state = "swap"
    if state == "swap":
        try:
            for item in st["items"]:
                _install(root, item, st["new"])
        except OSError as exc:
            return _rollback(root, st, "install failed: %r" % exc)
        st["state"] = "trial"
        st["boots"] = 0
        _write(root + STATE, st)
        state = "trial"
    if state == "trial":
        _rmtree(root + UPD)  # what is left: the manifest, empty folders
        st["boots"] = st.get("boots", 0) + 1
        if st["boots"] > MAX_BOOTS:
            return _rollback(root, st, "version %s did not become healthy in %d boots"
                             % (st.get("version"), MAX_BOOTS))
        _write(root + STATE, st)
        print("swap: version %s on trial, boot %d of %d" % (st.get("version"), st["boots"], MAX_BOOTS))
        return "trial"
    if state != "rollback":  # unreadable: put back whatever prev/ holds
        st = {"version": None, "items": items(_walk(root + PREV)) if _isdir(root + PREV) else []}
        return _rollback(root, st, "update state unreadable")
    return _rollback(root, st, st.get("reason"))


def boot(root=""):
    """Run by boot.py while update.json exists. Returns what happened ("trial", "rolled back",
    "failed", None); never raises."""
    try:
        return _run(root)
    except Exception as exc:  # boot must go on; the next boot retries, then gives up
        print("swap: error:", repr(exc))
        try:
            st = _read(root + STATE)
            if st is not None:
                st["errors"] = st.get("errors", 0) + 1
                if st["errors"] >= MAX_ERRORS:
                    return _finish(root, {"result": "failed", "version": st.get("version"),
                                          "reason": "swap.py failed %d times: %r" % (st["errors"], exc)})
                _write(root + STATE, st)
        except Exception as exc2:
            print("swap: error:", repr(exc2))
        return "error"
