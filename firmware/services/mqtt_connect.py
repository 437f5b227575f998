"""Connection set-up and graceful restart of the MQTT service (firmware/services/mqtt.py).

Imported only while a connect attempt or a restart runs, then dropped again: a
WROOM-32 does not keep this code in its heap between (rare) connects.

connect(): getaddrinfo (the only blocking call), a non-blocking TCP connect polled
every 20 ms, optional TLS (the handshake is driven by the non-blocking writes of
CONNECT), CONNECT with the retained last will, CONNACK, SUBSCRIBE, all within
mqtt.connect_timeout_s. Never calls umqtt.simple's blocking connect().
"""
import time

from firmware import mqtt_codec, mqtt_packets, topics


class MqttRefused(Exception):
    pass


async def _open(svc, host, port, deadline):
    import errno
    import select
    import socket
    svc._mark("dns")
    ai = socket.getaddrinfo(host, port)[0]  # blocking DNS: the one unavoidable wait
    svc._mark("tcp connect")
    sock = socket.socket()
    try:
        sock.setblocking(False)
        try:
            sock.connect(ai[-1])
        except OSError as exc:
            if exc.args[0] not in (errno.EINPROGRESS, errno.EAGAIN):
                raise
        poller = select.poll()
        poller.register(sock, select.POLLOUT)
        while True:
            events = poller.poll(0)
            if events:
                if events[0][1] & (select.POLLERR | select.POLLHUP):
                    raise OSError(errno.ECONNREFUSED)
                break
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise OSError(errno.ETIMEDOUT)
            await svc._sleep(20)
        poller.unregister(sock)
        if svc.cfg["tls"]:
            svc._mark("tls")
            if svc.ssl_ctx is None:
                from firmware import tls
                svc.ssl_ctx = tls.context(svc.cfg["ca_cert"])
            # the handshake runs inside the non-blocking writes of CONNECT
            sock = svc.ssl_ctx.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    except BaseException:
        sock.close()
        raise
    return sock


def _read_connack(svc):
    open_ = svc._read_in(framing=False)
    total, _ = mqtt_codec.frame(svc.rx) if svc.rx else (0, 0)
    if total and total != 4:  # a CONNACK is 4 bytes (§3.2): never buffer what is not one
        raise mqtt_codec.MqttError("not a CONNACK")
    if not total or len(svc.rx) < total:
        if not open_:
            raise OSError("connection closed by the broker before CONNACK")
        return None
    pkt = bytes(svc.rx[:total])
    svc.rx = svc.rx[total:]
    return pkt


async def connect(svc):
    """Connect svc (an MqttService) to its broker; raises OSError / MqttRefused."""
    cfg = svc.cfg
    deadline = time.ticks_add(time.ticks_ms(), cfg["connect_timeout_s"] * 1000)
    svc.sock = await _open(svc, cfg["host"], cfg["port"], deadline)
    svc._mark("connack")
    svc.rx = bytearray()
    svc.skip = 0
    svc.pipe.reset()
    svc.client.sock = svc.pipe
    status = topics.status_topic(svc.node)
    svc.pipe.write(mqtt_packets.connect_packet(
        svc.client_id, cfg["keepalive_s"], cfg["user"] or None, cfg["password"] or None,
        status, topics.OFFLINE, will_retain=True))
    connack = None
    while connack is None:
        svc._write_out()
        connack = _read_connack(svc)
        if connack is None:
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise OSError(116, "no CONNACK within %d s" % cfg["connect_timeout_s"])
            await svc._sleep(20)
    rc = mqtt_packets.parse_connack(connack)[1]
    if rc:
        raise MqttRefused("broker refused the connection: " + mqtt_packets.connack_reason(rc))
    svc._publish(status, topics.ONLINE, True)
    subs = []
    if cfg["commands"]:
        subs.append((topics.command_filter(svc.node), 0))
    if svc.ha_prefix:
        subs.append((svc.ha_prefix + "/status", 0))
    if subs:
        svc.pipe.write(mqtt_packets.subscribe_packet(1, subs))
    now = time.ticks_ms()
    svc.connected = True
    svc.connects += 1
    svc.backoff_ms = 2000
    svc.ping_sent = None
    svc.last_ping = now
    svc.tx_since = now
    svc.live = None
    svc.state_due = False
    svc.live_sent = []
    svc.live_wait = []
    svc.backfill_inflight = 0
    svc.last_error = ""
    svc._queue_discovery()
    svc.log.info("mqtt: connected to %s:%d%s" % (cfg["host"], cfg["port"], " (TLS)" if cfg["tls"] else ""))


def restart(svc):
    """Graceful restart: offline status and DISCONNECT, every buffer to flash, reset."""
    svc.log.warning("mqtt: restart requested over MQTT")
    try:
        svc._publish(topics.status_topic(svc.node), topics.OFFLINE, True)
        svc.pipe.write(mqtt_codec.DISCONNECT)
        svc._write_out()
    except Exception:
        pass
    if svc.live is not None:
        svc.live_sent.append((svc.live[0], svc.live[1]))
        svc.live = None
    if svc.buffer is not None:
        for t, pairs in svc.live_wait + svc.live_sent:
            svc.buffer.push(t, pairs)
        svc.live_wait = []
        svc.live_sent = []
    from firmware import app  # already loaded: it started this service
    app.flush_all(svc.ctx)  # every service's prepare_restart()/flush(), this one's included
    from firmware import board
    board.reset()
