import json

from firmware import config as configmod
from firmware.store import Store
from firmware.web_admin import _drop_kept_secrets, dtcheck_apply, field_errors


def test_field_errors_map_messages_to_their_settings():
    errors = field_errors(["mqtt.port: must be between 1 and 65535", "node: 1-32 characters a-z, 0-9, _ or -",
                           "could not save config.json: [Errno 28] ENOSPC",
                           "mqtt.port: must be a whole number"])
    assert errors == {"mqtt.port": "must be between 1 and 65535; must be a whole number",
                      "node": "1-32 characters a-z, 0-9, _ or -",
                      "_": "could not save config.json: [Errno 28] ENOSPC"}


def test_secrets_sent_back_as_booleans_are_kept():
    overlay = {"wifi": {"ssid": "home", "key": True}, "mqtt": {"password": "new secret"},
               "emoncms": {"apikey": None}}
    _drop_kept_secrets(overlay)
    assert overlay == {"wifi": {"ssid": "home"}, "mqtt": {"password": "new secret"}, "emoncms": {}}


RETURN_ROM = "28ff1c5a92160496"


class _Log:
    def __init__(self):
        self.lines = []

    def info(self, text):
        self.lines.append(text)


class _Ctx:
    """What dtcheck_apply uses of the board's context: a learned offset of +0.25 K in the store,
    a DS18B20 with the heatpump_returnT role, heat.temperatures as given."""

    def __init__(self, temperatures):
        self.cfg = configmod.defaults()  # an M-Bus heat meter (address 1) is the heat source
        self.cfg["onewire"]["roles"] = {RETURN_ROM: "heatpump_returnT"}
        self.cfg["heat"]["temperatures"] = temperatures
        self.pending_cfg = None
        self.store = Store()
        self.store.update("heatpump_dt_offset", 0.25, "K")
        self.log = _Log()


def _keeping_config_json(func):
    """(func(), config.json's text after it), then config.json as it was: config.save writes
    it in the current folder, which is the repository here (no scratch folder: MicroPython
    imports firmware's submodules relative to it, and config.validate imports them anew)."""
    import os
    try:
        with open("config.json") as f:
            before = f.read()
    except OSError:
        before = None
    try:
        result = func()
        try:
            with open("config.json") as f:
                after = f.read()
        except OSError:
            after = None
        return result, after
    finally:
        if before is None:
            try:
                os.remove("config.json")
            except OSError:
                pass
        else:
            with open("config.json", "w") as f:
                f.write(before)


def test_dtcheck_apply_refuses_when_the_heat_meter_gives_flow_and_return():
    ctx = _Ctx("meter")  # the role is assigned, but the meter's temperatures are the ones used
    result, saved = _keeping_config_json(lambda: dtcheck_apply(ctx))
    assert isinstance(result, tuple) and result[1] == 409, result
    assert "heat meter" in result[0]["error"], result
    assert ctx.pending_cfg is None and ctx.log.lines == [], (ctx.pending_cfg, ctx.log.lines)
    assert saved is None or RETURN_ROM not in saved, saved
    # the same board with the DS18B20 pair as flow/return: the offset goes to the return sensor
    ctx = _Ctx("ds18b20")
    result, saved = _keeping_config_json(lambda: dtcheck_apply(ctx))
    assert result == {"saved": True, "restart_needed": True, "rom": RETURN_ROM, "offset": 0.25}, result
    assert json.loads(saved)["onewire"]["offsets"] == {RETURN_ROM: 0.25}, saved
    assert ctx.pending_cfg["onewire"]["offsets"] == {RETURN_ROM: 0.25}, ctx.pending_cfg["onewire"]
