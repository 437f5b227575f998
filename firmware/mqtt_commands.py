"""Commands received on hpmon/<node>/set/<what>: validation, execution, acks.

Every payload is checked (parse, pure) before anything acts on it; a bad one
gets an ack with the reason and changes nothing. handle() then acts on the
services in the context (it imports no hardware module); the MQTT service
imports this module only when a command arrives.
"""
import json

COMMANDS = ("ssr", "interval", "dhw", "read", "restart")
MAX_PAYLOAD = 64
INTERVAL_RANGE = (1, 3600)
_TRUE = ("on", "1", "true")
_FALSE = ("off", "0", "false")
_RESTART = ("restart", "1", "press", "now")


class CommandError(ValueError):
    pass


def _text(payload):
    if len(payload) > MAX_PAYLOAD:
        raise CommandError("payload longer than %d bytes" % MAX_PAYLOAD)
    try:
        text = bytes(payload).decode() if not isinstance(payload, str) else payload
    except UnicodeError:
        raise CommandError("payload is not UTF-8 text") from None
    return text.strip()


def _switch(text):
    low = text.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise CommandError("expected on or off")


def parse(what, payload):
    """(what, value) of a valid command; raises CommandError otherwise.

    ssr, dhw: on/off (1/0, true/false) -> bool; interval: whole seconds in
    INTERVAL_RANGE -> int; read: "" / "all" or a service name -> str ("" = all);
    restart: "restart" (or 1/press/now) -> True.
    """
    if what not in COMMANDS:
        raise CommandError("unknown command; one of %s" % ", ".join(COMMANDS))
    text = _text(payload)
    if what in ("ssr", "dhw"):
        return what, _switch(text)
    if what == "interval":
        if not text or len(text) > 5 or not all("0" <= c <= "9" for c in text):  # ASCII digits only
            raise CommandError("expected whole seconds")
        value = int(text)
        if not INTERVAL_RANGE[0] <= value <= INTERVAL_RANGE[1]:
            raise CommandError("must be between %d and %d s" % INTERVAL_RANGE)
        return what, value
    if what == "read":
        name = text.lower()
        if name in ("", "all"):
            return what, ""
        if len(name) > 24 or not all("a" <= c <= "z" or "0" <= c <= "9" or c == "_" for c in name):
            raise CommandError("expected a service name or all")
        return what, name
    if text.lower() not in _RESTART:
        raise CommandError("send restart to restart")
    return what, True


def ack(what, ok, detail=None, value=None):
    """Payload for hpmon/<node>/ack: {"cmd", "ok", and "value" or "error"}."""
    doc = {"cmd": what, "ok": bool(ok)}
    if ok:
        if value is not None:
            doc["value"] = value
        if detail:
            doc["detail"] = detail
    else:
        doc["error"] = detail or "failed"
    return json.dumps(doc)


def handle(ctx, what, payload, retained=False):
    """(ack payload, restart?) for one received command."""
    what = what[:24]
    if retained:
        return ack(what, False, "retained commands are ignored; publish without retain"), False
    if not ctx.cfg["mqtt"]["commands"]:
        return ack(what, False, "commands are off (mqtt.commands)"), False
    try:
        what, value = parse(what, payload)
    except CommandError as exc:
        return ack(what, False, str(exc)), False
    return execute(ctx, what, value), what == "restart"


def execute(ctx, what, value):
    """Carry out a valid command; the ack payload. For restart only the answer:
    the caller restarts once the ack is on its way."""
    if what == "ssr":
        ssr = ctx.services.get("ssr")
        if ssr is None:
            return ack(what, False, "no SSR output (ssr.enabled is off)")
        ssr.command(value, "mqtt")
        return ack(what, True, value="on" if value else "off")
    if what == "interval":
        ctx.cfg["interval_s"] = value
        from firmware import config
        errors = config.save(ctx.cfg)
        return ack(what, True, "not saved: " + "; ".join(errors) if errors else None, value)
    if what == "dhw":
        ctx.dhw = value
        ctx.store.update("heatpump_dhw", 1 if value else 0, "", "ok", ctx.clock.ticks(), ctx.clock.wall())
        return ack(what, True, value="on" if value else "off")
    if what == "read":
        done = []
        for name, svc in ctx.services.items():
            if hasattr(svc, "request_read") and (not value or value == name):
                svc.request_read()
                done.append(name)
        if not done:
            named = "named %s " % value if value else ""
            return ack(what, False, "no meter service %ssupports on-demand reads" % named)
        return ack(what, True, value=done)
    return ack(what, True, "restarting")
