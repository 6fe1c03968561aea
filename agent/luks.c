/* SPDX-License-Identifier: Apache-2.0 */
/*
 * [io] The LUKS2 layer of enroll and unlock, through libcryptsetup (agent/luks.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include <libcryptsetup.h>

#include "agent/luks-token.h"
#include "agent/luks.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/strutil.h"

/* libcryptsetup's messages for one device: all to log_debug(), the last error kept. */
typedef struct LuksLog {
        char last_error[256];
} LuksLog;

static void luks_log(int level, const char *msg, void *userdata) {
        LuksLog *l = userdata;
        size_t n;

        if (!msg)
                return;
        n = strlen(msg);
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
                n--;
        if (level == CRYPT_LOG_DEBUG_JSON)
                return;
        log_debug("libcryptsetup: %.*s", (int) MIN(n, (size_t) 1024), msg);
        if (level == CRYPT_LOG_ERROR && l)
                (void) snprintf(l->last_error, sizeof(l->last_error), "%.*s",
                                (int) MIN(n, sizeof(l->last_error) - 1), msg);
}

/* The last error libcryptsetup reported, as " (libcryptsetup: ...)", or "". */
static const char *luks_log_text(const LuksLog *l, char *buf, size_t size) {
        if (!l->last_error[0])
                return "";
        (void) snprintf(buf, size, " (libcryptsetup: %s)", l->last_error);
        return buf;
}

typedef struct crypt_device CryptDevice;
DEFINE_CLEANUP_FUNC(CryptDevice *, crypt_free);

/* Opens device and loads its LUKS2 header, libcryptsetup's messages going to log. */
static int luks_load(const char *device, const char *step, LuksLog *log, CryptDevice **ret,
                     Diag *d) {
        _cleanup_(crypt_freep) CryptDevice *cd = NULL;
        const char *type;
        char buf[300];
        int r, fd;

        /* libcryptsetup reports a missing or unreadable device before it has a context to
         * log to (so on stderr): find out first. */
        fd = open(device, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return diag_set(d, -errno, "%s: opening %s: %s", step, device, strerror(errno));
        (void) close(fd);
        r = crypt_init(&cd, device);
        if (r < 0)
                return diag_set(d, r, "%s: opening %s: %s%s", step, device, strerror(-r),
                                luks_log_text(log, buf, sizeof(buf)));
        crypt_set_log_callback(cd, luks_log, log);
        r = crypt_load(cd, CRYPT_LUKS, NULL);
        if (r < 0) {
                if (r == -EINVAL)
                        return diag_set(d, -EMEDIUMTYPE, "%s: %s has no valid LUKS header%s", step,
                                        device, luks_log_text(log, buf, sizeof(buf)));
                return diag_set(d, r, "%s: reading the LUKS header of %s: %s%s", step, device,
                                strerror(-r), luks_log_text(log, buf, sizeof(buf)));
        }
        type = crypt_get_type(cd);
        if (!type || !streq(type, CRYPT_LUKS2))
                return diag_set(d, -EMEDIUMTYPE,
                                "%s: %s is %s, not LUKS2 (cryptsetup convert --type luks2 "
                                "converts it)",
                                step, device, type ? type : "of unknown type");
        *ret = TAKE_PTR(cd);
        return 0;
}

static bool keyslot_in_use(CryptDevice *cd, int keyslot) {
        crypt_keyslot_info s = crypt_keyslot_status(cd, keyslot);

        return s == CRYPT_SLOT_ACTIVE || s == CRYPT_SLOT_ACTIVE_LAST;
}

/*
 * Whether the kernel has a device-mapper: its control node opens, or exists and only refuses us
 * (a permission problem is not a missing device-mapper). A node libdevmapper created without the
 * driver gives ENODEV.
 */
static bool dm_usable(void) {
        _cleanup_(closep) int fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);

        return fd >= 0 || (errno != ENOENT && errno != ENODEV && errno != ENXIO);
}

/* Backs up the header to path, which must not exist; removes a partial file on failure. */
static int backup_header(CryptDevice *cd, const char *path, const char *step, LuksLog *log,
                         Diag *d) {
        struct stat st;
        char buf[300];
        int r;

        if (lstat(path, &st) == 0)
                return diag_set(d, -EEXIST,
                                "%s: the header backup %s exists already; "
                                "choose another path",
                                step, path);
        if (errno != ENOENT)
                return diag_set(d, -errno, "%s: header backup %s: %s", step, path, strerror(errno));
        r = crypt_header_backup(cd, CRYPT_LUKS2, path);
        if (r < 0) {
                /* libcryptsetup creates the file with O_EXCL: it is ours to remove, unless
                 * it was there before (a race with another writer). */
                if (r != -EEXIST)
                        (void) unlink(path);
                return diag_set(d, r, "%s: backing up the header to %s: %s%s", step, path,
                                strerror(-r), luks_log_text(log, buf, sizeof(buf)));
        }
        return 0;
}

int luks_enroll(const char *device, const char *backup_path, const Secret *passphrase,
                const Secret *key, const LuksToken *token, LuksEnrollResult *ret, Diag *d) {
        static const char step[] = "enroll";
        _cleanup_(crypt_freep) CryptDevice *cd = NULL;
        _cleanup_(secret_freep) Secret *vk = NULL;
        _cleanup_(freep) char *json = NULL;
        struct crypt_pbkdf_type pbkdf = {
                .type = CRYPT_KDF_PBKDF2,
                .hash = LUKS_PBKDF_HASH,
                .iterations = LUKS_PBKDF2_ITERATIONS,
                .flags = CRYPT_PBKDF_NO_BENCHMARK,
        };
        LuksToken t;
        LuksLog log = {};
        Diag inner = {};
        char buf[300];
        size_t vk_size;
        int r, auth, keyslot, token_id, k;

        if (!device || !backup_path || !passphrase || !key || !token || !ret)
                return -EINVAL;
        if (key->size < LUKS_KEY_MIN)
                return diag_set(d, -EINVAL, "%s: a key of %zu bytes (at least %u)", step, key->size,
                                LUKS_KEY_MIN);

        r = luks_load(device, step, &log, &cd, d);
        if (r < 0)
                return r;

        /* The token as it will be written, checked before anything is (keyslot 0 stands in
         * for the one not added yet). */
        t = *token;
        t.keyslot = 0;
        r = luks_token_build(&t, &json, &inner);
        if (r < 0)
                return diag_set(d, r, "%s: the token: %s", step, diag_text(&inner, strerror(-r)));
        free(json);
        json = NULL;

        /* The authorising passphrase: the volume key it unlocks is what the new keyslot
         * stores, so the existing keyslot's PBKDF runs once. */
        r = crypt_get_volume_key_size(cd);
        if (r <= 0)
                return diag_set(d, -EMEDIUMTYPE, "%s: %s has no volume key size", step, device);
        vk_size = (size_t) r;
        r = secret_new(vk_size, &vk);
        if (r < 0)
                return r;
        auth = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, (char *) vk->data, &vk_size,
                                    (const char *) passphrase->data, passphrase->size);
        if (auth == -EPERM || auth == -ENOENT)
                return diag_set(d, -EKEYREJECTED,
                                "%s: the passphrase opens no keyslot of %s; nothing was changed",
                                step, device);
        if (auth < 0)
                return diag_set(d, auth, "%s: checking the passphrase: %s%s", step, strerror(-auth),
                                luks_log_text(&log, buf, sizeof(buf)));
        vk->size = vk_size;

        r = backup_header(cd, backup_path, step, &log, d);
        if (r < 0)
                return r;

        r = crypt_set_pbkdf_type(cd, &pbkdf);
        if (r < 0)
                return diag_set(d, r, "%s: setting PBKDF2-%s with %u iterations: %s%s", step,
                                LUKS_PBKDF_HASH, LUKS_PBKDF2_ITERATIONS, strerror(-r),
                                luks_log_text(&log, buf, sizeof(buf)));
        keyslot = crypt_keyslot_add_by_key(cd, CRYPT_ANY_SLOT, (const char *) vk->data, vk->size,
                                           (const char *) key->data, key->size, 0);
        if (keyslot < 0)
                return diag_set(
                        d, keyslot, "%s: adding the keyslot: %s%s (the header backup is %s)", step,
                        strerror(-keyslot), luks_log_text(&log, buf, sizeof(buf)), backup_path);

        t.keyslot = keyslot;
        r = luks_token_build(&t, &json, &inner);
        if (r >= 0) {
                token_id = crypt_token_json_set(cd, CRYPT_ANY_TOKEN, json);
                r = token_id;
        }
        if (r < 0) {
                /* Take the keyslot out again: the volume is as it was, keyslots and tokens. */
                Diag why = {};

                (void) diag_set(&why, r, "%s: writing the token: %s%s", step, strerror(-r),
                                luks_log_text(&log, buf, sizeof(buf)));
                k = crypt_keyslot_destroy(cd, keyslot);
                if (k < 0) {
                        /* The backup holds the header from before this enroll. */
                        k = crypt_header_restore(cd, CRYPT_LUKS2, backup_path);
                        return diag_set(d, r, "%s; removing keyslot %d failed, %s", why.text,
                                        keyslot,
                                        k < 0 ? "and so did restoring the header backup: "
                                                "restore it with cryptsetup luksHeaderRestore"
                                              : "the header backup was restored");
                }
                return diag_set(d, r, "%s; keyslot %d was removed again", why.text, keyslot);
        }

        *ret = (LuksEnrollResult){
                .keyslot = keyslot,
                .token = token_id,
                .auth_keyslot = auth,
        };
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Finding tokens                                                                               */

void luks_token_list_done(LuksTokenList *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n; i++)
                luks_token_free(l->entries[i].token);
        free(l->entries);
        *l = (LuksTokenList){};
}

/* Reads and parses token id of cd, which is of type "cvm-agent"; checks its keyslot. */
static int read_token(CryptDevice *cd, int id, LuksToken **ret, Diag *d) {
        _cleanup_(luks_token_freep) LuksToken *t = NULL;
        const char *json = NULL;
        int r;

        r = crypt_token_json_get(cd, id, &json);
        if (r < 0)
                return diag_set(d, r, "token %d: %s", id, strerror(-r));
        r = luks_token_parse(json, strlen(json), &t, d);
        if (r < 0) {
                /* Prefix the parser's words with the token id. */
                Diag inner = *d;

                *d = (Diag){};
                return diag_set(d, r, "token %d: %s", id, diag_text(&inner, strerror(-r)));
        }
        if (!keyslot_in_use(cd, t->keyslot))
                return diag_set(d, -ENOENT, "token %d: its keyslot %d is not in use", id,
                                t->keyslot);
        *ret = TAKE_PTR(t);
        return 0;
}

/* The tokens of cd of type "cvm-agent", as luks_find_tokens() describes. */
static int list_tokens(CryptDevice *cd, LuksTokenList *ret, Diag *d) {
        _cleanup_(luks_token_list_done) LuksTokenList l = {};
        int max = crypt_token_max(CRYPT_LUKS2);

        for (int id = 0; id < max; id++) {
                const char *type = NULL;
                crypt_token_info info = crypt_token_status(cd, id, &type);
                LuksTokenEntry *e;

                if (info == CRYPT_TOKEN_INVALID || info == CRYPT_TOKEN_INACTIVE || !type ||
                    !streq(type, LUKS_TOKEN_TYPE))
                        continue;
                e = reallocarray(l.entries, l.n + 1, sizeof(*e));
                if (!e)
                        return -ENOMEM;
                l.entries = e;
                e = &l.entries[l.n++];
                *e = (LuksTokenEntry){.id = id};
                e->error = read_token(cd, id, &e->token, &e->diag);
                if (e->error == -ENOMEM)
                        return -ENOMEM;
                if (e->error < 0)
                        (void) diag_set(d, e->error, "%s; skipped",
                                        diag_text(&e->diag, "a token that does not parse"));
                else
                        l.n_usable++;
        }
        *ret = l;
        l = (LuksTokenList){};
        return (int) ret->n_usable;
}

int luks_find_tokens(const char *device, LuksTokenList *ret, Diag *d) {
        _cleanup_(crypt_freep) CryptDevice *cd = NULL;
        LuksLog log = {};
        int r;

        if (!device || !ret)
                return -EINVAL;
        r = luks_load(device, "finding tokens", &log, &cd, d);
        if (r < 0)
                return r;
        return list_tokens(cd, ret, d);
}

/* ------------------------------------------------------------------------------------------ */
/* Opening                                                                                      */

/* The "cvm-agent" token token_id of cd, parsed, for a step that will use it. */
/* Token token_id exists and is a "cvm-agent" one, parsed or not. */
static int check_token_type(CryptDevice *cd, int token_id, const char *step, Diag *d) {
        const char *type = NULL;
        crypt_token_info info;

        if (token_id < 0 || token_id >= crypt_token_max(CRYPT_LUKS2))
                return diag_set(d, -EINVAL, "%s: token %d: no such token id", step, token_id);
        info = crypt_token_status(cd, token_id, &type);
        if (info == CRYPT_TOKEN_INVALID || info == CRYPT_TOKEN_INACTIVE)
                return diag_set(d, -ENOENT, "%s: token %d: empty", step, token_id);
        if (!type || !streq(type, LUKS_TOKEN_TYPE))
                return diag_set(d, -EMEDIUMTYPE,
                                "%s: token %d is of type \"%s\", not \"" LUKS_TOKEN_TYPE "\"", step,
                                token_id, type ? type : "?");
        return 0;
}

static int get_token(CryptDevice *cd, int token_id, const char *step, LuksToken **ret, Diag *d) {
        int r = check_token_type(cd, token_id, step, d);

        return r < 0 ? r : read_token(cd, token_id, ret, d);
}

int luks_open_with_key(const char *device, int token_id, const char *name, const Secret *key,
                       uint32_t activate_flags, Diag *d) {
        const char *step = name ? "unlock" : "unlock (check only)";
        _cleanup_(crypt_freep) CryptDevice *cd = NULL;
        _cleanup_(luks_token_freep) LuksToken *t = NULL;
        LuksLog log = {};
        char buf[300];
        int r;

        if (!device || !key || (name && !name[0]))
                return -EINVAL;
        r = luks_load(device, step, &log, &cd, d);
        if (r < 0)
                return r;
        r = get_token(cd, token_id, step, &t, d);
        if (r < 0)
                return r;

        r = crypt_activate_by_passphrase(cd, name, t->keyslot, (const char *) key->data, key->size,
                                         name ? activate_flags : 0);
        if (r >= 0)
                return r;
        if (r == -EPERM)
                return diag_set(d, -EKEYREJECTED,
                                "%s: the key does not open keyslot %d of %s (token %d)", step,
                                t->keyslot, device, token_id);
        if (r == -EEXIST && name)
                return diag_set(d, -EEXIST, "%s: %s is active already", step, name);
        if (name && !dm_usable())
                return diag_set(d, -ENODEV,
                                "%s: the kernel has no usable device-mapper (/dev/mapper/control), "
                                "so %s cannot be activated as %s; the key can only be checked",
                                step, device, name);
        return diag_set(d, r, "%s: opening keyslot %d of %s: %s%s", step, t->keyslot, device,
                        strerror(-r), luks_log_text(&log, buf, sizeof(buf)));
}

/* ------------------------------------------------------------------------------------------ */
/* Removing                                                                                     */

int luks_remove_token(const char *device, int token_id, const char *backup_path, int *ret_keyslot,
                      Diag *d) {
        static const char step[] = "removing a token";
        _cleanup_(crypt_freep) CryptDevice *cd = NULL;
        _cleanup_(luks_token_freep) LuksToken *t = NULL;
        LuksLog log = {};
        Diag ignored = {};
        char buf[300];
        int r, keyslot, max;

        if (!device || !ret_keyslot)
                return -EINVAL;
        r = luks_load(device, step, &log, &cd, d);
        if (r < 0)
                return r;
        r = check_token_type(cd, token_id, step, d);
        if (r < 0)
                return r;
        max = crypt_token_max(CRYPT_LUKS2);

        /* Its keyslot goes with it if the token parses, no other token names the keyslot, and
         * it is not the last one: decided before anything is written. */
        keyslot = read_token(cd, token_id, &t, &ignored) >= 0 ? t->keyslot : -1;
        for (int id = 0; keyslot >= 0 && id < max; id++)
                if (id != token_id && crypt_token_is_assigned(cd, id, keyslot) == 0) {
                        log_debug("%s: keyslot %d stays: token %d uses it too", step, keyslot, id);
                        keyslot = -1;
                }
        if (keyslot >= 0 && crypt_keyslot_status(cd, keyslot) == CRYPT_SLOT_ACTIVE_LAST)
                return diag_set(d, -EBUSY,
                                "%s: keyslot %d of token %d is the last keyslot of "
                                "%s; nothing was removed",
                                step, keyslot, token_id, device);

        if (backup_path) {
                r = backup_header(cd, backup_path, step, &log, d);
                if (r < 0)
                        return r;
        }
        r = crypt_token_json_set(cd, token_id, NULL);
        if (r < 0)
                return diag_set(d, r, "%s: token %d: %s%s", step, token_id, strerror(-r),
                                luks_log_text(&log, buf, sizeof(buf)));
        if (keyslot >= 0) {
                r = crypt_keyslot_destroy(cd, keyslot);
                if (r < 0)
                        return diag_set(d, r,
                                        "%s: token %d removed, but destroying keyslot %d: "
                                        "%s%s",
                                        step, token_id, keyslot, strerror(-r),
                                        luks_log_text(&log, buf, sizeof(buf)));
        }
        *ret_keyslot = keyslot;
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Scanning                                                                                     */

void luks_device_list_free(LuksDevice *devices, size_t n) {
        for (size_t i = 0; devices && i < n; i++) {
                free(devices[i].path);
                luks_token_list_done(&devices[i].tokens);
        }
        free(devices);
}

static int compare_devices(const void *a, const void *b) {
        return strcmp(((const LuksDevice *) a)->path, ((const LuksDevice *) b)->path);
}

/* Whether /sys/class/block/NAME is worth reading a header from. */
static bool scan_candidate(int dir_fd, const char *name) {
        static const char *const skip[] = {"ram", "zram", "fd", "sr"};
        _cleanup_(closep) int fd = -EBADF;
        char path[300], size[32];
        ssize_t k;

        if (name[0] == '.')
                return false;
        for (size_t i = 0; i < ELEMENTSOF(skip); i++) {
                const char *rest = startswith(name, skip[i]);

                /* "sr0", "fd0", "ram1", "zram0": the prefix and then digits only. */
                if (rest && rest[0] && strspn(rest, "0123456789") == strlen(rest))
                        return false;
        }
        (void) snprintf(path, sizeof(path), "%s/size", name);
        fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        k = read(fd, size, sizeof(size) - 1);
        if (k <= 0)
                return false;
        size[k] = '\0';
        /* Size in 512-byte sectors: "0" for an empty loop device or a drive without media. */
        return !(size[0] == '0' && (size[1] == '\n' || size[1] == '\0'));
}

int luks_scan_devices(LuksDevice **ret, size_t *ret_n, Diag *d) {
        LuksDevice *devices = NULL;
        size_t n = 0;
        DIR *dir;
        struct dirent *de;
        int r = 0;

        if (!ret || !ret_n)
                return -EINVAL;
        dir = opendir("/sys/class/block");
        if (!dir)
                return diag_set(d, -errno, "scanning: /sys/class/block: %s", strerror(errno));
        while ((de = readdir(dir))) {
                _cleanup_(crypt_freep) CryptDevice *cd = NULL;
                _cleanup_(luks_token_list_done) LuksTokenList tokens = {};
                _cleanup_(freep) char *path = NULL;
                LuksDevice *grown;
                LuksLog log = {};
                Diag ignored = {};

                if (!scan_candidate(dirfd(dir), de->d_name))
                        continue;
                if (asprintf(&path, "/dev/%s", de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (luks_load(path, "scanning", &log, &cd, &ignored) < 0) {
                        log_debug("scanning: %s: %s", path, diag_text(&ignored, "not LUKS2"));
                        continue;
                }
                r = list_tokens(cd, &tokens, &ignored);
                if (r == -ENOMEM)
                        break;
                r = 0;
                if (tokens.n == 0)
                        continue;
                grown = reallocarray(devices, n + 1, sizeof(*devices));
                if (!grown) {
                        r = -ENOMEM;
                        break;
                }
                devices = grown;
                devices[n++] = (LuksDevice){.path = TAKE_PTR(path), .tokens = tokens};
                tokens = (LuksTokenList){};
        }
        closedir(dir);
        if (r < 0) {
                luks_device_list_free(devices, n);
                return r;
        }
        if (n > 0)
                qsort(devices, n, sizeof(*devices), compare_devices);
        *ret = devices;
        *ret_n = n;
        return 0;
}
