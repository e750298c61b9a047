#!/usr/bin/env python3
"""A TCP relay on 127.0.0.1: what a local user without the cluster secret could
run on a port that members dial. Prints its port, forwards every connection to
127.0.0.1:TARGET, and writes the first byte the first client sent to FIRST_BYTE.
Exits once no client came for 30 s (a test that failed leaves nothing behind).

Usage: relay.py TARGET_PORT FIRST_BYTE_FILE
"""
import socket
import sys
import threading

target = int(sys.argv[1])
record = [sys.argv[2]]


def pump(src, dst, note_first):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if note_first and record[0] is not None:
                with open(record[0], "wb") as f:
                    f.write(data[:1])
                record[0] = None
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
listener.settimeout(30)
print(listener.getsockname()[1], flush=True)
while True:
    try:
        client, _ = listener.accept()
    except socket.timeout:
        sys.exit(0)
    client.settimeout(None)
    upstream = socket.create_connection(("127.0.0.1", target))
    threading.Thread(target=pump, args=(client, upstream, True), daemon=True).start()
    threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()
