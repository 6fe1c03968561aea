/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include "tests/sim/sim-daemon.h"
#include "tests/sim/sim-hcl.h"
#include "tests/sim/sim-tpm.h"
#include "tests/sim/sim-util.h"
#include "tests/sim/sim-vtpm.h"

/*
 * The Azure paravisor between the guest and its vTPM: a TCP proxy in front of swtpm that speaks
 * swtpm's own protocol (raw TPM commands on port P, the control channel on P + 1, as tpm2-tss's
 * swtpm TCTI expects), so the guest's TCTI points here. Commands are read whole and forwarded to
 * swtpm on a connection of their own per client, like swtpm, one client at a time. Control
 * connections are forwarded byte for byte.
 *
 * With azure, a successful TPM2_NV_Write to NV 0x01400002 (the guest's user data) makes the proxy,
 * before it hands the response back, read that index and rewrite NV 0x01400001 with a fresh HCL
 * report whose runtime claim user-data is its hex: the commands go to swtpm on the same upstream
 * connection, since swtpm serves one client at a time. (Azure's paravisor does this
 * asynchronously; guests sleep before reading. Here the report is fresh when the write returns.)
 */

#define PORT_MIN      20000U
#define PORT_SPAN     40000U
#define BIND_ATTEMPTS 64
#define CTRL_IDLE_MS  (60 * 1000)

typedef struct Proxy {
        SimDaemon *d;
        uint16_t upstream; /* swtpm's command port; control on upstream + 1 */
        bool azure;
        int cmd_fd, ctrl_fd;
} Proxy;

static int listen_on(uint16_t port, int *ret_fd) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_port = htons(port),
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        const int one = 1;
        int fd, r;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

/* Two consecutive free loopback ports, chosen at random so that simulators run side by side. */
static int listen_pair(uint16_t *ret_port, int *ret_cmd, int *ret_ctrl) {
        for (int i = 0; i < BIND_ATTEMPTS; i++) {
                uint16_t v, port;
                int a, b, r;

                if (RAND_bytes((uint8_t *) &v, sizeof(v)) != 1)
                        return -EIO;
                port = (uint16_t) (PORT_MIN + v % PORT_SPAN);
                r = listen_on(port, &a);
                if (r == -EADDRINUSE)
                        continue;
                if (r < 0)
                        return r;
                r = listen_on((uint16_t) (port + 1), &b);
                if (r < 0) {
                        close(a);
                        if (r == -EADDRINUSE)
                                continue;
                        return r;
                }
                *ret_port = port;
                *ret_cmd = a;
                *ret_ctrl = b;
                return 0;
        }
        return -EADDRINUSE;
}

static uint32_t get_be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* TPM2_NV_Write(authHandle, nvIndex = 0x01400002, ...) that succeeded */
static bool is_user_data_write(const uint8_t *cmd, size_t cmd_size, const uint8_t *resp,
                               size_t resp_size) {
        return cmd_size >= 18 && get_be32(cmd + 6) == TPM2_CC_NV_Write &&
               get_be32(cmd + 14) == SIM_NV_HCL_USER_DATA && resp_size >= 10 &&
               get_be32(resp + 6) == TPM2_RC_SUCCESS;
}

int sim_tpmproxy_forward(SimDaemon *d, bool azure, int upstream, const uint8_t *cmd,
                         size_t cmd_size, uint8_t *resp, size_t resp_max, size_t *ret_size) {
        size_t m;
        int r;

        r = sim_tpm_transact(upstream, cmd, cmd_size, resp, resp_max, &m);
        if (r < 0)
                return r;
        if (azure && is_user_data_write(cmd, cmd_size, resp, m)) {
                pthread_mutex_lock(&d->fw_lock);
                r = sim_vtpm_hcl_refresh(upstream, d->dir, d->report_id,
                                         /* read_user_data= */ true);
                pthread_mutex_unlock(&d->fw_lock);
                if (r < 0)
                        sim_log_errno(r, "The HCL report was not refreshed");
                else
                        sim_log("NV 0x%08x written: HCL report refreshed", SIM_NV_HCL_USER_DATA);
        }
        *ret_size = m;
        return 0;
}

static int serve_commands(Proxy *p, int client) {
        _cleanup_(closep) int upstream = -EBADF;
        uint8_t cmd[SIM_TPM_BUF_MAX], resp[SIM_TPM_BUF_MAX];

        for (;;) {
                size_t n, m;
                int r;

                r = sim_tpm_read_packet(client, cmd, sizeof(cmd), &n);
                if (r == -EPIPE)
                        return 0; /* the client is done */
                if (r < 0)
                        return r;
                if (upstream < 0) {
                        r = sim_tpm_connect(p->upstream, &upstream);
                        if (r < 0)
                                return sim_log_errno(r, "Cannot connect to swtpm on port %u",
                                                     p->upstream);
                }
                r = sim_tpmproxy_forward(p->d, p->azure, upstream, cmd, n, resp, sizeof(resp), &m);
                if (r < 0)
                        return sim_log_errno(r, "swtpm did not answer");
                r = sim_write_full(client, resp, m);
                if (r < 0)
                        return r;
        }
}

static void *cmd_thread(void *arg) {
        Proxy *p = arg;

        for (;;) {
                int fd = accept4(p->cmd_fd, NULL, NULL, SOCK_CLOEXEC);
                int r;

                if (fd < 0) {
                        if (errno != EINTR && errno != ECONNABORTED) {
                                sim_log_errno(-errno, "accept() on the TPM proxy failed");
                                sleep(1);
                        }
                        continue;
                }
                r = serve_commands(p, fd);
                if (r < 0 && r != -ECONNRESET)
                        sim_log_errno(r, "TPM proxy connection ended");
                close(fd);
        }
        return NULL;
}

/* Copies bytes both ways until either side closes (or stays idle too long). */
static void pump(int a, int b) {
        struct pollfd pfd[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
        uint8_t buf[4096];

        for (;;) {
                int n = poll(pfd, 2, CTRL_IDLE_MS);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return;
                for (int i = 0; i < 2; i++) {
                        ssize_t k;

                        if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        k = read(pfd[i].fd, buf, sizeof(buf));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0 || sim_write_full(pfd[1 - i].fd, buf, (size_t) k) < 0)
                                return;
                }
        }
}

static void *ctrl_thread(void *arg) {
        Proxy *p = arg;

        for (;;) {
                _cleanup_(closep) int up = -EBADF;
                int fd = accept4(p->ctrl_fd, NULL, NULL, SOCK_CLOEXEC);
                int r;

                if (fd < 0) {
                        if (errno != EINTR && errno != ECONNABORTED) {
                                sim_log_errno(-errno, "accept() on the TPM control proxy failed");
                                sleep(1);
                        }
                        continue;
                }
                r = sim_tpm_connect((uint16_t) (p->upstream + 1), &up);
                if (r < 0)
                        sim_log_errno(r, "Cannot connect to swtpm's control port %u",
                                      p->upstream + 1);
                else
                        pump(fd, up);
                close(fd);
        }
        return NULL;
}

int sim_tpmproxy_start(SimDaemon *d, uint16_t upstream_port, bool azure, uint16_t *ret_port) {
        static Proxy proxy;
        sigset_t block, saved;
        pthread_t tid;
        uint16_t port;
        int a, b, r;

        if (azure) {
                _cleanup_(closep) int fd = -EBADF;

                /* the paravisor's report at boot: user-data all zero */
                r = sim_tpm_connect(upstream_port, &fd);
                if (r < 0)
                        return sim_log_errno(r, "Cannot connect to swtpm on port %u",
                                             upstream_port);
                pthread_mutex_lock(&d->fw_lock);
                r = sim_vtpm_hcl_refresh(fd, d->dir, d->report_id, /* read_user_data= */ false);
                pthread_mutex_unlock(&d->fw_lock);
                if (r < 0)
                        return r;
        }
        r = listen_pair(&port, &a, &b);
        if (r < 0)
                return sim_log_errno(r, "Cannot listen on two loopback ports for the TPM proxy");
        proxy = (Proxy){
                .d = d,
                .upstream = upstream_port,
                .azure = azure,
                .cmd_fd = a,
                .ctrl_fd = b,
        };
        /* Termination signals must reach the FUSE loop in the main thread, not these. */
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGHUP);
        sigaddset(&block, SIGPIPE);
        (void) pthread_sigmask(SIG_BLOCK, &block, &saved);
        r = pthread_create(&tid, NULL, cmd_thread, &proxy);
        if (r == 0) {
                (void) pthread_detach(tid);
                r = pthread_create(&tid, NULL, ctrl_thread, &proxy);
                if (r == 0)
                        (void) pthread_detach(tid);
        }
        (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (r != 0)
                return sim_log_errno(-r, "pthread_create() failed");
        *ret_port = port;
        return 0;
}
