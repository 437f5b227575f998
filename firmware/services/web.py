"""HTTP server (Microdot): the dashboard, the JSON API of docs/http-api.md and its events.

Only the routes every visitor needs live here: the gzipped dashboard assets, /api/state,
the event stream, login. The handlers behind the other routes sit in firmware/web_info.py
(reading) and firmware/web_admin.py (changing things) and are imported for the one request
that needs them, then dropped again, so they never occupy a WROOM-32's heap between requests.
"""
import asyncio
import gc
import json

from microdot import Microdot, Request, Response

from firmware import version
from firmware.transient import forget

# Microdot's limits set deliberately for a board with ~100 KB of heap: bodies up to 8 KB are
# read into RAM; bigger ones (firmware files, up to 64 KB) only reach the update route, which
# streams them to flash. A request line or header over 1 KB is refused.
MAX_BODY = 8 * 1024
MAX_UPLOAD = 64 * 1024
MAX_LINE = 1024
COOKIE = "hpmon_session"


def state_document(ctx):
    """Everything /api/state reports, as plain data."""
    channels = {}
    for ch in ctx.store.channels.values():
        channels[ch.name] = {"value": ch.value, "unit": ch.unit, "ts": ch.wall, "status": ch.status}
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
        "channels": channels,
    }
    if ctx.wifi is not None:
        doc["wifi"] = ctx.wifi.state()
    if ctx.mqtt is not None:
        doc["mqtt"] = ctx.mqtt.state()
    # connectivity (issue 6): emoncms, SSR, store-and-forward buffers
    forward = {}
    for name in ("mqtt", "emoncms", "ssr"):
        svc = ctx.mqtt if name == "mqtt" else ctx.services.get(name)
        if svc is None:
            continue
        if name != "mqtt":
            doc[name] = svc.state()
        buf = getattr(svc, "buffer", None)
        if buf is not None:
            forward[name] = buf.stats()
    if forward:
        doc["forward"] = forward
    return doc


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


_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>hpmon</title>
<style>body{font:15px system-ui,sans-serif;margin:1em;max-width:40em}td{padding:2px 8px}
.err{color:#b00}td.v{text-align:right;font-variant-numeric:tabular-nums}</style></head>
<body><h1>hpmon <span id="node"></span></h1><p id="meta"></p><ul id="errs" class="err"></ul>
<table id="t"></table><script>
function esc(s){return String(s).replace(/[&<>"]/g,function(c){return "&#"+c.charCodeAt(0)+";"})}
async function tick(){try{var s=await (await fetch("/api/state")).json();
document.getElementById("node").textContent=s.node;
document.getElementById("meta").textContent="v"+s.version+" · up "+s.uptime_s+" s · heap "+s.free_heap+" B · reset: "+s.reset_cause+(s.safe_mode?" · SAFE MODE":"");
document.getElementById("errs").innerHTML=s.config_errors.map(function(e){return "<li>"+esc(e)+"</li>"}).join("");
var rows="",names=Object.keys(s.channels).sort();for(var i=0;i<names.length;i++){var c=s.channels[names[i]];
rows+="<tr><td>"+esc(names[i])+"</td><td class=v>"+(c.value===null?"unknown":esc(c.value))+"</td><td>"+esc(c.unit)+"</td><td>"+esc(c.status)+"</td></tr>"}
document.getElementById("t").innerHTML=rows}catch(e){}}
tick();setInterval(tick,5000)</script></body></html>"""

_HTML = {"Content-Type": "text/html; charset=utf-8"}


def www_dir():
    """The gzipped dashboard assets: <firmware package>/www (built by tools/www.py)."""
    import firmware
    path = getattr(firmware, "__file__", "firmware/__init__.py")
    return path[:path.rfind("/") + 1] + "www/" if "/" in path else "firmware/www/"


def _exists(path):
    import os
    try:
        os.stat(path)
        return True
    except OSError:
        return False


async def _module_call(modname, fn, *args):
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


async def steps(gen):
    """Drive a steps generator (firmware.web_auth, firmware.update_stage): it yields None while
    working and then its result; the scheduler runs between steps (no 50 ms stalls)."""
    for out in gen:
        if out is not None:
            return out
        await asyncio.sleep_ms(0)
    return None


def client_ip(request):
    """The client's address: a (host, port) tuple on the ESP32, a raw sockaddr on the unix port."""
    addr = request.client_addr
    if isinstance(addr, (bytes, bytearray)):
        return ".".join(str(b) for b in addr[4:8]) if len(addr) >= 8 else "?"
    return addr[0] if addr else "?"


def too_many(wait_s):
    return {"error": "too many failed logins; try again in %d s" % wait_s}, 429, {"Retry-After": str(wait_s)}


class Web:
    """The routes; ctx.auth (firmware.web_auth) answers who may change things."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.sse_open = 0
        self.app = self._build()

    # ------------------------------------------------------------ auth
    def session(self, request):
        auth = self.ctx.auth
        return auth.session_for(request.cookies.get(COOKIE)) if auth is not None else None

    async def denied(self, request, csrf=True):
        """None when the request may change things, else the error response."""
        auth = self.ctx.auth
        if auth is None:
            return {"error": "authentication unavailable"}, 503
        basic = request.headers.get("Authorization")
        if basic:  # scripts (curl, tools/update.py): rate-limited like a login
            status, wait = await steps(auth.check_basic_steps(basic, client_ip(request)))
            if status == 200:
                return None
            if status == 429:
                return too_many(wait)
            return {"error": "wrong password"}, 401
        session = self.session(request)
        if session is None:
            return {"error": "log in first"}, 401
        if csrf and not auth.csrf_ok(session, request.headers.get("X-CSRF-Token")):
            return {"error": "missing or wrong X-CSRF-Token"}, 403
        return None

    # ------------------------------------------------------------ routes
    def _build(self):
        ctx = self.ctx
        app = Microdot()
        Request.max_content_length = MAX_UPLOAD
        Request.max_body_length = MAX_BODY
        Request.max_readline = MAX_LINE
        web = self

        def body_json(request):
            """The request's JSON object, or raise ValueError with the reason."""
            if request.body is None or (request.content_length or 0) > MAX_BODY:
                raise ValueError("body too large (8 KB at most)")
            try:
                doc = json.loads(request.body.decode())
            except (ValueError, UnicodeError):
                raise ValueError("body is not JSON") from None
            if not isinstance(doc, dict):
                raise ValueError("body must be a JSON object")
            return doc

        async def admin(request, modname, fn, csrf=True, body=True):
            err = await web.denied(request, csrf)
            if err is not None:
                return err
            args = [ctx]
            if body:
                try:
                    args.append(body_json(request))
                except ValueError as exc:
                    return {"error": str(exc)}, 413 if "large" in str(exc) else 400
            return await _module_call(modname, fn, *args)

        # ---- pages
        async def asset(name, content_type):
            path = www_dir() + name + ".gz"
            if not _exists(path):
                return Response(_PAGE, headers=_HTML) if name == "index.html" else ({"error": "not built"}, 404)
            res = Response.send_file(path, content_type=content_type, compressed=True, max_age=300)
            return res

        @app.get("/")
        async def index(request):
            return await asset("index.html", "text/html; charset=utf-8")

        @app.get("/app.js")
        async def app_js(request):
            return await asset("app.js", "application/javascript")

        @app.get("/app.css")
        async def app_css(request):
            return await asset("app.css", "text/css")

        @app.get("/status")
        async def status_page(request):
            return Response(_PAGE, headers=_HTML)

        # ---- reading
        @app.get("/api/state")
        async def api_state(request):
            return state_document(ctx) if request.args.get("full") else compact_state(ctx)

        @app.get("/api/events")
        async def api_events(request):
            if web.sse_open >= ctx.cfg["web"]["sse_clients"]:
                return {"error": "too many event streams; poll /api/state"}, 503
            from microdot.sse import sse_response
            return sse_response(request, web.events)

        @app.get("/api/history")
        async def api_history(request):
            return await _module_call("web_info", "history", ctx, request.args)

        @app.get("/api/system")
        async def api_system(request):
            return await _module_call("web_info", "system", ctx)

        @app.get("/api/meters")
        async def api_meters(request):
            return await _module_call("web_info", "meters", ctx)

        @app.get("/api/sensors")
        async def api_sensors(request):
            return await _module_call("web_info", "sensors", ctx)

        # ---- auth
        @app.get("/api/auth")
        async def auth_state(request):
            auth = ctx.auth
            session = web.session(request)
            return {"password_set": bool(auth and auth.is_set()), "logged_in": session is not None,
                    "csrf": session.csrf if session is not None else None}

        @app.post("/api/auth/<action>")
        async def auth_action(request, action):
            if action not in ("setup", "login", "logout", "password"):
                return {"error": "not found"}, 404
            try:
                doc = body_json(request) if action != "logout" else {}
            except ValueError as exc:
                return {"error": str(exc)}, 413 if "large" in str(exc) else 400
            return await _module_call("web_login", action, ctx, web, request, doc)

        # ---- changing things
        @app.get("/api/config")
        async def config_get(request):
            return await admin(request, "web_admin", "config_get", csrf=False, body=False)

        @app.post("/api/config")
        async def config_post(request):
            return await admin(request, "web_admin", "config_post")

        @app.get("/api/config/download")
        async def config_download(request):
            return await admin(request, "web_admin", "config_download", csrf=False, body=False)

        @app.post("/api/config/upload")
        async def config_upload(request):
            return await admin(request, "web_admin", "config_upload")

        @app.get("/api/wifi/scan")
        async def wifi_scan(request):
            return await admin(request, "web_admin", "wifi_scan", csrf=False, body=False)

        @app.post("/api/totals")
        async def totals(request):
            return await admin(request, "web_admin", "totals")

        @app.post("/api/dtcheck/apply")
        async def dtcheck_apply(request):
            return await admin(request, "web_admin", "dtcheck_apply", body=False)

        @app.post("/api/restart")
        async def restart(request):
            return await admin(request, "web_admin", "restart", body=False)

        @app.get("/api/update")
        async def update_state(request):
            return await _module_call("web_update", "status", ctx)

        @app.put("/api/update/file")
        async def update_file(request):
            err = await web.denied(request)
            if err is not None:
                return err
            return await _module_call("web_update", "put_file", ctx, request)

        @app.post("/api/update/commit")
        async def update_commit(request):  # the manifest of a whole set is over 8 KB: streamed
            err = await web.denied(request)
            if err is not None:
                return err
            return await _module_call("web_update", "commit", ctx, request)

        @app.delete("/api/update")
        async def update_discard(request):
            return await admin(request, "web_update", "discard", body=False)

        # ---- errors: short JSON, never a stack trace
        @app.errorhandler(Exception)
        async def internal_error(request, exc):
            ctx.log.error("http: %s %s: %r" % (request.method, request.path, exc))
            if isinstance(exc, MemoryError):
                gc.collect()
                return {"error": "out of memory; try again"}, 503
            return {"error": "internal error"}, 500

        @app.errorhandler(404)
        async def not_found(request):
            return {"error": "not found"}, 404

        @app.errorhandler(405)
        async def not_allowed(request):
            return {"error": "method not allowed"}, 405

        @app.errorhandler(413)
        async def too_large(request):
            return {"error": "request too large"}, 413

        @app.errorhandler(400)
        async def bad_request(request):
            return {"error": "bad request"}, 400

        return app

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
                if units:
                    doc["units"] = units
                await sse.send(json.dumps(doc, separators=(",", ":")), event="state")
                del values, bad, units, doc  # free before sleeping
                await asyncio.sleep_ms(every_ms)
        finally:
            self.sse_open -= 1


async def serve(ctx, port):
    if ctx.auth is None:
        try:
            from firmware.web_auth import Auth
            ctx.auth = Auth()
        except (ImportError, MemoryError) as exc:  # reading still works; changes answer 503
            ctx.log.error("http: no admin authentication: %r" % exc)
    web = Web(ctx)
    ctx.log.info("http: serving on port %d" % port)
    await web.app.start_server(host="0.0.0.0", port=port)
