"""Admin login routes (/api/auth/<action>), imported for the request and dropped after it.

The password itself lives in firmware/web_auth.py (PBKDF2, sessions, the login rate limit);
this turns its answers into HTTP: a session cookie that scripts cannot read (HttpOnly) and
that other sites cannot send (SameSite=Strict), and the session's CSRF token in the body.
Each takes (ctx, request, JSON body); firmware/web_routes.py has checked the password for
/api/auth/password already.
"""
from firmware.web_routes import COOKIE, auth, client_ip, steps, too_many

COOKIE_ATTRS = "; Path=/; HttpOnly; SameSite=Strict"


def _logged_in(session):
    return {"csrf": session[1]}, 200, {"Set-Cookie": "%s=%s%s" % (COOKIE, session[0], COOKIE_ATTRS)}


def _password(doc, key="password"):
    value = doc.get(key)
    return value if isinstance(value, str) else ""


async def setup(ctx, request, doc):
    a = auth(ctx)
    expected = ctx.wifi.password_ap if ctx.wifi is not None else None
    status, value = await steps(a.setup_steps(_password(doc), _password(doc, "ap_password"), expected,
                                              client_ip(request)))
    a.keep(ctx.auth_state)
    if status == 429:
        return too_many(value)
    if status != 200:
        if status == 403:
            ctx.log.warning("auth: admin setup with a wrong access-point password from %s" % client_ip(request))
        return {"error": value}, status
    ctx.log.warning("auth: admin password set")
    return _logged_in(value)


async def login(ctx, request, doc):
    a = auth(ctx)
    status, value = await steps(a.login_steps(_password(doc), client_ip(request)))
    a.keep(ctx.auth_state)
    if status == 429:
        return too_many(value)
    if status != 200:
        ctx.log.warning("auth: failed login from %s" % client_ip(request))
        return {"error": "wrong password"}, 401
    return _logged_in(value)


async def logout(ctx, request, doc):
    a = auth(ctx)
    session = a.session_for(request.cookies.get(COOKIE))
    if session is not None:
        a.logout(session)
    return {"logged_in": False}, 200, {"Set-Cookie": "%s=%s; Max-Age=0" % (COOKIE, COOKIE_ATTRS)}


async def password(ctx, request, doc):
    a = auth(ctx)
    session = a.session_for(request.cookies.get(COOKIE))
    status, value = await steps(a.change_steps(session, _password(doc, "old"), _password(doc, "new"),
                                               client_ip(request)))
    a.keep(ctx.auth_state)
    if status == 429:
        return too_many(value)
    if status != 200:
        return {"error": value or "wrong password"}, status
    ctx.log.warning("auth: admin password changed")
    return {"changed": True}
