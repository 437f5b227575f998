from firmware.web_admin import _drop_kept_secrets, field_errors


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
