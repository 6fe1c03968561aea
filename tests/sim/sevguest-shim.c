/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cvm-sim-sevguest.so: an LD_PRELOAD shim that makes a placeholder file act as /dev/sev-guest.
 *
 * open()/openat() (and the fortified and 64-bit variants) of the path named by
 * $CVM_SEV_GUEST_DEVICE, when that path lies inside $CVM_SIM_DIR, open the placeholder file as
 * usual and remember the descriptor. ioctl() on a remembered descriptor implements the sev-guest
 * driver (Linux drivers/virt/coco/sev-guest/sev-guest.c, spec section 1): its argument checks
 * here, the host and firmware in cvm-simd, reached over $CVM_SIM_DIR/sevguest.sock. Everything
 * else goes straight to the next definition (libc). The shim links nothing but libc/libdl.
 *
 * Not covered: descriptors duplicated with dup()/fcntl(F_DUPFD) or inherited across exec() are
 * not recognized (ioctl on them reaches the real placeholder file and fails with ENOTTY).
 * SNP_GET_DERIVED_KEY is not simulated (ENOTTY).
 */

/*
 * We define open() and friends ourselves: no fortify inline wrappers and no open -> open64
 * redirection in this file.
 */
#undef _FORTIFY_SOURCE
#undef _FILE_OFFSET_BITS

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/sim/sim-abi.h"
#include "tests/sim/sim-proto.h"

#define SHIM_EXPORT __attribute__((visibility("default")))
#define SHIM_FD_MAX 65536

/* One bit per descriptor that stands for /dev/sev-guest. */
static uint64_t shim_fds[SHIM_FD_MAX / 64];

static void fd_remember(int fd) {
        if (fd >= 0 && fd < SHIM_FD_MAX)
                __atomic_fetch_or(&shim_fds[fd / 64], UINT64_C(1) << (fd % 64), __ATOMIC_SEQ_CST);
}

static void fd_forget(int fd) {
        if (fd >= 0 && fd < SHIM_FD_MAX)
                __atomic_fetch_and(&shim_fds[fd / 64], ~(UINT64_C(1) << (fd % 64)),
                                   __ATOMIC_SEQ_CST);
}

static bool fd_known(int fd) {
        if (fd < 0 || fd >= SHIM_FD_MAX)
                return false;
        return __atomic_load_n(&shim_fds[fd / 64], __ATOMIC_SEQ_CST) &
               (UINT64_C(1) << (fd % 64));
}

static void *next_symbol(const char *name) {
        void *p = dlsym(RTLD_NEXT, name);

        if (!p) {
                fprintf(stderr, "cvm-sim-sevguest: cannot find the real %s()\n", name);
                abort();
        }
        return p;
}

/* Resolves the next definition once; benign race (every thread stores the same pointer). */
#define REAL(type, name)                                                      \
        ({                                                                    \
                static type _real_;                                           \
                type _p_ = __atomic_load_n(&_real_, __ATOMIC_ACQUIRE);        \
                if (!_p_) {                                                   \
                        _p_ = (type) next_symbol(#name);                      \
                        __atomic_store_n(&_real_, _p_, __ATOMIC_RELEASE);     \
                }                                                             \
                _p_;                                                          \
        })

/* Is path the simulated device: equal to $CVM_SEV_GUEST_DEVICE and inside $CVM_SIM_DIR? */
static bool is_sim_device(int dirfd, const char *path) {
        const char *dev, *dir;
        char rdir[PATH_MAX], rdev[PATH_MAX];
        size_t n;
        int saved = errno;
        bool match = false;

        if (!path)
                return false;
        dev = secure_getenv("CVM_SEV_GUEST_DEVICE");
        dir = secure_getenv("CVM_SIM_DIR");
        if (!dev || !dir || !*dir || strcmp(path, dev) != 0)
                return false;
        if (path[0] != '/' && dirfd != AT_FDCWD)
                return false;
        if (realpath(dir, rdir) && realpath(path, rdev)) {
                n = strlen(rdir);
                match = strncmp(rdev, rdir, n) == 0 && (rdev[n] == '/' || n == 1);
        }
        errno = saved;
        return match;
}

static int track(int fd, int dirfd, const char *path) {
        if (fd >= 0) {
                fd_forget(fd); /* a reused number must not stay marked */
                if (is_sim_device(dirfd, path))
                        fd_remember(fd);
        }
        return fd;
}

static mode_t open_mode(int flags, va_list ap) {
        if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
                return (mode_t) va_arg(ap, int);
        return 0;
}

/* glibc declares these only for fortified builds */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*open2_fn)(const char *, int);
typedef int (*openat2_fn)(int, const char *, int);
typedef int (*close_fn)(int);
typedef int (*dup2_fn)(int, int);
typedef int (*dup3_fn)(int, int, int);
typedef int (*ioctl_fn)(int, unsigned long, ...);

SHIM_EXPORT int open(const char *path, int flags, ...) {
        va_list ap;
        mode_t mode;

        va_start(ap, flags);
        mode = open_mode(flags, ap);
        va_end(ap);
        return track(REAL(open_fn, open)(path, flags, mode), AT_FDCWD, path);
}

SHIM_EXPORT int open64(const char *path, int flags, ...) {
        va_list ap;
        mode_t mode;

        va_start(ap, flags);
        mode = open_mode(flags, ap);
        va_end(ap);
        return track(REAL(open_fn, open64)(path, flags, mode), AT_FDCWD, path);
}

SHIM_EXPORT int openat(int dirfd, const char *path, int flags, ...) {
        va_list ap;
        mode_t mode;

        va_start(ap, flags);
        mode = open_mode(flags, ap);
        va_end(ap);
        return track(REAL(openat_fn, openat)(dirfd, path, flags, mode), dirfd, path);
}

SHIM_EXPORT int openat64(int dirfd, const char *path, int flags, ...) {
        va_list ap;
        mode_t mode;

        va_start(ap, flags);
        mode = open_mode(flags, ap);
        va_end(ap);
        return track(REAL(openat_fn, openat64)(dirfd, path, flags, mode), dirfd, path);
}

/* _FORTIFY_SOURCE callers whose flags are not a compile-time constant */
SHIM_EXPORT int __open_2(const char *path, int flags) {
        return track(REAL(open2_fn, __open_2)(path, flags), AT_FDCWD, path);
}

SHIM_EXPORT int __open64_2(const char *path, int flags) {
        return track(REAL(open2_fn, __open64_2)(path, flags), AT_FDCWD, path);
}

SHIM_EXPORT int __openat_2(int dirfd, const char *path, int flags) {
        return track(REAL(openat2_fn, __openat_2)(dirfd, path, flags), dirfd, path);
}

SHIM_EXPORT int __openat64_2(int dirfd, const char *path, int flags) {
        return track(REAL(openat2_fn, __openat64_2)(dirfd, path, flags), dirfd, path);
}

SHIM_EXPORT int close(int fd) {
        fd_forget(fd);
        return REAL(close_fn, close)(fd);
}

SHIM_EXPORT int dup2(int oldfd, int newfd) {
        int r = REAL(dup2_fn, dup2)(oldfd, newfd);

        if (r >= 0 && oldfd != newfd)
                fd_forget(newfd);
        return r;
}

SHIM_EXPORT int dup3(int oldfd, int newfd, int flags) {
        int r = REAL(dup3_fn, dup3)(oldfd, newfd, flags);

        if (r >= 0)
                fd_forget(newfd);
        return r;
}

static int sock_io(int fd, void *buf, size_t size, bool send_) {
        uint8_t *p = buf;

        while (size > 0) {
                ssize_t n = send_ ? send(fd, p, size, MSG_NOSIGNAL) : recv(fd, p, size, 0);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EPIPE;
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

/* Asks cvm-simd; on success resp (and certs, zero-filled to certs_cap) are filled. */
static int ask_daemon(const SimProtoRequest *q, SimProtoResponse *a, uint8_t *resp,
                      uint8_t *certs, uint32_t certs_cap) {
        const struct timeval tv = { .tv_sec = 30 };
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *dir = secure_getenv("CVM_SIM_DIR");
        int fd, r, n;

        if (!dir)
                return -ENODEV;
        n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, SIM_PROTO_SOCKET);
        if (n < 0 || (size_t) n >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                fprintf(stderr, "cvm-sim-sevguest: cannot reach cvm-simd at %s: %s\n",
                        sa.sun_path, strerror(-r));
                goto out;
        }
        r = sock_io(fd, (void *) q, sizeof(*q), true);
        if (r >= 0)
                r = sock_io(fd, a, sizeof(*a), false);
        if (r < 0)
                goto out;
        if (a->magic != SIM_PROTO_RESP_MAGIC || a->error < 0 ||
            (a->error == 0 && a->resp_size != SIM_REPORT_RESP_SIZE) ||
            (a->error != 0 && a->resp_size != 0) ||
            (a->error == 0 && a->certs_len > certs_cap)) {
                r = -EPROTO;
                goto out;
        }
        if (a->error != 0)
                goto out;
        r = sock_io(fd, resp, SIM_REPORT_RESP_SIZE, false);
        if (r >= 0 && certs) {
                memset(certs, 0, certs_cap); /* the driver zero-fills its bounce buffer */
                if (a->certs_len > 0)
                        r = sock_io(fd, certs, a->certs_len, false);
        }
out:
        REAL(close_fn, close)(fd);
        if (r == -EPROTO)
                fprintf(stderr, "cvm-sim-sevguest: bad answer from cvm-simd\n");
        /* whatever went wrong between guest and "host" looks like a host failure: EIO */
        return r < 0 ? -EIO : 0;
}

/* snp_guest_ioctl(): returns 0 or -errno; *exitinfo2 is what the driver would copy back. */
static int sevguest_ioctl(unsigned long request, SimGuestRequestIoctl *io, uint64_t *exitinfo2) {
        SimProtoRequest q = {
                .magic = SIM_PROTO_REQ_MAGIC,
                .version = SIM_PROTO_VERSION,
        };
        SimProtoResponse a = {};
        SimExtReportReq ext = {};
        uint8_t resp[SIM_REPORT_RESP_SIZE];
        uint8_t *certs = NULL;
        bool want_certs = false;
        int r;

        if (request != SIM_SNP_GET_REPORT && request != SIM_SNP_GET_EXT_REPORT)
                return -ENOTTY; /* includes SNP_GET_DERIVED_KEY: not simulated */
        if (!io)
                return -EFAULT;
        if (io->msg_version == 0)
                return -EINVAL; /* before exitinfo2 is touched */
        *exitinfo2 = 0xff;
        if (!io->req_data || !io->resp_data)
                return -EINVAL;
        if (request == SIM_SNP_GET_EXT_REPORT) {
                memcpy(&ext, (const void *) (uintptr_t) io->req_data, sizeof(ext));
                if (ext.certs_address != 0 && ext.certs_len != 0) {
                        if (ext.certs_len > SIM_CERTS_MAX || ext.certs_len % SIM_PAGE_SIZE != 0)
                                return -EINVAL;
                        want_certs = true;
                }
                q.op = SIM_PROTO_OP_EXT_REPORT;
        } else {
                memcpy(&ext.data, (const void *) (uintptr_t) io->req_data, sizeof(ext.data));
                q.op = SIM_PROTO_OP_REPORT;
        }
        memcpy(q.user_data, ext.data.user_data, sizeof(q.user_data));
        q.vmpl = ext.data.vmpl;
        q.certs_len = want_certs ? ext.certs_len : 0;
        if (want_certs) {
                certs = malloc(ext.certs_len);
                if (!certs)
                        return -ENOMEM;
        }

        r = ask_daemon(&q, &a, resp, certs, q.certs_len);
        if (r < 0)
                goto out;
        *exitinfo2 = a.exitinfo2;
        if (a.error != 0) {
                r = -a.error;
                if (a.error == EIO && want_certs &&
                    a.exitinfo2 == (uint64_t) SIM_VMM_ERR_INVALID_LEN << SIM_VMM_ERR_SHIFT) {
                        /* tell the caller how much to allocate */
                        ext.certs_len = a.certs_len;
                        memcpy((uint8_t *) (uintptr_t) io->req_data +
                                       offsetof(SimExtReportReq, certs_len),
                               &ext.certs_len, sizeof(ext.certs_len));
                }
                goto out;
        }
        memcpy((void *) (uintptr_t) io->resp_data, resp, sizeof(resp));
        if (want_certs)
                memcpy((void *) (uintptr_t) ext.certs_address, certs, ext.certs_len);
        r = 0;
out:
        free(certs);
        return r;
}

SHIM_EXPORT int ioctl(int fd, unsigned long request, ...) {
        va_list ap;
        void *arg;
        uint64_t exitinfo2 = 0;
        int r, saved;

        va_start(ap, request);
        arg = va_arg(ap, void *);
        va_end(ap);
        if (!fd_known(fd))
                return REAL(ioctl_fn, ioctl)(fd, request, arg);

        r = sevguest_ioctl(request, arg, &exitinfo2);
        /* the driver copies the struct back only when exitinfo2 is non-zero */
        if (exitinfo2 != 0 && arg)
                ((SimGuestRequestIoctl *) arg)->exitinfo2 = exitinfo2;
        if (r < 0) {
                saved = -r;
                errno = saved;
                return -1;
        }
        return 0;
}
