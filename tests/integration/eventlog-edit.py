#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A TCG crypto-agile event log with a changed kernel command line, as a boot whose command line
an admin edited would measure it: every EV_IPL event of PCR 8 whose text starts with
"kernel_cmdline: " or "grub_cmd: linux " gets SUFFIX appended to its text, and its digests (every
bank the log declares) recomputed the way the original ones were made (over the text with or
without its NUL). Exit 0 with OUT written, 1 when the log has no such event, 2 on a malformed log.

usage: eventlog-edit.py IN OUT SUFFIX
"""
import hashlib
import struct
import sys

EV_IPL = 0xD
HASHES = {0x0004: hashlib.sha1, 0x000B: hashlib.sha256, 0x000C: hashlib.sha384,
          0x000D: hashlib.sha512}


def main(src, dst, suffix):
    b = open(src, "rb").read()
    # The first event: TCG_PCClientPCREvent (SHA-1 format) holding the Spec ID Event03.
    if len(b) < 32:
        return 2
    size, = struct.unpack_from("<I", b, 28)
    spec = b[32:32 + size]
    if len(spec) != size or size < 28 or not spec.startswith(b"Spec ID Event03\0"):
        return 2
    n, = struct.unpack_from("<I", spec, 24)
    sizes = {}
    for i in range(n):
        alg, dsize = struct.unpack_from("<HH", spec, 28 + 4 * i)
        sizes[alg] = dsize
    out = bytearray(b[:32 + size])
    off = 32 + size
    changed = 0
    while off < len(b):
        pcr, typ, count = struct.unpack_from("<III", b, off)
        p = off + 12
        digests = []
        for _ in range(count):
            alg, = struct.unpack_from("<H", b, p)
            digests.append((alg, b[p + 2:p + 2 + sizes[alg]]))
            p += 2 + sizes[alg]
        dlen, = struct.unpack_from("<I", b, p)
        data = b[p + 4:p + 4 + dlen]
        off = p + 4 + dlen
        if pcr == 8 and typ == EV_IPL and (data.startswith(b"kernel_cmdline: ") or
                                          data.startswith(b"grub_cmd: linux ")):
            text = data.rstrip(b"\0")
            with_nul = any(a in HASHES and HASHES[a](data).digest() == d for a, d in digests)
            data = text + suffix.encode() + (b"\0" if data.endswith(b"\0") else b"")
            hashed = data if with_nul else data.rstrip(b"\0")
            digests = [(a, HASHES[a](hashed).digest() if a in HASHES else d) for a, d in digests]
            changed += 1
        out += struct.pack("<III", pcr, typ, len(digests))
        for alg, d in digests:
            out += struct.pack("<H", alg) + d
        out += struct.pack("<I", len(data)) + data
    if not changed:
        return 1
    open(dst, "wb").write(out)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(main(*sys.argv[1:]))
    except (struct.error, KeyError):
        sys.exit(2)
