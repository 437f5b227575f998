"""emoncms HTTP(S) input API publisher with store-and-forward.

Every interval one record (all known channels, with its wall time) joins the
buffer; the sender posts the oldest first:
- one record: POST <url>/input/post with node, time and fulljson={...};
- a backlog (after an outage): POST <url>/input/bulk with
  data=[[time, node, {...}], ...] and time=0 (absolute timestamps), up to
  emoncms.bulk_max records per request, so the feeds have no gaps.
The API key goes in the "Authorization: Bearer <apikey>" header, never in the
URL (EmonESP put it in the query string, which ends up in server logs).
A failure keeps the records and backs off (5 s doubling to retry_max_s); a
request emoncms rejects as malformed is dropped (and counted) so that one bad
record cannot block the queue. There is no reboot after N failures.
"""
import asyncio
import time

from firmware import http_client, topics

# encoded readings per request: ~1.5 KB of form data each with 50 channels, so a
# request stays a few KB however large emoncms.bulk_max is
BATCH_BYTES = 1200


class EmoncmsService:
    def __init__(self, ctx):
        self.ctx = ctx
        self.cfg = ctx.cfg["emoncms"]
        self.node = self.cfg["node"] or ctx.cfg["node"]
        self.store = ctx.store
        self.log = ctx.log
        self.clock = ctx.clock
        self.wifi = ctx.wifi
        self.scheme, self.host, self.port, self.path = http_client.parse_url(self.cfg["url"])
        self.max_silence_ms = (self.cfg["timeout_s"] + 30) * 1000
        from firmware import forward_buffer
        fwd = ctx.cfg["forward"]
        if fwd["enabled"]:
            self.buffer = forward_buffer.make(fwd, "emoncms", ctx.log)
        else:  # no store-and-forward: still a small RAM queue for the next post
            self.buffer = forward_buffer.ForwardBuffer(2048)
        self.ssl_ctx = None
        self.backoff_ms = 5000
        self.next_try = time.ticks_ms()
        self.next_report = time.ticks_add(time.ticks_ms(), ctx.cfg["interval_s"] * 1000)
        self.untimed = False
        self.posts = 0
        self.bulk_posts = 0
        self.sent = 0
        self.failures = 0
        self.rejected = 0
        self.last_error = ""
        self.last_ok = None
        self.ok = False

    def state(self):
        return {"ok": self.ok, "posts": self.posts, "bulk_posts": self.bulk_posts, "sent": self.sent,
                "failures": self.failures, "rejected": self.rejected, "error": self.last_error,
                "last_ok": self.last_ok}

    def _online(self):
        return self.wifi is None or self.wifi.online()

    def _retime(self):
        """Records made before NTP get their wall time as soon as it is known."""
        t = self.clock.wall()
        if self.untimed and t is not None:
            self.buffer.retime(t - self.clock.uptime_s())
            self.untimed = False
        return t

    def _record(self):
        t = self._retime()
        pairs = topics.snapshot(self.store.channels.values())
        if t is None:
            self.untimed = True
            t = -1 - self.clock.uptime_s()
        if pairs:
            self.buffer.push(t, pairs)

    def _body(self, recs):
        """(path, form body as a list of pieces) for one record (input/post) or several
        (input/bulk). Built form-encoded piece by piece (topics.form_json): a backlog
        is never one big string in the heap. Node names need no escaping (config)."""
        node = self.node
        if len(recs) == 1:
            t, obj = recs[0]
            head = "node=%s&" % node + ("time=%d&" % t if t >= 0 else "") + "fulljson="
            return self.path + "/input/post", [head, obj]
        now = self.clock.wall()
        pieces = ["time=0&data=%5B"]  # time=0: the first item of each reading is its unix time
        for i, (t, obj) in enumerate(recs):
            if t < 0:  # still untimed: as emoncms would have stamped it on arrival
                t = now if now is not None else 0
            pieces.append("%s%%5B%d%%2C%%22%s%%22%%2C" % ("%2C" if i else "", t, node))
            pieces.append(obj)
            pieces.append("%5D")
        pieces.append("%5D")
        return self.path + "/input/bulk", pieces

    async def _send(self):
        lines = self.buffer.peek_lines(self.cfg["bulk_max"], BATCH_BYTES)
        bad = 0
        good = []
        for line in lines:
            rec = self.buffer.decode_line(line)  # one at a time: decoded records are big
            if rec is None:
                bad += 1
            else:
                good.append((rec[0], topics.form_json(rec[1])))
        recs = lines
        if not good:
            self.buffer.pop(len(recs), bad)
            return True
        path, body = self._body(good)
        if self.scheme == "https" and self.ssl_ctx is None:
            from firmware import tls
            self.ssl_ctx = tls.context(self.cfg["ca_cert"])
            if not self.cfg["ca_cert"]:
                self.log.warning("emoncms: HTTPS without emoncms.ca_cert: the server is not verified")
        headers = (("Authorization", "Bearer " + self.cfg["apikey"]),
                   ("Content-Type", "application/x-www-form-urlencoded"))
        status, reply = await http_client.request("POST", self.scheme, self.host, self.port, path, headers,
                                                  body, self.cfg["timeout_s"] * 1000, self.ssl_ctx)
        verdict = _verdict(status, reply)
        if verdict == "ok":
            self.buffer.pop(len(recs), bad)
            self.sent += len(good)
            if len(good) > 1:
                self.bulk_posts += 1
            else:
                self.posts += 1
            return True
        if verdict == "rejected":
            # emoncms will never take these: drop them (counted) rather than block the queue
            self.buffer.pop(len(recs), len(recs))
            self.rejected += len(good)
            self.log.error("emoncms: rejected %d reading(s): %s" % (len(good), _short(reply)))
            return True
        raise OSError("emoncms: %s (HTTP %d: %s)" % (verdict, status, _short(reply)))

    async def run(self, supervisor=None):
        while True:
            if supervisor:
                supervisor.checkin("emoncms")
            now = time.ticks_ms()
            if time.ticks_diff(now, self.next_report) >= 0:
                interval = self.ctx.cfg["interval_s"] * 1000
                self.next_report = time.ticks_add(self.next_report, interval)
                if time.ticks_diff(now, self.next_report) >= 0:
                    self.next_report = time.ticks_add(now, interval)
                self._record()
            if len(self.buffer) and self._online() and time.ticks_diff(now, self.next_try) >= 0:
                self._retime()
                try:
                    await self._send()
                    if not self.ok:
                        self.log.info("emoncms: posting to %s://%s%s as node %s"
                                      % (self.scheme, self.host, self.path, self.node))
                    self.ok = True
                    self.last_ok = self.clock.wall()
                    self.backoff_ms = 5000
                    self.last_error = ""
                    continue  # more backlog: next batch straight away
                except Exception as exc:  # OSError, HttpError, a timeout
                    self.ok = False
                    self.failures += 1
                    from firmware.errtext import describe  # on a failure only
                    self.last_error = describe(exc)
                    self.next_try = time.ticks_add(time.ticks_ms(), self.backoff_ms)
                    self.log.warning("emoncms: %s; %d reading(s) kept, retry in %d s"
                                     % (self.last_error, len(self.buffer), self.backoff_ms // 1000))
                    self.backoff_ms = min(self.backoff_ms * 2, self.cfg["retry_max_s"] * 1000)
            await asyncio.sleep_ms(250)

    def prepare_restart(self):
        self.buffer.flush()


def _verdict(status, reply):
    """'ok', 'rejected' (malformed: never retry) or why it failed (retry later)."""
    text = bytes(reply).decode("utf-8", "ignore").strip() if reply else ""
    low = text.lower()
    if status in (401, 403) or "apikey" in low or "api key" in low or "username" in low:
        return "API key rejected"
    if status != 200:
        return "server error"
    if text == "ok" or '"success":true' in low.replace(" ", ""):
        return "ok"
    if '"success":false' in low.replace(" ", "") or low.startswith("error"):
        return "rejected"
    return "unexpected reply"


def _short(reply):
    text = bytes(reply or b"").decode("utf-8", "ignore").strip()
    return text[:80] or "(empty)"
