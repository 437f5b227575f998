from firmware import http_client as hc


def _bad_url(url):
    try:
        hc.parse_url(url)
    except hc.HttpError:
        return True
    return False


def test_parse_url():
    assert hc.parse_url("https://emoncms.org") == ("https", "emoncms.org", 443, "")
    assert hc.parse_url("http://emonpi.local/emoncms/") == ("http", "emonpi.local", 80, "/emoncms")
    assert hc.parse_url("http://192.168.1.5:8080/x") == ("http", "192.168.1.5", 8080, "/x")
    for bad in ("emoncms.org", "ftp://x", "http://", "http://a:0", "http://a:99999", "http://a/b?apikey=1",
                "http://user@a/", "http://a b/", None):
        assert _bad_url(bad), bad


def test_quote_and_form():
    assert hc.quote("a b&c=d/é") == "a%20b%26c%3Dd%2F%C3%A9"
    assert hc.quote("AZaz09-._~") == "AZaz09-._~"
    assert hc.form((("node", "hp"), ("fulljson", '{"a":1}'))) == "node=hp&fulljson=%7B%22a%22%3A1%7D"


def test_build_request():
    req = hc.build_request("POST", "example.org", 8080, "/input/post", (("Authorization", "Bearer k"),), b"x=1")
    head, body = req.split(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /input/post HTTP/1.0"
    assert "Host: example.org:8080" in lines
    assert "Content-Length: 3" in lines and "Authorization: Bearer k" in lines
    assert body == b"x=1"
    req = hc.build_request("GET", "example.org", 443, "", (), b"", 443)
    assert b"Host: example.org\r\n" in req and req.startswith(b"GET / HTTP/1.0")
    try:
        hc.build_request("GET", "h", 80, "/", (("X", "a\r\nEvil: 1"),))
    except hc.HttpError:
        pass
    else:
        raise AssertionError("header injection accepted")


def test_parse_head():
    assert hc.parse_head(b"HTTP/1.0 200 OK\r\nContent-Le") is None
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A:  b \r\n\r\nok"
    status, headers, start = hc.parse_head(data)
    assert status == 200 and headers == {"content-length": "2", "x-a": "b"} and data[start:] == b"ok"
    for bad in (b"SMTP 220\r\n\r\n", b"HTTP/1.0 abc\r\n\r\n"):
        try:
            hc.parse_head(bad)
        except hc.HttpError:
            continue
        raise AssertionError(bad)
