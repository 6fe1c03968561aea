/* SPDX-License-Identifier: Apache-2.0 */
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>

#include "tests/sim/sim-daemon.h"
#include "tests/sim/sim-hcl.h"
#include "tests/sim/sim-tpm.h"
#include "tests/sim/sim-util.h"
#include "tests/sim/sim-vtpm.h"

/*
 * The Azure paravisor in front of the swtpm QEMU uses. QEMU's `-tpmdev emulator,chardev=C`
 * speaks swtpm's control protocol (swtpm's tpm_ioctl.h: a big-endian u32 command, its request,
 * then the response) on the unix socket C and hands swtpm the data channel, one end of a
 * socketpair, as SCM_RIGHTS with CMD_SET_DATAFD; TPM commands then go over that descriptor.
 *
 * This proxy listens where QEMU's chardev connects and opens a connection to swtpm's own control
 * socket (`swtpm socket --ctrl type=unixio,path=S`, no --server) per QEMU connection. Control
 * bytes are relayed as they come, both ways: QEMU sends one command and waits for its answer, so
 * the stream stays in step without knowing every command's size. The one message that carries a
 * descriptor must be exactly CMD_SET_DATAFD: the proxy keeps QEMU's descriptor, makes a
 * socketpair of its own and passes one end to swtpm in the same message. From then on it reads
 * whole TPM commands from QEMU (10-byte header, size at most SIM_TPM_BUF_MAX), sends each to
 * swtpm over its end, and returns the whole response; sim_tpmproxy_forward() applies the
 * interposer of the TCP proxy (NV 0x01400002 written -> fresh HCL report in NV 0x01400001). With
 * azure, a successful TPM2_Startup (once per boot of the guest) also writes the paravisor's
 * boot-time report (user-data zero), as the TCP proxy does when it starts.
 *
 * QEMU's descriptor is shared with QEMU (same open file description): the proxy never changes its
 * flags or socket options, and reads and writes it with MSG_DONTWAIT after poll(), each whole
 * command or response within IO_TIMEOUT_MS. One QEMU connection at a time; further ones are
 * accepted and closed at once. Every failure ends that connection with one log line; the proxy
 * then waits for the next.
 */

#define IO_TIMEOUT_MS        (30 * 1000) /* one whole TPM command or response */
#define CTRL_CHUNK           4096        /* relay buffer; the stream is not cut at message bounds */
#define CTRL_MAX_FDS         4           /* room to see (and refuse) more than one descriptor */
#define TPM_HEADER_SIZE      10
#define SWTPM_CMD_SET_DATAFD 0x10U

typedef struct Session {
        SimDaemon *d;
        bool azure;
        int qemu_ctrl, swtpm_ctrl; /* ours: blocking with timeouts */
        int qemu_data;             /* QEMU's end, shared with QEMU: no flags changed */
        int swtpm_data;            /* our end of the socketpair swtpm got the other end of */
        uint64_t commands;
} Session;

static uint64_t now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000U + (uint64_t) ts.tv_nsec / 1000000U;
}

static uint32_t get_be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static void set_timeouts(int fd) {
        const struct timeval tv = {.tv_sec = IO_TIMEOUT_MS / 1000};

        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Waits for events on fd until deadline (CLOCK_MONOTONIC ms); -ETIMEDOUT when it passes. */
static int wait_fd(int fd, short events, uint64_t deadline) {
        for (;;) {
                struct pollfd pfd = {.fd = fd, .events = events};
                uint64_t now = now_ms();
                int n;

                if (now >= deadline)
                        return -ETIMEDOUT;
                n = poll(&pfd, 1, (int) MIN(deadline - now, (uint64_t) INT32_MAX));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n > 0)
                        return 0;
        }
}

/*
 * Reads exactly size bytes from QEMU's descriptor by deadline. -EPIPE at EOF before the first
 * byte when first is set (a clean end), -EBADMSG at EOF later.
 */
static int qemu_recv(int fd, uint8_t *buf, size_t size, uint64_t deadline, bool first) {
        size_t got = 0;

        while (got < size) {
                ssize_t k;
                int r;

                r = wait_fd(fd, POLLIN, deadline);
                if (r < 0)
                        return r;
                k = recv(fd, buf + got, size - got, MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return first && got == 0 ? -EPIPE : -EBADMSG;
                got += (size_t) k;
        }
        return 0;
}

static int qemu_send(int fd, const uint8_t *buf, size_t size, uint64_t deadline) {
        size_t done = 0;

        while (done < size) {
                ssize_t k;
                int r;

                r = wait_fd(fd, POLLOUT, deadline);
                if (r < 0)
                        return r;
                k = send(fd, buf + done, size - done, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                done += (size_t) k;
        }
        return 0;
}

/* One whole TPM command from QEMU: header, then the rest as its size says (at most max). */
static int qemu_read_command(int fd, uint8_t *buf, size_t max, size_t *ret_size) {
        uint64_t deadline = now_ms() + IO_TIMEOUT_MS;
        uint32_t size;
        int r;

        r = qemu_recv(fd, buf, TPM_HEADER_SIZE, deadline, /* first= */ true);
        if (r < 0)
                return r;
        size = get_be32(buf + 2);
        if (size < TPM_HEADER_SIZE || size > max)
                return -EBADMSG;
        r = qemu_recv(fd, buf + TPM_HEADER_SIZE, size - TPM_HEADER_SIZE, deadline,
                      /* first= */ false);
        if (r < 0)
                return r;
        *ret_size = size;
        return 0;
}

static bool is_startup_success(const uint8_t *cmd, size_t cmd_size, const uint8_t *resp,
                               size_t resp_size) {
        return cmd_size >= TPM_HEADER_SIZE && get_be32(cmd + 6) == TPM2_CC_Startup &&
               resp_size >= TPM_HEADER_SIZE && get_be32(resp + 6) == TPM2_RC_SUCCESS;
}

/* Closes fd if open; returns -EBADF for `fd = fd_close(fd)`. */
static int fd_close(int fd) {
        if (fd >= 0)
                (void) close(fd);
        return -EBADF;
}

static void data_close(Session *s) {
        s->qemu_data = fd_close(s->qemu_data);
        s->swtpm_data = fd_close(s->swtpm_data);
}

/* One TPM command through: 0, -EPIPE when QEMU closed the data channel, -errno otherwise. */
static int data_relay_one(Session *s) {
        uint8_t cmd[SIM_TPM_BUF_MAX], resp[SIM_TPM_BUF_MAX];
        size_t n, m;
        int r;

        r = qemu_read_command(s->qemu_data, cmd, sizeof(cmd), &n);
        if (r == -EPIPE)
                return r;
        if (r < 0)
                return sim_log_errno(r, "Cannot read a TPM command from QEMU");
        r = sim_tpmproxy_forward(s->d, s->azure, s->swtpm_data, cmd, n, resp, sizeof(resp), &m);
        if (r < 0)
                return sim_log_errno(r, "swtpm did not answer a TPM command on the data channel");
        if (s->azure && is_startup_success(cmd, n, resp, m)) {
                /* a boot (TPM2_Startup succeeds once per CMD_INIT): the paravisor's report,
                 * user-data all zero */
                pthread_mutex_lock(&s->d->fw_lock);
                r = sim_vtpm_hcl_refresh(s->swtpm_data, s->d->dir, s->d->report_id,
                                         /* read_user_data= */ false);
                pthread_mutex_unlock(&s->d->fw_lock);
                if (r < 0)
                        sim_log_errno(r, "The boot-time HCL report was not written");
                else
                        sim_log("TPM2_Startup: boot-time HCL report written to NV 0x%08x",
                                SIM_NV_HCL_REPORT);
        }
        r = qemu_send(s->qemu_data, resp, m, now_ms() + IO_TIMEOUT_MS);
        if (r < 0)
                return sim_log_errno(r, "Cannot send a TPM response to QEMU");
        s->commands++;
        return 0;
}

/* Closes every descriptor a message brought in. */
static void close_passed_fds(struct msghdr *msg) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
                size_t n;

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
                    c->cmsg_len < CMSG_LEN(0))
                        continue;
                n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < n; i++) {
                        int fd;

                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
                        if (fd >= 0)
                                (void) close(fd);
                }
        }
}

/*
 * The descriptor of a message that must be CMD_SET_DATAFD alone with exactly one stream socket.
 * -ENOENT if the message carries none; on any other mismatch every descriptor is closed and the
 * error says what was wrong.
 */
static int take_data_fd(struct msghdr *msg, const uint8_t *buf, size_t size, int *ret_fd) {
        struct cmsghdr *c = CMSG_FIRSTHDR(msg);
        int fd, type;
        socklen_t len = sizeof(type);

        if (!c && !(msg->msg_flags & MSG_CTRUNC))
                return -ENOENT;
        if ((msg->msg_flags & MSG_CTRUNC) || CMSG_NXTHDR(msg, c) || c->cmsg_level != SOL_SOCKET ||
            c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int))) {
                close_passed_fds(msg);
                return sim_log_errno(-EBADMSG, "QEMU passed more than one descriptor, or not as "
                                               "SCM_RIGHTS");
        }
        memcpy(&fd, CMSG_DATA(c), sizeof(fd));
        if (size != 4 || get_be32(buf) != SWTPM_CMD_SET_DATAFD) {
                (void) close(fd);
                return sim_log_errno(-EBADMSG, "QEMU passed a descriptor with a control message "
                                               "other than CMD_SET_DATAFD");
        }
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) {
                (void) close(fd);
                return sim_log_errno(-ENOTSOCK, "QEMU's data channel is not a stream socket");
        }
        *ret_fd = fd;
        return 0;
}

/* Sends buf to swtpm's control socket, with the descriptor fd attached if fd >= 0. */
static int swtpm_ctrl_send(int sock, const uint8_t *buf, size_t size, int fd) {
        union {
                struct cmsghdr align;
                uint8_t space[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = {.iov_base = (void *) buf, .iov_len = size};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t k;

        if (fd < 0)
                return sim_write_full(sock, buf, size);
        msg.msg_control = control.space;
        msg.msg_controllen = sizeof(control.space);
        CMSG_FIRSTHDR(&msg)->cmsg_level = SOL_SOCKET;
        CMSG_FIRSTHDR(&msg)->cmsg_type = SCM_RIGHTS;
        CMSG_FIRSTHDR(&msg)->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(CMSG_FIRSTHDR(&msg)), &fd, sizeof(int));
        do
                k = sendmsg(sock, &msg, MSG_NOSIGNAL);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return -errno;
        /* the descriptor went with the first byte; the rest, if any, plainly */
        return (size_t) k < size ? sim_write_full(sock, buf + k, size - (size_t) k) : 0;
}

/* Bytes QEMU sent on the control channel, to swtpm. 0, -EPIPE when QEMU closed, -errno. */
static int ctrl_from_qemu(Session *s) {
        union {
                struct cmsghdr align;
                uint8_t space[CMSG_SPACE(CTRL_MAX_FDS * sizeof(int))];
        } control;
        uint8_t buf[CTRL_CHUNK];
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
        struct msghdr msg = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control.space,
                .msg_controllen = sizeof(control.space),
        };
        _cleanup_(closep) int qemu_fd = -EBADF, theirs = -EBADF;
        ssize_t k;
        int r, pair[2];

        do
                k = recvmsg(s->qemu_ctrl, &msg, MSG_CMSG_CLOEXEC);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return sim_log_errno(-errno, "Cannot read QEMU's control channel");
        r = take_data_fd(&msg, buf, (size_t) k, &qemu_fd);
        if (r < 0 && r != -ENOENT)
                return r;
        if (k == 0)
                return -EPIPE;
        if (r == -ENOENT)
                r = swtpm_ctrl_send(s->swtpm_ctrl, buf, (size_t) k, -EBADF);
        else {
                if (s->qemu_data >= 0)
                        return sim_log_errno(-EBUSY, "QEMU sent CMD_SET_DATAFD a second time");
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                        return sim_log_errno(-errno, "socketpair() failed");
                theirs = pair[1];
                set_timeouts(pair[0]);
                r = swtpm_ctrl_send(s->swtpm_ctrl, buf, (size_t) k, theirs);
                if (r >= 0) {
                        s->qemu_data = TAKE_FD(qemu_fd);
                        s->swtpm_data = pair[0];
                        sim_log("QEMU's data channel now runs through the proxy%s",
                                s->azure ? " (Azure paravisor)" : "");
                } else
                        (void) close(pair[0]);
        }
        if (r < 0)
                return sim_log_errno(r, "Cannot forward a control message to swtpm");
        return 0;
}

/* swtpm's answer on the control channel, to QEMU. 0, -EPIPE when swtpm closed, -errno. */
static int ctrl_from_swtpm(Session *s) {
        uint8_t buf[CTRL_CHUNK];
        ssize_t k;
        int r;

        do
                k = read(s->swtpm_ctrl, buf, sizeof(buf));
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return sim_log_errno(-errno, "Cannot read swtpm's control channel");
        if (k == 0) {
                sim_log("swtpm closed its control channel"); /* after CMD_SHUTDOWN, normally */
                return -EPIPE;
        }
        r = sim_write_full(s->qemu_ctrl, buf, (size_t) k);
        if (r < 0)
                return sim_log_errno(r, "Cannot forward swtpm's control answer to QEMU");
        return 0;
}

/* Listens on path. The socket is bound under path + ".new" and renamed to path once it listens,
 * so that whoever waits for path to appear (QEMU's starter, the tests) never connects before
 * listen() and gets ECONNREFUSED. A path too long for the suffix is bound directly. */
static int listen_unix(const char *path, int *ret_fd) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        bool staged = strlen(path) + strlen(".new") < sizeof(sa.sun_path);
        struct stat st;
        int fd, r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        (void) snprintf(sa.sun_path, sizeof(sa.sun_path), "%s%s", path, staged ? ".new" : "");
        /* a socket left by an earlier run goes; anything else stays and bind() fails */
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
                (void) unlink(path);
        if (staged && lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
                (void) unlink(sa.sun_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 4) < 0 ||
            (staged && rename(sa.sun_path, path) < 0)) {
                r = -errno;
                if (staged)
                        (void) unlink(sa.sun_path);
                (void) close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

enum { P_SIGNAL, P_LISTEN, P_QEMU_CTRL, P_SWTPM_CTRL, P_QEMU_DATA, P_SWTPM_DATA, _P_MAX };

/* Serves one QEMU connection until it ends; true if a termination signal came. */
static bool session_run(Session *s, int sigfd, int listen_fd) {
        for (;;) {
                struct pollfd pfd[_P_MAX] = {
                        [P_SIGNAL] = {.fd = sigfd, .events = POLLIN},
                        [P_LISTEN] = {.fd = listen_fd, .events = POLLIN},
                        [P_QEMU_CTRL] = {.fd = s->qemu_ctrl, .events = POLLIN},
                        [P_SWTPM_CTRL] = {.fd = s->swtpm_ctrl, .events = POLLIN},
                        [P_QEMU_DATA] = {.fd = s->qemu_data, .events = POLLIN},
                        [P_SWTPM_DATA] = {.fd = s->swtpm_data, .events = POLLIN},
                };
                int r;

                if (poll(pfd, _P_MAX, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        sim_log_errno(-errno, "poll() failed");
                        return false;
                }
                if (pfd[P_SIGNAL].revents)
                        return true;
                if (pfd[P_LISTEN].revents) {
                        int extra = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

                        if (extra >= 0) {
                                sim_log("Refused a second QEMU connection: one at a time");
                                (void) close(extra);
                        }
                }
                if (pfd[P_SWTPM_DATA].revents) {
                        /* swtpm never speaks unasked: this is its end of the channel */
                        sim_log("swtpm closed the data channel");
                        data_close(s);
                        continue;
                }
                if (pfd[P_QEMU_DATA].revents) {
                        r = data_relay_one(s);
                        if (r == -EPIPE)
                                sim_log("QEMU closed the data channel after %llu TPM commands",
                                        (unsigned long long) s->commands);
                        if (r < 0)
                                data_close(s);
                }
                if (pfd[P_QEMU_CTRL].revents) {
                        r = ctrl_from_qemu(s);
                        if (r < 0)
                                return false;
                }
                if (pfd[P_SWTPM_CTRL].revents) {
                        r = ctrl_from_swtpm(s);
                        if (r < 0)
                                return false;
                }
        }
}

static int signals_block(int *ret_fd) {
        sigset_t mask;
        int fd;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        fd = signalfd(-1, &mask, SFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

int sim_qemutpm_run(SimDaemon *d, const char *listen_path, const char *swtpm_ctrl_path,
                    bool azure) {
        _cleanup_(closep) int sigfd = -EBADF, listen_fd = -EBADF;
        bool stop = false;
        int r, ret = 0;

        r = signals_block(&sigfd);
        if (r < 0)
                return sim_log_errno(r, "Cannot set up signal handling");
        r = listen_unix(listen_path, &listen_fd);
        if (r < 0)
                return sim_log_errno(r, "Cannot listen on %s", listen_path);
        sim_log("QEMU TPM proxy on %s for swtpm's control socket %s%s", listen_path,
                swtpm_ctrl_path, azure ? ", Azure paravisor" : "");

        while (!stop) {
                struct pollfd pfd[2] = {{.fd = sigfd, .events = POLLIN},
                                        {.fd = listen_fd, .events = POLLIN}};
                Session s = {
                        .d = d,
                        .azure = azure,
                        .qemu_ctrl = -EBADF,
                        .swtpm_ctrl = -EBADF,
                        .qemu_data = -EBADF,
                        .swtpm_data = -EBADF,
                };

                if (poll(pfd, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        ret = sim_log_errno(-errno, "poll() failed");
                        break;
                }
                if (pfd[0].revents)
                        break; /* the signal stays pending: blocked, and nobody reads it */
                if (!pfd[1].revents)
                        continue;
                s.qemu_ctrl = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (s.qemu_ctrl < 0) {
                        if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN)
                                sim_log_errno(-errno, "accept() on %s failed", listen_path);
                        continue;
                }
                set_timeouts(s.qemu_ctrl);
                r = sim_connect_unix(swtpm_ctrl_path, IO_TIMEOUT_MS / 1000, &s.swtpm_ctrl);
                if (r < 0)
                        sim_log_errno(r, "Cannot connect to swtpm's control socket %s",
                                      swtpm_ctrl_path);
                else {
                        sim_log("QEMU connected");
                        stop = session_run(&s, sigfd, listen_fd);
                        sim_log("QEMU connection ended (%llu TPM commands relayed)",
                                (unsigned long long) s.commands);
                }
                data_close(&s);
                s.qemu_ctrl = fd_close(s.qemu_ctrl);
                s.swtpm_ctrl = fd_close(s.swtpm_ctrl);
        }
        (void) unlink(listen_path);
        sim_log("Stopped");
        return ret;
}
