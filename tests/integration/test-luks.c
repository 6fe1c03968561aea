/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent/luks.c on real LUKS2 images (files in the build tree, formatted here with libcryptsetup,
 * PBKDF2 at 1000 iterations so that the test is fast): enroll a random 32-byte key with a
 * known passphrase and check what it did (the key opens its keyslot, the passphrase still opens
 * its own, the new keyslot's PBKDF, the token as luks_find_tokens and `cryptsetup luksDump`
 * see it, the header backup and what restoring it gives); a wrong passphrase and a wrong key
 * change nothing, to the byte; hostile tokens in the header are skipped with a note and never
 * hide the good one; a token that does not fit is rolled back with its keyslot; removing a
 * token; activation by name (the no-device-mapper error here, a real activation where
 * device-mapper works); the scan of block devices over a loop device. Parts that need root
 * skip without it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <libcryptsetup.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "agent/luks-token.h"
#include "agent/luks.h"
#include "common/diag.h"
#include "common/secret.h"
#include "common/strutil.h"
#include "tests/unit/test-util.h"

#define IMAGE_SIZE (8u * 1024u * 1024u)

static const char passphrase_text[] = "correct horse battery staple";
static char *workdir;
static unsigned seq;

typedef struct crypt_device CryptDevice;
DEFINE_CLEANUP_FUNC(CryptDevice *, crypt_free);

static Secret *secret_of(const void *p, size_t n) {
        Secret *s = NULL;

        assert_int_equal(secret_new(n, &s), 0);
        memcpy(s->data, p, n);
        return s;
}

static Secret *random_key(void) {
        Secret *s = NULL;

        assert_int_equal(secret_new(32, &s), 0);
        assert_int_equal(RAND_bytes(s->data, 32), 1);
        return s;
}

static char *new_path(const char *what) {
        char *path = NULL;

        assert_true(asprintf(&path, "%s/%u-%s", workdir, seq++, what) > 0);
        return path;
}

static void quiet(int level, const char *msg, void *userdata) {
}

/* A LUKS2 image with the passphrase in keyslot 0; metadata_size 0 for libcryptsetup's default
 * (16 KiB: a 12 KiB JSON area), and a 2 MiB keyslot area. */
static char *new_image(uint64_t metadata_size) {
        static const struct crypt_pbkdf_type fast = {
                .type = CRYPT_KDF_PBKDF2,
                .hash = "sha256",
                .iterations = 1000,
                .flags = CRYPT_PBKDF_NO_BENCHMARK,
        };
        struct crypt_params_luks2 params = {.sector_size = 512};
        _cleanup_(crypt_freep) CryptDevice *cd = NULL;
        char *path = new_path("image");
        int fd;

        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, IMAGE_SIZE), 0);
        assert_int_equal(close(fd), 0);
        assert_int_equal(crypt_init(&cd, path), 0);
        /* The warning about a small keyslot area is expected. */
        crypt_set_log_callback(cd, quiet, NULL);
        assert_int_equal(crypt_set_pbkdf_type(cd, &fast), 0);
        /* Room for eight keyslots of a 64-byte volume key (256 KiB each, 4000 AF stripes)
         * rather than the default 16 MiB, so that header backups stay small. */
        assert_int_equal(crypt_set_metadata_size(cd, metadata_size ?: 16 * 1024, 2u << 20), 0);
        assert_int_equal(
                crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, NULL, 64, &params), 0);
        assert_int_equal(crypt_keyslot_add_by_volume_key(cd, 0, NULL, 0, passphrase_text,
                                                         strlen(passphrase_text)),
                         0);
        return path;
}

static CryptDevice *load(const char *path) {
        CryptDevice *cd = NULL;

        assert_int_equal(crypt_init(&cd, path), 0);
        assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
        return cd;
}

/* SHA-256 of the whole image: "byte-identical" means this. */
static void image_hash(const char *path, uint8_t out[static 32]) {
        _cleanup_(freep) uint8_t *buf = NULL;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned len = 0;
        int fd;

        buf = malloc(1 << 20);
        assert_non_null(buf);
        assert_non_null(ctx);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
        for (;;) {
                ssize_t k = read(fd, buf, 1 << 20);

                assert_true(k >= 0);
                if (k == 0)
                        break;
                assert_int_equal(EVP_DigestUpdate(ctx, buf, (size_t) k), 1);
        }
        assert_int_equal(EVP_DigestFinal_ex(ctx, out, &len), 1);
        assert_int_equal(len, 32);
        EVP_MD_CTX_free(ctx);
        (void) close(fd);
}

/* Whether the kernel's device-mapper answers. */
static bool dm_usable(void) {
        int fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);

        if (fd < 0)
                return false;
        (void) close(fd);
        return true;
}

static LuksToken *template_token(void) {
        LuksToken *t = NULL;
        Diag d = {};

        assert_int_equal(luks_token_new(&t), 0);
        assert_int_equal(luks_token_add_verifier(t, "http://127.0.0.1:1/attest", &d), 0);
        assert_int_equal(luks_token_add_verifier(t, "https://verifier.example/attest", &d), 0);
        assert_int_equal(luks_token_set_key(t, "http://127.0.0.1:1", "luks-disk", &d), 0);
        t->pcr_mask = (1u << 7) | (1u << 11);
        return t;
}

/* Enrolls key with the right passphrase; fails the test otherwise. */
static LuksEnrollResult enroll_ok(const char *image, const Secret *key, const LuksToken *t) {
        _cleanup_(secret_freep) Secret *pass = secret_of(passphrase_text, strlen(passphrase_text));
        _cleanup_(freep) char *backup = new_path("backup");
        LuksEnrollResult res = {};
        Diag d = {};
        int r;

        r = luks_enroll(image, backup, pass, key, t, &res, &d);
        if (r < 0)
                fail_msg("enroll: %d %s", r, d.text);
        return res;
}

static void test_enroll(void **state) {
        _cleanup_(secret_freep) Secret *key = random_key();
        _cleanup_(secret_freep) Secret *pass = secret_of(passphrase_text, strlen(passphrase_text));
        _cleanup_(luks_token_freep) LuksToken *tmpl = template_token();
        _cleanup_(luks_token_list_done) LuksTokenList list = {};
        _cleanup_(freep) char *image = new_image(0), *backup = new_path("backup"), *copy = NULL,
                              *cmd = NULL;
        _cleanup_(crypt_freep) CryptDevice *cd = NULL;
        struct crypt_pbkdf_type pbkdf = {};
        uint8_t before[32], after[32], again[32];
        LuksEnrollResult res = {};
        struct stat st;
        Diag d = {};
        int r;

        image_hash(image, before);
        r = luks_enroll(image, backup, pass, key, tmpl, &res, &d);
        if (r < 0)
                fail_msg("enroll: %d %s", r, d.text);
        assert_int_equal(res.keyslot, 1);
        assert_int_equal(res.token, 0);
        assert_int_equal(res.auth_keyslot, 0);
        image_hash(image, after);
        assert_memory_not_equal(before, after, 32);

        /* The key opens its keyslot (check mode), and only that one; the passphrase still
         * opens its own. */
        d = (Diag){};
        assert_int_equal(luks_open_with_key(image, res.token, NULL, key, 0, &d), 1);
        cd = load(image);
        assert_int_equal(crypt_activate_by_passphrase(cd, NULL, 0, passphrase_text,
                                                      strlen(passphrase_text), 0),
                         0);
        assert_int_equal(crypt_activate_by_passphrase(cd, NULL, 1, passphrase_text,
                                                      strlen(passphrase_text), 0),
                         -EPERM);
        assert_int_equal(
                crypt_activate_by_passphrase(cd, NULL, 0, (const char *) key->data, key->size, 0),
                -EPERM);
        /* PBKDF2-SHA256 at the minimum, no Argon2 memory cost. */
        assert_int_equal(crypt_keyslot_get_pbkdf(cd, 1, &pbkdf), 0);
        assert_string_equal(pbkdf.type, CRYPT_KDF_PBKDF2);
        assert_string_equal(pbkdf.hash, "sha256");
        assert_int_equal(pbkdf.iterations, LUKS_PBKDF2_ITERATIONS);
        assert_int_equal(crypt_keyslot_status(cd, 0), CRYPT_SLOT_ACTIVE);
        assert_int_equal(crypt_keyslot_status(cd, 1), CRYPT_SLOT_ACTIVE);
        assert_int_equal(crypt_keyslot_status(cd, 2), CRYPT_SLOT_INACTIVE);
        assert_int_equal(crypt_token_is_assigned(cd, 0, 1), 0);

        /* The token as written. */
        d = (Diag){};
        assert_int_equal(luks_find_tokens(image, &list, &d), 1);
        assert_int_equal(list.n, 1);
        assert_int_equal(list.entries[0].id, 0);
        assert_non_null(list.entries[0].token);
        assert_int_equal(list.entries[0].token->keyslot, 1);
        assert_int_equal(list.entries[0].token->n_verifiers, 2);
        assert_string_equal(list.entries[0].token->verifiers[1], "https://verifier.example/attest");
        assert_string_equal(list.entries[0].token->key_url, "http://127.0.0.1:1/keys/luks-disk");
        assert_int_equal(list.entries[0].token->pcr_mask, (1u << 7) | (1u << 11));

        /* The backup is the header from before: restored onto a copy of the enrolled image,
         * the copy is the image from before enroll, to the byte. */
        assert_int_equal(stat(backup, &st), 0);
        assert_true(st.st_size >= 16 * 1024);
        copy = new_path("copy");
        assert_true(asprintf(&cmd, "cp --sparse=always -- '%s' '%s'", image, copy) > 0);
        assert_int_equal(system(cmd), 0);
        crypt_free(cd);
        cd = load(copy);
        assert_int_equal(crypt_header_restore(cd, CRYPT_LUKS2, backup), 0);
        image_hash(copy, again);
        assert_memory_equal(before, again, 32);

        /* The same backup path again: refused before anything is written. */
        d = (Diag){};
        assert_int_equal(luks_enroll(image, backup, pass, key, tmpl, &res, &d), -EEXIST);
        assert_non_null(strstr(d.text, backup));
        image_hash(image, again);
        assert_memory_equal(after, again, 32);
        (void) unlink(copy);
}

static void test_luks_dump(void **state) {
        _cleanup_(secret_freep) Secret *key = random_key();
        _cleanup_(luks_token_freep) LuksToken *tmpl = template_token();
        _cleanup_(freep) char *image = new_image(0), *cmd = NULL, *out = NULL;
        char line[512];
        size_t size = 0;
        FILE *p, *o;
        bool type = false, keyslot = false;

        if (system("cryptsetup --version >/dev/null 2>&1") != 0) {
                print_message("no cryptsetup command (Debian package cryptsetup-bin)\n");
                skip();
        }
        (void) enroll_ok(image, key, tmpl);
        assert_true(asprintf(&cmd, "cryptsetup luksDump '%s'", image) > 0);
        p = popen(cmd, "r");
        assert_non_null(p);
        o = open_memstream(&out, &size);
        assert_non_null(o);
        /* "Tokens:", then "  0: cvm-agent" and its "\tKeyslot:    1". */
        while (fgets(line, sizeof(line), p)) {
                fputs(line, o);
                if (strstr(line, "0: cvm-agent"))
                        type = true;
                if (type && strstr(line, "Keyslot:") && strstr(line, " 1"))
                        keyslot = true;
        }
        assert_int_equal(pclose(p), 0);
        assert_int_equal(fclose(o), 0);
        if (!type || !keyslot)
                fail_msg("luksDump does not show the token:\n%s", out);
}

static void test_wrong_passphrase(void **state) {
        _cleanup_(secret_freep) Secret *key = random_key();
        _cleanup_(secret_freep) Secret *wrong = secret_of("correct horse battery stapler", 29);
        _cleanup_(luks_token_freep) LuksToken *tmpl = template_token();
        _cleanup_(freep) char *image = new_image(0), *backup = new_path("backup");
        uint8_t before[32], after[32];
        LuksEnrollResult res = {.keyslot = -7};
        struct stat st;
        Diag d = {};

        image_hash(image, before);
        assert_int_equal(luks_enroll(image, backup, wrong, key, tmpl, &res, &d), -EKEYREJECTED);
        assert_non_null(strstr(d.text, "passphrase"));
        assert_int_equal(res.keyslot, -7);
        image_hash(image, after);
        assert_memory_equal(before, after, 32);
        /* Nothing was written, not even the backup. */
        assert_int_equal(stat(backup, &st), -1);
        assert_int_equal(errno, ENOENT);

        /* A key too short for a keyslot with a minimal PBKDF. */
        {
                _cleanup_(secret_freep) Secret *pass =
                        secret_of(passphrase_text, strlen(passphrase_text));
                _cleanup_(secret_freep) Secret *short_key = secret_of("0123456789abcde", 15);

                d = (Diag){};
                assert_int_equal(luks_enroll(image, backup, pass, short_key, tmpl, &res, &d),
                                 -EINVAL);
                image_hash(image, after);
                assert_memory_equal(before, after, 32);
        }
}

static void test_wrong_key(void **state) {
        _cleanup_(secret_freep) Secret *key = random_key(), *wrong = random_key();
        _cleanup_(luks_token_freep) LuksToken *tmpl = template_token();
        _cleanup_(freep) char *image = new_image(0);
        uint8_t before[32], after[32];
        LuksEnrollResult res;
        Diag d = {};
        int r;

        res = enroll_ok(image, key, tmpl);
        image_hash(image, before);
        assert_int_equal(luks_open_with_key(image, res.token, NULL, wrong, 0, &d), -EKEYREJECTED);
        assert_non_null(strstr(d.text, "does not open keyslot 1"));
        /* With a name too, where device-mapper works; libcryptsetup looks for it first. */
        d = (Diag){};
        r = luks_open_with_key(image, res.token, "cvm-test-wrong", wrong, 0, &d);
        if (r != -EKEYREJECTED && !(r == -ENODEV && !dm_usable()))
                fail_msg("a wrong key with a name: %d %s", r, d.text);
        /* The passphrase is not the key either (it opens keyslot 0, not the token's). */
        {
                _cleanup_(secret_freep) Secret *pass =
                        secret_of(passphrase_text, strlen(passphrase_text));

                d = (Diag){};
                assert_int_equal(luks_open_with_key(image, res.token, NULL, pass, 0, &d),
                                 -EKEYREJECTED);
        }
        image_hash(image, after);
        assert_memory_equal(before, after, 32);

        /* Token ids that are empty or out of range. */
        d = (Diag){};
        assert_int_equal(luks_open_with_key(image, 5, NULL, key, 0, &d), -ENOENT);
        d = (Diag){};
        assert_int_equal(luks_open_with_key(image, 32, NULL, key, 0, &d), -EINVAL);
        d = (Diag){};
        assert_int_equal(luks_open_with_key("/nonexistent.img", 0, NULL, key, 0, &d), -ENOENT);
        image_hash(image, after);
        assert_memory_equal(before, after, 32);
}

static void test_not_luks2(void **state) {
        _cleanup_(secret_freep) Secret *key = random_key();
        _cleanup_(secret_freep) Secret *pass = secret_of(passphrase_text, strlen(passphrase_text));
        _cleanup_(luks_token_freep) LuksToken *tmpl = template_token();
        _cleanup_(luks_token_list_done) LuksTokenList list = {};
        _cleanup_(freep) char *plain = new_path("plain"), *backup = new_path("backup");
        LuksEnrollResult res;
        Diag d = {};
        int fd;

        fd = open(plain, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 4u << 20), 0);
        (void) close(fd);
        assert_int_equal(luks_enroll(plain, backup, pass, key, tmpl, &res, &d), -EMEDIUMTYPE);
        assert_non_null(strstr(d.text, "no valid LUKS header"));
        d = (Diag){};
        assert_int_equal(luks_find_tokens(plain, &list, &d), -EMEDIUMTYPE);
        assert_int_equal(list.n, 0);
}

/* Hostile tokens beside a good one, as libcryptsetup stores them (it parses the header's JSON
 * itself, so only what it accepts can be there). */
static const struct {
        const char *fixture;
        int error;
} evil_in_header[] = {
        {"evil-token-huge.json", -E2BIG},
        {"evil-token-deep.json", -EBADMSG},
        {"evil-token-version-string.json", -EBADMSG},
        {"evil-token-version-2.json", -EPROTONOSUPPORT},
        {"evil-token-keyslots-none.json", -EBADMSG},
        {"evil-token-pcrs-float.json", -EBADMSG},
        {"evil-token-verifiers-int.json", -EBADMSG},
        {"evil-token-verifier-userinfo.json", -EBADMSG},
        {"evil-token-verifier-nul.json", -EBADMSG},
        {"evil-token-unknown-member.json", -EBADMSG},
        {"evil-token-enc-unknown.json", -EPROTONOSUPPORT},
        {"evil-token-key-release-other-name.json", -EBADMSG},
};

static char *fixture(const char *name, size_t *ret_size) {
        const char *top = secure_getenv("top_srcdir");
        char path[PATH_MAX];
        uint8_t *buf;

        (void) snprintf(path, sizeof(path), "%s/tests/fixtures/luks/%s", top ?: ".", name);
        buf = test_read_file(path, ret_size);
        if (!buf)
                fail_msg("cannot read %s", path);
        return (char *) buf;
}

static void test_hostile_tokens(void **state) {
        _cleanup_(secret_freep) Secret *key = random_key();
        _cleanup_(luks_token_freep) LuksToken *tmpl = template_token();
        _cleanup_(luks_token_list_done) LuksTokenList list = {};
        /* A 64 KiB header, so that a 17 KB token fits in its JSON area. */
        _cleanup_(freep) char *image = new_image(64 * 1024);
        _cleanup_(crypt_freep) CryptDevice *cd = NULL;
        int ids[ELEMENTSOF(evil_in_header)], other, stale, good;
        uint8_t before[32], after[32];
        LuksEnrollResult res;
        Diag d = {};

        /* The hostile ones first, so that they come before the good one. */
        cd = load(image);
        for (size_t i = 0; i < ELEMENTSOF(evil_in_header); i++) {
                _cleanup_(freep) char *json = NULL;
                size_t size;

                json = fixture(evil_in_header[i].fixture, &size);
                /* The fixtures name keyslot 1, which is not there yet: keyslot 0 is. */
                {
                        char *at = strstr(json, "\"keyslots\":[\"1\"]");

                        if (at)
                                at[13] = '0';
                }
                ids[i] = crypt_token_json_set(cd, CRYPT_ANY_TOKEN, json);
                if (ids[i] < 0)
                        fail_msg("libcryptsetup refuses %s: %d", evil_in_header[i].fixture, ids[i]);
        }
        /* A token of another type is no business of ours. */
        other = crypt_token_json_set(cd, CRYPT_ANY_TOKEN,
                                     "{\"type\":\"x-other-tool\",\"keyslots\":[\"0\"]}");
        assert_true(other >= 0);
        crypt_free(cd);
        cd = NULL;

        res = enroll_ok(image, key, tmpl);
        good = res.token;

        /* A well-formed token whose keyslot is gone: add one for keyslot 1's twin, then
         * destroy that keyslot behind its back. */
        {
                _cleanup_(secret_freep) Secret *key2 = random_key();
                LuksEnrollResult res2 = enroll_ok(image, key2, tmpl);

                stale = res2.token;
                cd = load(image);
                assert_int_equal(crypt_keyslot_destroy(cd, res2.keyslot), 0);
                /* libcryptsetup takes the keyslot out of the token, which then names none. */
                crypt_free(cd);
                cd = NULL;
        }

        image_hash(image, before);
        assert_int_equal(luks_find_tokens(image, &list, &d), 1);
        /* The first note is the first hostile token's. */
        assert_non_null(strstr(d.text, "token 0:"));
        assert_non_null(strstr(d.text, "skipped"));
        assert_int_equal(list.n, ELEMENTSOF(evil_in_header) + 2);
        assert_int_equal(list.n_usable, 1);
        for (size_t i = 0; i < list.n; i++) {
                const LuksTokenEntry *e = &list.entries[i];
                char want[32];

                assert_true(e->id != other);
                if (e->id == good) {
                        assert_non_null(e->token);
                        assert_int_equal(e->error, 0);
                        assert_int_equal(e->token->keyslot, res.keyslot);
                        continue;
                }
                assert_null(e->token);
                (void) snprintf(want, sizeof(want), "token %d: ", e->id);
                assert_non_null(strstr(e->diag.text, want));
                if (e->id == stale) {
                        assert_true(e->error == -EBADMSG || e->error == -ENOENT);
                        continue;
                }
                assert_true((size_t) e->id < ELEMENTSOF(evil_in_header));
                assert_int_equal(ids[e->id], e->id);
                if (e->error != evil_in_header[e->id].error)
                        fail_msg("%s: %d (%s), expected %d", evil_in_header[e->id].fixture,
                                 e->error, e->diag.text, evil_in_header[e->id].error);
        }

        /* The good one opens; the others refuse to be used at all. */
        d = (Diag){};
        assert_int_equal(luks_open_with_key(image, good, NULL, key, 0, &d), res.keyslot);
        for (size_t i = 0; i < ELEMENTSOF(evil_in_header); i++) {
                d = (Diag){};
                assert_int_equal(luks_open_with_key(image, ids[i], NULL, key, 0, &d),
                                 evil_in_header[i].error);
        }
        d = (Diag){};
        assert_int_equal(luks_open_with_key(image, other, NULL, key, 0, &d), -EMEDIUMTYPE);
        image_hash(image, after);
        assert_memory_equal(before, after, 32);
}

static size_t json_area_used(const char *image) {
        _cleanup_(crypt_freep) CryptDevice *cd = load(image);
        const char *json = NULL;

        assert_int_equal(crypt_dump_json(cd, &json, 0), 0);
        return strlen(json);
}

static void test_token_does_not_fit(void **state) {
        _cleanup_(secret_freep) Secret *key = random_key();
        _cleanup_(secret_freep) Secret *pass = secret_of(passphrase_text, strlen(passphrase_text));
        _cleanup_(luks_token_freep) LuksToken *big = NULL;
        _cleanup_(luks_token_list_done) LuksTokenList list = {};
        _cleanup_(freep) char *image = new_image(0), *backup = new_path("backup"), *filler = NULL,
                              *big_json = NULL;
        _cleanup_(crypt_freep) CryptDevice *cd = NULL;
        size_t used, room;
        LuksEnrollResult res = {.keyslot = -7};
        Diag d = {};
        int r;

        /* A token of eight long verifier URLs (about 8 KiB). */
        assert_int_equal(luks_token_new(&big), 0);
        for (unsigned i = 0; i < LUKS_TOKEN_VERIFIERS_MAX; i++) {
                char url[LUKS_TOKEN_URL_MAX + 1];
                int k = snprintf(url, sizeof(url), "https://v%u.example/", i);

                memset(url + k, 'p', LUKS_TOKEN_URL_MAX - (size_t) k);
                url[LUKS_TOKEN_URL_MAX] = '\0';
                assert_int_equal(luks_token_add_verifier(big, url, &d), 0);
        }
        assert_int_equal(luks_token_set_key(big, "https://kv.example", "disk", &d), 0);
        big->pcr_mask = 1u << 7;
        big->keyslot = 1;
        assert_int_equal(luks_token_build(big, &big_json, &d), 0);

        /* Fill the 12 KiB JSON area so that a keyslot fits (about 500 bytes) and that token
         * does not: 1500 bytes are left. */
        used = json_area_used(image);
        room = 12 * 1024 - used;
        {
                static const char head[] = "{\"type\":\"x-filler\",\"keyslots\":[],\"data\":\"";
                size_t pad = room - 1500 - strlen(head) - strlen("\"}") - strlen(",\"0\":");

                assert_true(room > 1500 + 100);
                filler = malloc(strlen(head) + pad + 3);
                assert_non_null(filler);
                memcpy(filler, head, strlen(head));
                memset(filler + strlen(head), 'f', pad);
                memcpy(filler + strlen(head) + pad, "\"}", 3);
        }
        cd = load(image);
        r = crypt_token_json_set(cd, CRYPT_ANY_TOKEN, filler);
        if (r < 0)
                fail_msg("filler token: %d", r);
        crypt_free(cd);
        cd = NULL;
        used = json_area_used(image);
        assert_true(used + strlen(big_json) > 12 * 1024);
        assert_true(used + 1000 < 12 * 1024);

        r = luks_enroll(image, backup, pass, key, big, &res, &d);
        if (r >= 0)
                fail_msg("enroll of a token that does not fit succeeded");
        print_message("enroll refused, as it should: %s\n", d.text);
        assert_non_null(strstr(d.text, "writing the token"));
        assert_non_null(strstr(d.text, "keyslot 1 was removed again"));
        assert_int_equal(res.keyslot, -7);

        /* As before: keyslot 0 alone, the filler alone; the key opens nothing. */
        cd = load(image);
        assert_int_equal(crypt_keyslot_status(cd, 0), CRYPT_SLOT_ACTIVE_LAST);
        assert_int_equal(crypt_keyslot_status(cd, 1), CRYPT_SLOT_INACTIVE);
        assert_int_equal(crypt_token_status(cd, 1, NULL), CRYPT_TOKEN_INACTIVE);
        assert_int_equal(crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT,
                                                      (const char *) key->data, key->size, 0),
                         -EPERM);
        assert_int_equal(crypt_activate_by_passphrase(cd, NULL, 0, passphrase_text,
                                                      strlen(passphrase_text), 0),
                         0);
        d = (Diag){};
        assert_int_equal(luks_find_tokens(image, &list, &d), 0);
        assert_int_equal(list.n, 0);
}

static void test_remove_token(void **state) {
        _cleanup_(secret_freep) Secret *key = random_key(), *key2 = random_key();
        _cleanup_(luks_token_freep) LuksToken *tmpl = template_token();
        _cleanup_(freep) char *image = new_image(0), *backup = new_path("backup"),
                              *backup2 = new_path("backup");
        _cleanup_(crypt_freep) CryptDevice *cd = NULL;
        LuksEnrollResult res, res2;
        int keyslot = -7;
        Diag d = {};

        /* Re-enrolling: a new key, then the old token goes with its keyslot. */
        res = enroll_ok(image, key, tmpl);
        res2 = enroll_ok(image, key2, tmpl);
        assert_int_equal(res2.keyslot, 2);
        assert_int_equal(res2.token, 1);
        assert_int_equal(luks_remove_token(image, res.token, backup, &keyslot, &d), 0);
        assert_int_equal(keyslot, res.keyslot);
        d = (Diag){};
        assert_int_equal(luks_open_with_key(image, res.token, NULL, key, 0, &d), -ENOENT);
        d = (Diag){};
        assert_int_equal(luks_open_with_key(image, res2.token, NULL, key2, 0, &d), 2);
        cd = load(image);
        assert_int_equal(crypt_keyslot_status(cd, res.keyslot), CRYPT_SLOT_INACTIVE);
        assert_int_equal(crypt_activate_by_passphrase(cd, NULL, 0, passphrase_text,
                                                      strlen(passphrase_text), 0),
                         0);

        /* The last keyslot never goes: with keyslot 0 gone, token 1's is the last. */
        assert_int_equal(crypt_keyslot_destroy(cd, 0), 0);
        crypt_free(cd);
        cd = NULL;
        d = (Diag){};
        assert_int_equal(luks_remove_token(image, res2.token, backup2, &keyslot, &d), -EBUSY);
        assert_non_null(strstr(d.text, "last keyslot"));
        d = (Diag){};
        assert_int_equal(luks_open_with_key(image, res2.token, NULL, key2, 0, &d), 2);
}

static void test_activate(void **state) {
        _cleanup_(secret_freep) Secret *key = random_key();
        _cleanup_(luks_token_freep) LuksToken *tmpl = template_token();
        _cleanup_(freep) char *image = new_image(0);
        LuksEnrollResult res;
        uint8_t before[32], after[32];
        Diag d = {};
        int r;

        if (geteuid() != 0) {
                print_message("activation needs root\n");
                skip();
        }
        res = enroll_ok(image, key, tmpl);
        image_hash(image, before);
        r = luks_open_with_key(image, res.token, "cvm-agent-test-luks", key, 0, &d);
        if (!dm_usable()) {
                /* This kernel has no device-mapper: the distinct error, so unlock can fall
                 * back to checking the key. */
                if (r != -ENODEV)
                        fail_msg("activation without device-mapper: %d %s", r, d.text);
                assert_non_null(strstr(d.text, "device-mapper"));
                d = (Diag){};
                assert_int_equal(luks_open_with_key(image, res.token, NULL, key, 0, &d),
                                 res.keyslot);
        } else {
                _cleanup_(crypt_freep) CryptDevice *cd = NULL;

                if (r < 0)
                        fail_msg("activation: %d %s", r, d.text);
                assert_int_equal(r, res.keyslot);
                assert_int_equal(access("/dev/mapper/cvm-agent-test-luks", F_OK), 0);
                assert_int_equal(crypt_init_by_name(&cd, "cvm-agent-test-luks"), 0);
                assert_int_equal(crypt_deactivate(cd, "cvm-agent-test-luks"), 0);
        }
        image_hash(image, after);
        assert_memory_equal(before, after, 32);
}

static void test_scan(void **state) {
        _cleanup_(secret_freep) Secret *key = random_key();
        _cleanup_(luks_token_freep) LuksToken *tmpl = template_token();
        _cleanup_(freep) char *image = new_image(0), *cmd = NULL;
        LuksDevice *devices = NULL;
        char loop[64] = {};
        size_t n = 0, usable = 0;
        bool found = false, detached, sorted = true;
        Diag d = {};
        FILE *p;
        int r, keyslot = -1;

        if (geteuid() != 0) {
                print_message("scanning block devices needs root\n");
                skip();
        }
        (void) enroll_ok(image, key, tmpl);
        assert_true(asprintf(&cmd, "losetup --find --show --read-only -- '%s' 2>/dev/null", image) >
                    0);
        p = popen(cmd, "r");
        assert_non_null(p);
        if (!fgets(loop, sizeof(loop), p))
                loop[0] = '\0';
        if (pclose(p) != 0 || !startswith(loop, "/dev/loop")) {
                print_message("no loop device to scan\n");
                skip();
        }
        loop[strcspn(loop, "\n")] = '\0';

        r = luks_scan_devices(&devices, &n, &d);
        /* The loop device goes before any assertion can end the test. */
        free(cmd);
        assert_true(asprintf(&cmd, "losetup --detach '%s'", loop) > 0);
        detached = system(cmd) == 0;
        if (r < 0)
                fail_msg("scan: %d %s", r, d.text);
        for (size_t i = 0; i < n; i++)
                if (streq(devices[i].path, loop)) {
                        found = true;
                        usable = devices[i].tokens.n_usable;
                        keyslot = devices[i].tokens.entries[0].token
                                          ? devices[i].tokens.entries[0].token->keyslot
                                          : -1;
                }
        for (size_t i = 1; i < n; i++)
                sorted = sorted && strcmp(devices[i - 1].path, devices[i].path) < 0;
        luks_device_list_free(devices, n);
        assert_true(detached);
        assert_true(found);
        assert_int_equal(usable, 1);
        assert_int_equal(keyslot, 1);
        assert_true(sorted);
}

/* Tests run in the build tree, and write only there. */
static int setup(void **state) {
        static char tmpl[] = "test-luks.XXXXXX";

        workdir = mkdtemp(tmpl);
        return workdir ? 0 : -1;
}

static int teardown(void **state) {
        _cleanup_(freep) char *cmd = NULL;

        if (!workdir || asprintf(&cmd, "rm -rf -- '%s'", workdir) < 0)
                return 0;
        return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_enroll),
                cmocka_unit_test(test_luks_dump),
                cmocka_unit_test(test_wrong_passphrase),
                cmocka_unit_test(test_wrong_key),
                cmocka_unit_test(test_not_luks2),
                cmocka_unit_test(test_hostile_tokens),
                cmocka_unit_test(test_token_does_not_fit),
                cmocka_unit_test(test_remove_token),
                cmocka_unit_test(test_activate),
                cmocka_unit_test(test_scan),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
