"""MQTT publisher over the frozen umqtt.simple, kept from blocking sampling.

Each reporting interval every known channel goes to emon/<node>/<key> as a
plain number; unknown values are skipped, never sent as 0. The connection has
a retained birth/last-will on hpmon/<node>/status. A failed connect backs off
(5 s doubling to 5 min) so an absent broker costs nothing between attempts.
"""
import asyncio
import time

from firmware import topics


class MqttService:
    def __init__(self, cfg, store, log, client_id, wifi=None):
        self.cfg = cfg["mqtt"]
        self.node = cfg["node"]
        self.interval_ms = cfg["interval_s"] * 1000
        self.store = store
        self.log = log
        self.client_id = client_id
        self.wifi = wifi
        self.client = None
        self.connected = False
        self.published = 0
        self.failures = 0
        self.last_error = ""
        self.backoff_ms = 5000
        self.next_try = time.ticks_ms()

    def state(self):
        return {"connected": self.connected, "published": self.published,
                "failures": self.failures, "error": self.last_error}

    def _online(self):
        return self.wifi is None or self.wifi.online()

    def _connect(self):
        from umqtt.simple import MQTTClient
        cfg = self.cfg
        client = MQTTClient(self.client_id, cfg["host"], port=cfg["port"],
                            user=cfg["user"] or None, password=cfg["password"] or None,
                            keepalive=cfg["keepalive_s"])
        status = topics.status_topic(self.node)
        client.set_last_will(status, b"offline", retain=True)
        try:
            # umqtt.simple >= 1.6 (MicroPython v1.25+) takes a connect timeout;
            # older copies do not, and only then is the socket blocking.
            client.connect(timeout=cfg["connect_timeout_s"])
        except TypeError:
            client.connect()
        sock = getattr(client, "sock", None)
        if sock is not None:
            sock.settimeout(cfg["connect_timeout_s"])
        client.publish(status, b"online", retain=True)
        self.client = client
        self.connected = True
        self.backoff_ms = 5000
        self.log.info("mqtt: connected to %s:%d" % (cfg["host"], cfg["port"]))

    def _drop(self, exc):
        self.connected = False
        self.failures += 1
        self.last_error = repr(exc)
        if self.client is not None:
            try:
                self.client.sock.close()
            except Exception:
                pass
        self.client = None
        self.next_try = time.ticks_add(time.ticks_ms(), self.backoff_ms)
        self.log.warning("mqtt: %s; retry in %d s" % (self.last_error, self.backoff_ms // 1000))
        self.backoff_ms = min(self.backoff_ms * 2, 300000)

    def publish_all(self):
        """Publish every known channel once. Returns how many were sent."""
        client = self.client
        if client is None:
            return 0
        prefix = self.cfg["prefix"]
        sent = 0
        for ch in self.store.channels.values():
            payload = topics.format_value(ch.value)
            if payload is None:
                continue
            client.publish(topics.emon_topic(prefix, self.node, ch.name), payload.encode())
            sent += 1
        self.published += sent
        return sent

    async def run(self, supervisor=None):
        if not self.cfg["host"]:
            self.log.info("mqtt: no broker configured")
            return
        next_publish = time.ticks_ms()
        while True:
            if supervisor:
                supervisor.checkin("mqtt")
            now = time.ticks_ms()
            if not self.connected and self._online() and time.ticks_diff(now, self.next_try) >= 0:
                try:
                    self._connect()
                except Exception as exc:  # OSError, MQTTException, a bad CONNACK
                    self._drop(exc)
            if self.connected and time.ticks_diff(now, next_publish) >= 0:
                next_publish = time.ticks_add(next_publish, self.interval_ms)
                if time.ticks_diff(now, next_publish) >= 0:  # fell behind: no burst
                    next_publish = time.ticks_add(now, self.interval_ms)
                try:
                    self.publish_all()
                except Exception as exc:
                    self._drop(exc)
            await asyncio.sleep_ms(500)
