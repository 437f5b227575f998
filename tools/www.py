"""python -m tools.www: the dashboard assets (web/*) -> <out>/firmware/www/<name>.gz.

The board serves them as they are, with `Content-Encoding: gzip` (firmware/services/web.py).
Minification is deliberately light and safe: leading indentation, blank lines and whole-line
comments go (`//` lines in JavaScript, `/* ... */` lines in CSS); nothing inside a line is
touched, so no JavaScript can break. gzip output is deterministic (mtime 0, no file name), so
the same sources always give the same bytes.
"""
import argparse
import gzip
import io
import os

from tools import paths

WEB_DIR = os.path.join(paths.ROOT, "web")
ASSETS = ("index.html", "app.js", "app.css", "status.html")
BUDGET = 30 * 1024  # issue 7: first load of the dashboard, every asset gzipped


def minify(name, text):
    """Strip indentation, blank lines and whole-line comments (see the module docstring)."""
    out = []
    in_comment = False
    for line in text.splitlines():
        line = line.strip()
        if name.endswith(".css"):
            if in_comment or line.startswith("/*"):
                in_comment = "*/" not in line
                continue
        elif name.endswith(".js") and line.startswith("//"):
            continue
        if line:
            out.append(line)
    return "\n".join(out) + "\n"


def gzip_bytes(data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def build_www(out_dir, src_dir=WEB_DIR):
    """Write <out_dir>/firmware/www/<asset>.gz; return {asset: (source, minified, gzipped) bytes}."""
    dest = os.path.join(out_dir, "firmware", "www")
    os.makedirs(dest, exist_ok=True)
    sizes = {}
    for name in ASSETS:
        with open(os.path.join(src_dir, name), encoding="utf-8") as f:
            text = f.read()
        small = minify(name, text).encode("utf-8")
        packed = gzip_bytes(small)
        with open(os.path.join(dest, name + ".gz"), "wb") as f:
            f.write(packed)
        sizes[name] = (len(text.encode("utf-8")), len(small), len(packed))
    total = sum(s[2] for s in sizes.values())
    print("www: %s; %d bytes gzipped in all (budget %d)" % (
        ", ".join("%s %d->%d" % (n, s[1], s[2]) for n, s in sizes.items()), total, BUDGET))
    return sizes


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.www", description=__doc__)
    parser.add_argument("--out", default=paths.BUILD_DIR, help="build folder (default build/)")
    args = parser.parse_args(argv)
    build_www(args.out)


if __name__ == "__main__":
    main()
