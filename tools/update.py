"""python -m tools.update --url http://host[:port] --password PW [--build build]: update a board
over HTTP.

Sends the build's firmware/ and lib/ files plus boot.py and main.py, one PUT
/api/update/file?path=... each, then POST /api/update/commit with the manifest (the SHA-256
of every file). The board installs the set at its next boot and rolls it back by itself if
it does not become healthy (see docs/http-api.md and swap.py). Standard library only.
"""
import argparse
import base64
import hashlib
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

from tools import paths

TOP_FILES = ("boot.py", "main.py")


def collect(build_dir):
    """{relative path: file path} of an update set in build_dir."""
    files = {}
    for top in ("firmware", "lib"):
        base = os.path.join(build_dir, top)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                files[os.path.relpath(full, build_dir).replace(os.sep, "/")] = full
    for name in TOP_FILES:
        full = os.path.join(build_dir, name)
        if os.path.exists(full):
            files[name] = full
    return files


def sha256_file(path):
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(65536), b""):
            sha.update(block)
    return sha.hexdigest()


def build_version(build_dir):
    """The build's VERSION file (tools/build.py writes it; never uploaded), else VERSION of
    firmware/version.py in the sources."""
    try:
        with open(os.path.join(build_dir, "VERSION")) as f:
            return f.read().strip()
    except OSError:
        pass
    for base in (build_dir, paths.ROOT):
        try:
            with open(os.path.join(base, "firmware", "version.py")) as f:
                found = re.search(r"VERSION\s*=\s*[\"']([^\"']+)", f.read())
        except OSError:
            continue
        if found:
            return found.group(1)
    raise SystemExit("update: no firmware/version.py to read the version from; pass --version")


def manifest(build_dir, version=None):
    files = collect(build_dir)
    if "main.py" not in files or not ({"firmware/app.mpy", "firmware/app.py"} & set(files)):
        raise SystemExit("update: %s is not a build (no main.py or firmware/app.mpy); run `make build`" % build_dir)
    return {"version": version or build_version(build_dir),
            "files": {rel: sha256_file(full) for rel, full in sorted(files.items())}}, files


class Board:
    """The board's update API, with HTTP Basic as user admin."""

    def __init__(self, url, password, timeout=60):
        self.url = url.rstrip("/")
        token = base64.b64encode(("admin:" + password).encode()).decode()
        self.headers = {"Authorization": "Basic " + token}
        self.timeout = timeout

    def call(self, method, path, body=None, content_type=None):
        """(status, JSON answer or {"error": text})."""
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as res:
                status, raw = res.status, res.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
            if status == 429:
                raw = json.dumps({"error": "too many failed logins; retry after %s s"
                                  % err.headers.get("Retry-After", "?")}).encode()
        except (urllib.error.URLError, OSError) as err:
            raise SystemExit("update: cannot reach %s: %s" % (self.url, getattr(err, "reason", err))) from None
        try:
            doc = json.loads(raw.decode() or "{}")
        except ValueError:
            doc = {"error": raw.decode(errors="replace")[:200]}
        return status, doc


def _fail(step, status, doc):
    raise SystemExit("update: %s failed: HTTP %d: %s" % (step, status, doc.get("error", doc)))


def update(url, password, build_dir=paths.BUILD_DIR, version=None, out=sys.stdout):
    doc, files = manifest(build_dir, version)
    board = Board(url, password)
    total = sum(os.path.getsize(f) for f in files.values())
    print("update: version %s, %d files, %d bytes, to %s" % (doc["version"], len(files), total, url), file=out)
    status, answer = board.call("GET", "/api/update")
    if status == 200:
        print("update: the board runs %s (state: %s)" % (answer.get("running"), answer.get("state")), file=out)
    # Drop anything staged before (an interrupted upload): the board answers 404/405 if it
    # has no such route, which is fine.
    status, answer = board.call("DELETE", "/api/update")
    if status not in (200, 204, 404, 405):
        _fail("discarding the old staging", status, answer)
    for n, (rel, full) in enumerate(sorted(files.items()), 1):
        with open(full, "rb") as f:
            body = f.read()
        status, answer = board.call("PUT", "/api/update/file?path=" + urllib.parse.quote(rel, safe="/"), body,
                                    "application/octet-stream")
        if status != 200:
            _fail("sending " + rel, status, answer)
        if answer.get("sha256") not in (None, doc["files"][rel]):
            raise SystemExit("update: %s arrived damaged (sha256 %s)" % (rel, answer.get("sha256")))
        print("update: %3d/%d %s (%d bytes)" % (n, len(files), rel, len(body)), file=out)
    body = json.dumps(doc, separators=(",", ":")).encode()  # ~90 files: over 8 KB, streamed by the board
    status, answer = board.call("POST", "/api/update/commit", body, "application/json")
    if status != 200:
        _fail("commit", status, answer)
    print("update: committed %s; the board restarts into it and rolls back by itself if it fails"
          % doc["version"], file=out)
    return answer


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.update", description=__doc__)
    parser.add_argument("--url", required=True, help="the board, e.g. http://192.168.4.1")
    parser.add_argument("--password", default=os.environ.get("HPMON_PASSWORD"),
                        help="the admin password (default: $HPMON_PASSWORD, which keeps it out of `ps`)")
    parser.add_argument("--build", default=paths.BUILD_DIR, help="the build folder (default build/)")
    parser.add_argument("--version", help="version name of the set (default: firmware/version.py)")
    args = parser.parse_args(argv)
    if not args.password:
        parser.error("--password (or $HPMON_PASSWORD) is required")
    update(args.url, args.password, args.build, args.version)


if __name__ == "__main__":
    main()
