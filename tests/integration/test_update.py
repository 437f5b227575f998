"""Firmware update over HTTP, end to end, on an emulated board that runs from its own flash.

One board, three steps in order (pytest runs a module's tests in file order):
1. a set whose file does not match the manifest's SHA-256 is refused (4xx) and changes nothing;
2. `python -m tools.update` sends a good set with a new version: the board restarts into it
   and confirms it once healthy (60 s) -> GET /api/update says so;
3. a set whose firmware/app.mpy raises at import: the board fails to boot twice, swap.py
   rolls it back by itself, and the board serves HTTP again with the set of step 2.
"""
import json
import os
import re
import shutil
import tempfile
import time

import pytest

from tests.helpers import ap_password, console, get_json, session_build, start_board, wait_state, write_scenario
from tools import paths
from tools import update as update_tool
from tools.build import mpy_cross

DEFAULT = os.path.join(paths.ROOT, "scenarios", "default.json")
PASSWORD = "update-test-pw"
GOOD = "9.9.9-test"
BROKEN = "9.9.10-broken"


def _source_version():
    with open(os.path.join(paths.ROOT, "firmware", "version.py")) as f:
        return re.search(r"VERSION\s*=\s*[\"']([^\"']+)", f.read()).group(1)


def _variant(base, out, replace):
    """A copy of build `base` in `out` with firmware modules replaced: {"version": source}."""
    shutil.copytree(base, out)
    for name, source in replace.items():
        src = os.path.join(os.path.dirname(out), name + ".py")
        with open(src, "w") as f:
            f.write(source)
        mpy_cross(src, os.path.join(out, "firmware", name + ".mpy"), "firmware/%s.py" % name)
    return out


def _api(port, method, path, body=None, auth=True):
    """(status, JSON) of one request, as admin (HTTP Basic) unless auth is False."""
    board = update_tool.Board("http://127.0.0.1:%d" % port, PASSWORD, timeout=30)
    if not auth:
        board.headers = {}
    ctype = "application/json" if isinstance(body, (dict, list)) else "application/octet-stream"
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    return board.call(method, path, body, ctype if body is not None else None)


def _wait_update(port, predicate, timeout):
    deadline = time.time() + timeout
    doc = None
    while time.time() < deadline:
        try:
            doc = get_json(port, "/api/update")
            if predicate(doc):
                return doc
        except (OSError, ValueError):
            pass
        time.sleep(0.3)
    raise AssertionError("GET /api/update never matched; last: %s" % json.dumps(doc))


def _flash_json(board, name):
    with open(os.path.join(board.flash_dir, name)) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def env():
    tmp = tempfile.mkdtemp(prefix="hpmon-update-")
    base = session_build()
    good = _variant(base, os.path.join(tmp, "good", "build"), {"version": 'VERSION = "%s"\n' % GOOD})
    broken = _variant(good, os.path.join(tmp, "broken", "build"),
                      {"app": 'raise RuntimeError("broken update: app does not import")\n'})
    with open(DEFAULT) as f:
        cfg = json.load(f)["config"]
    cfg.update(mqtt={"enabled": False}, analytics={"enabled": False}, ct={"enabled": False})
    scenario = write_scenario(os.path.join(tmp, "scenario.json"), DEFAULT, config=cfg)
    state_dir = os.path.join(tmp, "board")
    shutil.copytree(base, os.path.join(state_dir, "flash"))  # the board's flash: what it boots
    board = start_board(scenario, heap="2M", state_dir=state_dir, firmware_dir=None)
    try:
        assert board.firmware() == board.flash_dir
        wait_state(board.http_port, lambda s: s["version"] == _source_version(), timeout=30)
        status, doc = _api(board.http_port, "POST", "/api/auth/setup",
                           {"password": PASSWORD, "ap_password": ap_password(board)}, auth=False)
        assert status == 200, doc
        yield {"board": board, "good": good, "broken": broken, "old": _source_version()}
    finally:
        board.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_set_that_does_not_match_its_manifest_is_refused(env):
    board = env["board"]
    port = board.http_port
    uptime, boots = get_json(port)["uptime_s"], len(board.boots)
    main_py = os.path.join(env["good"], "main.py")
    with open(main_py, "rb") as f:
        status, doc = _api(port, "PUT", "/api/update/file?path=main.py", f.read())
    main_sha = update_tool.sha256_file(main_py)
    assert status == 200 and doc["sha256"] == main_sha, doc
    app = b"damaged in transit"
    status, doc = _api(port, "PUT", "/api/update/file?path=firmware/app.mpy", app)
    assert status == 200 and doc["size"] == len(app), doc
    assert get_json(port, "/api/update")["state"] == "staging"
    # only app.mpy is damaged: the manifest has the sha256 of the file that was meant to arrive
    manifest = {"version": "6.6.6", "files": {"main.py": main_sha,
                                              "firmware/app.mpy": update_tool.sha256_file(
                                                  os.path.join(env["good"], "firmware", "app.mpy"))}}
    status, doc = _api(port, "POST", "/api/update/commit", manifest)
    assert status == 400, doc
    assert "firmware/app.mpy" in doc["error"] and "sha256" in doc["error"], doc
    assert not os.path.exists(os.path.join(board.flash_dir, "update.json"))
    # the staging is dropped; nothing that runs has changed and the board did not restart
    status, doc = _api(port, "DELETE", "/api/update")
    assert status == 200, doc
    time.sleep(1.5)  # a restart would come 0.5 s after the answer
    state = get_json(port)
    assert state["version"] == env["old"] and state["uptime_s"] >= uptime and len(board.boots) == boots
    upd = get_json(port, "/api/update")
    assert upd["state"] == "idle" and upd["running"] == env["old"] and upd["last_result"] is None, upd
    assert not os.path.exists(os.path.join(board.flash_dir, "upd"))


def test_good_update_installs_restarts_and_is_confirmed(env):
    board = env["board"]
    port = board.http_port
    update_tool.main(["--url", "http://127.0.0.1:%d" % port, "--password", PASSWORD,
                      "--build", env["good"], "--version", GOOD])
    state = wait_state(port, lambda s: s["version"] == GOOD, timeout=40)
    assert not state["safe_mode"]
    trial = get_json(port, "/api/update")
    assert trial["running"] == GOOD and trial["previous"] == env["old"], trial
    if trial["state"] == "trial":  # until the 60 s are up
        assert trial["trial"] == {"version": GOOD, "boots": 1}, trial
    done = _wait_update(port, lambda u: u["state"] == "idle", timeout=90)
    assert done["last_result"] == {"result": "ok", "version": GOOD, "from": env["old"], "boots": 1}, done
    assert done["running"] == GOOD and done["previous"] == env["old"], done
    assert get_json(port)["uptime_s"] >= 60
    assert not os.path.exists(os.path.join(board.flash_dir, "update.json"))
    assert _flash_json(board, "update_result")["result"] == "ok"
    assert "swap: version %s on trial, boot 1 of 2" % GOOD in console(board)
    # the old set waits in prev/ until the next update starts
    assert os.path.exists(os.path.join(board.flash_dir, "prev", "firmware", "version.mpy"))


def test_broken_update_fails_twice_then_rolls_back_by_itself(env):
    board = env["board"]
    port = board.http_port
    boots = len(board.boots)
    update_tool.main(["--url", "http://127.0.0.1:%d" % port, "--password", PASSWORD,
                      "--build", env["broken"], "--version", BROKEN])
    back = _wait_update(port, lambda u: (u["last_result"] or {}).get("result") == "rolled back", timeout=60)
    assert back["running"] == GOOD and back["state"] == "idle", back
    assert back["last_result"]["version"] == BROKEN and back["last_result"]["from"] == GOOD, back
    assert "did not become healthy in 2 boots" in back["last_result"]["reason"], back
    state = wait_state(port, lambda s: s["version"] == GOOD, timeout=10)
    assert not state["safe_mode"]
    # the restart into the set, its second failed boot, the boot that rolled back
    assert len(board.boots) - boots >= 3, board.boots
    out = console(board)
    assert out.count("broken update: app does not import") == 2, out[-3000:]
    assert "swap: version %s on trial, boot 2 of 2" % BROKEN in out
    assert "swap: rolled back %s" % BROKEN in out
    result = _flash_json(board, "update_result")
    assert result["result"] == "rolled back" and result["version"] == BROKEN
    for left in ("update.json", "upd", "prev"):
        assert not os.path.exists(os.path.join(board.flash_dir, left)), left
    # the set on flash is the good one again, byte for byte
    for rel in ("firmware/app.mpy", "firmware/version.mpy", "main.py"):
        with open(os.path.join(board.flash_dir, rel), "rb") as a, open(os.path.join(env["good"], rel), "rb") as b:
            assert a.read() == b.read(), rel
