"""Admin login routes (/api/auth/<action>), imported for the request and dropped after it.

The password itself lives in firmware/web_auth.py (PBKDF2, sessions, the login rate limit);
this turns its answers into HTTP: a session cookie that scripts cannot read (HttpOnly) and
that other sites cannot send (SameSite=Strict), and the session's CSRF token in the body.
"""
COOKIE_ATTRS = "; Path=/; HttpOnly; SameSite=Strict"


def _client(request):
    from firmware.services.web import client_ip
    return client_ip(request)


def _logged_in(session):
    return {"csrf": session.csrf}, 200, {"Set-Cookie": "hpmon_session=%s%s" % (session.token, COOKIE_ATTRS)}


def _password(doc, key="password"):
    value = doc.get(key)
    return value if isinstance(value, str) else ""


async def setup(ctx, web, request, doc):
    from firmware.services.web import steps
    status, value = await steps(ctx.auth.setup_steps(_password(doc)))
    if status != 200:
        return {"error": value}, status
    ctx.log.warning("auth: admin password set")
    return _logged_in(value)


async def login(ctx, web, request, doc):
    from firmware.services.web import steps, too_many
    status, value = await steps(ctx.auth.login_steps(_password(doc), _client(request)))
    if status == 429:
        return too_many(value)
    if status != 200:
        ctx.log.warning("auth: failed login from %s" % _client(request))
        return {"error": "wrong password"}, 401
    return _logged_in(value)


async def logout(ctx, web, request, doc):
    session = web.session(request)
    if session is not None:
        ctx.auth.logout(session)
    return {"logged_in": False}, 200, {"Set-Cookie": "hpmon_session=" + COOKIE_ATTRS + "; Max-Age=0"}


async def password(ctx, web, request, doc):
    from firmware.services.web import steps, too_many
    err = await web.denied(request)
    if err is not None:
        return err
    session = web.session(request)
    status, value = await steps(ctx.auth.change_steps(session, _password(doc, "old"), _password(doc, "new"),
                                                      _client(request)))
    if status == 429:
        return too_many(value)
    if status != 200:
        return {"error": value or "wrong password"}, status
    ctx.log.warning("auth: admin password changed")
    return {"changed": True}
