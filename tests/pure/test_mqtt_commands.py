import json

from firmware import mqtt_commands as mc


def _error(what, payload):
    try:
        mc.parse(what, payload)
    except mc.CommandError as exc:
        return str(exc)
    return None


def test_switch_commands():
    for payload, value in ((b"on", True), (b"ON", True), (b"1", True), (b" true ", True),
                           (b"off", False), (b"0", False), (b"False", False)):
        assert mc.parse("ssr", payload) == ("ssr", value)
        assert mc.parse("dhw", payload) == ("dhw", value)
    assert "on or off" in _error("ssr", b"maybe")
    assert "on or off" in _error("dhw", b"")


def test_interval_is_whole_seconds_in_range():
    assert mc.parse("interval", b"10") == ("interval", 10)
    assert mc.parse("interval", b"3600") == ("interval", 3600)
    for bad in (b"0", b"3601", b"-5", b"10.5", b"ten", b"", b"999999"):
        assert _error("interval", bad), bad


def test_read_and_restart():
    assert mc.parse("read", b"") == ("read", "")
    assert mc.parse("read", b"ALL") == ("read", "")
    assert mc.parse("read", b"mbus") == ("read", "mbus")
    assert _error("read", b"../etc")
    assert mc.parse("restart", b"restart") == ("restart", True)
    assert mc.parse("restart", b"PRESS") == ("restart", True)
    assert _error("restart", b"") and _error("restart", b"0")


def test_unknown_oversized_and_binary_payloads_are_refused():
    assert "unknown command" in _error("reboot", b"1")
    assert "longer" in _error("ssr", b"o" * 65)
    assert "UTF-8" in _error("ssr", b"\xff\xfe")


def test_ack_payloads():
    ok = json.loads(mc.ack("ssr", True, value="on"))
    assert ok == {"cmd": "ssr", "ok": True, "value": "on"}
    bad = json.loads(mc.ack('x"y', False, "unknown command"))
    assert bad == {"cmd": 'x"y', "ok": False, "error": "unknown command"}


class _Store:
    def __init__(self):
        self.values = {}

    def update(self, name, value, unit="", status="ok", ticks=None, wall=None):
        self.values[name] = value


class _Clock:
    def ticks(self):
        return 0

    def wall(self):
        return 1700000000


class _Ssr:
    def __init__(self):
        self.calls = []

    def command(self, on, source):
        self.calls.append((on, source))


class _Meter:
    def __init__(self):
        self.reads = 0

    def request_read(self):
        self.reads += 1


class _Ctx:
    def __init__(self, services):
        self.cfg = {"mqtt": {"commands": True}, "interval_s": 10}
        self.services = services
        self.store = _Store()
        self.clock = _Clock()


def test_handle_executes_valid_commands_only():
    ssr, meter = _Ssr(), _Meter()
    ctx = _Ctx({"ssr": ssr, "mbus": meter, "temperatures": object()})
    reply, restart = mc.handle(ctx, "ssr", b"on")
    assert json.loads(reply) == {"cmd": "ssr", "ok": True, "value": "on"} and not restart
    assert ssr.calls == [(True, "mqtt")]
    reply, _ = mc.handle(ctx, "ssr", b"dim")
    assert json.loads(reply)["ok"] is False and ssr.calls == [(True, "mqtt")]  # nothing acted
    reply, _ = mc.handle(ctx, "dhw", b"1")
    assert json.loads(reply)["ok"] and ctx.store.values["heatpump_dhw"] == 1 and ctx.dhw is True
    reply, _ = mc.handle(ctx, "read", b"")
    assert json.loads(reply) == {"cmd": "read", "ok": True, "value": ["mbus"]} and meter.reads == 1
    reply, _ = mc.handle(ctx, "read", b"modbus")
    assert "no meter service named modbus" in json.loads(reply)["error"] and meter.reads == 1
    reply, restart = mc.handle(ctx, "restart", b"restart")
    assert json.loads(reply)["ok"] and restart


def test_handle_refuses_retained_disabled_and_missing_outputs():
    ctx = _Ctx({})
    reply, restart = mc.handle(ctx, "restart", b"restart", retained=True)
    assert "retained" in json.loads(reply)["error"] and not restart
    reply, _ = mc.handle(ctx, "ssr", b"on")
    assert "ssr.enabled" in json.loads(reply)["error"]
    ctx.cfg["mqtt"]["commands"] = False
    reply, restart = mc.handle(ctx, "restart", b"restart")
    assert "off" in json.loads(reply)["error"] and not restart
