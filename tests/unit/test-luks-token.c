/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent/luks-token.c: the "cvm-agent" LUKS2 token. Build and parse round trips, the exact text
 * built and dumped, the key URL forms a command line gives, URL rules, and every hostile
 * fixture of tests/fixtures/luks (each refused with the errno and the member its name says).
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>

#include "agent/luks-token.h"
#include "common/diag.h"
#include "common/strutil.h"
#include "tests/unit/test-util.h"

static const char minimal_json[] =
        "{\"type\":\"cvm-agent\",\"keyslots\":[\"1\"],\"cvm-agent-version\":1,"
        "\"verifiers\":[\"https://verifier.example/attest/AzureGuest\"],"
        "\"key-release\":\"https://kv.example/keys/disk\",\"key\":\"disk\","
        "\"pcr-bank\":\"sha256\",\"pcrs\":[0,7],\"enc\":\"RSA_AES_KEY_WRAP_256\"}";

static const char *fixture_dir(char buf[static PATH_MAX]) {
        const char *top = secure_getenv("top_srcdir");

        (void) snprintf(buf, PATH_MAX, "%s/tests/fixtures/luks", top ?: ".");
        return buf;
}

static char *fixture(const char *name, size_t *ret_size) {
        char dir[PATH_MAX], path[PATH_MAX + 64];
        uint8_t *buf;

        (void) snprintf(path, sizeof(path), "%s/%s", fixture_dir(dir), name);
        buf = test_read_file(path, ret_size);
        if (!buf)
                fail_msg("cannot read %s", path);
        return (char *) buf;
}

static LuksToken *parse_ok(const char *json, size_t size) {
        LuksToken *t = NULL;
        Diag d = {};
        int r;

        r = luks_token_parse(json, size, &t, &d);
        if (r < 0)
                fail_msg("parse: %d %s", r, d.text);
        assert_non_null(t);
        return t;
}

static void test_parse_minimal(void **state) {
        _cleanup_(luks_token_freep) LuksToken *t = parse_ok(minimal_json, strlen(minimal_json));
        _cleanup_(freep) char *again = NULL, *url = NULL;
        Diag d = {};

        assert_int_equal(t->keyslot, 1);
        assert_int_equal(t->n_verifiers, 1);
        assert_string_equal(t->verifiers[0], "https://verifier.example/attest/AzureGuest");
        assert_string_equal(t->key_url, "https://kv.example/keys/disk");
        assert_string_equal(t->key_name, "disk");
        assert_null(t->key_version);
        assert_int_equal(t->pcr_bank, 0x000B);
        assert_int_equal(t->pcr_mask, (1u << 0) | (1u << 7));
        assert_int_equal(t->enc, KEY_WRAP_RSA_AES_256);

        /* What we build is exactly the canonical text. */
        assert_int_equal(luks_token_build(t, &again, &d), 0);
        assert_string_equal(again, minimal_json);
        assert_int_equal(luks_token_release_url(t, &url), 0);
        assert_string_equal(url, "https://kv.example/keys/disk/release");
}

static void test_fixtures_good(void **state) {
        static const char *const names[] = {"token-minimal.json", "token-full.json"};

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_(freep) char *json = NULL, *built = NULL;
                _cleanup_(luks_token_freep) LuksToken *t = NULL, *again = NULL;
                size_t size;
                Diag d = {};

                json = fixture(names[i], &size);
                t = parse_ok(json, size);
                assert_int_equal(luks_token_build(t, &built, &d), 0);
                again = parse_ok(built, strlen(built));
                assert_int_equal(again->keyslot, t->keyslot);
                assert_int_equal(again->n_verifiers, t->n_verifiers);
                for (size_t k = 0; k < t->n_verifiers; k++)
                        assert_string_equal(again->verifiers[k], t->verifiers[k]);
                assert_string_equal(again->key_url, t->key_url);
                assert_string_equal(again->key_name, t->key_name);
                assert_true(streq_ptr(again->key_version, t->key_version));
                assert_int_equal(again->pcr_bank, t->pcr_bank);
                assert_int_equal(again->pcr_mask, t->pcr_mask);
                assert_int_equal(again->enc, t->enc);
                assert_true(strlen(built) <= LUKS_TOKEN_JSON_MAX);
        }
}

static void test_full(void **state) {
        _cleanup_(freep) char *json = NULL, *built = NULL, *dump = NULL;
        _cleanup_(luks_token_freep) LuksToken *t = NULL;
        char pcrs[LUKS_TOKEN_PCRS_TEXT_MAX];
        size_t size;
        Diag d = {};

        json = fixture("token-full.json", &size);
        t = parse_ok(json, size);
        assert_int_equal(t->keyslot, 31);
        assert_int_equal(t->n_verifiers, LUKS_TOKEN_VERIFIERS_MAX);
        assert_string_equal(t->verifiers[7], "http://[::1]:8080/attest/AzureGuest");
        assert_string_equal(t->key_name, "os-disk-1");
        assert_string_equal(t->key_version, "0123456789abcdef0123456789abcdef");
        assert_int_equal(t->pcr_bank, 0x000C);
        assert_int_equal(t->pcr_mask, 0xFFFFFFu);
        assert_int_equal(t->enc, KEY_WRAP_CKM_RSA_AES);
        assert_string_equal(luks_token_pcrs_to_string(t, pcrs),
                            "sha384:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23");
        /* The "x-note" member is not kept: it is not the token's business. */
        assert_int_equal(luks_token_build(t, &built, &d), 0);
        assert_null(strstr(built, "x-note"));
        assert_non_null(strstr(built, "\"pcr-bank\":\"sha384\""));
        /* No escaped '/' in what we write (libcryptsetup stores the text as json-c prints it
         * with JSON_C_TO_STRING_NOSLASHESCAPE; ours must read the same). */
        assert_null(strstr(built, "\\/"));
        assert_int_equal(luks_token_dump(t, &dump), 0);
        assert_non_null(strstr(
                dump, "\tKey:        os-disk-1 (version 0123456789abcdef0123456789abcdef)\n"));
}

static void test_dump(void **state) {
        _cleanup_(luks_token_freep) LuksToken *t = NULL;
        _cleanup_(freep) char *dump = NULL;
        Diag d = {};

        assert_int_equal(luks_token_new(&t), 0);
        assert_int_equal(luks_token_add_verifier(t, "https://a.example/attest", &d), 0);
        assert_int_equal(luks_token_add_verifier(t, "https://b.example/attest", &d), 0);
        assert_int_equal(luks_token_set_key(t, "https://kv.example", "disk", &d), 0);
        t->pcr_mask = (1u << 0) | (1u << 7);
        t->keyslot = 2;
        assert_int_equal(luks_token_dump(t, &dump), 0);
        assert_string_equal(dump, "\tcvm-agent format: 1\n"
                                  "\tVerifiers:  https://a.example/attest\n"
                                  "\t            https://b.example/attest\n"
                                  "\tKey:        disk (latest version)\n"
                                  "\tKey URL:    https://kv.example/keys/disk\n"
                                  "\tPCRs:       sha256:0,7\n"
                                  "\tWrap:       RSA_AES_KEY_WRAP_256\n");
}

static void test_build_incomplete(void **state) {
        _cleanup_(luks_token_freep) LuksToken *t = NULL;
        _cleanup_(freep) char *json = NULL;
        Diag d = {};

        assert_int_equal(luks_token_new(&t), 0);
        assert_int_equal(luks_token_build(t, &json, &d), -EINVAL);
        assert_non_null(strstr(d.text, "keyslots"));
        t->keyslot = 32;
        d = (Diag){};
        assert_int_equal(luks_token_build(t, &json, &d), -EINVAL);
        assert_non_null(strstr(d.text, "keyslots"));
        t->keyslot = 0;
        d = (Diag){};
        assert_int_equal(luks_token_build(t, &json, &d), -EINVAL);
        assert_non_null(strstr(d.text, "verifiers"));
        assert_int_equal(luks_token_add_verifier(t, "http://127.0.0.1:8080", &d), 0);
        d = (Diag){};
        assert_int_equal(luks_token_build(t, &json, &d), -EINVAL);
        assert_non_null(strstr(d.text, "key-release"));
        assert_int_equal(luks_token_set_key(t, "http://127.0.0.1:8080/keys/k", NULL, &d), 0);
        d = (Diag){};
        assert_int_equal(luks_token_build(t, &json, &d), -EINVAL);
        assert_non_null(strstr(d.text, "pcrs"));
        t->pcr_mask = 1u << 24;
        d = (Diag){};
        assert_int_equal(luks_token_build(t, &json, &d), -EINVAL);
        assert_non_null(strstr(d.text, "pcrs"));
        t->pcr_mask = 1u << 23;
        t->pcr_bank = 0x0004; /* sha1 */
        d = (Diag){};
        assert_int_equal(luks_token_build(t, &json, &d), -EINVAL);
        assert_non_null(strstr(d.text, "pcr-bank"));
        t->pcr_bank = 0x000B;
        t->enc = _KEY_WRAP_ALG_MAX;
        d = (Diag){};
        assert_int_equal(luks_token_build(t, &json, &d), -EINVAL);
        assert_non_null(strstr(d.text, "enc"));
        t->enc = KEY_WRAP_RSA_AES_384;
        assert_int_equal(luks_token_build(t, &json, &d), 0);
        assert_string_equal(json,
                            "{\"type\":\"cvm-agent\",\"keyslots\":[\"0\"],"
                            "\"cvm-agent-version\":1,\"verifiers\":[\"http://127.0.0.1:8080\"],"
                            "\"key-release\":\"http://127.0.0.1:8080/keys/k\",\"key\":\"k\","
                            "\"pcr-bank\":\"sha256\",\"pcrs\":[23],"
                            "\"enc\":\"RSA_AES_KEY_WRAP_384\"}");
}

typedef struct KeyCase {
        const char *url, *name;
        int error;
        const char *key_url, *key_name, *key_version;
} KeyCase;

static void test_set_key(void **state) {
        static const char v[] = "0123456789abcdef0123456789abcdef";
        static const KeyCase cases[] = {
                /* The vault's URL and a name. */
                {"https://kv.example", "disk", 0, "https://kv.example/keys/disk", "disk", NULL},
                {"https://kv.example/", "disk", 0, "https://kv.example/keys/disk", "disk", NULL},
                {"http://127.0.0.1:41234", "d-1", 0, "http://127.0.0.1:41234/keys/d-1", "d-1",
                 NULL},
                {"https://kv.example", NULL, -EINVAL, NULL, NULL, NULL},
                /* The key's URL, with or without the name. */
                {"https://kv.example/keys/disk", NULL, 0, "https://kv.example/keys/disk", "disk",
                 NULL},
                {"https://kv.example/keys/disk/", "disk", 0, "https://kv.example/keys/disk", "disk",
                 NULL},
                {"https://kv.example/keys/disk", "other", -EINVAL, NULL, NULL, NULL},
                {"https://kv.example/keys/disk/0123456789abcdef0123456789abcdef", NULL, 0,
                 "https://kv.example/keys/disk/0123456789abcdef0123456789abcdef", "disk", v},
                {"https://kv.example/keys/disk/0123456789abcdef0123456789abcdef", "disk", 0,
                 "https://kv.example/keys/disk/0123456789abcdef0123456789abcdef", "disk", v},
                {"https://kv.example/p/keys/disk", "disk", 0, "https://kv.example/p/keys/disk",
                 "disk", NULL},
                /* A key named like a version, and one named "keys". */
                {"https://kv.example/keys/0123456789abcdef0123456789abcdef", NULL, 0,
                 "https://kv.example/keys/0123456789abcdef0123456789abcdef",
                 "0123456789abcdef0123456789abcdef", NULL},
                {"https://kv.example/keys/keys/0123456789abcdef0123456789abcdef", NULL, 0,
                 "https://kv.example/keys/keys/0123456789abcdef0123456789abcdef", "keys", v},
                {"https://kv.example/keys/keys/0123456789abcdef0123456789abcdef",
                 "0123456789abcdef0123456789abcdef", 0,
                 "https://kv.example/keys/keys/0123456789abcdef0123456789abcdef",
                 "0123456789abcdef0123456789abcdef", NULL},
                /* Refused. */
                {"https://kv.example/disk", "disk", -EINVAL, NULL, NULL, NULL},
                {"https://kv.example/keys/", NULL, -EINVAL, NULL, NULL, NULL},
                {"https://kv.example/keys/disk/0123", NULL, -EINVAL, NULL, NULL, NULL},
                {"https://kv.example/keys/disk?api-version=7.4", NULL, -EINVAL, NULL, NULL, NULL},
                {"https://u:p@kv.example/keys/disk", NULL, -EINVAL, NULL, NULL, NULL},
                {"ftp://kv.example/keys/disk", NULL, -EINVAL, NULL, NULL, NULL},
                {"https://kv.example", "bad name", -EINVAL, NULL, NULL, NULL},
                {"https://kv.example", "", -EINVAL, NULL, NULL, NULL},
                {"https://kv.example/keys/a_b", NULL, -EINVAL, NULL, NULL, NULL},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const KeyCase *c = &cases[i];
                _cleanup_(luks_token_freep) LuksToken *t = NULL;
                Diag d = {};
                int r;

                assert_int_equal(luks_token_new(&t), 0);
                r = luks_token_set_key(t, c->url, c->name, &d);
                if (r != c->error)
                        fail_msg("%s %s: %d (%s), expected %d", c->url, c->name ?: "-", r, d.text,
                                 c->error);
                if (r < 0) {
                        assert_true(d.text[0]);
                        assert_null(t->key_url);
                        continue;
                }
                assert_string_equal(t->key_url, c->key_url);
                assert_string_equal(t->key_name, c->key_name);
                assert_true(streq_ptr(t->key_version, c->key_version));
        }
}

static void test_verifiers(void **state) {
        static const char *const good[] = {
                "https://verifier.example",
                "http://127.0.0.1:8080/attest/AzureGuest?api-version=2022-08-01",
                "https://[2001:db8::1]:443/x",
                "https://a-b.c_d.example:65535/%41",
        };
        static const char *const bad[] = {
                "",
                "https://",
                "https:///x",
                "HTTPS://v.example",
                "ftp://v.example",
                "https://v.example/a b",
                "https://v.example/#f",
                "https://u@v.example",
                "https://v.example:0",
                "https://v.example:65536",
                "https://v.example:123456",
                "https://v.example:",
                "https://v.example:0443",
                "https://v.example:8a",
                "https://[::1",
                "https://[]:1",
                "https://[::1]x",
                "https://v!.example",
                "https://v.example/\"",
                "https://v.example/\\",
                "https://v.example/<",
                "https://v.example/\x7f",
                "https://v.example/\xc3\xa9",
        };
        _cleanup_(luks_token_freep) LuksToken *t = NULL;
        char long_url[LUKS_TOKEN_URL_MAX + 2];
        Diag d = {};

        assert_int_equal(luks_token_new(&t), 0);
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                d = (Diag){};
                if (luks_token_add_verifier(t, good[i], &d) != 0)
                        fail_msg("%s: %s", good[i], d.text);
        }
        d = (Diag){};
        assert_int_equal(luks_token_add_verifier(t, good[1], &d), -EEXIST);
        assert_non_null(strstr(d.text, "twice"));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                d = (Diag){};
                if (luks_token_add_verifier(t, bad[i], &d) != -EINVAL)
                        fail_msg("%s accepted", bad[i]);
                assert_non_null(strstr(d.text, "verifiers"));
        }
        assert_int_equal(t->n_verifiers, ELEMENTSOF(good));

        /* The URL cap, exactly. */
        memset(long_url, 'a', sizeof(long_url) - 1);
        long_url[sizeof(long_url) - 1] = '\0';
        memcpy(long_url, "https://v.example/", strlen("https://v.example/"));
        d = (Diag){};
        assert_int_equal(luks_token_add_verifier(t, long_url, &d), -EINVAL);
        long_url[LUKS_TOKEN_URL_MAX] = '\0';
        assert_int_equal(luks_token_add_verifier(t, long_url, &d), 0);

        /* At most eight. */
        for (size_t i = t->n_verifiers; i < LUKS_TOKEN_VERIFIERS_MAX; i++) {
                char url[64];

                (void) snprintf(url, sizeof(url), "https://v%zu.example", i);
                assert_int_equal(luks_token_add_verifier(t, url, &d), 0);
        }
        d = (Diag){};
        assert_int_equal(luks_token_add_verifier(t, "https://ninth.example", &d), -E2BIG);
        assert_int_equal(t->n_verifiers, LUKS_TOKEN_VERIFIERS_MAX);
}

/* Each hostile fixture: the errno and the words the Diag must carry (the member at fault). */
typedef struct EvilCase {
        const char *name;
        int error;
        const char *diag;
} EvilCase;

static const EvilCase evil_cases[] = {
        {"evil-token-huge.json", -E2BIG, "bytes of JSON"},
        {"evil-token-deep.json", -EBADMSG, "nested deeper"},
        {"evil-token-not-object.json", -EBADMSG, "not a JSON object"},
        {"evil-token-trailing.json", -EBADMSG, "not JSON"},
        {"evil-token-duplicate-keyslots.json", -EBADMSG, "appears twice"},
        {"evil-token-duplicate-nested.json", -EBADMSG, "appears twice"},
        {"evil-token-type-other.json", -EMEDIUMTYPE, "type:"},
        {"evil-token-type-object.json", -EBADMSG, "type: not a string"},
        {"evil-token-version-missing.json", -EBADMSG, "cvm-agent-version: missing"},
        {"evil-token-version-string.json", -EBADMSG, "cvm-agent-version: not an integer"},
        {"evil-token-version-float.json", -EBADMSG, "cvm-agent-version: not an integer"},
        {"evil-token-version-2.json", -EPROTONOSUPPORT, "cvm-agent-version: 2"},
        {"evil-token-keyslots-two.json", -EBADMSG, "keyslots: 2 keyslots"},
        {"evil-token-keyslots-none.json", -EBADMSG, "keyslots: 0 keyslots"},
        {"evil-token-keyslots-int.json", -EBADMSG, "keyslots[0]: not a string"},
        {"evil-token-keyslots-string.json", -EBADMSG, "keyslots: not an array"},
        {"evil-token-keyslot-32.json", -EBADMSG, "keyslots[0]: keyslot 32"},
        {"evil-token-keyslot-leading-zero.json", -EBADMSG, "keyslots[0]: not a keyslot"},
        {"evil-token-keyslot-negative.json", -EBADMSG, "keyslots[0]: not a keyslot"},
        {"evil-token-verifiers-none.json", -EBADMSG, "verifiers: 0 URLs"},
        {"evil-token-verifiers-nine.json", -EBADMSG, "verifiers: 9 URLs"},
        {"evil-token-verifiers-twice.json", -EBADMSG, "verifiers[1]: listed twice"},
        {"evil-token-verifiers-int.json", -EBADMSG, "verifiers[0]: not a string"},
        {"evil-token-verifier-scheme-file.json", -EBADMSG, "verifiers[0]:"},
        {"evil-token-verifier-userinfo.json", -EBADMSG, "user information"},
        {"evil-token-verifier-nul.json", -EBADMSG, "verifiers[0]: a NUL byte"},
        {"evil-token-verifier-space.json", -EBADMSG, "verifiers[0]:"},
        {"evil-token-verifier-fragment.json", -EBADMSG, "verifiers[0]:"},
        {"evil-token-verifier-port-0.json", -EBADMSG, "port"},
        {"evil-token-verifier-port-65536.json", -EBADMSG, "port"},
        {"evil-token-verifier-no-host.json", -EBADMSG, "no host"},
        {"evil-token-verifier-long.json", -EBADMSG, "verifiers[0]: a URL of"},
        {"evil-token-verifier-control.json", -EBADMSG, "verifiers[0]:"},
        {"evil-token-key-release-missing.json", -EBADMSG, "key-release: missing"},
        {"evil-token-key-release-no-keys.json", -EBADMSG, "key-release:"},
        {"evil-token-key-release-query.json", -EBADMSG, "key-release:"},
        {"evil-token-key-release-other-name.json", -EBADMSG, "does not end in /keys/disk"},
        {"evil-token-key-release-bad-version.json", -EBADMSG, "does not end in /keys/disk"},
        {"evil-token-key-missing.json", -EBADMSG, "key: missing"},
        {"evil-token-key-bad-name.json", -EBADMSG, "key: "},
        {"evil-token-pcr-bank-sha1.json", -EPROTONOSUPPORT, "pcr-bank: \"sha1\""},
        {"evil-token-pcr-bank-int.json", -EBADMSG, "pcr-bank: not a string"},
        {"evil-token-pcrs-none.json", -EBADMSG, "pcrs: 0 PCRs"},
        {"evil-token-pcrs-24.json", -EBADMSG, "pcrs[0]: PCR 24"},
        {"evil-token-pcrs-negative.json", -EBADMSG, "pcrs[0]: PCR -1"},
        {"evil-token-pcrs-unsorted.json", -EBADMSG, "pcrs[1]"},
        {"evil-token-pcrs-repeated.json", -EBADMSG, "pcrs[1]"},
        {"evil-token-pcrs-float.json", -EBADMSG, "pcrs[1]: not an integer"},
        {"evil-token-pcrs-string.json", -EBADMSG, "pcrs[0]: not an integer"},
        {"evil-token-pcrs-huge.json", -EBADMSG, "pcrs[0]"},
        {"evil-token-enc-unknown.json", -EPROTONOSUPPORT, "enc: unknown"},
        {"evil-token-enc-missing.json", -EBADMSG, "enc: missing"},
        {"evil-token-unknown-member.json", -EBADMSG, "\"pin\": unknown member"},
};

static void test_evil_fixtures(void **state) {
        char dir[PATH_MAX];
        DIR *dh;
        struct dirent *de;
        size_t n_files = 0;

        for (size_t i = 0; i < ELEMENTSOF(evil_cases); i++) {
                const EvilCase *c = &evil_cases[i];
                _cleanup_(freep) char *json = NULL;
                LuksToken *t = NULL;
                size_t size;
                Diag d = {};
                int r;

                json = fixture(c->name, &size);
                r = luks_token_parse(json, size, &t, &d);
                if (r != c->error || !strstr(d.text, c->diag))
                        fail_msg("%s: %d \"%s\", expected %d \"%s\"", c->name, r, d.text, c->error,
                                 c->diag);
                assert_null(t);
                /* One printable line. */
                for (const char *p = d.text; *p; p++)
                        assert_true(*p >= 0x20 && *p < 0x7f);
        }

        /* Every evil-* file of the directory is in the table above. */
        dh = opendir(fixture_dir(dir));
        assert_non_null(dh);
        while ((de = readdir(dh))) {
                bool listed = false;

                if (!startswith(de->d_name, "evil-"))
                        continue;
                n_files++;
                for (size_t i = 0; i < ELEMENTSOF(evil_cases); i++)
                        listed = listed || streq(evil_cases[i].name, de->d_name);
                if (!listed)
                        fail_msg("%s is not in the table of test-luks-token.c", de->d_name);
        }
        closedir(dh);
        assert_int_equal(n_files, ELEMENTSOF(evil_cases));
}

static void test_parse_edges(void **state) {
        _cleanup_(freep) char *padded = NULL;
        LuksToken *t = NULL;
        Diag d = {};
        size_t n;

        /* White space around the object is fine; "x-" members of any type are ignored. */
        assert_true(asprintf(&padded, " \n%.*s,\"x-a\":[{\"b\":null}],\"x-\":1}\n ",
                             (int) strlen(minimal_json) - 1, minimal_json) > 0);
        t = parse_ok(padded, strlen(padded));
        t = luks_token_free(t);

        /* Four levels of nesting are read, five are not. */
        free(padded);
        assert_true(asprintf(&padded, "%.*s,\"x-a\":[[[1]]]}", (int) strlen(minimal_json) - 1,
                             minimal_json) > 0);
        t = parse_ok(padded, strlen(padded));
        t = luks_token_free(t);
        free(padded);
        assert_true(asprintf(&padded, "%.*s,\"x-a\":[[[[1]]]]}", (int) strlen(minimal_json) - 1,
                             minimal_json) > 0);
        d = (Diag){};
        assert_int_equal(luks_token_parse(padded, strlen(padded), &t, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "nested deeper"));

        /* Exactly the cap is read; one byte more is not, before parsing. */
        free(padded);
        n = LUKS_TOKEN_JSON_MAX - strlen(minimal_json) - strlen(",\"x-pad\":\"\"");
        padded = malloc(LUKS_TOKEN_JSON_MAX + 2);
        assert_non_null(padded);
        memcpy(padded, minimal_json, strlen(minimal_json) - 1);
        {
                size_t k = strlen(minimal_json) - 1;

                memcpy(padded + k, ",\"x-pad\":\"", 10);
                k += 10;
                memset(padded + k, 'p', n);
                k += n;
                memcpy(padded + k, "\"}", 2);
                k += 2;
                assert_int_equal(k, LUKS_TOKEN_JSON_MAX);
                t = parse_ok(padded, k);
                t = luks_token_free(t);
                padded[k] = ' ';
                assert_int_equal(luks_token_parse(padded, k + 1, &t, &d), -E2BIG);
                assert_null(t);
        }

        /* The size is what counts, not a NUL: text after the object, or a NUL inside. */
        d = (Diag){};
        assert_int_equal(luks_token_parse(minimal_json, strlen(minimal_json) - 1, &t, &d),
                         -EBADMSG);
        d = (Diag){};
        assert_int_equal(luks_token_parse(minimal_json, sizeof(minimal_json), &t, &d), -EBADMSG);
        d = (Diag){};
        assert_int_equal(luks_token_parse("", 0, &t, &d), -EBADMSG);
        assert_int_equal(luks_token_parse(NULL, 0, &t, &d), -EINVAL);
        assert_null(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_minimal),
                cmocka_unit_test(test_fixtures_good),
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_dump),
                cmocka_unit_test(test_build_incomplete),
                cmocka_unit_test(test_set_key),
                cmocka_unit_test(test_verifiers),
                cmocka_unit_test(test_evil_fixtures),
                cmocka_unit_test(test_parse_edges),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
