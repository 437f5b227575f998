"""HTTP server (Microdot): the JSON state API and a bare status page.

The full dashboard and settings come later; this serves what the foundation
promises: GET /api/state and a page that shows it.
"""
import gc

from microdot import Microdot, Response

from firmware import version

# Microdot's limits set deliberately for a board with ~100 KB of heap.
_MAX_BODY = 8 * 1024
_MAX_LINE = 1024


def state_document(ctx):
    """Everything /api/state reports, as plain data."""
    channels = {}
    for ch in ctx.store.channels.values():
        channels[ch.name] = {"value": ch.value, "unit": ch.unit, "ts": ch.wall, "status": ch.status}
    doc = {
        "node": ctx.cfg["node"],
        "version": version.VERSION,
        "uptime_s": ctx.clock.uptime_s(),
        "time": ctx.clock.wall(),
        "free_heap": ctx.supervisor.free_heap if ctx.supervisor else gc.mem_free(),
        "min_free_heap": ctx.supervisor.min_free_heap if ctx.supervisor else None,
        "longest_stall_ms": ctx.supervisor.longest_stall_ms if ctx.supervisor else None,
        "reset_cause": ctx.reset_cause,
        "safe_mode": ctx.safe_mode,
        "config_errors": ctx.config_errors,
        "failed_services": getattr(ctx, "failed", {}),
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


def build_app(ctx):
    app = Microdot()
    from microdot import Request
    Request.max_content_length = _MAX_BODY
    Request.max_body_length = _MAX_BODY
    Request.max_readline = _MAX_LINE

    @app.get("/api/state")
    async def api_state(request):
        return state_document(ctx)

    @app.get("/")
    async def index(request):
        return Response(_PAGE, headers={"Content-Type": "text/html; charset=utf-8"})

    @app.errorhandler(Exception)
    async def internal_error(request, exc):
        # Log it on the board; never send a stack trace to the client.
        ctx.log.error("http: %r" % exc)
        return {"error": "internal error"}, 500

    @app.errorhandler(404)
    async def not_found(request):
        return {"error": "not found"}, 404

    return app


async def serve(ctx, port):
    app = build_app(ctx)
    ctx.log.info("http: serving on port %d" % port)
    await app.start_server(host="0.0.0.0", port=port)
