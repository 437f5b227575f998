"""python -m tools.deploy --port PORT [--config FILE] [--no-reset]: copy build/ to a board.

Uses mpremote's raw-REPL file transfer, so it works on a USB-serial ESP32 and
on the emulated board's virtual serial port alike. `resume` keeps mpremote from
soft-resetting first (the unix port cannot). Prints every step it takes.
"""
import argparse
import os
import subprocess
import sys

from tools import paths


def mpremote(port, *args, show=None):
    cmd = [paths.venv_bin("mpremote"), "connect", port, "resume", *args]
    print("  $ mpremote connect %s resume %s" % (port, show or " ".join(args)), flush=True)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit("deploy: mpremote failed (exit %d)" % result.returncode)
    return result.stdout


def deploy(port, config=None, reset=True, build_dir=paths.BUILD_DIR):
    if not os.path.exists(os.path.join(build_dir, "main.py")):
        raise SystemExit("deploy: %s has no build; run `make build` first" % build_dir)
    dirs = []
    files = []
    for dirpath, dirnames, filenames in os.walk(build_dir):
        dirnames.sort()
        rel = os.path.relpath(dirpath, build_dir)
        if rel != ".":
            dirs.append(rel.replace(os.sep, "/"))
        for name in sorted(filenames):
            files.append(os.path.join(dirpath, name))
    print("deploy: 1/4 creating folders on the board: %s" % ", ".join(dirs), flush=True)
    # One exec creates every folder, ignoring those that exist already.
    script = "import os\nfor d in %r:\n try:\n  os.mkdir(d)\n except OSError:\n  pass" % (dirs,)
    mpremote(port, "exec", script, show="exec <mkdir each folder>")
    print("deploy: 2/4 copying %d files" % len(files), flush=True)
    args = []
    for path in files:
        rel = os.path.relpath(path, build_dir).replace(os.sep, "/")
        args += ["fs", "cp", path, ":" + rel, "+"]
    mpremote(port, *args[:-1])
    if config:
        print("deploy: 3/4 copying %s to :config.json" % config, flush=True)
        mpremote(port, "fs", "cp", config, ":config.json")
    else:
        print("deploy: 3/4 keeping the board's config.json", flush=True)
    listing = mpremote(port, "fs", "ls", ":firmware")
    if "app.mpy" not in listing:
        raise SystemExit("deploy: firmware/app.mpy is not on the board after copying")
    if reset:
        print("deploy: 4/4 resetting the board", flush=True)
        # mpremote's reset is exec("machine.reset()"); the link drops as the board reboots.
        subprocess.run([paths.venv_bin("mpremote"), "connect", port, "resume", "reset"], timeout=30, check=False,
                       capture_output=True)
    else:
        print("deploy: 4/4 not resetting (--no-reset)", flush=True)
    print("deploy: done, %d files" % len(files), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.deploy", description=__doc__)
    parser.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    parser.add_argument("--config", help="a config.json to install as well")
    parser.add_argument("--no-reset", action="store_true", help="leave the board running (the emulator cannot reset)")
    args = parser.parse_args(argv)
    deploy(args.port, args.config, reset=not args.no_reset)


if __name__ == "__main__":
    main()
