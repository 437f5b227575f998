"""HTTP server (Microdot): the dashboard, the JSON API of docs/http-api.md and its events.

Only what every visitor needs stays in the heap: the gzipped dashboard assets (files in
firmware/www/, built by tools/www.py), /api/state and the event stream. Every other /api/
route goes to firmware/web_routes.py, which is imported for the one request that needs it
(with the handler module behind it) and dropped again, so the admin pages, settings, login
and update code never occupy a WROOM-32's heap between requests.
"""
import asyncio
import gc
import json
import time

from microdot import Microdot, Request, Response

from firmware import version
from firmware.transient import forget

# Microdot's limits set deliberately for a board with ~100 KB of heap: bodies up to 8 KB are
# read into RAM; bigger ones (firmware files, up to 64 KB) only reach the update route, which
# streams them to flash. A request line or header over 1 KB is refused.
MAX_BODY = 8 * 1024
MAX_UPLOAD = 64 * 1024
MAX_LINE = 1024
# MicroPython's re recurses once per character, and Microdot matches every path against its
# route regex outside its error handling: a long path exhausts the C stack (~950 characters on
# the unix port, far fewer on the ESP32). Every route of this firmware is shorter than this.
MAX_PATH = 64
# The ESP32's lwIP has a handful of sockets (MicroPython: 10 in all) and each open request holds
# one plus its buffers: a client that connects and sends nothing, or headers without end, must
# not keep them. The request line and headers must arrive within HEAD_S and number at most
# MAX_HEADERS lines; after that, every read of the body must get data within IDLE_S.
HEAD_S = 10
IDLE_S = 10
MAX_HEADERS = 32


class ClientTimeout(ValueError):
    """The client stopped sending (or never finished the request head)."""


class _Guarded:
    """The client's stream as Microdot reads it, with the limits above."""

    def __init__(self, stream):
        self.stream = stream
        self.lines = 0  # of the head; -1 once it is complete
        self.t0 = time.ticks_ms()

    async def _wait(self, coro, seconds, what):
        try:
            return await asyncio.wait_for(coro, seconds)
        except asyncio.TimeoutError:
            raise ClientTimeout("%s: nothing for %d s" % (what, seconds)) from None

    async def readline(self):
        if self.lines < 0:
            return await self._wait(self.stream.readline(), IDLE_S, "body")
        left = HEAD_S * 1000 - time.ticks_diff(time.ticks_ms(), self.t0)
        line = await self._wait(self.stream.readline(), max(left, 1) / 1000, "request head")
        if self.lines and line in (b"\r\n", b"\n", b""):
            self.lines = -1  # the blank line that ends the head
        else:
            self.lines += 1  # the request line, then the headers
            if self.lines > MAX_HEADERS + 1:
                raise ValueError("more than %d header lines" % MAX_HEADERS)
        return line

    async def read(self, n=-1):
        return await self._wait(self.stream.read(n), IDLE_S, "body")

    async def readexactly(self, n):
        return await self._wait(self.stream.readexactly(n), IDLE_S, "body")


class _App(Microdot):
    def __init__(self, log):
        super().__init__()
        self.log = log

    def find_route(self, req):
        if len(req.path) > MAX_PATH:
            return 404, "", None
        return super().find_route(req)

    async def handle_request(self, reader, writer):
        try:
            await super().handle_request(_Guarded(reader), writer)  # type: ignore[arg-type]
        except MemoryError:
            # out of heap while writing an answer already begun (a streamed body): the client
            # sees it cut short; one log line, not a traceback from the task
            gc.collect()
            self.log.warning("http: out of memory while answering; connection closed")
            try:
                await writer.aclose()
            except Exception:
                pass


def forward_stats(ctx):
    """Store-and-forward buffer counts per publisher (mqtt, emoncms) that has one."""
    out = {}
    for name in ("mqtt", "emoncms", "ssr"):
        buf = getattr(ctx.services.get(name), "buffer", None)
        if buf is not None:
            out[name] = buf.stats()
    return out


def state_document(ctx):
    """/api/state?full=1, streamed a channel at a time: on a WROOM-32 the whole document
    (~6 KB) as one string fails to find a free block long before the heap is full."""
    sup = ctx.supervisor
    doc = {
        "node": ctx.cfg["node"],
        "version": version.VERSION,
        "uptime_s": ctx.clock.uptime_s(),
        "time": ctx.clock.wall(),
        "free_heap": sup.free_heap if sup else gc.mem_free(),
        "min_free_heap": sup.min_free_heap if sup else None,
        "longest_stall_ms": sup.longest_stall_ms if sup else None,
        "reset_cause": ctx.reset_cause,
        "safe_mode": ctx.safe_mode,
        "config_errors": ctx.config_errors,
        "failed_services": ctx.failed,
    }
    if ctx.wifi is not None:
        doc["wifi"] = ctx.wifi.state()
    if ctx.mqtt is not None:
        doc["mqtt"] = ctx.mqtt.state()
    # connectivity (issue 6): emoncms, SSR, store-and-forward buffers
    for name in ("emoncms", "ssr"):
        svc = ctx.services.get(name)
        if svc is not None:
            doc[name] = svc.state()
    forward = forward_stats(ctx)
    if forward:
        doc["forward"] = forward
    # A snapshot now (small tuples, one consistent moment), written out a channel at a time.
    snap = [(ch.name, ch.value, ch.unit, ch.wall, ch.status) for ch in ctx.store.channels.values()]
    # the head (~1 KB) is made here, in the handler: short of heap, the client gets a 503
    # rather than a 200 cut short
    head = json.dumps(doc)[:-1] + ', "channels": {'
    return Response(_stream_state(head, snap), headers={"Content-Type": "application/json"})


def _stream_state(head, snap):
    yield head
    head = None
    sep = ""
    for name, value, unit, wall, status in snap:
        yield sep + json.dumps(name) + ": " + json.dumps({"value": value, "unit": unit, "ts": wall, "status": status})
        sep = ", "
    yield "}}"


def _short(value):
    return round(value, 2) if isinstance(value, float) else value


def _values(channels, units=None, sent=None):
    """({name: value}, {name: status} where neither ok nor 'no data') of channels; with units,
    also the unit of each channel not yet in the set sent (which it joins)."""
    values, bad = {}, {}
    for ch in channels:
        values[ch.name] = _short(ch.value)
        if ch.status != "ok" and ch.status != "no data":
            bad[ch.name] = ch.status
        if units is not None and ch.name not in sent:
            sent.add(ch.name)
            units[ch.name] = ch.unit
    return values, bad


def compact_state(ctx):
    """/api/state: what the dashboard polls, under 2 KB for ~70 channels.

    Values only (floats to 2 decimals), with the status of every channel that is neither ok
    nor simply without data yet (null says that); units, timestamps and the connectivity
    detail are in /api/state?full=1. Sent without spaces.
    """
    values, bad = _values(ctx.store.channels.values())
    sup = ctx.supervisor
    doc = {"node": ctx.cfg["node"], "version": version.VERSION, "uptime_s": ctx.clock.uptime_s(),
           "time": ctx.clock.wall(), "free_heap": sup.free_heap if sup else gc.mem_free(),
           "safe_mode": ctx.safe_mode, "config_errors": len(ctx.config_errors), "channels": values,
           "status": bad}
    if ctx.wifi is not None:
        doc["rssi"] = ctx.wifi.state().get("rssi")
    if ctx.mqtt is not None:
        doc["mqtt"] = ctx.mqtt.connected
    return Response(json.dumps(doc, separators=(",", ":")), headers={"Content-Type": "application/json"})






def www_dir():
    """The gzipped dashboard assets: <firmware package>/www (built by tools/www.py)."""
    import firmware
    path = getattr(firmware, "__file__", "firmware/__init__.py")
    return path[:path.rfind("/") + 1] + "www/" if "/" in path else "firmware/www/"


async def module_call(modname, fn, *args):
    """Import a handler module for one request, call fn (awaiting it if async), drop it."""
    full = "firmware." + modname
    try:
        mod = __import__(full, None, None, [fn])
        result = getattr(mod, fn)(*args)
        if hasattr(result, "send"):  # a coroutine
            result = await result
        return result
    finally:
        forget(full)
        gc.collect()


ALL = ["GET", "POST", "PUT", "DELETE"]
HTML = "text/html; charset=utf-8"
PAGES = {"status": "status.html"}  # page URLs -> asset files
ASSETS = {"index.html": HTML, "status.html": HTML, "app.js": "application/javascript", "app.css": "text/css"}


class Web:
    """The resident routes; everything else goes to firmware/web_routes.py per request."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.sse_open = 0
        Request.max_content_length = MAX_UPLOAD
        Request.max_body_length = MAX_BODY
        Request.max_readline = MAX_LINE
        app = self.app = _App(ctx.log)
        # Microdot prints a traceback for every request it cannot parse: one short log line instead
        # (cut: the text may quote the client's header, up to MAX_LINE, and the log ring keeps 40)
        import microdot.microdot as md
        md.print_exception = lambda exc: ctx.log.warning(  # type: ignore[attr-defined]
            "http: bad request (%s)" % repr(exc)[:60])
        # One route and one error handler: every function object and its bytecode would
        # stay in the heap, so the paths are told apart here rather than by Microdot.
        app.route("/", methods=ALL)(self.route)
        app.route("/<path:path>", methods=ALL)(self.route)
        app.errorhandler(Exception)(self.failed)

    async def route(self, request, path="index.html"):
        ctx = self.ctx
        if path.startswith("api/"):
            if path == "api/state" and request.method == "GET":
                return state_document(ctx) if request.args.get("full") else compact_state(ctx)
            if path == "api/events" and request.method == "GET":
                if self.sse_open >= ctx.cfg["web"]["sse_clients"]:
                    return {"error": "too many event streams; poll /api/state"}, 503
                from microdot.sse import sse_response
                return sse_response(request, self.events)
            return await module_call("web_routes", "dispatch", ctx, request, path[4:])
        path = PAGES.get(path, path)
        kind = ASSETS.get(path)
        if kind is None:
            return {"error": "not found"}, 404
        if request.method != "GET":
            return {"error": "method not allowed"}, 405
        try:  # send_file opens the file now
            return Response.send_file(www_dir() + path + ".gz", content_type=kind, compressed=True, max_age=300)
        except OSError:  # running from the sources, not a build
            return {"error": "dashboard not built: make build"}, 404

    async def failed(self, request, exc):
        """Any exception in a handler: logged on the board, short JSON to the client."""
        self.ctx.log.error("http: %s %s: %r" % (request.method, request.path, exc))
        gc.collect()
        if isinstance(exc, MemoryError):
            return {"error": "out of memory; try again"}, 503
        if isinstance(exc, ClientTimeout):
            return {"error": "request timed out: %s" % exc}, 408
        return {"error": "internal error"}, 500

    async def events(self, request, sse):
        """One client's event stream: every channel first (with units), then each interval the
        channels that changed (units only for channels new to this stream)."""
        ctx = self.ctx
        self.sse_open += 1
        try:
            seq = -1  # the first event: every channel, even those never updated (seq 0)
            sent: set = set()
            every_ms = max(1000, min(ctx.cfg["interval_s"] * 1000, 10000))
            while True:
                if len(sse.queue) > 1:  # a client that does not read: skip, never queue without bound
                    await asyncio.sleep_ms(every_ms)
                    continue
                units: dict = {}
                first = seq < 0
                values, bad = _values(ctx.store.changed_since(seq), units, sent)
                seq = ctx.store.seq
                sup = ctx.supervisor
                doc = {"time": ctx.clock.wall(), "uptime_s": ctx.clock.uptime_s(),
                       "free_heap": sup.free_heap if sup else gc.mem_free(), "channels": values, "status": bad}
                if first:  # what the page's header shows, as in /api/state
                    doc["node"] = ctx.cfg["node"]
                    doc["version"] = version.VERSION
                    doc["safe_mode"] = ctx.safe_mode
                    doc["config_errors"] = len(ctx.config_errors)
                    an = ctx.services.get("analytics")
                    if an is not None and an.daily:  # yesterday's summary for the dashboard
                        doc["analytics"] = {"yesterday": an.daily}
                if units:
                    doc["units"] = units
                await sse.send(json.dumps(doc, separators=(",", ":")), event="state")
                del values, bad, units, doc  # free before sleeping
                await asyncio.sleep_ms(every_ms)
        finally:
            self.sse_open -= 1


async def serve(ctx, port):
    web = Web(ctx)
    ctx.log.info("http: serving on port %d" % port)
    await web.app.start_server(host="0.0.0.0", port=port)
