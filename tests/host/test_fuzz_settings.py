"""Fuzz the settings: request bodies through the path of POST /api/config (Microdot's request
parser with the limits firmware/services/web.py sets, web_routes.body_json, then
web_admin.config_post: merge, validate, atomic save) and config.json texts through the boot
path (config.load). Random types, extra keys, huge strings, NaN/Infinity, negative and
enormous numbers, nesting, free-form lists and maps (meters, roles, schedule), broken JSON.

Contracts (docstrings): body_json returns the object or (error, status); config_post answers
{"saved"} or ({"errors": {field: text}}, 400) and saves nothing unless every field is valid;
config.load never raises ("a bad or corrupt file falls back to defaults", DESIGN.md). So no
exception may escape at all. Whatever is saved must be strict JSON that loads back, unchanged
and without errors, at the next boot. Counts: `pytest -s` (tests/fuzz.py).
"""
import asyncio
import json
import math

import pytest
from microdot import Request

from firmware import config, web_admin, web_routes
from firmware.log import Log
from firmware.services import web
from tests import fuzz

N_POSTS = 1500
N_FILES = 1000

DEFAULTS = config.defaults()
ROMS = ("28ff641e821603e2", "28ff1c5a92160496", "28FF641E821603E2", "28ff", "", "zz" * 8)
ROLE_NAMES = config.ROLES + ("", "heatpump_elec", "x" * 40)


def _leaves(doc, prefix=""):
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, prefix + key + ".")
        else:
            yield prefix + key, value


LEAVES = list(_leaves(DEFAULTS))


def _text(r):
    k = r.randrange(8)
    if k == 0:
        return ""
    if k == 1:
        return "x" * r.choice((1, 8, 16, 24, 32, 33, 63, 64, 65, 200, 3000))
    if k == 2:
        return "".join(chr(r.randrange(0x20, 0x3000)) for _ in range(r.randint(1, 20)))
    if k == 3:
        return r.choice(("hpmon", "garage_hp", "Garage HP", "a/b", "+", "#", "/x", "emon", "192.168.1.2",
                         "host:1883", "https://emoncms.org", "http://x:99999", "ftp://x", "06:00-08:00",
                         "23:00-02:00", "24:00-01:00", "\u00b2\u00b2:00-01:00", "2-40", "40-2", "x-y", "auto",
                         "mbus", "vfs", "none", "sdm630", "even", "lpl", "jeelib", "on", "off", "GMT0", "CET-1CEST",
                         "GMT0BST,M3.5.0/1,M10.5.0", "<+03>-3", "EST5EDT,M3.2.0,M11.1.0/2:00:00", "x" * 16))
    if k == 4:
        return "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----" % ("QUJD" * r.randint(0, 30))
    if k == 5:
        return "\x00\n\t\"\\" + "\ud800" * r.randint(0, 1)
    if k == 6:
        return "%08d" % r.randrange(10 ** 8)
    return "".join(chr(r.randrange(32, 127)) for _ in range(r.randint(1, 40)))


def _number(r):
    return r.choice((0, 1, -1, 2, 9, 10, 12, 32, 50, 60, 100, 247, 250, 255, 1023, 1883, 3600, 65535, 65536, 86400,
                     2 ** 31, -(2 ** 31), 10 ** 30, r.randint(-100, 5000), 0.5, -0.0, 1e-9, 1.5, 60.606, 1e308,
                     math.nan, math.inf, -math.inf))


def _any(r, depth=0):
    k = r.randrange(9 if depth < 5 else 5)
    if k == 0:
        return _number(r)
    if k == 1:
        return _text(r)
    if k == 2:
        return r.choice((True, False))
    if k == 3:
        return None
    if k == 4:
        return r.choice(([], {}, [1], [1, 2, 3], [-1] * 5))
    if k < 7:
        return [_any(r, depth + 1) for _ in range(r.randint(0, 4))]
    if k == 7:
        d = r.randint(5, 60)
        out = 1
        for _ in range(d):
            out = [out] if r.random() < 0.5 else {"a": out}
        return out
    return {_text(r)[:20]: _any(r, depth + 1) for _ in range(r.randint(0, 4))}


def _like(r, default):
    """A value for a setting whose default is `default`: mostly its own type, near its limits."""
    k = r.random()
    if k < 0.35:
        return _any(r)
    if isinstance(default, bool):
        return r.random() < 0.5
    if isinstance(default, (int, float)):
        return _number(r)
    if isinstance(default, str):
        return _text(r)
    if isinstance(default, list):
        n = r.randint(0, 20 if r.random() < 0.1 else 4)
        items = default or [0]
        return [_like(r, r.choice(items)) if r.random() < 0.7 else _any(r, 2) for _ in range(n)]
    return _free(r)


METER_KEYS = ("address", "secondary_id", "name", "model", "page", "poll_s", "baud", "bogus")


def _meter(r):
    spec = {}
    for key in r.sample(METER_KEYS, r.randint(0, len(METER_KEYS))):
        spec[key] = r.choice((_any(r), _number(r), _text(r), r.randint(0, 250), "12345678", "sontex", 2400))
    return spec


def _free(r):
    """The maps with free keys: ROM roles and offsets, radio roles."""
    out = {}
    for _ in range(r.randint(0, 5)):
        key = r.choice(ROMS + ("emonth19_temp", "emonth5_humidity", "emonth1x_temp", "emonth" + "9" * 30 + "_temp"))
        out[key] = r.choice((r.choice(ROLE_NAMES), _number(r), _any(r)))
    return out


def _overlay(r):
    doc: dict = {}
    for _ in range(r.randint(1, 6)):
        k = r.random()
        if k < 0.6:
            path, default = r.choice(LEAVES)
            value = _like(r, default)
        elif k < 0.7:
            path, value = r.choice(("mbus.meters", "ssr.schedule", "onewire.roles", "onewire.offsets", "radio.roles",
                                    "ct.inputs", "pins.onewire")), None
            if path == "mbus.meters":
                value = [_meter(r) for _ in range(r.randint(0, 18 if r.random() < 0.1 else 3))]
            elif path == "ssr.schedule":
                value = [r.choice(("06:00-08:00", "22:00-06:00", "07:00-07:00", _text(r), _any(r)))
                         for _ in range(r.randint(0, 10))]
            elif path in ("ct.inputs", "pins.onewire"):
                value = [r.choice((1, 2, 3, -1, 4, 13, 34, 6, True, 1.0, "1")) for _ in range(r.randint(0, 6))]
            else:
                value = _free(r)
        elif k < 0.8:  # switch a section or a link on, so its rules run
            path = r.choice(("mqtt.tls", "emoncms.enabled", "vfs.enabled", "ssr.enabled", "radio.enabled",
                             "serial_out.enabled", "irda.enabled", "modbus.enabled", "pulse.enabled",
                             "analytics.enabled", "ct.enabled"))
            value = True
        elif k < 0.9:  # a setting that does not exist, or a section that is not an object
            path = r.choice(("bogus", "mqtt.bogus", "pins.gpio99", "web", "mqtt", "ct.ical.0"))
            value = _any(r)
        else:  # secrets: text sets them, true/false/null keeps them
            path = r.choice(config.SECRETS)
            value = r.choice((True, False, None, _text(r)))
        _put(doc, path, value)
    return doc


def _put(doc, path, value):
    parts = path.split(".")
    for p in parts[:-1]:
        nxt = doc.get(p)
        if not isinstance(nxt, dict):
            nxt = doc[p] = {}
        doc = nxt
    doc[parts[-1]] = value


def _body(r):
    k = r.random()
    if k < 0.75:
        return json.dumps(_overlay(r)).encode()  # NaN/Infinity come out as such: clients send them
    if k < 0.85:
        return fuzz.mutate(r, json.dumps(_overlay(r)).encode(), inserts=(0x7B, 0x7D, 0x22, 0x5C, 0x80, 0xFF))
    return r.choice((b"", b"{}", b"null", b"[]", b"[1, 2]", b'"x"', b"1e999", b"\xff\xfe{}", b"{" * 3,
                     b'{"node": "a"' + b" " * 9000 + b"}", b"[" * 4000 + b"]" * 4000,
                     b'{"a":' * 1000 + b"1" + b"}" * 1000, fuzz.noise(r, 0, 200)))


def _request(raw_body):
    """The request Microdot builds from a POST with this body (as firmware/services/web.py
    configures it), parsed from the bytes on the wire."""
    Request.max_content_length = web.MAX_UPLOAD
    Request.max_body_length = web.MAX_BODY
    Request.max_readline = web.MAX_LINE
    wire = (b"POST /api/config HTTP/1.1\r\nHost: 192.168.4.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(raw_body)) + raw_body

    async def parse():
        reader = asyncio.StreamReader()
        reader.feed_data(wire)
        reader.feed_eof()
        return await Request.create(None, reader, None, ("127.0.0.1", 50000))

    return asyncio.run(parse())


@pytest.fixture
def keep_modules(monkeypatch):
    """Keep the checking modules imported between inputs. The firmware drops them after every
    check (firmware/transient.py) to give a WROOM-32 its heap back; under CPython with
    PYTHONDONTWRITEBYTECODE each re-import recompiles the source, 20 ms an input. Which code
    runs is unchanged, only how long it stays in sys.modules."""
    from firmware import config_check, transient
    monkeypatch.setattr(transient, "forget", lambda name: None)
    monkeypatch.setattr(config_check, "forget", lambda name: None)


class _Ctx:
    def __init__(self):
        self.cfg = config.defaults()
        self.pending_cfg = None
        self.log = Log(echo=False)


def _post(ctx, raw_body):
    """(status, document) of POST /api/config for a logged-in admin."""
    doc = web_routes.body_json(_request(raw_body))
    if isinstance(doc, tuple):
        return doc[1], doc[0]
    out = web_admin.config_post(ctx, doc)
    return (out[1], out[0]) if isinstance(out, tuple) else (200, out)


def _strict_json(text):
    def refuse(token):
        raise ValueError("not JSON: %s" % token)
    return json.loads(text, parse_constant=refuse)


def _file():
    try:
        with open(config.CONFIG_FILE, "rb") as f:
            return f.read()
    except OSError:
        return None


def test_settings_post_answers_saves_only_valid_and_reloads(tmp_path, monkeypatch, keep_modules):
    monkeypatch.chdir(tmp_path)
    t = fuzz.Tally("settings POST /api/config", ())
    saved = 0
    for r, i in fuzz.inputs("settings.post", N_POSTS, t):
        if i == 0:
            ctx = _Ctx()
        if r.random() < 0.5:
            ctx.pending_cfg = None
        body = _body(r)
        before_file, before_pending = _file(), json.dumps(ctx.pending_cfg)
        _ok, (status, doc) = t.check(_post, ctx, body, show=body)
        if status == 200:
            assert doc == {"saved": True, "restart_needed": True}
            text = _file()
            cfg = _strict_json(text)  # strict JSON: MicroPython reads no NaN/Infinity
            assert cfg == ctx.pending_cfg
            loaded, errors = config.load()
            assert errors == [] and loaded == cfg, errors  # boots with exactly what was saved
            saved += 1
        else:
            t.refuse("%d" % status)
            assert status in (400, 413), (status, doc)
            if status == 400 and "errors" in doc:
                assert doc["errors"] and all(isinstance(k, str) and isinstance(v, str) and v
                                             for k, v in doc["errors"].items()), doc
            else:
                assert isinstance(doc.get("error"), str)
            # nothing saved, nothing pending changed
            assert _file() == before_file and json.dumps(ctx.pending_cfg) == before_pending
    t.report()
    print("settings: %d bodies saved and reloaded cleanly" % saved)
    assert saved > N_POSTS // 50 and t.rejected > N_POSTS // 2


def test_config_file_at_boot_never_raises(tmp_path, monkeypatch, keep_modules):
    monkeypatch.chdir(tmp_path)
    t = fuzz.Tally("settings config.load (boot)", ())
    for r, _i in fuzz.inputs("settings.file", N_FILES, t):
        k = r.random()
        if k < 0.6:
            doc = _overlay(r)
            if r.random() < 0.3:  # a whole saved configuration with a few edits
                full = config.defaults()
                config.merge(full, doc, [])
                doc = full
            data = json.dumps(doc).encode()
        elif k < 0.8:
            data = fuzz.mutate(r, json.dumps(_overlay(r)).encode())
        else:
            data = _body(r)
        with open(config.CONFIG_FILE, "wb") as f:
            f.write(data)
        _ok, (cfg, errors) = t.check(config.load, show=data)
        if errors:
            t.refuse("errors")
            assert cfg == config.defaults() and all(isinstance(e, str) for e in errors)
        else:
            assert config.validate(cfg) == []
    t.report()
    assert t.accepted and t.rejected


def test_field_errors_maps_any_message():
    t = fuzz.Tally("web_admin.field_errors", ())
    for r, _i in fuzz.inputs("settings.fields", 2000, t):
        msgs = [r.choice(("a.b: must be x", "plain", ": x", "a b: c", "k: ", "k:v", _text(r)))
                for _ in range(r.randint(0, 5))]
        _ok, out = t.check(web_admin.field_errors, msgs, show=msgs)
        assert all(isinstance(v, str) for v in out.values()) and (out or not msgs)
    t.report()


# ------------------------------------------------------------ the bugs the fuzz found, one case each
def test_a_meter_address_given_as_text_falls_back_to_defaults(tmp_path, monkeypatch):
    # config.meter_name names a meter whatever its address holds, so validation (not a
    # TypeError before the access point starts) reports the bad address
    monkeypatch.chdir(tmp_path)
    with open(config.CONFIG_FILE, "w") as f:
        f.write('{"mbus": {"meters": [{"address": "1"}]}}')
    cfg, errors = config.load()
    assert cfg == config.defaults() and any("mbus.meters.0.address" in e for e in errors)


def test_a_role_that_is_not_text_is_a_field_error(tmp_path, monkeypatch):
    # config_links.validate skips a role that is not text (no TypeError, no HTTP 500): the
    # onewire.roles check reports it as that field's error
    monkeypatch.chdir(tmp_path)
    body = json.dumps({"onewire": {"roles": {"28ff641e821603e2": ["heatpump_flowT"]}}, "radio": {"group": 5}})
    status, doc = _post(_Ctx(), body.encode())
    assert status == 400 and "onewire.roles.28ff641e821603e2" in doc["errors"]


def test_deeply_nested_body_is_refused_not_raised(tmp_path, monkeypatch):
    # CPython's json.loads raises RecursionError (a RuntimeError) past ~1000 levels, where
    # MicroPython parses them: body_json answers "body is not JSON" for it too
    monkeypatch.chdir(tmp_path)
    status, _doc = _post(_Ctx(), b"[" * 4000 + b"]" * 4000)
    assert status == 400


def test_deeply_nested_config_file_falls_back_to_defaults(tmp_path, monkeypatch):
    # config.parse takes CPython's RecursionError on a deeply nested config.json as invalid JSON
    monkeypatch.chdir(tmp_path)
    with open(config.CONFIG_FILE, "w") as f:
        f.write("[" * 4000 + "]" * 4000)
    cfg, errors = config.load()
    assert cfg == config.defaults() and errors
