#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Listeners for tests/integration/alerts.sh, recording what the agent's alerts deliver.

  alert-listen.py http PORT OUT [--fail N] [--delay SECONDS]
      A webhook on 127.0.0.1:PORT (0: any free port, written to OUT.port once listening).
      Every POST body is appended to OUT as one line; the first N requests get 503 (counted in
      OUT.refused), and each answer waits SECONDS first.

  alert-listen.py journal SOCKET OUT
      journald's native protocol on the datagram socket SOCKET (created, and SOCKET.ready
      written once bound): every entry is appended to OUT as one JSON object per line.
"""
import http.server
import json
import os
import socket
import struct
import sys
import threading
import time

lock = threading.Lock()


def append(path, line):
    with lock, open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()


def serve_http(port, out, fail, delay):
    state = {"fail": fail}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n).decode("utf-8")
            if delay:
                time.sleep(delay)
            with lock:
                refuse = state["fail"] > 0
                if refuse:
                    state["fail"] -= 1
            if refuse:
                append(out + ".refused", body.strip())
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            append(out, body.strip())
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    with open(out + ".port.tmp", "w", encoding="ascii") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(out + ".port.tmp", out + ".port")
    srv.serve_forever()


def parse_native(data):
    """journald's native protocol: FIELD=value lines, or FIELD, newline, 64-bit LE size, value."""
    entry = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            (size,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            v = data[nl + 9:nl + 9 + size]
            i = nl + 9 + size + 1
        entry[k.decode()] = v.decode("utf-8", "replace")
    return entry


def serve_journal(path, out):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    with open(path + ".ready", "w", encoding="ascii") as f:
        f.write("ready\n")
    while True:
        data, anc, _, _ = s.recvmsg(1 << 20, socket.CMSG_SPACE(4 * 4))
        for level, kind, payload in anc:
            # Entries too big for a datagram come as a memfd.
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fd = struct.unpack("i", payload[:4])[0]
                data = os.pread(fd, 1 << 24, 0)
                os.close(fd)
        append(out, json.dumps(parse_native(data), sort_keys=True))


def main():
    args = sys.argv[1:]
    if len(args) >= 3 and args[0] == "http":
        fail, delay = 0, 0.0
        rest = args[3:]
        while rest:
            if rest[0] == "--fail":
                fail = int(rest[1])
            elif rest[0] == "--delay":
                delay = float(rest[1])
            else:
                sys.exit("unknown option " + rest[0])
            rest = rest[2:]
        serve_http(int(args[1]), args[2], fail, delay)
    elif len(args) == 3 and args[0] == "journal":
        serve_journal(args[1], args[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
