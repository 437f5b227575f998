"""MQTT over the frozen umqtt.simple, made non-blocking.

umqtt.simple blocks: connect() (DNS, TCP, CONNACK), publish() on a full send
buffer, subscribe() until SUBACK, and wait_msg() puts the socket back into
blocking mode. Here umqtt.simple only encodes PUBLISH/PINGREQ and decodes
incoming PUBLISH: its `sock` is a _Pipe (writes collect in a buffer, reads come
from one complete packet this service has framed). The real socket is
non-blocking and owned by this service:
- connect (firmware/services/mqtt_connect.py, loaded only while it runs):
  getaddrinfo (the only blocking call), non-blocking TCP connect polled every
  20 ms, optional TLS (handshake driven by the non-blocking writes),
  CONNECT/CONNACK (mqtt_codec), everything under connect_timeout_s;
- every 100 ms: read what has arrived, frame it (commands, PINGRESP, SUBACK),
  write out what fits in the socket (partial writes are kept);
- keepalive: PINGREQ every keepalive/2 (and after each batch); no PINGRESP
  within that time, or a send buffer that does not drain, means a dead link;
- a PINGRESP also confirms that the broker has received everything sent before
  the PINGREQ: readings are only counted as delivered then. Unconfirmed ones go
  back to the store-and-forward buffer when the link dies.
Failed connects back off (2 s doubling to mqtt.retry_max_s, with jitter).

Topics: see firmware/topics.py. Readings not delivered live are backfilled,
oldest first, as JSON with their time on emon/<node> (emoncms stores them at
that time) while the live per-key topics pause, so emoncms sees time order.
"""
import asyncio
import gc
import random
import time

from firmware import mqtt_codec, topics

LOOP_MS = 100
TX_SIZE = 3072  # the send buffer (allocated once); what does not fit waits
TX_BATCH = 1536  # backfill/discovery add to the send buffer only below this
RX_MAX = 1024  # larger incoming packets are skipped, not buffered
READ_CHUNK = 256
LIVE_PER_STEP = 12
# step_hist bins (how long each step held the scheduler): <0.5, <1, <2, <5, <10, <20, >=20 ms
_HIST_US = (500, 1000, 2000, 5000, 10000, 20000)


class _Pipe:
    """The socket umqtt.simple sees. Writes go into one send buffer allocated once (no
    growing bytearray to fragment a small heap); reads come from one framed packet."""

    def __init__(self, size=TX_SIZE):
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.reset()

    def reset(self):
        """Empty, for a new connection: the same buffer (a fresh 3 KB block per reconnect can
        fail on a fragmented WROOM-32 heap that has far more than 3 KB free)."""
        self.start = 0  # first byte not sent yet
        self.end = 0  # end of what is queued
        self.rx = b""
        self.pos = 0

    def pending(self):
        return self.end - self.start

    def room(self):
        return len(self.buf) - self.end

    def write(self, data, n=None):
        if n is None:
            n = len(data)
        end = self.end + n
        if end > len(self.buf):
            raise OSError(105)  # ENOBUFS: callers check room() first, so never half a packet
        self.mv[self.end:end] = data if n == len(data) else memoryview(data)[:n]
        self.end = end
        return n

    def queued(self):
        return self.mv[self.start:self.end]

    def sent(self, n):
        self.start += n
        if self.start >= self.end:
            self.start = self.end = 0

    def read(self, n):
        if n and self.pos >= len(self.rx):
            return None  # "nothing there", as a non-blocking socket says it
        out = self.rx[self.pos:self.pos + n]
        self.pos += n
        return out

    def setblocking(self, flag):
        pass  # umqtt's wait_msg() calls setblocking(True): nothing here can block

    def settimeout(self, t):
        pass

    def close(self):
        pass


def _unload(name):
    """Forget a module imported only for a moment (heap on a WROOM-32)."""
    from firmware.transient import forget
    forget(name)


class MqttService:
    def __init__(self, ctx):
        self.ctx = ctx
        self.cfg = ctx.cfg["mqtt"]
        self.node = ctx.cfg["node"]
        self.store = ctx.store
        self.log = ctx.log
        self.clock = ctx.clock
        self.wifi = ctx.wifi
        self.client_id = ctx.client_id if hasattr(ctx, "client_id") else self.node
        self.max_silence_ms = (self.cfg["connect_timeout_s"] + 30) * 1000
        self.buffer = None
        if ctx.cfg["forward"]["enabled"]:
            from firmware import forward_buffer
            self.buffer = forward_buffer.make(ctx.cfg["forward"], "mqtt", ctx.log)
        self.ha_prefix = ctx.cfg["ha"]["prefix"] if ctx.cfg["ha"]["enabled"] else None
        from umqtt.simple import MQTTClient
        self.sock = None
        self.pipe = _Pipe()
        # umqtt.simple only encodes and decodes: its socket is always a _Pipe
        self.client = MQTTClient(self.client_id, self.cfg["host"], port=self.cfg["port"],
                                 keepalive=self.cfg["keepalive_s"])
        self.client.sock = self.pipe
        self.client.set_callback(self._on_message)
        self.rx = bytearray()
        self.skip = 0
        self.connected = False
        self.ssl_ctx = None
        self.backoff_ms = 2000
        self.next_try = time.ticks_ms()
        self.ping_sent = None
        self.last_ping = time.ticks_ms()
        self.tx_since = time.ticks_ms()
        self.live = None  # [stamp, pairs, next index] of the record being published live
        self.state_due = False
        self.live_sent = []  # live records since the last PINGREQ
        self.live_wait = []  # live records the outstanding PINGREQ will confirm
        self.backfill_inflight = 0
        self.backfill_bad = 0
        self.backfill_sent = 0
        self._retained = 0
        self.disc_queue = []
        self.discovered = {}
        self.disc_at = None
        self.next_report = time.ticks_add(time.ticks_ms(), ctx.cfg["interval_s"] * 1000)
        self.restart_at = None
        self.untimed = False
        # statistics for /api/state
        self.published = 0
        self.failures = 0
        self.connects = 0
        self.last_error = ""
        self.commands = 0
        self.longest_step_us = 0
        self.longest_nogc_us = 0
        self.steps = 0
        self.gc_steps = 0
        self.hist = [0] * 7
        self._free0 = 0
        self.longest_step_at = ""
        self.where = "start"
        self._t0 = time.ticks_us()

    # ------------------------------------------------------------ status
    def state(self):
        out = {"connected": self.connected, "published": self.published, "failures": self.failures,
               "connects": self.connects, "error": self.last_error, "commands": self.commands,
               "backfilled": self.backfill_sent,
               "longest_step_ms": self.longest_step_us / 1000, "longest_step_at": self.longest_step_at,
               "longest_step_without_gc_ms": self.longest_nogc_us / 1000, "steps": self.steps,
               "step_hist": self.hist, "steps_with_gc": self.gc_steps}
        return out

    def _online(self):
        return self.wifi is None or self.wifi.online()

    def _resume(self):
        self._free0 = gc.mem_free()
        self._t0 = time.ticks_us()

    def _mark(self, phase):
        self.where = phase  # named in longest_step_at if this step turns out the longest

    def _pause(self):
        """Before every await: how long this task held the scheduler since it resumed."""
        dt = time.ticks_diff(time.ticks_us(), self._t0)
        self.steps += 1
        if gc.mem_free() > self._free0:  # the heap grew: a garbage collection ran in this step
            self.gc_steps += 1
        elif dt > self.longest_nogc_us:
            self.longest_nogc_us = dt
        if dt > self.longest_step_us:
            self.longest_step_us = dt
            self.longest_step_at = self.where
        i = 0
        while i < 6 and dt >= _HIST_US[i]:
            i += 1
        self.hist[i] += 1

    async def _sleep(self, ms):
        self._pause()
        await asyncio.sleep_ms(ms)
        self._resume()

    # ------------------------------------------------------------ connection
    async def _connect(self):
        # connection set-up lives in its own module, in memory only while it runs
        from firmware.services import mqtt_connect
        try:
            await mqtt_connect.connect(self)
        finally:
            _unload("firmware.services.mqtt_connect")
            _unload("firmware.mqtt_packets")

    def _drop(self, exc, quiet=False):
        was = self.connected
        self.connected = False
        if self.sock is not None:
            try:
                self.sock.close()
            except Exception:
                pass
        self.sock = None
        self.pipe.reset()  # whatever was not sent is gone with the connection
        self.client.sock = self.pipe
        self.ping_sent = None
        # live readings the broker never confirmed go back into the buffer
        if self.live is not None:
            self.live_sent.append((self.live[0], self.live[1]))
            self.live = None
        self.state_due = False
        if self.buffer is not None:
            for t, pairs in self.live_wait + self.live_sent:
                self.buffer.push(t, pairs)
        self.live_sent = []
        self.live_wait = []
        self.backfill_inflight = 0
        self.failures += 1
        if isinstance(exc, str):
            self.last_error = exc
        else:
            from firmware.errtext import describe  # on a failure only: no resident heap
            self.last_error = describe(exc)
        jitter = random.getrandbits(10)
        self.next_try = time.ticks_add(time.ticks_ms(), self.backoff_ms + jitter)
        if not quiet:
            self.log.warning("mqtt: %s%s; retry in %d s" % ("link lost: " if was else "", self.last_error,
                                                             (self.backoff_ms + jitter) // 1000))
        self.backoff_ms = min(self.backoff_ms * 2, self.cfg["retry_max_s"] * 1000)

    # ------------------------------------------------------------ socket I/O (never blocks)
    def _write_out(self):
        pipe = self.pipe
        sock = self.sock
        if not pipe.pending() or sock is None:
            self.tx_since = time.ticks_ms()
            return
        n = sock.write(pipe.queued())
        if n:
            self.tx_since = time.ticks_ms()
            pipe.sent(n)

    def _read_in(self, framing=True):
        """Read what has arrived; frame and handle it. Returns False at end of stream
        (after handling what came before it, e.g. a refusing CONNACK)."""
        sock = self.sock
        if sock is None:
            return False
        for _ in range(8):
            data = sock.read(READ_CHUNK)
            if data is None:
                break
            if not data:
                if framing:
                    self._frames()
                    raise OSError("connection closed by the broker")
                return False
            if self.skip:
                cut = min(self.skip, len(data))
                self.skip -= cut
                data = data[cut:]
            self.rx.extend(data)
            if framing:
                self._frames()
        if framing:
            self._frames()
        return True

    def _frames(self):
        while self.rx:
            total, _ = mqtt_codec.frame(self.rx)
            if not total:
                return
            if total > RX_MAX:
                self.log.warning("mqtt: skipping a %d-byte message" % total)
                self.skip = total - len(self.rx) if total > len(self.rx) else 0
                self.rx = self.rx[min(total, len(self.rx)):]
                continue
            if len(self.rx) < total:
                return
            pkt = bytes(self.rx[:total])
            self.rx = self.rx[total:]
            self._packet(pkt)

    def _packet(self, pkt):
        kind = pkt[0] & 0xF0
        if kind == 0xD0:  # PINGRESP: everything sent before the PINGREQ has arrived
            self.ping_sent = None
            n = len(self.live_wait)
            self.live_wait = []
            self.published += n
            if self.backfill_inflight and self.buffer is not None:
                self.buffer.pop(self.backfill_inflight, self.backfill_bad)
                self.backfill_sent += self.backfill_inflight - self.backfill_bad
                self.backfill_inflight = 0
        elif kind == 0x30:  # PUBLISH: umqtt.simple decodes it and calls _on_message
            # umqtt.simple trusts the packet: check what it will read (MQTT 3.1.1 §3.3.2)
            hdr = mqtt_codec.frame(pkt)[1]
            qos = (pkt[0] >> 1) & 3
            if qos > 1 or len(pkt) < hdr + 2 or hdr + 2 + ((pkt[hdr] << 8) | pkt[hdr + 1]) + 2 * qos > len(pkt):
                raise mqtt_codec.MqttError("malformed PUBLISH")
            self._retained = pkt[0] & 1
            self.pipe.rx = pkt
            self.pipe.pos = 0
            self.client.check_msg()
        elif kind == 0x90:
            codes = mqtt_codec.parse_suback(pkt)[1]
            if 0x80 in codes:
                self.log.warning("mqtt: the broker refused a subscription (commands or HA status)")

    def _ping(self, now):
        if self.ping_sent is None and self.pipe.room() >= 2:
            self.client.ping()
            self.ping_sent = now
            self.last_ping = now
            self.live_wait.extend(self.live_sent)
            self.live_sent = []

    def _keepalive(self, now):
        k = self.cfg["keepalive_s"]
        every = k * 500 if k else 30000
        limit = max(every, 2000)
        if self.ping_sent is not None and time.ticks_diff(now, self.ping_sent) > limit:
            raise OSError("no answer to PINGREQ within %d s (dead link)" % (limit // 1000))
        if self.pipe.pending() and time.ticks_diff(now, self.tx_since) > limit:
            raise OSError("send buffer not draining for %d s (dead link)" % (limit // 1000))
        if time.ticks_diff(now, self.last_ping) >= every or self.live_sent or \
                (self.backfill_inflight and self.ping_sent is None):
            self._ping(now)

    # ------------------------------------------------------------ publishing
    def _publish(self, topic, payload, retain=False):
        """Queue one PUBLISH; False (nothing queued) if the send buffer has no room for it."""
        topic = topic.encode() if isinstance(topic, str) else topic
        payload = payload.encode() if isinstance(payload, str) else payload
        if len(topic) + len(payload) + 7 > self.pipe.room():  # 1 + up to 4 length + 2 topic length
            return False
        self.client.publish(topic, payload, retain)
        return True

    def _report(self, now):
        """Once per interval: one record of every known channel, live or into the buffer."""
        t = self._retime()
        pairs = topics.snapshot(self.store.channels.values())
        if t is None:
            stamp = -1 - self.clock.uptime_s()
            self.untimed = True
        else:
            stamp = t
        backlog = self.buffer is not None and (len(self.buffer) or self.backfill_inflight)
        if self.connected:
            self._check_new_channels()
            if self.live is None:
                self.state_due = True
                if not backlog and pairs:
                    # published a few keys per step (_live_step): on the board a whole
                    # record at once would hold the scheduler for tens of ms
                    self.live = [stamp, pairs, 0]
                    return
        if self.buffer is not None and pairs:
            self.buffer.push(stamp, pairs)

    def _live_step(self):
        """The state JSON, then up to LIVE_PER_STEP emon/<node>/<key> values."""
        if self.state_due:
            payload = topics.state_payload(self.store.channels.values(), self.clock.wall())
            if self._publish(topics.state_topic(self.node), payload) or not self.pipe.pending():
                self.state_due = False  # sent, or larger than the whole send buffer: skipped
            return
        live = self.live
        if live is None:
            return
        stamp, pairs, i = live
        prefix = self.cfg["prefix"]
        end = min(i + LIVE_PER_STEP, len(pairs))
        while i < end:
            key, text = pairs[i]
            if not self._publish(topics.emon_topic(prefix, self.node, key), text):
                break  # the rest in the next step, once the socket has taken some
            i += 1
        if i >= len(pairs):
            self.live = None
            self.live_sent.append((stamp, pairs))
        else:
            live[2] = i

    def _retime(self):
        """Records made before NTP get their wall time as soon as it is known."""
        t = self.clock.wall()
        if self.untimed and t is not None:
            if self.buffer is not None:
                self.buffer.retime(t - self.clock.uptime_s())
            self.untimed = False
        return t

    def _backfill(self):
        """Send the oldest buffered records (JSON with time on emon/<node>), then a PINGREQ."""
        if self.backfill_inflight or self.ping_sent is not None or self.buffer is None or not len(self.buffer):
            return
        self._retime()
        topic = topics.emon_node_topic(self.cfg["prefix"], self.node).encode()
        sent = 0
        self.backfill_bad = 0
        for line in self.buffer.peek_lines(4, 1024):
            if self.pipe.pending() > TX_BATCH:
                break
            rec = self.buffer.decode_line(line)  # one at a time: decoded records are big
            if rec is None:  # corrupt in flash: removed with the batch, counted as dropped
                sent += 1
                self.backfill_bad += 1
                continue
            t, pairs = rec
            if not self._publish(topic, topics.json_object(pairs, t, t >= 0)):
                break
            sent += 1
        if sent:
            self.backfill_inflight = sent

    # ------------------------------------------------------------ Home Assistant discovery
    def _queue_discovery(self):
        if not self.ha_prefix:
            return
        self.discovered = {}
        self.disc_queue = []
        self._check_new_channels()
        if "ssr" in self.ctx.services:
            self.disc_queue.append(("switch", "ssr", None))
        if self.cfg["commands"]:
            self.disc_queue.append(("button", "restart", None))

    def _check_new_channels(self):
        if not self.ha_prefix or len(self.discovered) >= len(self.store.channels):
            return
        for ch in self.store.channels.values():
            if ch.name not in self.discovered and topics.valid_key(ch.name) and ch.name != "ssr":
                self.discovered[ch.name] = True
                self.disc_queue.append(("sensor", ch.name, ch.unit))

    def _discovery_step(self, now):
        if self.disc_at is not None and time.ticks_diff(now, self.disc_at) >= 0:
            self.disc_at = None
            self._queue_discovery()
        if not self.disc_queue or self.pipe.pending() > TX_BATCH:
            return
        from firmware import ha_discovery  # only while configs are being sent
        ip = self.wifi.state().get("ip") if self.wifi is not None else None
        ha_discovery.publish_some(self, _uid(), "http://%s/" % (ip or "192.168.4.1"))
        if not self.disc_queue:
            _unload("firmware.ha_discovery")

    # ------------------------------------------------------------ commands
    def _on_message(self, topic, msg):
        if self.ha_prefix and topic == (self.ha_prefix + "/status").encode():
            if msg == topics.ONLINE:
                # HA restarted: send the configs again after a short random delay (HA docs)
                self.disc_at = time.ticks_add(time.ticks_ms(), 1000 + random.getrandbits(11))
            return
        what = topics.command_name(topic, self.node)
        if what is None:
            return
        self.commands += 1
        from firmware import mqtt_commands
        try:
            reply, restart = mqtt_commands.handle(self.ctx, what, msg or b"", self._retained)
        except Exception as exc:  # a command must never take the link down
            reply, restart = mqtt_commands.ack(what[:24], False, "failed: %r" % exc), False
        _unload("firmware.mqtt_commands")
        self._publish(topics.ack_topic(self.node), reply)
        self.log.info("mqtt: command %s -> %s" % (what[:24], reply))
        if restart:
            self.restart_at = time.ticks_add(time.ticks_ms(), 300)

    def _restart(self):
        from firmware.services import mqtt_connect
        mqtt_connect.restart(self)

    def prepare_restart(self):
        if self.buffer is not None:
            self.buffer.flush()

    # ------------------------------------------------------------ the task
    async def run(self, supervisor=None):
        if not self.cfg["host"]:
            self.log.info("mqtt: no broker configured")
            return
        self._resume()
        while True:
            if supervisor:
                supervisor.checkin("mqtt")
            self._mark("loop")
            now = time.ticks_ms()
            if self.connected and not self._online():
                self._drop("Wi-Fi down")
            if not self.connected and self._online() and time.ticks_diff(now, self.next_try) >= 0:
                try:
                    await self._connect()
                except Exception as exc:  # OSError, MqttRefused, a malformed CONNACK
                    self._drop(exc)
                now = time.ticks_ms()
            if time.ticks_diff(now, self.next_report) >= 0:
                interval = self.ctx.cfg["interval_s"] * 1000
                self.next_report = time.ticks_add(self.next_report, interval)
                if time.ticks_diff(now, self.next_report) >= 0:  # fell behind: no burst
                    self.next_report = time.ticks_add(now, interval)
                self._mark("report")
                self._report(now)
            if self.connected:
                try:
                    self._mark("read")
                    self._read_in()
                    if self.restart_at is not None and time.ticks_diff(now, self.restart_at) >= 0:
                        self._restart()
                    self._mark("live")
                    self._live_step()
                    self._mark("discovery")
                    self._discovery_step(now)
                    self._mark("backfill")
                    self._backfill()
                    self._mark("write")
                    self._keepalive(now)
                    self._write_out()
                except Exception as exc:
                    self._drop(exc)
            await self._sleep(LOOP_MS)


def _uid():
    from firmware import board
    uid = board.unique_id()
    return "hpmon_%02x%02x%02x" % (uid[-3], uid[-2], uid[-1])
