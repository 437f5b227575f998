"""python -m tools.emulator --scenario FILE [options]: run the emulated board until interrupted."""
import argparse
import os
import sys
import time

from tools.emulator.board import EmulatedBoard


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.emulator", description=__doc__)
    parser.add_argument("--scenario", required=True, help="scenario JSON (docs/scenario.md)")
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--mqtt-host", default="127.0.0.1")
    parser.add_argument("--mqtt-port", type=int, default=1883)
    parser.add_argument("--state-dir", default=None,
                        help="persistent board state: flash/ (files), NVS, RTC memory (default .emulator/<scenario>)")
    parser.add_argument("--flash", default=None, help="folder that plays the board's flash (default STATE_DIR/flash)")
    parser.add_argument("--firmware", default=None,
                        help="folder with boot.py/main.py "
                             "(default: the flash if deployed there, else build/, else the sources)")
    parser.add_argument("--heap", default="2M", help="MicroPython heap: 150K stands in for a WROOM-32, 2M for a WROVER")
    parser.add_argument("--serial", default=None, help="create a virtual serial REPL at this path (for mpremote)")
    parser.add_argument("--speed", type=int, default=1,
                        help="run the board's clock N x faster than real time (default 1)")
    parser.add_argument("--start-time", default=None,
                        help="the board's wall time at power-on: unix seconds or ISO 8601 "
                             "(default: scenario start_time, else now)")
    parser.add_argument("--romfs", action="store_true",
                        help="import the firmware in place from a ROM image, as a MicroPython built with "
                             "ROMFS does (the stock ESP32 firmware has none; see README, Hardware)")
    parser.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0: run until Ctrl-C)")
    args = parser.parse_args(argv)

    name = os.path.splitext(os.path.basename(args.scenario))[0]
    state_dir = args.state_dir or os.path.join(".emulator", name)
    board = EmulatedBoard(args.scenario, state_dir, http_port=args.http_port, mqtt_host=args.mqtt_host,
                          mqtt_port=args.mqtt_port, heap=args.heap, firmware_dir=args.firmware,
                          flash_dir=args.flash, serial=args.serial, speed=args.speed,
                          start_time=args.start_time, romfs=args.romfs)
    board.start()
    print("[emulator] firmware: %s%s, heap %s (%d bytes), flash %s"
          % (board.firmware(), " as ROMFS (%d bytes)" % board.romfs_bytes if args.romfs else "", args.heap,
             board.heap, board.flash_dir), flush=True)
    if args.speed != 1 or board.start_time is not None:
        print("[emulator] clock: %d x real time from %s" % (board.speed, time.strftime(
            "%Y-%m-%d %H:%M:%S UTC", time.gmtime(board.start_s))), flush=True)
    print("[emulator] dashboard: http://127.0.0.1:%d/  (API: /api/state)" % args.http_port, flush=True)
    if args.mqtt_host:
        print("[emulator] watch MQTT: mosquitto_sub -h %s -p %d -v -t 'emon/#' -t 'hpmon/#'"
              % (args.mqtt_host, args.mqtt_port), flush=True)
    if args.serial:
        print("[emulator] serial REPL: mpremote connect %s resume" % args.serial, flush=True)
    try:
        if args.duration:
            deadline = time.time() + args.duration
            while time.time() < deadline and board.exit_code is None:
                time.sleep(0.2)
        else:
            code = board.wait()
            return code or 0
    except KeyboardInterrupt:
        pass
    finally:
        board.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
