#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""fwd.py PORT: QEMU's guestfwd command for one guest connection: copies its stdin to
127.0.0.1:PORT and the answer to its stdout. It reaches the host's loopback only."""

import os
import select
import socket
import sys

port = int(sys.argv[1])
# QEMU gives the command the guest's connection as stdin, stdout and stderr: nothing but the
# service's bytes may reach it (a traceback would read as a garbled answer).
devnull = os.open(os.devnull, os.O_WRONLY)
os.dup2(devnull, 2)
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
except OSError:
    # Nothing listens (the verifier taken away): the guest's connection just closes.
    sys.exit(1)
s.settimeout(None)
ins = sys.stdin.fileno()
outs = sys.stdout.fileno()
open_in = True
while True:
    fds = [s] + ([ins] if open_in else [])
    r, _, _ = select.select(fds, [], [], 300)
    if not r:
        break
    if ins in r:
        data = os.read(ins, 65536)
        if data:
            s.sendall(data)
        else:
            open_in = False
            s.shutdown(socket.SHUT_WR)
    if s in r:
        data = s.recv(65536)
        if not data:
            break
        os.write(outs, data)
