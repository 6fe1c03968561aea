/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include "tests/sim/sim-daemon.h"
#include "tests/sim/sim-proto.h"
#include "tests/sim/sim-util.h"

/* The host + firmware side of /dev/sev-guest: one SimProtoRequest per connection. */

typedef struct SockdArgs {
        SimDaemon *daemon;
        int fd;
} SockdArgs;

void sim_daemon_request(SimDaemon *d, const SimFwRequest *req, SimFwResult *ret) {
        int r;

        pthread_mutex_lock(&d->fw_lock);
        r = sim_fw_request(d->dir, d->report_id, req, ret);
        pthread_mutex_unlock(&d->fw_lock);
        if (r < 0) {
                sim_log_errno(r, "Simulated firmware failed; answering EIO");
                sim_fw_result_done(ret);
                *ret = (SimFwResult) { .error = EIO };
        }
}

static int serve_one(SimDaemon *d, int fd) {
        const struct timeval tv = { .tv_sec = 10 };
        SimProtoRequest q;
        SimProtoResponse a = { .magic = SIM_PROTO_RESP_MAGIC };
        SimFwRequest req = {};
        SimFwResult res = {};
        int r;

        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        r = sim_read_full(fd, &q, sizeof(q));
        if (r < 0)
                return r;
        if (q.magic != SIM_PROTO_REQ_MAGIC || q.version != SIM_PROTO_VERSION ||
            (q.op != SIM_PROTO_OP_REPORT && q.op != SIM_PROTO_OP_EXT_REPORT) ||
            q.certs_len > SIM_CERTS_MAX)
                return -EPROTO;

        memcpy(req.report_data, q.user_data, sizeof(req.report_data));
        req.vmpl = q.vmpl;
        req.extended = q.op == SIM_PROTO_OP_EXT_REPORT;
        req.certs_len = req.extended ? q.certs_len : 0;
        sim_daemon_request(d, &req, &res);

        a.error = res.error;
        a.exitinfo2 = res.exitinfo2;
        if (res.error == 0) {
                a.resp_size = SIM_REPORT_RESP_SIZE;
                a.certs_len = (uint32_t) res.certs_size;
        } else
                a.certs_len = res.certs_len;
        r = sim_write_full(fd, &a, sizeof(a));
        if (r >= 0 && a.resp_size > 0)
                r = sim_write_full(fd, res.resp, a.resp_size);
        if (r >= 0 && res.error == 0 && res.certs_size > 0)
                r = sim_write_full(fd, res.certs, res.certs_size);
        sim_fw_result_done(&res);
        return r;
}

static void *sockd_thread(void *arg) {
        SockdArgs *s = arg;

        for (;;) {
                int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
                int r;

                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        sim_log_errno(-errno, "accept() on the sev-guest socket failed");
                        sleep(1);
                        continue;
                }
                r = serve_one(s->daemon, fd);
                if (r < 0)
                        sim_log_errno(r, "sev-guest request failed");
                close(fd);
        }
        return NULL;
}

int sim_sockd_start(SimDaemon *d, const char *path) {
        static SockdArgs args;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        pthread_t tid;
        int fd, r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return sim_log_errno(-ENAMETOOLONG, "Socket path too long: %s", path);
        memcpy(sa.sun_path, path, strlen(path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return sim_log_errno(-errno, "socket() failed");
        (void) unlink(path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
                r = -errno;
                close(fd);
                return sim_log_errno(r, "Cannot listen on %s", path);
        }
        args = (SockdArgs) { .daemon = d, .fd = fd };
        /* Termination signals must reach the FUSE loop in the main thread, not this one. */
        sigset_t block, saved;
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGHUP);
        sigaddset(&block, SIGPIPE);
        (void) pthread_sigmask(SIG_BLOCK, &block, &saved);
        r = pthread_create(&tid, NULL, sockd_thread, &args);
        (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (r != 0) {
                close(fd);
                return sim_log_errno(-r, "pthread_create() failed");
        }
        (void) pthread_detach(tid);
        return 0;
}
