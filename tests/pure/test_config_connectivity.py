import json

from firmware import config

PEM = ("-----BEGIN CERTIFICATE-----\n"
       "MIIBizCCATGgAwIBAgIUAMNZYlUUUh9JbFVc2uZyVyp7uY0wCgYIKoZIzj0EAwIw\n"
       "GjEYMBYGA1UEAwwPaHBtb24gdW5pdCB0ZXN0MCAXDTI2MTEyNjA0MDUwNFoYDzIx\n"
       "MjYxMTAyMDQwNTA0WjAaMRgwFgYDVQQDDA9ocG1vbiB1bml0IHRlc3QwWTATBgcq\n"
       "hkjOPQIBBggqhkjOPQMBBwNCAAQkHDzcPA3Iv6mzXu0AWYkmag7XxEkI8N/GOdno\n"
       "i8RZzXm/p360sN37ee8PrLEEcB7fvcsNgWln/L7t8ISaNWPyo1MwUTAdBgNVHQ4E\n"
       "FgQUSBcvUFIxQaO0/unQLuPyoVJECHQwHwYDVR0jBBgwFoAUSBcvUFIxQaO0/unQ\n"
       "LuPyoVJECHQwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA32fA\n"
       "RSKQU3ozz2poZTPsyGupba7CAQjJosoTWpH5EkwCIFr0yy4AiiLnfuCmzKSzem8y\n"
       "pbXeE67SAV7U5LIAx4TK\n"
       "-----END CERTIFICATE-----\n")
KEY = "0123456789abcdef0123456789abcdef"


def _errors(**overlay):
    return config.parse(json.dumps(overlay))[1]


def _text(**overlay):
    return " | ".join(_errors(**overlay))


def test_connectivity_defaults_are_valid_and_off_where_they_need_setup():
    cfg = config.defaults()
    assert config.validate(cfg) == []
    assert cfg["emoncms"]["enabled"] is False and cfg["ssr"]["enabled"] is False
    assert cfg["mqtt"]["tls"] is False and cfg["ha"]["prefix"] == "homeassistant"


def test_mqtt_settings():
    assert _errors(mqtt={"host": "10.0.0.2", "user": "u", "password": "p", "port": 8883, "tls": True,
                         "ca_cert": PEM}) == []
    assert "mqtt.ca_cert: a CA certificate" in _text(mqtt={"tls": True})
    assert "mqtt.ca_cert: no BEGIN" in _text(mqtt={"tls": True, "ca_cert": "hello"})
    assert "mqtt.password: set mqtt.user" in _text(mqtt={"password": "p"})
    assert "mqtt.host" in _text(mqtt={"host": "mqtt://broker:1883"})
    assert "mqtt.prefix" in _text(mqtt={"prefix": "emon/#"})
    assert "mqtt.retry_max_s" in _text(mqtt={"retry_max_s": 1})
    assert "mqtt.keepalive_s" in _text(mqtt={"keepalive_s": 5000})
    assert "ha.prefix" in _text(ha={"prefix": "home assistant"})


def test_emoncms_settings():
    ok = {"enabled": True, "url": "http://emonpi.local/emoncms", "apikey": KEY}
    assert _errors(emoncms=ok) == []
    assert "emoncms.url" in _text(emoncms=dict(ok, url="emoncms.org"))
    assert "emoncms.url" in _text(emoncms=dict(ok, url="https://emoncms.org/input/post?apikey=" + KEY))
    assert "emoncms.apikey" in _text(emoncms=dict(ok, apikey="short"))
    assert "emoncms.apikey" in _text(emoncms=dict(ok, apikey="0123456789abcdef-123456789abcdef"))
    assert "emoncms.ca_cert" in _text(emoncms=dict(ok, ca_cert="nope"))
    assert "emoncms.node" in _text(emoncms=dict(ok, node="Heat Pump"))
    assert "emoncms.bulk_max" in _text(emoncms=dict(ok, bulk_max=0))
    # an unconfigured, disabled section is fine
    assert _errors(emoncms={"apikey": ""}) == []


def test_ssr_and_forward_settings():
    assert _errors(ssr={"enabled": True, "schedule": ["06:00-08:00", "22:00-24:00"], "timeout_s": 600}) == []
    assert "ssr.schedule" in _text(ssr={"enabled": True, "schedule": ["6-8"]})
    assert "ssr.safe_state" in _text(ssr={"safe_state": "maybe"})
    assert "pins.ssr is not fitted" in _text(ssr={"enabled": True}, pins={"ssr": -1})
    assert "forward.ram_kb" in _text(forward={"ram_kb": 0})
    assert "forward.flash_kb" in _text(forward={"flash_kb": 100000})


def test_wifi_settings():
    assert "wifi.key: 8-63" in _text(wifi={"ssid": "home", "key": "short"})
    assert "wifi.button_hold_s" in _text(wifi={"button_hold_s": 0})
    assert _errors(wifi={"ssid": "home", "key": "", "ap_hold_s": 60}) == []


def test_secrets_are_write_only():
    cfg = config.defaults()
    cfg["mqtt"]["password"] = "p"
    cfg["emoncms"]["apikey"] = KEY
    pub = config.public(cfg)
    assert pub["mqtt"]["password"] is True and pub["emoncms"]["apikey"] is True
    assert KEY not in json.dumps(pub)
