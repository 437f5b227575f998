"""A small HTTP/1.0 client on asyncio streams (for emoncms).

HTTP/1.0 with Content-Length and "Connection: close": the server answers with a
plain body and closes, so there is no chunked decoding. The URL/form encoding
and response parsing are pure functions; request() is the only coroutine and
imports asyncio when called. The only blocking step is the DNS lookup inside
asyncio.open_connection (getaddrinfo); connect, TLS handshake, send and
receive all yield to the scheduler and share one timeout.
"""

_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_HEX = "0123456789ABCDEF"
MAX_HEAD = 2048


class HttpError(ValueError):
    pass


def parse_url(url):
    """(scheme, host, port, path) of http(s)://host[:port][/path]; path has no trailing /."""
    if not isinstance(url, str):
        raise HttpError("URL must be text")
    if url.startswith("http://"):
        scheme, rest, port = "http", url[7:], 80
    elif url.startswith("https://"):
        scheme, rest, port = "https", url[8:], 443
    else:
        raise HttpError("URL must start with http:// or https://")
    slash = rest.find("/")
    hostport, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    if "?" in path or "#" in path or "@" in hostport or " " in url:
        raise HttpError("URL must not contain a query, fragment, user or spaces")
    colon = hostport.rfind(":")
    host = hostport
    if colon >= 0:
        host = hostport[:colon]
        digits = hostport[colon + 1:]
        if not digits.isdigit() or not 1 <= int(digits) <= 65535:
            raise HttpError("bad port in URL")
        port = int(digits)
    if not host or not all(c.isalpha() or c.isdigit() or c in ".-_" for c in host):
        raise HttpError("bad host name in URL")
    return scheme, host, port, path.rstrip("/")


def quote(text):
    """Percent-encoding of everything but RFC 3986 unreserved characters."""
    data = text.encode() if isinstance(text, str) else text
    out = []
    for b in data:
        if b in _UNRESERVED:
            out.append(chr(b))
        else:
            out.append("%" + _HEX[b >> 4] + _HEX[b & 15])
    return "".join(out)


def form(pairs):
    """application/x-www-form-urlencoded body from [(name, value)]."""
    return "&".join(quote(k) + "=" + quote(v) for k, v in pairs)


def build_request(method, host, port, path, headers=(), body=b"", default_port=80, length=None):
    """The request bytes: HTTP/1.0, Host (with the port when not the default),
    Content-Length (of body, or `length` when the body is sent separately),
    Connection: close, then the given headers."""
    host_header = host if port == default_port else "%s:%d" % (host, port)
    lines = ["%s %s HTTP/1.0" % (method, path or "/"), "Host: " + host_header,
             "Connection: close", "Content-Length: %d" % (len(body) if length is None else length)]
    for name, value in headers:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise HttpError("header with a line break")
        lines.append("%s: %s" % (name, value))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse_head(data):
    """(status, {lower-case header: value}, body offset), or None until the blank line."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        if len(data) > MAX_HEAD:
            raise HttpError("response head too long")
        return None
    try:
        lines = bytes(data[:end]).decode().split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpError("not an HTTP response")
        status = int(parts[1])
    except (UnicodeError, ValueError):
        raise HttpError("bad status line") from None
    headers = {}
    for line in lines[1:]:
        colon = line.find(":")
        if colon > 0:
            headers[line[:colon].strip().lower()] = line[colon + 1:].strip()
    return status, headers, end + 4


async def request(method, scheme, host, port, path, headers=(), body=b"", timeout_ms=10000,
                  ssl_ctx=None, max_body=1024):
    """(status, body bytes ≤ max_body). Raises OSError (network, timeout) or HttpError.

    body: bytes, or a list of pieces (str or bytes) sent one after the other, so a
    large body never has to exist as one string in the heap."""
    import asyncio
    import errno
    import time
    deadline = time.ticks_add(time.ticks_ms(), timeout_ms)

    def left():
        ms = time.ticks_diff(deadline, time.ticks_ms())
        if ms <= 0:
            raise OSError(errno.ETIMEDOUT)  # 116 on the ESP32 (lwIP), 110 on Linux
        return ms

    pieces = body if isinstance(body, list) else [body]
    length = 0
    for piece in pieces:
        length += len(piece)  # the pieces are ASCII (form-encoded): chars = bytes
    req = build_request(method, host, port, path, headers, b"", 443 if scheme == "https" else 80, length)
    tls = ssl_ctx if scheme == "https" else None
    try:
        pair: tuple = await asyncio.wait_for_ms(
            asyncio.open_connection(host, port, ssl=tls, server_hostname=host if tls else None), left())
        reader, writer = pair[0], pair[1]
    except asyncio.TimeoutError:
        raise OSError(errno.ETIMEDOUT) from None
    try:
        writer.write(req)
        await asyncio.wait_for_ms(writer.drain(), left())
        for piece in pieces:
            writer.write(piece.encode() if isinstance(piece, str) else piece)
            await asyncio.wait_for_ms(writer.drain(), left())
        data = b""
        head = None
        while True:
            chunk = await asyncio.wait_for_ms(reader.read(512), left())
            if not chunk:
                break
            data += chunk
            if head is None:
                head = parse_head(data)
            if head is not None:
                length = head[1].get("content-length")
                have = len(data) - head[2]
                if have >= max_body or (length is not None and length.isdigit() and have >= int(length)):
                    break
        if head is None:
            raise HttpError("incomplete response" if data else "no response")
        return head[0], data[head[2]:head[2] + max_body]
    except asyncio.TimeoutError:
        raise OSError(errno.ETIMEDOUT) from None
    finally:
        writer.close()
        try:
            await asyncio.wait_for_ms(writer.wait_closed(), 1000)
        except Exception:
            pass
