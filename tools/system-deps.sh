#!/bin/sh
# System packages the tests and the emulator need: mosquitto (the broker),
# socat (the emulated board's virtual serial port), Chromium and its WebDriver
# (the dashboard's browser tests). Installed with apt when
# missing and we are root; otherwise say what to install.
set -e
missing=""
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$missing mosquitto"
command -v mosquitto_sub >/dev/null 2>&1 || missing="$missing mosquitto-clients"
command -v socat >/dev/null 2>&1 || missing="$missing socat"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -x /usr/bin/chromedriver ] || missing="$missing chromium-driver"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing:$missing"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
else
    echo "please install:$missing (e.g. sudo apt-get install$missing)" >&2
    exit 1
fi
