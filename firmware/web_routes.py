"""Every /api/ route but /api/state and /api/events: a table, the admin check, the handlers' calls.

Imported by firmware/services/web.py for one request and dropped after it, with the handler
module it calls (web_info, web_admin, web_login, web_update) and firmware.web_auth. What must
outlive a request (sessions, the login rate limit) is plain data in ctx.auth_state.
"""
import asyncio
import json

from firmware.transient import forget

COOKIE = "hpmon_session"
READ, ADMIN, ADMIN_READ, OPEN_BODY, STREAM = 0, 1, 2, 3, 4

# (method, path) -> (module, function, access). READ: anyone, called with (ctx) or (ctx, args);
# ADMIN: password + CSRF, called with (ctx, JSON body); ADMIN_READ: password, (ctx);
# OPEN_BODY: anyone, (ctx, request, JSON body) (login); STREAM: password + CSRF, (ctx, request).
ROUTES = {
    ("GET", "state"): ("", "", READ),   # served by firmware/services/web.py itself
    ("GET", "events"): ("", "", READ),  # (listed for the 405 of other methods)
    ("GET", "history"): ("web_info", "history", READ),
    ("GET", "system"): ("web_info", "system", READ),
    ("GET", "meters"): ("web_info", "meters", READ),
    ("GET", "sensors"): ("web_info", "sensors", READ),
    ("GET", "update"): ("web_update", "status", READ),
    ("GET", "auth"): ("", "auth_state", READ),
    ("POST", "auth/setup"): ("web_login", "setup", OPEN_BODY),
    ("POST", "auth/login"): ("web_login", "login", OPEN_BODY),
    ("POST", "auth/logout"): ("web_login", "logout", OPEN_BODY),
    ("POST", "auth/password"): ("web_login", "password", ADMIN),
    ("GET", "config"): ("web_admin", "config_get", ADMIN_READ),
    ("POST", "config"): ("web_admin", "config_post", ADMIN),
    ("GET", "config/download"): ("web_admin", "config_download", ADMIN_READ),
    ("POST", "config/upload"): ("web_admin", "config_upload", ADMIN),
    ("GET", "wifi/scan"): ("web_admin", "wifi_scan", ADMIN_READ),
    ("POST", "totals"): ("web_admin", "totals", ADMIN),
    ("POST", "dtcheck/apply"): ("web_admin", "dtcheck_apply", ADMIN),
    ("POST", "restart"): ("web_admin", "restart", ADMIN),
    ("PUT", "update/file"): ("web_update", "put_file", STREAM),
    ("POST", "update/commit"): ("web_update", "commit", STREAM),  # a set's manifest is over 8 KB
    ("DELETE", "update"): ("web_update", "discard", ADMIN),
}
NO_BODY = ("dtcheck_apply", "restart", "discard", "logout")


async def steps(gen):
    """Drive a steps generator (web_auth, update_stage): it yields None while working, then its
    result; the scheduler runs between steps (no 50 ms stalls)."""
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


def auth(ctx):
    """firmware.web_auth.Auth on the state kept in ctx (this module drops web_auth after)."""
    from firmware.web_auth import Auth
    if ctx.auth_state is None:
        ctx.auth_state = {}
    return Auth().attach(ctx.auth_state)


def session(ctx, request):
    return auth(ctx).session_for(request.cookies.get(COOKIE))


async def denied(ctx, request, csrf=True):
    """None when the request may change things, else the error response."""
    a = auth(ctx)
    basic = request.headers.get("Authorization")
    if basic:  # scripts (curl, tools/update.py): rate-limited like a login
        status, wait = await steps(a.check_basic_steps(basic, client_ip(request)))
        a.keep(ctx.auth_state)
        if status == 200:
            return None
        if status == 429:
            return too_many(wait)
        return {"error": "wrong password"}, 401
    s = a.session_for(request.cookies.get(COOKIE))
    if s is None:
        return {"error": "log in first"}, 401
    if csrf and not a.csrf_ok(s, request.headers.get("X-CSRF-Token")):
        return {"error": "missing or wrong X-CSRF-Token"}, 403
    return None


def body_json(request):
    """The request's JSON object, or (error, status)."""
    if request.body is None or (request.content_length or 0) > len(request.body):
        return {"error": "body too large (8 KB at most)"}, 413
    try:
        doc = json.loads(request.body.decode() or "{}")
    except (ValueError, UnicodeError, RuntimeError):  # RuntimeError: CPython's RecursionError on deep nesting
        return {"error": "body is not JSON"}, 400
    if not isinstance(doc, dict):
        return {"error": "body must be a JSON object"}, 400
    return doc


def auth_state(ctx, request):
    a = auth(ctx)
    s = a.session_for(request.cookies.get(COOKIE))
    return {"password_set": a.is_set(), "logged_in": s is not None, "csrf": s[1] if s is not None else None}


async def dispatch(ctx, request, path):
    methods = [m for m, p in ROUTES if p == path]
    if not methods:
        return {"error": "not found"}, 404
    route = ROUTES.get((request.method, path))
    if route is None:
        return {"error": "method not allowed"}, 405, {"Allow": ", ".join(methods)}
    modname, fn, access = route
    if fn == "auth_state":
        return auth_state(ctx, request)
    if not modname:
        return {"error": "not found"}, 404
    if access in (ADMIN, ADMIN_READ, STREAM):
        err = await denied(ctx, request, csrf=access != ADMIN_READ)
        if err is not None:
            return err
    args = [ctx]
    if fn == "history":
        args.append(request.args)
    elif access == STREAM or modname == "web_login":
        args.append(request)
    if access in (ADMIN, OPEN_BODY):
        doc = {} if fn in NO_BODY else body_json(request)
        if isinstance(doc, tuple):
            return doc
        if fn not in NO_BODY or modname == "web_login":
            args.append(doc)
    from firmware.services.web import module_call
    try:
        return await module_call(modname, fn, *args)
    finally:
        forget("firmware.web_auth")
