/* SPDX-License-Identifier: Apache-2.0 */
#define FUSE_USE_VERSION 31

#include <fcntl.h>
#include <fuse.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "tests/sim/sim-daemon.h"
#include "tests/sim/sim-util.h"

/*
 * configfs-tsm, following Linux drivers/virt/coco/tsm.c and fs/configfs/file.c:
 *
 * - text attributes (privlevel) are stored at write() time; binary attributes (inblob) are
 *   buffered per open file, capped at 64 bytes (-EFBIG beyond, configfs cb_max_size), and
 *   stored when the file is closed (configfs does it at release; FUSE's release is
 *   asynchronous, so we store at flush, which close() waits for);
 * - each store advances write_generation ('generation' shows it);
 * - reading outblob or auxblob (re)generates the report when the generation moved, caches it,
 *   and each open file serves a snapshot taken at its first read;
 * - an entry whose inblob was never written fails outblob/auxblob reads with -EINVAL
 *   (read_cached_report: !inblob_len), and so does an inblob of other than 64 bytes
 *   (sev_report_new). The project brief suggested failing the inblob write itself and
 *   answering with 64 zero bytes instead; the simulator follows the kernel.
 * - opening a write-only attribute for reading (or a read-only one for writing) fails with
 *   -EACCES at open(), as configfs does, root or not.
 */

#define TSM_INBLOB_MAX 64
#define TSM_PRIVLEVEL_MAX 3
#define TSM_ENTRIES_MAX 256
#define TSM_ATTR_SIZE 4096 /* what configfs reports as st_size */

typedef enum TsmAttr {
        TSM_ATTR_PROVIDER,
        TSM_ATTR_GENERATION,
        TSM_ATTR_PRIVLEVEL,
        TSM_ATTR_PRIVLEVEL_FLOOR,
        TSM_ATTR_INBLOB,
        TSM_ATTR_OUTBLOB,
        TSM_ATTR_AUXBLOB,
        _TSM_ATTR_MAX,
        _TSM_ATTR_INVALID = -EINVAL,
} TsmAttr;

static const struct {
        const char *name;
        mode_t mode;
} tsm_attrs[_TSM_ATTR_MAX] = {
        [TSM_ATTR_PROVIDER] = { "provider", 0444 },
        [TSM_ATTR_GENERATION] = { "generation", 0444 },
        [TSM_ATTR_PRIVLEVEL] = { "privlevel", 0200 },
        [TSM_ATTR_PRIVLEVEL_FLOOR] = { "privlevel_floor", 0444 },
        [TSM_ATTR_INBLOB] = { "inblob", 0200 },
        [TSM_ATTR_OUTBLOB] = { "outblob", 0444 },
        [TSM_ATTR_AUXBLOB] = { "auxblob", 0444 },
};

typedef struct TsmEntry {
        struct TsmEntry *next;
        char *name;
        unsigned refs; /* the directory itself + open files */
        bool removed;
        time_t ctime;
        unsigned long write_generation, read_generation;
        uint8_t inblob[TSM_INBLOB_MAX];
        size_t inblob_len;
        uint32_t privlevel;
        bool have_report;
        uint8_t *outblob, *auxblob;
        size_t outblob_len, auxblob_len;
} TsmEntry;

typedef struct TsmHandle {
        TsmEntry *entry;
        TsmAttr attr;
        uint8_t wbuf[TSM_INBLOB_MAX]; /* inblob being written */
        size_t wlen;
        bool wdirty;
        bool have_snapshot;          /* read side: content as of the first read */
        uint8_t *snapshot;
        size_t snapshot_len;
} TsmHandle;

/* Single-threaded FUSE loop: the list is only touched from the FUSE thread. */
static TsmEntry *entries;
static size_t n_entries;
static time_t mount_time;

static SimDaemon *daemon_get(void) {
        return fuse_get_context()->private_data;
}

static void entry_unref(TsmEntry *e) {
        if (!e || --e->refs > 0)
                return;
        free(e->outblob);
        free(e->auxblob);
        free(e->name);
        free(e);
}

static TsmEntry *entry_find(const char *name, size_t len) {
        for (TsmEntry *e = entries; e; e = e->next)
                if (strlen(e->name) == len && memcmp(e->name, name, len) == 0)
                        return e;
        return NULL;
}

static TsmAttr attr_from_string(const char *s) {
        for (TsmAttr a = 0; a < _TSM_ATTR_MAX; a++)
                if (streq(tsm_attrs[a].name, s))
                        return a;
        return _TSM_ATTR_INVALID;
}

/* "/" -> 0; "/name" -> 1 with *ret_entry; "/name/attr" -> 2 with both; -ENOENT otherwise. */
static int path_parse(const char *path, TsmEntry **ret_entry, TsmAttr *ret_attr) {
        const char *name, *slash;
        TsmEntry *e;
        TsmAttr a;

        if (path[0] != '/')
                return -ENOENT;
        name = path + 1;
        if (*name == '\0')
                return 0;
        slash = strchr(name, '/');
        e = entry_find(name, slash ? (size_t) (slash - name) : strlen(name));
        if (!e)
                return -ENOENT;
        if (ret_entry)
                *ret_entry = e;
        if (!slash)
                return 1;
        a = attr_from_string(slash + 1);
        if (a < 0)
                return -ENOENT;
        if (ret_attr)
                *ret_attr = a;
        return 2;
}

static int tsm_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
        TsmEntry *e = NULL;
        TsmAttr a = 0;
        int kind;

        memset(st, 0, sizeof(*st));
        if (fi && fi->fh) {
                TsmHandle *h = (TsmHandle *) (uintptr_t) fi->fh;

                e = h->entry;
                a = h->attr;
                kind = 2;
        } else {
                kind = path_parse(path, &e, &a);
                if (kind < 0)
                        return kind;
        }
        st->st_uid = getuid();
        st->st_gid = getgid();
        if (kind < 2) {
                st->st_mode = S_IFDIR | 0755;
                st->st_nlink = 2;
                st->st_mtime = st->st_ctime = st->st_atime = kind == 0 ? mount_time : e->ctime;
                return 0;
        }
        st->st_mode = S_IFREG | tsm_attrs[a].mode;
        st->st_nlink = 1;
        st->st_size = TSM_ATTR_SIZE;
        st->st_mtime = st->st_ctime = st->st_atime = e->ctime;
        return 0;
}

static int tsm_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
                       struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
        int kind = path_parse(path, NULL, NULL);

        if (kind < 0)
                return kind;
        if (kind == 2)
                return -ENOTDIR;
        filler(buf, ".", NULL, 0, 0);
        filler(buf, "..", NULL, 0, 0);
        if (kind == 0)
                for (TsmEntry *e = entries; e; e = e->next)
                        filler(buf, e->name, NULL, 0, 0);
        else
                for (TsmAttr a = 0; a < _TSM_ATTR_MAX; a++)
                        filler(buf, tsm_attrs[a].name, NULL, 0, 0);
        return 0;
}

static int tsm_mkdir(const char *path, mode_t mode) {
        const char *name = path + 1;
        TsmEntry *e, **tail;

        if (path[0] != '/' || *name == '\0')
                return -EEXIST;
        if (strchr(name, '/')) {
                if (!entry_find(name, (size_t) (strchr(name, '/') - name)))
                        return -ENOENT;
                /* an entry is a config item, not a group: configfs refuses children */
                return path_parse(path, NULL, NULL) == 2 ? -EEXIST : -EPERM;
        }
        if (entry_find(name, strlen(name)))
                return -EEXIST;
        if (n_entries >= TSM_ENTRIES_MAX)
                return -ENOSPC;
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->name = strdup(name);
        if (!e->name) {
                free(e);
                return -ENOMEM;
        }
        e->refs = 1;
        e->ctime = time(NULL);
        for (tail = &entries; *tail; tail = &(*tail)->next)
                ;
        *tail = e;
        n_entries++;
        return 0;
}

static int tsm_rmdir(const char *path) {
        TsmEntry *e = NULL, **pp;
        int kind = path_parse(path, &e, NULL);

        if (kind < 0)
                return kind;
        if (kind == 0)
                return -EBUSY;
        if (kind == 2)
                return -ENOTDIR;
        for (pp = &entries; *pp != e; pp = &(*pp)->next)
                ;
        *pp = e->next;
        n_entries--;
        e->removed = true;
        entry_unref(e);
        return 0;
}

static int tsm_unlink(const char *path) {
        return path_parse(path, NULL, NULL) < 0 ? -ENOENT : -EPERM;
}

static int tsm_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
        return -EACCES; /* configfs directories have no ->create: vfs_create() says EACCES */
}

static int tsm_mknod(const char *path, mode_t mode, dev_t dev) {
        return -EACCES;
}

static int tsm_rename(const char *from, const char *to, unsigned int flags) {
        return -EPERM;
}

static int tsm_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
        /* open(O_TRUNC) arrives as a truncate; configfs attributes ignore it */
        int kind = fi && fi->fh ? 2 : path_parse(path, NULL, NULL);

        if (kind < 0)
                return kind;
        return kind == 2 ? 0 : -EISDIR;
}

static int tsm_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
        return 0;
}

static int tsm_open(const char *path, struct fuse_file_info *fi) {
        TsmEntry *e = NULL;
        TsmAttr a = 0;
        TsmHandle *h;
        int acc = fi->flags & O_ACCMODE;
        int kind = path_parse(path, &e, &a);

        if (kind < 0)
                return kind;
        if (kind < 2)
                return -EISDIR;
        /* configfs checks the attribute's show/store at open: -EACCES, even for root */
        if (acc != O_WRONLY && !(tsm_attrs[a].mode & 0444))
                return -EACCES;
        if (acc != O_RDONLY && !(tsm_attrs[a].mode & 0200))
                return -EACCES;
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->entry = e;
        h->attr = a;
        e->refs++;
        fi->fh = (uint64_t) (uintptr_t) h;
        /* contents are generated: no page cache, no size clipping */
        fi->direct_io = 1;
        fi->keep_cache = 0;
        return 0;
}

/* tsm.c try_advance_write_generation() */
static int entry_advance_generation(TsmEntry *e) {
        if (e->write_generation == e->read_generation - 1)
                return -EBUSY;
        e->write_generation++;
        return 0;
}

static size_t cert_table_used(const uint8_t *t, size_t size) {
        size_t end = 0;

        /* like the driver: stop at the all-zero entry; keep the blobs the entries cover */
        for (size_t off = 0; off + SIM_CERT_ENTRY_SIZE <= size; off += SIM_CERT_ENTRY_SIZE) {
                uint64_t o, l;

                if (memeqzero(t + off, SIM_CERT_ENTRY_SIZE)) {
                        if (end > 0)
                                end = MAX(end, off + SIM_CERT_ENTRY_SIZE);
                        break;
                }
                o = sim_get_le32(t + off + 16);
                l = sim_get_le32(t + off + 20);
                if (o + l > size)
                        return 0;
                end = MAX(end, (size_t) (o + l));
        }
        return end;
}

/* tsm.c tsm_report_read() + sev-guest.c sev_report_new() */
static int entry_generate(TsmEntry *e) {
        SimFwRequest req = {
                .vmpl = e->privlevel,
                .extended = true,
                .certs_len = SIM_CERTS_MAX, /* the driver offers 16 KiB */
        };
        SimFwResult res = {};
        uint32_t status, report_size;
        size_t aux_len;

        if (e->inblob_len == 0)
                return -EINVAL;
        if (e->have_report && e->read_generation == e->write_generation)
                return 0;

        free(e->outblob);
        free(e->auxblob);
        e->outblob = e->auxblob = NULL;
        e->outblob_len = e->auxblob_len = 0;
        e->have_report = false;
        if (e->inblob_len != sizeof(req.report_data))
                return -EINVAL; /* sev_report_new: exactly SNP_REPORT_USER_DATA_SIZE */
        memcpy(req.report_data, e->inblob, sizeof(req.report_data));

        sim_daemon_request(daemon_get(), &req, &res);
        if (res.error != 0) {
                sim_fw_result_done(&res);
                return -res.error;
        }
        status = sim_get_le32(res.resp + SIM_REPORT_RESP_STATUS);
        report_size = sim_get_le32(res.resp + SIM_REPORT_RESP_REPORT_SIZE);
        if (status != 0) {
                sim_fw_result_done(&res);
                /* sev_report_new: INVALID_PARAM and INVALID_KEY are -EINVAL, the rest -ENXIO */
                return status == SIM_FW_INVALID_PARAM || status == SIM_FW_INVALID_KEY ? -EINVAL
                                                                                       : -ENXIO;
        }
        if (report_size == 0 || report_size > SIM_REPORT_RESP_SIZE - SIM_REPORT_RESP_REPORT) {
                sim_fw_result_done(&res);
                return -EIO;
        }
        e->outblob = malloc(report_size);
        aux_len = res.certs ? cert_table_used(res.certs, res.certs_size) : 0;
        if (aux_len > 0)
                e->auxblob = malloc(aux_len);
        if (!e->outblob || (aux_len > 0 && !e->auxblob)) {
                sim_fw_result_done(&res);
                return -ENOMEM;
        }
        memcpy(e->outblob, res.resp + SIM_REPORT_RESP_REPORT, report_size);
        e->outblob_len = report_size;
        if (aux_len > 0)
                memcpy(e->auxblob, res.certs, aux_len);
        e->auxblob_len = aux_len;
        sim_fw_result_done(&res);
        e->have_report = true;
        e->read_generation = e->write_generation;
        return 0;
}

static int handle_snapshot(TsmHandle *h) {
        TsmEntry *e = h->entry;
        char text[64];
        const uint8_t *src;
        size_t len;
        int r;

        switch (h->attr) {
        case TSM_ATTR_PROVIDER:
                len = (size_t) snprintf(text, sizeof(text), "sev_guest\n");
                src = (const uint8_t *) text;
                break;
        case TSM_ATTR_GENERATION:
                len = (size_t) snprintf(text, sizeof(text), "%lu\n", e->write_generation);
                src = (const uint8_t *) text;
                break;
        case TSM_ATTR_PRIVLEVEL_FLOOR: {
                SimPlatform p;

                r = sim_platform_load(daemon_get()->dir, &p);
                if (r < 0)
                        return -EIO;
                len = (size_t) snprintf(text, sizeof(text), "%" PRIu32 "\n", p.vmpl_floor);
                src = (const uint8_t *) text;
                break;
        }
        case TSM_ATTR_OUTBLOB:
        case TSM_ATTR_AUXBLOB:
                if (e->removed)
                        return -ENOENT;
                r = entry_generate(e);
                if (r < 0)
                        return r;
                src = h->attr == TSM_ATTR_OUTBLOB ? e->outblob : e->auxblob;
                len = h->attr == TSM_ATTR_OUTBLOB ? e->outblob_len : e->auxblob_len;
                break;
        default:
                return -EACCES;
        }
        h->snapshot = malloc(len ? len : 1);
        if (!h->snapshot)
                return -ENOMEM;
        if (len > 0)
                memcpy(h->snapshot, src, len);
        h->snapshot_len = len;
        h->have_snapshot = true;
        return 0;
}

static int tsm_read(const char *path, char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi) {
        TsmHandle *h = (TsmHandle *) (uintptr_t) fi->fh;
        size_t n;
        int r;

        if (!h)
                return -EBADF;
        if (!h->have_snapshot) {
                r = handle_snapshot(h);
                if (r < 0)
                        return r;
        }
        if (off < 0)
                return -EINVAL;
        if ((uint64_t) off >= h->snapshot_len)
                return 0;
        n = MIN(size, h->snapshot_len - (size_t) off);
        memcpy(buf, h->snapshot + off, n);
        return (int) n;
}

/* kstrtouint(buf, 0, ...): decimal, 0x hex or 0 octal, one optional trailing newline */
static int parse_kernel_uint(const char *buf, size_t size, uint32_t *ret) {
        char text[32];
        unsigned long v;
        char *end = NULL;

        if (size > 0 && buf[size - 1] == '\n')
                size--;
        if (size == 0 || size >= sizeof(text))
                return -EINVAL;
        memcpy(text, buf, size);
        text[size] = '\0';
        if (text[0] == '+')
                memmove(text, text + 1, size);
        if (!(text[0] >= '0' && text[0] <= '9'))
                return -EINVAL;
        errno = 0;
        v = strtoul(text, &end, 0);
        if (errno == ERANGE || v > UINT32_MAX)
                return -ERANGE;
        if (errno != 0 || !end || *end != '\0')
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

static int tsm_write(const char *path, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi) {
        TsmHandle *h = (TsmHandle *) (uintptr_t) fi->fh;
        TsmEntry *e;
        SimPlatform p;
        uint32_t v;
        int r;

        if (!h)
                return -EBADF;
        e = h->entry;
        switch (h->attr) {
        case TSM_ATTR_INBLOB:
                if (off < 0 || (uint64_t) off + size > TSM_INBLOB_MAX)
                        return -EFBIG; /* configfs: beyond cb_max_size */
                memcpy(h->wbuf + off, buf, size);
                h->wlen = MAX(h->wlen, (size_t) off + size);
                h->wdirty = true;
                return (int) size;
        case TSM_ATTR_PRIVLEVEL:
                r = parse_kernel_uint(buf, size, &v);
                if (r < 0)
                        return r;
                r = sim_platform_load(daemon_get()->dir, &p);
                if (r < 0)
                        return -EIO;
                if (v < p.vmpl_floor || v > TSM_PRIVLEVEL_MAX)
                        return -EINVAL;
                r = entry_advance_generation(e);
                if (r < 0)
                        return r;
                e->privlevel = v;
                return (int) size;
        default:
                return -EACCES;
        }
}

static int tsm_flush(const char *path, struct fuse_file_info *fi) {
        TsmHandle *h = (TsmHandle *) (uintptr_t) fi->fh;
        int r;

        if (!h || h->attr != TSM_ATTR_INBLOB || !h->wdirty)
                return 0;
        h->wdirty = false;
        if (h->entry->removed)
                return 0;
        /* tsm_report_inblob_write(): store the buffered bytes, advance the generation */
        r = entry_advance_generation(h->entry);
        if (r < 0)
                return r;
        memcpy(h->entry->inblob, h->wbuf, h->wlen);
        h->entry->inblob_len = h->wlen;
        return 0;
}

static int tsm_release(const char *path, struct fuse_file_info *fi) {
        TsmHandle *h = (TsmHandle *) (uintptr_t) fi->fh;

        if (!h)
                return 0;
        (void) tsm_flush(path, fi);
        entry_unref(h->entry);
        free(h->snapshot);
        free(h);
        fi->fh = 0;
        return 0;
}

static void *tsm_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
        /* attributes change under the kernel's feet: cache nothing */
        cfg->entry_timeout = 0;
        cfg->attr_timeout = 0;
        cfg->negative_timeout = 0;
        cfg->direct_io = 1;
        cfg->kernel_cache = 0;
        cfg->hard_remove = 1;
        return fuse_get_context()->private_data;
}

static const struct fuse_operations tsm_ops = {
        .init = tsm_init,
        .getattr = tsm_getattr,
        .readdir = tsm_readdir,
        .mkdir = tsm_mkdir,
        .rmdir = tsm_rmdir,
        .unlink = tsm_unlink,
        .create = tsm_create,
        .mknod = tsm_mknod,
        .rename = tsm_rename,
        .truncate = tsm_truncate,
        .utimens = tsm_utimens,
        .open = tsm_open,
        .read = tsm_read,
        .write = tsm_write,
        .flush = tsm_flush,
        .release = tsm_release,
};

int sim_tsmfs_mount(SimDaemon *d, const char *mountpoint, struct fuse **ret) {
        char *argv[] = { (char *) "cvm-simd", (char *) "-o",
                         (char *) "fsname=cvm-sim,subtype=cvm-sim-tsm", NULL };
        struct fuse_args args = FUSE_ARGS_INIT(3, argv);
        struct fuse *f;

        mount_time = time(NULL);
        f = fuse_new(&args, &tsm_ops, sizeof(tsm_ops), d);
        fuse_opt_free_args(&args);
        if (!f)
                return sim_log_errno(-EIO, "fuse_new() failed");
        if (fuse_mount(f, mountpoint) != 0) {
                fuse_destroy(f);
                return sim_log_errno(-EPERM, "Cannot mount FUSE on %s (no /dev/fuse, or not "
                                             "permitted)", mountpoint);
        }
        *ret = f;
        return 0;
}

void sim_tsmfs_unmount(struct fuse *f) {
        fuse_unmount(f);
        fuse_destroy(f);
}

int sim_tsmfs_run(struct fuse *f) {
        struct fuse_session *se = fuse_get_session(f);
        int r;

        if (fuse_set_signal_handlers(se) != 0) {
                fuse_unmount(f);
                fuse_destroy(f);
                return sim_log_errno(-EIO, "Cannot install signal handlers");
        }
        r = fuse_loop(f);
        fuse_remove_signal_handlers(se);
        fuse_unmount(f);
        fuse_destroy(f);
        while (entries) {
                TsmEntry *e = entries;

                entries = e->next;
                entry_unref(e);
        }
        return r < 0 ? r : 0;
}
