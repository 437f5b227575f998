"""A short text for an exception, so that a status page or log says "timed out (errno 116)"
where MicroPython would print a bare "116": the unix port has no errno name table, and the
ESP32 port prints lwIP's DNS failure as "-202".

errno values differ by platform (lwIP/newlib on the ESP32: ETIMEDOUT 116, ECONNABORTED 113;
Linux: 110, 103), so the names are looked up in the running port's errno module.
"""

# (errno name, text); ENOSPC and EROFS are the same number on newlib and Linux, and MicroPython's
# errno module does not have them
_TEXTS = (
    ("ETIMEDOUT", "timed out"),
    ("ECONNREFUSED", "connection refused"),
    ("ECONNRESET", "connection reset"),
    ("ECONNABORTED", "connection aborted"),
    ("EHOSTUNREACH", "host unreachable"),
    ("ENOTCONN", "not connected"),
    ("ENOBUFS", "out of network buffers"),
    ("ENOMEM", "out of memory"),
    ("EIO", "I/O error"),
    ("ENOENT", "no such file"),
    ("EEXIST", "file exists"),
    ("EINVAL", "invalid argument"),
    ("EBADF", "bad file or socket"),
    ("EACCES", "permission denied"),
    ("ENODEV", "no such device"),
    ("EAGAIN", "try again"),
    ("EINPROGRESS", "in progress"),
    ("EADDRINUSE", "address in use"),
)
_FIXED = (("ENOSPC", 28, "flash full"), ("EROFS", 30, "read-only file system"))
EAI_FAIL = -202  # lwIP's getaddrinfo() failure, as MicroPython's ESP32 port raises it


def errno_text(n):
    """The text for an OSError's errno value."""
    import errno
    for name, text in _TEXTS:
        if getattr(errno, name, None) == n:
            return text
    for _name, value, text in _FIXED:
        if value == n:
            return text
    if n == EAI_FAIL:
        return "DNS lookup failed"
    if n < 0:  # lwIP and mbedTLS report their own errors as negative numbers
        return "network or TLS error"
    return "system error"


def describe(exc):
    """'timed out (errno 116)' for an OSError that carries an errno; else the exception's own
    text, or its type's name when it has none."""
    args = getattr(exc, "args", ())
    if isinstance(exc, OSError) and args and isinstance(args[0], int):
        return "%s (errno %d)" % (errno_text(args[0]), args[0])
    return str(exc) or type(exc).__name__
