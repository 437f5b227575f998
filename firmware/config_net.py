"""Validation of the connectivity settings: "wifi", "mqtt", "ha", "emoncms",
"forward", "ssr" (issue 6).

Imported by config.validate() only while it runs, then dropped (see
config_check._validate_connectivity); defaults and ranges stay in firmware/config.py.
"""
from firmware.config_check import _is_name


def _validate_ca(text, path, errors):
    from firmware import tls
    why = tls.check_pem(text) if text else "a CA certificate (PEM) is needed for TLS"
    if why:
        errors.append("%s: %s" % (path, why))


def _is_id(text, lo, hi):
    return isinstance(text, str) and lo <= len(text) <= hi and _is_name(text.lower())


def validate(cfg, errors):
    wifi = cfg.get("wifi", {})
    if len(wifi.get("ssid", "")) > 32:
        errors.append("wifi.ssid: at most 32 characters")
    key = wifi.get("key", "")
    if key and not 8 <= len(key) <= 63:
        errors.append("wifi.key: 8-63 characters (WPA2), or empty for an open network")
    mqtt = cfg.get("mqtt", {})
    prefix = mqtt.get("prefix", "")
    if not isinstance(prefix, str) or any(c in prefix for c in "+# ") or prefix.startswith("/"):
        errors.append("mqtt.prefix: no spaces, + or #, and no leading /")
    host = mqtt.get("host", "")
    if not isinstance(host, str) or len(host) > 64 or any(c in host for c in " /:@"):
        errors.append("mqtt.host: a host name or IP address (no scheme, port or path)")
    if not mqtt.get("user") and mqtt.get("password"):
        errors.append("mqtt.password: set mqtt.user too (MQTT 3.1.1 §3.1.2.9)")
    if mqtt.get("tls"):
        _validate_ca(mqtt.get("ca_cert", ""), "mqtt.ca_cert", errors)
    if not _is_id(cfg.get("ha", {}).get("prefix"), 1, 32):
        errors.append("ha.prefix: 1-32 characters a-z, 0-9, _ or -")
    ems = cfg.get("emoncms", {})
    node = ems.get("node", "")
    if node and not _is_id(node, 1, 32):
        errors.append("emoncms.node: empty (the node name) or 1-32 characters a-z, 0-9, _ or -")
    if ems.get("enabled"):
        from firmware import http_client
        try:
            http_client.parse_url(ems.get("url"))
        except ValueError as exc:
            errors.append("emoncms.url: %s" % exc)
        apikey = ems.get("apikey", "")
        if not _is_id(apikey, 16, 64) or "-" in apikey:
            errors.append("emoncms.apikey: the 32-character read & write API key")
        if ems.get("ca_cert"):
            _validate_ca(ems.get("ca_cert"), "emoncms.ca_cert", errors)
    ssr = cfg.get("ssr", {})
    if ssr.get("safe_state") not in ("off", "on"):
        errors.append("ssr.safe_state: off or on")
    if ssr.get("enabled") and cfg.get("pins", {}).get("ssr", -1) < 0:
        errors.append("ssr.enabled: pins.ssr is not fitted")
    if ssr.get("schedule"):
        from firmware import ssr_logic
        try:
            ssr_logic.parse_schedule(ssr.get("schedule"))
        except ValueError as exc:
            errors.append("ssr.schedule: %s" % exc)
