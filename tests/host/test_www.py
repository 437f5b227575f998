"""The dashboard's build step (tools/www.py): gzipped assets that are the sources less only
whitespace and whole-line comments, deterministic, within the 30 KB budget, and with no
external resource (the page must work on the board's own access point, offline)."""
import gzip
import os
import re

from tools import www


def _sources():
    out = {}
    for name in www.ASSETS:
        with open(os.path.join(www.WEB_DIR, name), encoding="utf-8") as f:
            out[name] = f.read()
    return out


def _built(out_dir):
    out = {}
    for name in www.ASSETS:
        with open(os.path.join(out_dir, "firmware", "www", name + ".gz"), "rb") as f:
            out[name] = f.read()
    return out


def test_minify_keeps_code_and_drops_only_indentation_blank_lines_and_comment_lines():
    js = "// a comment line\nfunction f() {\n    // inside\n    return 'a // b';  // trailing stays\n\n}\n"
    assert www.minify("app.js", js) == "function f() {\nreturn 'a // b';  // trailing stays\n}\n"
    css = "/* head\n   more */\nbody {\n  color: red; /* kept */\n}\n\n/* one */\na { x: 1; }\n"
    assert www.minify("app.css", css) == "body {\ncolor: red; /* kept */\n}\na { x: 1; }\n"
    html = "<p>\n    <b>x</b>\n\n</p>\n"
    assert www.minify("index.html", html) == "<p>\n<b>x</b>\n</p>\n"


def _drop_comment_lines(name, text):
    lines = text.splitlines()
    if name.endswith(".js"):
        lines = [ln for ln in lines if not ln.strip().startswith("//")]
    if name.endswith(".css"):
        lines = re.sub(r"(?m)^\s*/\*.*?\*/[ \t]*$", "", "\n".join(lines), flags=re.S).splitlines()
    return "".join("".join(lines).split())


def test_assets_gunzip_to_the_sources_less_whitespace_and_comment_lines(tmp_path):
    sizes = www.build_www(str(tmp_path))
    built = _built(str(tmp_path))
    for name, text in _sources().items():
        plain = gzip.decompress(built[name]).decode("utf-8")
        assert plain == www.minify(name, text)
        # the same code, character for character, once whitespace is ignored
        assert "".join(plain.split()) == _drop_comment_lines(name, text), name
        # every line kept as written, in order (only indentation went)
        kept = [ln.strip() for ln in text.splitlines() if ln.strip()]
        assert all(ln in kept for ln in plain.splitlines()), name
        assert sizes[name] == (len(text.encode()), len(plain.encode()), len(built[name]))
        assert len(plain) <= len(text)
        if name not in ("index.html", "status.html"):  # indented sources shrink
            assert len(plain) < len(text)


def test_build_is_deterministic(tmp_path):
    www.build_www(str(tmp_path / "a"))
    www.build_www(str(tmp_path / "b"))
    a, b = _built(str(tmp_path / "a")), _built(str(tmp_path / "b"))
    assert a == b
    for data in a.values():
        assert data[:3] == b"\x1f\x8b\x08"  # gzip, deflate
        assert data[4:8] == b"\0\0\0\0"  # mtime 0
        assert data[3] & 0x08 == 0  # no file name stored


def test_first_load_fits_the_budget(tmp_path):
    sizes = www.build_www(str(tmp_path))
    total = sum(s[2] for s in sizes.values())
    assert total <= 30 * 1024, sizes
    # the index page loads exactly the other two assets, nothing else
    html = _sources()["index.html"]
    refs = re.findall(r'(?:src|href)="([^"#][^"]*)"', html)
    assert sorted(refs) == ["/app.css", "/app.js", "/status", "data:,"], refs


# The SVG namespace is a name, never fetched: the only URL-looking string allowed.
ALLOWED = {"http://www.w3.org/2000/svg"}


def test_no_external_resources(tmp_path):
    www.build_www(str(tmp_path))
    for name, data in _built(str(tmp_path)).items():
        text = gzip.decompress(data).decode("utf-8")
        for url in re.findall(r"https?://[^\s\"')]*", text):
            assert url in ALLOWED, (name, url)
        stripped = text
        for url in ALLOWED:
            stripped = stripped.replace(url, "")
        assert not re.search(r"//cdn|//[a-z0-9-]+\.[a-z]{2,}", stripped, re.I), name
        assert "@import" not in text and "url(" not in text, name  # no fonts, no images
        assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=\"(?!/|data:)", text), name
