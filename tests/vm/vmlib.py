# SPDX-License-Identifier: Apache-2.0
"""The VM test's machinery: a swtpm vTPM with an EK certificate, a QEMU guest (TCG, OVMF, virtio
disk through a qcow2 overlay, user-mode network whose only way out is a guestfwd to a port on the
host's loopback) and its serial console, read and answered like expect(1). Every wait has a
timeout; a guest that overruns it is killed."""

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
# The address the guest reaches the host's loopback port through (QEMU's guestfwd).
GUEST_FWD_ADDR = "10.0.2.100"
GUEST_FWD_PORT = 8443
HERE = os.path.dirname(os.path.abspath(__file__))


class Timeout(Exception):
    pass


def missing_tools():
    """What the VM test needs and this machine lacks (the test skips with exit 77)."""
    miss = []
    for t in ("qemu-system-x86_64", "qemu-img", "swtpm", "swtpm_setup"):
        if not shutil.which(t):
            miss.append(t)
    for f in (OVMF_CODE, OVMF_VARS):
        if not os.path.exists(f):
            miss.append(f)
    return miss


class Clock:
    def __init__(self):
        self.t0 = time.monotonic()

    def now(self):
        return time.monotonic() - self.t0


def say(clock, msg):
    print("[%6.1fs] %s" % (clock.now(), msg), flush=True)


class Tpm:
    """swtpm on a unix socket QEMU uses as its TPM chardev. setup() makes the state (with an EK
    certificate from swtpm's local CA) once; start() runs swtpm for one boot."""

    def __init__(self, statedir):
        self.dir = statedir
        self.sock = os.path.join(statedir, "swtpm.sock")
        self.proc = None

    def setup(self):
        os.makedirs(self.dir, exist_ok=True)
        subprocess.run(["swtpm_setup", "--tpm2", "--tpmstate", self.dir, "--create-ek-cert",
                        "--create-platform-cert", "--overwrite", "--pcr-banks", "sha256",
                        "--logfile", os.path.join(self.dir, "swtpm_setup.log")],
                       check=True, stdout=subprocess.DEVNULL, timeout=60)

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.proc = subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + self.dir,
             "--ctrl", "type=unixio,path=%s" % self.sock,
             "--log", "file=%s,level=1" % os.path.join(self.dir, "swtpm.log")],
            stdin=subprocess.DEVNULL)
        Tpm.wait_socket(self.sock, self.proc, "swtpm", os.path.join(self.dir, "swtpm.log"))

    def stop(self):
        Tpm.stop_process(self.proc)
        self.proc = None

    @staticmethod
    def stop_process(proc, timeout=5):
        """SIGTERM, then SIGKILL if it has not ended within timeout seconds; None is fine."""
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    @staticmethod
    def wait_socket(path, proc, what, log, timeout=10):
        """Waits for the unix socket path while proc runs; RuntimeError naming log if not."""
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("%s did not start (see %s)" % (what, log))
            time.sleep(0.02)


class SimTpm:
    """The SEV-SNP simulator's Azure paravisor in front of QEMU's swtpm, for one boot: swtpm on
    the state `cvm-sim up --azure` provisioned in SIMDIR/tpm, with its control socket and no
    --server (QEMU hands it the data channel), and `cvm-simd qemu-tpm --azure` listening on sock,
    the path QEMU's chardev connects to. The TPM commands then pass through cvm-simd, which
    rewrites the HCL report in NV 0x01400001 when the guest writes NV 0x01400002. The sockets go
    in a short directory of their own (unix socket paths are limited to 107 bytes); the logs in
    logdir (swtpm.log, qemu-tpm.log)."""

    def __init__(self, simdir, simd, logdir):
        self.simdir = simdir
        self.dir = os.path.join(simdir, "tpm")
        self.simd = simd
        self.logdir = logdir
        self.sockdir = None
        self.sock = None
        self.ctrl = None
        self.swtpm = None
        self.proxy = None
        self.swtpm_log = os.path.join(logdir, "swtpm.log")
        self.proxy_log = os.path.join(logdir, "qemu-tpm.log")

    def start(self):
        os.makedirs(self.logdir, exist_ok=True)
        self.sockdir = tempfile.mkdtemp(prefix="cvm-vm-tpm.")
        self.ctrl = os.path.join(self.sockdir, "swtpm.ctrl")
        self.sock = os.path.join(self.sockdir, "tpm.sock")
        try:
            self.swtpm = subprocess.Popen(
                ["swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + self.dir,
                 "--ctrl", "type=unixio,path=%s" % self.ctrl,
                 "--log", "file=%s,level=1" % self.swtpm_log],
                stdin=subprocess.DEVNULL)
            Tpm.wait_socket(self.ctrl, self.swtpm, "swtpm", self.swtpm_log)
            with open(self.proxy_log, "ab") as log:
                self.proxy = subprocess.Popen(
                    [self.simd, "qemu-tpm", "--dir", self.simdir, "--listen", self.sock,
                     "--swtpm-ctrl", self.ctrl, "--azure"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            Tpm.wait_socket(self.sock, self.proxy, "cvm-simd qemu-tpm", self.proxy_log)
        except BaseException:
            self.stop()
            raise

    def refreshes(self):
        """How many times the proxy rewrote the HCL report for the guest's user data."""
        try:
            with open(self.proxy_log, errors="replace") as f:
                return f.read().count("written: HCL report refreshed")
        except OSError:
            return 0

    def stop(self):
        # QEMU's CMD_SHUTDOWN has normally ended swtpm; a killed QEMU sends none.
        Tpm.stop_process(self.proxy)
        Tpm.stop_process(self.swtpm)
        self.proxy = self.swtpm = None
        if self.sockdir:
            shutil.rmtree(self.sockdir, ignore_errors=True)
            self.sockdir = None


class Guest:
    """One QEMU run. The console's bytes go to serial.log as they come; expect() searches what
    came after the last match."""

    def __init__(self, rundir, disk, tpm, clock, fwd_port=None, smp=2, mem=1024,
                 log_name="serial.log"):
        self.dir = rundir
        self.log_name = log_name
        self.disk = disk
        self.tpm = tpm
        self.clock = clock
        self.fwd_port = fwd_port
        self.smp = smp
        self.mem = mem
        self.proc = None
        self.buf = b""
        self.pos = 0
        self.log = None
        self.marks = {}

    def start(self, overlay=True):
        os.makedirs(self.dir, exist_ok=True)
        vars_fd = os.path.join(self.dir, "OVMF_VARS.fd")
        if not os.path.exists(vars_fd):
            shutil.copyfile(OVMF_VARS, vars_fd)
        drive = self.disk
        fmt = "raw"
        if overlay:
            drive = os.path.join(self.dir, "disk.qcow2")
            if not os.path.exists(drive):
                subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                                os.path.realpath(self.disk), drive], check=True, timeout=30)
            fmt = "qcow2"
        net = "user,id=n0,restrict=on"
        if self.fwd_port:
            # One forwarder process per guest connection; it reaches only 127.0.0.1:fwd_port.
            net += ",guestfwd=tcp:%s:%d-cmd:%s %s %d" % (
                GUEST_FWD_ADDR, GUEST_FWD_PORT, sys.executable,
                os.path.join(HERE, "fwd.py"), self.fwd_port)
        argv = ["qemu-system-x86_64", "-machine", "q35,accel=tcg", "-cpu", "max",
                "-smp", str(self.smp), "-m", str(self.mem), "-nodefaults", "-display", "none",
                "-no-reboot",
                "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + OVMF_CODE,
                "-drive", "if=pflash,format=raw,unit=1,file=" + vars_fd,
                "-drive", "if=virtio,format=%s,file=%s" % (fmt, drive),
                "-chardev", "socket,id=chrtpm,path=" + self.tpm.sock,
                "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
                "-device", "tpm-tis,tpmdev=tpm0",
                "-netdev", net, "-device", "virtio-net-pci,netdev=n0,romfile=",
                "-chardev", "stdio,id=ser0,signal=off",
                "-serial", "chardev:ser0"]
        self.log = open(os.path.join(self.dir, self.log_name), "ab")
        self.buf = b""
        self.pos = 0
        self.t_start = self.clock.now()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(os.path.join(self.dir, "qemu.err"), "ab"),
                                     start_new_session=True)
        os.set_blocking(self.proc.stdout.fileno(), False)

    def _read(self, timeout):
        fd = self.proc.stdout.fileno()
        r, _, _ = select.select([fd], [], [], max(0.0, timeout))
        if not r:
            return True
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return True
        if not data:
            return False
        self.buf += data
        self.log.write(data)
        self.log.flush()
        return True

    def expect(self, patterns, timeout, what=None):
        """Waits for one of patterns (bytes regexes) after the last match; returns (index, match).
        Raises Timeout (with the console's tail) when none comes in time or QEMU ends."""
        if isinstance(patterns, (bytes, str)):
            patterns = [patterns]
        pats = [re.compile(p.encode() if isinstance(p, str) else p) for p in patterns]
        deadline = time.monotonic() + timeout
        while True:
            best = None
            for i, p in enumerate(pats):
                m = p.search(self.buf, self.pos)
                if m and (best is None or m.start() < best[1].start()):
                    best = (i, m)
            if best:
                self.pos = best[1].end()
                return best
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 1.0)):
                if left > 0 and self.proc.poll() is None:
                    continue
                tail = self.buf[-600:].decode(errors="replace")
                raise Timeout("%s: not seen within %ds%s; console tail:\n%s" % (
                    what or patterns, timeout,
                    " (QEMU exited %s)" % self.proc.poll() if self.proc.poll() is not None
                    else "", tail))

    def mark(self, name, patterns, timeout):
        """expect(), and record the time since QEMU started under name."""
        r = self.expect(patterns, timeout, what=name)
        self.marks[name] = self.clock.now() - self.t_start
        say(self.clock, "%-28s +%.1fs since QEMU started" % (name, self.marks[name]))
        return r

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def shell(self, cmd, timeout=60):
        """Runs cmd in the guest's root shell (echo off: see login_shell); returns (status,
        output)."""
        tag = "%x" % int(time.monotonic() * 1e6)
        # The markers are split in the command so that an echo of it cannot match.
        self.send("echo '@@B''%s'; ( %s ) 2>&1; echo \"@@E\"\"%s $?\"\n" % (tag, cmd, tag))
        self.expect(r"@@B%s\r?\n" % tag, timeout, what="start of: " + cmd)
        start = self.pos
        _, m = self.expect(r"@@E%s (\d+)\r?\n" % tag, timeout, what="end of: " + cmd)
        out = self.buf[start:m.start()].decode(errors="replace").replace("\r\n", "\n")
        return int(m.group(1)), out

    def login_shell(self, timeout):
        """Waits for the autologin root shell and makes it quiet: no kernel messages, no echo."""
        self.mark("root shell", r"root@cvm-guest[^\r\n]*# ", timeout)
        self.send("dmesg -n 1; stty -echo; export PS1='# ' TERM=dumb\n")
        self.shell("true", timeout=30)

    def wait_exit(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Timeout("QEMU did not exit within %ds" % timeout)
        finally:
            while self._read(0):
                if self.proc.poll() is not None and not select.select(
                        [self.proc.stdout.fileno()], [], [], 0)[0]:
                    break

    def kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None
