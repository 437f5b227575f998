#!/bin/sh
# Start a local mosquitto on port $1 unless something already listens there.
port="${1:-1883}"
if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.5); sys.exit(s.connect_ex(('127.0.0.1', $port)))"; then
    echo "broker: something already listens on 127.0.0.1:$port"
    exit 0
fi
bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
"$bin" -p "$port" -d
sleep 0.3
echo "broker: started mosquitto on 127.0.0.1:$port"
