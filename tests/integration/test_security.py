"""Secrets stay secret on the emulated board: the Wi-Fi key, the MQTT password, the emoncms API
key and the access point's password never appear on the console log ring, in any answer the
network can read, in the admin's own view of the settings or in the configuration download;
the board still uses them (it joins Wi-Fi, logs in to the broker). docs/security.md has the
threat model this checks a part of."""
import json
import os
import tempfile

import pytest

from tests.helpers import Broker, ap_password, console, get_json, start_board, wait_state, write_scenario
from tests.integration.test_web_api import Session, request
from tools import paths

DEFAULT = os.path.join(paths.ROOT, "scenarios", "default.json")
SECRETS = {"wifi.key": "heatpump123", "mqtt.password": "mq-Secret-4711",
           "emoncms.apikey": "0123456789abcdef0123456789abcdef"}
ADMIN = "admin password 1"


@pytest.fixture(scope="module")
def board():
    with open(DEFAULT) as f:
        config = json.load(f)["config"]
    config.update(wifi={"ssid": "home", "key": SECRETS["wifi.key"]},
                  mqtt={"enabled": True, "user": "hpmon", "password": SECRETS["mqtt.password"]},
                  emoncms={"enabled": True, "url": "http://127.0.0.1:9", "apikey": SECRETS["emoncms.apikey"]})
    scenario = write_scenario(os.path.join(tempfile.mkdtemp(), "secrets.json"), DEFAULT, config=config)
    broker = Broker()
    b = start_board(scenario, broker_port=broker.port)
    try:
        wait_state(b.http_port, lambda s: s.get("mqtt", {}).get("connected") and s["uptime_s"] >= 12, timeout=60)
        yield b
    finally:
        b.stop()
        broker.stop()


def _admin(board):
    status, headers, doc = request(board, "POST", "/api/auth/setup",
                                   {"password": ADMIN, "ap_password": ap_password(board)})
    assert status == 200, doc
    return Session(board, headers["set-cookie"], doc["csrf"])


def test_secrets_are_used_but_never_shown(board):
    secrets = dict(SECRETS, ap=ap_password(board))
    state = get_json(board.http_port)
    assert state["wifi"]["sta_connected"] and state["mqtt"]["connected"]  # the secrets work
    admin = _admin(board)
    readable = {path: json.dumps(get_json(board.http_port, path))
                for path in ("/api/state", "/api/state?full=1", "/api/system", "/api/meters", "/api/sensors",
                             "/api/history", "/api/update", "/api/auth")}
    for path in ("/api/config", "/api/config/download"):
        status, _h, doc = admin.call("GET", path, csrf=False)
        assert status == 200, (path, doc)
        readable[path] = json.dumps(doc)
    cfg = json.loads(readable["/api/config"])
    cfg = cfg.get("config", cfg)
    assert cfg["mqtt"]["password"] is True and cfg["emoncms"]["apikey"] is True  # only "is set"
    log_ring = readable["/api/system"]
    for name, secret in secrets.items():
        for path, text in readable.items():
            assert secret not in text, (name, path)
    # the console (serial, physical access) shows the AP password, and nothing else secret
    text = console(board)
    assert secrets["ap"] in text
    for name in SECRETS:
        assert SECRETS[name] not in text, name
    assert "emoncms" in log_ring  # the emoncms errors are logged, without the key
