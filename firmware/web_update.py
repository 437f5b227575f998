"""Firmware update routes (/api/update...), imported for the request and dropped after it.

Staging, the manifest check and the swap with rollback live in firmware/update_stage.py and
swap.py; this streams request bodies into them and restarts into a committed set.
"""
from firmware.update_stage import Stager, UpdateError, read_manifest


def status(ctx):
    return Stager().status()


async def put_file(ctx, request):
    path = request.args.get("path")
    try:
        digest = await Stager().receive(path, request.stream, request.content_length)
    except UpdateError as exc:
        return {"error": str(exc)}, exc.status
    return {"path": path, "sha256": digest, "size": request.content_length}


async def commit(ctx, request):
    from firmware.web_routes import steps
    try:
        doc = await read_manifest(request.stream, request.content_length)
        result = await steps(Stager().commit_steps(doc))
    except UpdateError as exc:
        return {"error": str(exc)}, exc.status
    ctx.log.warning("update: version %s verified; restarting into it" % result["version"])
    from firmware.web_admin import restart
    restart(ctx)
    return {"committed": True, "version": result["version"], "restarting": True}


async def discard(ctx):
    from firmware.web_routes import steps
    try:
        return await steps(Stager().discard_steps())
    except UpdateError as exc:
        return {"error": str(exc)}, exc.status
