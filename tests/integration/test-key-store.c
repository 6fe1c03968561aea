/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keyrelease/key-store.c on a real SQLite file in a temporary directory: round trips, a wrong
 * master key, tampered and swapped rows, immutable and invalid policies, names, the append-only
 * audit, and two handles on one database at once.
 */
#include <stdio.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "common/diag.h"
#include "common/openssl-util.h"
#include "common/secret.h"
#include "keyrelease/key-store.h"
#include "tests/unit/test-util.h"

/* A release policy in the grammar of verifier/release-policy.h. */
static const char policy_a[] = "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://"
                               "sharedeus.eus.attest.azure.net\","
                               "\"allOf\":[{\"claim\":\"x-ms-isolation-tee.x-ms-attestation-type\","
                               "\"equals\":\"sevsnpvm\"}]}]}";
static const char policy_b[] =
        "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://verifier.example\","
        "\"allOf\":[{\"claim\":\"x-ms-compliance-status\",\"equals\":\"azure-compliant-cvm\"}]}]}";

static char *workdir;
static unsigned dir_seq;

static Secret *master(uint8_t fill) {
        Secret *s = NULL;

        assert_int_equal(secret_new(KEY_STORE_MASTER_KEY_SIZE, &s), 0);
        memset(s->data, fill, s->size);
        return s;
}

/* A fresh store directory for one test. */
static char *new_dir(void) {
        char *dir = NULL;

        assert_true(asprintf(&dir, "%s/store-%u", workdir, dir_seq++) > 0);
        assert_int_equal(mkdir(dir, 0700), 0);
        return dir;
}

static KeyStore *open_store(const char *dir, uint8_t fill) {
        _cleanup_(secret_freep) Secret *mk = master(fill);
        KeyStore *s = NULL;
        Diag d = {};

        assert_int_equal(key_store_open(dir, mk, &s, &d), 0);
        return s;
}

static sqlite3 *raw_open(const char *dir) {
        _cleanup_(freep) char *path = NULL;
        sqlite3 *db = NULL;

        assert_true(asprintf(&path, "%s/keys.db", dir) > 0);
        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        return db;
}

static int raw_exec(sqlite3 *db, const char *sql) {
        return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static int64_t raw_count(sqlite3 *db, const char *sql) {
        sqlite3_stmt *st = NULL;
        int64_t n;

        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return n;
}

static void assert_rsa_private(const Secret *m, int bits) {
        const unsigned char *p = m->data;
        PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long) m->size);
        EVP_PKEY *k;

        assert_non_null(p8);
        assert_ptr_equal(p, m->data + m->size);
        k = EVP_PKCS82PKEY(p8);
        assert_non_null(k);
        assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_RSA);
        assert_int_equal(EVP_PKEY_get_bits(k), bits);
        EVP_PKEY_free(k);
        PKCS8_PRIV_KEY_INFO_free(p8);
}

static void test_round_trip(void **state) {
        _cleanup_(freep) char *dir = new_dir();
        _cleanup_(key_store_closep) KeyStore *s = open_store(dir, 0x11);
        _cleanup_(key_info_freep) KeyInfo *info = NULL;
        _cleanup_(secret_freep) Secret *m1 = NULL, *m2 = NULL, *old = NULL, *oct = NULL;
        _cleanup_(freep) char *path = NULL, *policy = NULL;
        char v1[KEY_STORE_VERSION_SIZE + 1], v2[KEY_STORE_VERSION_SIZE + 1], cur[33];
        KeyInfo *list = NULL;
        size_t n = 0;
        KeyType type;
        struct stat st;
        bool exportable = false;
        Diag d = {};

        assert_true(asprintf(&path, "%s/keys.db", dir) > 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);

        assert_int_equal(
                key_store_create(s, "disk-key", KEY_TYPE_RSA_2048, true, policy_a, false, v1, &d),
                0);
        assert_int_equal(strlen(v1), KEY_STORE_VERSION_SIZE);
        assert_int_equal(
                key_store_create(s, "ec-key", KEY_TYPE_EC_P256, false, NULL, false, NULL, &d), 0);
        assert_int_equal(
                key_store_create(s, "oct-key", KEY_TYPE_OCT_256, true, policy_b, false, NULL, &d),
                0);
        assert_int_equal(
                key_store_create(s, "disk-key", KEY_TYPE_OCT_256, false, NULL, false, NULL, NULL),
                -EEXIST);

        assert_int_equal(key_store_list(s, &list, &n, &d), 0);
        assert_int_equal(n, 3);
        assert_string_equal(list[0].name, "disk-key");
        assert_string_equal(list[0].current_version, v1);
        assert_true(list[0].exportable);
        assert_int_equal(list[0].type, KEY_TYPE_RSA_2048);
        assert_true(list[0].created_usec > 0);
        assert_null(list[0].policy);
        assert_string_equal(list[1].name, "ec-key");
        assert_false(list[1].exportable);
        assert_string_equal(list[2].name, "oct-key");
        key_info_array_free(list, n);

        assert_int_equal(key_store_get_material(s, "disk-key", NULL, &m1, &type, &d), 0);
        assert_int_equal(type, KEY_TYPE_RSA_2048);
        assert_rsa_private(m1, 2048);
        assert_int_equal(key_store_get_material(s, "oct-key", NULL, &oct, &type, &d), 0);
        assert_int_equal(oct->size, 32);
        assert_int_equal(type, KEY_TYPE_OCT_256);

        assert_int_equal(key_store_rotate(s, "disk-key", v2, &d), 0);
        assert_string_not_equal(v1, v2);
        assert_int_equal(key_store_get_material(s, "disk-key", NULL, &m2, NULL, &d), 0);
        assert_rsa_private(m2, 2048);
        assert_false(m1->size == m2->size && memcmp(m1->data, m2->data, m1->size) == 0);
        assert_int_equal(key_store_get_material(s, "disk-key", v1, &old, NULL, &d), 0);
        assert_int_equal(old->size, m1->size);
        assert_memory_equal(old->data, m1->data, m1->size);

        assert_int_equal(key_store_show(s, "disk-key", &info, &d), 0);
        assert_string_equal(info->current_version, v2);
        assert_string_equal(info->policy, policy_a);
        assert_false(info->policy_immutable);
        assert_int_equal(info->n_versions, 2);
        assert_string_equal(info->versions[0].version, v1);
        assert_string_equal(info->versions[1].version, v2);
        assert_true(info->versions[0].enabled);

        assert_int_equal(key_store_get_policy(s, "disk-key", &policy, &exportable, cur, &d), 0);
        assert_string_equal(policy, policy_a);
        assert_true(exportable);
        assert_string_equal(cur, v2);
        free(TAKE_PTR(policy));
        assert_int_equal(key_store_get_policy(s, "ec-key", &policy, NULL, NULL, NULL), -ENODATA);

        assert_int_equal(key_store_set_policy(s, "disk-key", policy_b, false, &d), 0);
        assert_int_equal(key_store_get_policy(s, "disk-key", &policy, NULL, NULL, &d), 0);
        assert_string_equal(policy, policy_b);

        assert_int_equal(key_store_get_material(s, "no-such-key", NULL, &m1, NULL, NULL), -ENOENT);
        assert_int_equal(key_store_get_material(s, "disk-key", "00000000000000000000000000000000",
                                                &m1, NULL, NULL),
                         -ENOENT);
        assert_int_equal(key_store_rotate(s, "no-such-key", NULL, NULL), -ENOENT);
        (void) state;
}

static void test_import(void **state) {
        _cleanup_(freep) char *dir = new_dir();
        _cleanup_(key_store_closep) KeyStore *s = open_store(dir, 0x12);
        _cleanup_(secret_freep) Secret *der = NULL, *oct = NULL, *back = NULL, *short_oct = NULL;
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 3072);
        PKCS8_PRIV_KEY_INFO *p8;
        unsigned char *p;
        int len;
        Diag d = {};

        assert_non_null(k);
        p8 = EVP_PKEY2PKCS8(k);
        assert_non_null(p8);
        len = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
        assert_true(len > 0);
        assert_int_equal(secret_new((size_t) len, &der), 0);
        p = der->data;
        assert_int_equal(i2d_PKCS8_PRIV_KEY_INFO(p8, &p), len);
        PKCS8_PRIV_KEY_INFO_free(p8);
        EVP_PKEY_free(k);

        /* Material that does not match the type is refused and nothing is stored. */
        assert_int_equal(key_store_import(s, "imported", KEY_TYPE_RSA_2048, der, false, NULL, false,
                                          NULL, &d),
                         -EBADMSG);
        assert_int_equal(key_store_import(s, "imported", KEY_TYPE_EC_P256, der, false, NULL, false,
                                          NULL, NULL),
                         -EBADMSG);
        assert_int_equal(key_store_import(s, "imported", KEY_TYPE_RSA_3072, der, false, NULL, false,
                                          NULL, &d),
                         0);
        assert_int_equal(key_store_get_material(s, "imported", NULL, &back, NULL, &d), 0);
        assert_int_equal(back->size, der->size);
        assert_memory_equal(back->data, der->data, der->size);

        assert_int_equal(secret_new(31, &short_oct), 0);
        assert_int_equal(key_store_import(s, "oct", KEY_TYPE_OCT_256, short_oct, false, NULL, false,
                                          NULL, NULL),
                         -EBADMSG);
        assert_int_equal(secret_new(32, &oct), 0);
        memset(oct->data, 0x5a, 32);
        assert_int_equal(
                key_store_import(s, "oct", KEY_TYPE_OCT_256, oct, false, NULL, false, NULL, &d), 0);
        (void) state;
}

static void test_wrong_master_key(void **state) {
        _cleanup_(freep) char *dir = new_dir();
        _cleanup_(secret_freep) Secret *wrong = master(0x22), *short_key = NULL;
        KeyStore *s = open_store(dir, 0x21), *t = NULL;
        Diag d = {};

        assert_int_equal(key_store_create(s, "k", KEY_TYPE_OCT_256, false, NULL, false, NULL, &d),
                         0);
        key_store_close(s);
        assert_int_equal(key_store_open(dir, wrong, &t, &d), -EKEYREJECTED);
        assert_null(t);
        assert_non_null(strstr(d.text, "master key"));

        assert_int_equal(secret_new(16, &short_key), 0);
        assert_int_equal(key_store_open(dir, short_key, &t, NULL), -EINVAL);
        key_store_close(open_store(dir, 0x21));
        (void) state;
}

static void test_newer_schema(void **state) {
        _cleanup_(freep) char *dir = new_dir();
        _cleanup_(secret_freep) Secret *mk = master(0x23);
        KeyStore *t = NULL;
        sqlite3 *db;

        key_store_close(open_store(dir, 0x23));
        db = raw_open(dir);
        assert_int_equal(raw_exec(db, "UPDATE meta SET schema_version = 2"), SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(key_store_open(dir, mk, &t, NULL), -EPROTONOSUPPORT);
        (void) state;
}

/* Flips one bit of the current version's ciphertext of name. */
static void raw_flip(sqlite3 *db, const char *name) {
        sqlite3_stmt *st = NULL;
        uint8_t *ct;
        int n;

        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT ciphertext FROM key_versions WHERE name = ?",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        n = sqlite3_column_bytes(st, 0);
        assert_true(n > 20);
        ct = malloc((size_t) n);
        assert_non_null(ct);
        memcpy(ct, sqlite3_column_blob(st, 0), (size_t) n);
        sqlite3_finalize(st);
        ct[10] ^= 0x01;
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "UPDATE key_versions SET ciphertext = ? WHERE name = ?",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_blob(st, 1, ct, n, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        free(ct);
}

static void test_tampered(void **state) {
        _cleanup_(freep) char *dir = new_dir();
        _cleanup_(key_store_closep) KeyStore *s = open_store(dir, 0x31);
        _cleanup_(secret_freep) Secret *m = NULL;
        sqlite3 *db;
        Diag d = {};

        assert_int_equal(key_store_create(s, "a", KEY_TYPE_RSA_2048, false, NULL, false, NULL, &d),
                         0);
        assert_int_equal(key_store_get_material(s, "a", NULL, &m, NULL, &d), 0);
        m = secret_free(m);
        db = raw_open(dir);
        raw_flip(db, "a");
        sqlite3_close(db);
        assert_int_equal(key_store_get_material(s, "a", NULL, &m, NULL, &d), -EKEYREJECTED);
        assert_null(m);
        assert_non_null(strstr(d.text, "does not decrypt"));

        /* A disabled version is not handed out. */
        assert_int_equal(key_store_create(s, "b", KEY_TYPE_OCT_256, false, NULL, false, NULL, &d),
                         0);
        db = raw_open(dir);
        assert_int_equal(raw_exec(db, "UPDATE key_versions SET enabled = 0 WHERE name = 'b'"),
                         SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(key_store_get_material(s, "b", NULL, &m, NULL, NULL), -EPERM);
        (void) state;
}

/* Two keys of the same type whose encrypted rows are exchanged: the associated data (name and
 * version) no longer matches, so neither decrypts. */
static void test_row_swap(void **state) {
        _cleanup_(freep) char *dir = new_dir();
        _cleanup_(key_store_closep) KeyStore *s = open_store(dir, 0x41);
        _cleanup_(secret_freep) Secret *m = NULL;
        sqlite3 *db;
        Diag d = {};

        assert_int_equal(key_store_create(s, "a", KEY_TYPE_OCT_256, false, NULL, false, NULL, &d),
                         0);
        assert_int_equal(key_store_create(s, "b", KEY_TYPE_OCT_256, false, NULL, false, NULL, &d),
                         0);
        db = raw_open(dir);
        assert_int_equal(raw_exec(db,
                                  "CREATE TEMP TABLE x AS SELECT name, nonce, ciphertext "
                                  "FROM key_versions;"
                                  "UPDATE key_versions SET "
                                  "nonce = (SELECT nonce FROM x WHERE x.name <> key_versions.name),"
                                  "ciphertext = (SELECT ciphertext FROM x "
                                  "WHERE x.name <> key_versions.name);"),
                         SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(key_store_get_material(s, "a", NULL, &m, NULL, &d), -EKEYREJECTED);
        assert_int_equal(key_store_get_material(s, "b", NULL, &m, NULL, NULL), -EKEYREJECTED);
        assert_null(m);
        (void) state;
}

static void test_policies(void **state) {
        _cleanup_(freep) char *dir = new_dir();
        _cleanup_(key_store_closep) KeyStore *s = open_store(dir, 0x51);
        _cleanup_(key_info_freep) KeyInfo *info = NULL;
        _cleanup_(freep) char *policy = NULL;
        KeyInfo *list = NULL;
        size_t n = 1;
        sqlite3 *db;
        Diag d = {};

        /* Invalid policies and an exportable key without one: refused, nothing stored. */
        assert_int_equal(key_store_create(s, "k", KEY_TYPE_OCT_256, true, "{\"version\":\"2.0\"}",
                                          false, NULL, &d),
                         -EPROTONOSUPPORT);
        assert_non_null(strstr(d.text, "version"));
        assert_true(key_store_create(s, "k", KEY_TYPE_OCT_256, true, "not json", false, NULL,
                                     NULL) < 0);
        assert_int_equal(key_store_create(s, "k", KEY_TYPE_OCT_256, true, NULL, false, NULL, NULL),
                         -EINVAL);
        assert_int_equal(key_store_list(s, &list, &n, &d), 0);
        assert_int_equal(n, 0);
        db = raw_open(dir);
        assert_int_equal(raw_count(db, "SELECT count(*) FROM key_versions"), 0);
        sqlite3_close(db);

        assert_int_equal(
                key_store_create(s, "k", KEY_TYPE_OCT_256, true, policy_a, false, NULL, &d), 0);
        assert_true(key_store_set_policy(s, "k", "{\"anyOf\":[]}", false, NULL) < 0);
        assert_int_equal(key_store_set_policy(s, "k", NULL, false, NULL), -EINVAL);
        assert_int_equal(key_store_get_policy(s, "k", &policy, NULL, NULL, &d), 0);
        assert_string_equal(policy, policy_a);

        /* Immutable: once set, set-policy is refused. */
        assert_int_equal(key_store_set_policy(s, "k", policy_a, true, &d), 0);
        d = (Diag){};
        assert_int_equal(key_store_set_policy(s, "k", policy_b, false, &d), -EPERM);
        assert_non_null(strstr(d.text, "immutable"));
        assert_int_equal(key_store_set_policy(s, "k", policy_a, true, NULL), -EPERM);
        assert_int_equal(key_store_show(s, "k", &info, &d), 0);
        assert_true(info->policy_immutable);
        assert_string_equal(info->policy, policy_a);

        assert_int_equal(
                key_store_create(s, "imm", KEY_TYPE_OCT_256, true, policy_b, true, NULL, &d), 0);
        assert_int_equal(key_store_set_policy(s, "imm", policy_a, false, NULL), -EPERM);
        assert_int_equal(key_store_set_policy(s, "nope", policy_a, false, NULL), -ENOENT);
        (void) state;
}

static void test_names(void **state) {
        static const char *const bad[] = {"", "a b", "a_b", "a.b", "ключ", "a/b", "a\nb"};
        _cleanup_(freep) char *dir = new_dir();
        _cleanup_(key_store_closep) KeyStore *s = open_store(dir, 0x61);
        char longest[KEY_STORE_NAME_MAX + 2];

        assert_true(key_store_name_valid("Disk-Key-01"));
        assert_false(key_store_name_valid(NULL));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_false(key_store_name_valid(bad[i]));
                assert_int_equal(key_store_create(s, bad[i], KEY_TYPE_OCT_256, false, NULL, false,
                                                  NULL, NULL),
                                 -EINVAL);
        }
        memset(longest, 'a', sizeof(longest));
        longest[KEY_STORE_NAME_MAX] = 0;
        assert_int_equal(
                key_store_create(s, longest, KEY_TYPE_OCT_256, false, NULL, false, NULL, NULL), 0);
        longest[KEY_STORE_NAME_MAX] = 'a';
        longest[KEY_STORE_NAME_MAX + 1] = 0;
        assert_int_equal(
                key_store_create(s, longest, KEY_TYPE_OCT_256, false, NULL, false, NULL, NULL),
                -EINVAL);
        assert_int_equal(key_type_from_string("RSA-2048"), KEY_TYPE_RSA_2048);
        assert_int_equal(key_type_from_string("rsa-2048"), _KEY_TYPE_INVALID);
        assert_string_equal(key_type_to_string(KEY_TYPE_OCT_256), "oct-256");
        (void) state;
}

static void test_audit(void **state) {
        _cleanup_(freep) char *dir = new_dir();
        _cleanup_(key_store_closep) KeyStore *s = open_store(dir, 0x71);
        AuditEntry *e = NULL;
        size_t n = 0;
        sqlite3 *db;
        Diag d = {};

        assert_int_equal(key_store_audit_append(s, "10.0.0.7", "disk-key",
                                                "0123456789abcdef0123456789abcdef", "jti-1", true,
                                                "anyOf[0]: released", &d),
                         0);
        assert_int_equal(
                key_store_audit_append(s, "10.0.0.8", "other", NULL, NULL, false, NULL, &d), 0);
        assert_int_equal(key_store_audit_append(s, "", "other", NULL, NULL, false, NULL, NULL),
                         -EINVAL);

        db = raw_open(dir);
        assert_int_not_equal(raw_exec(db, "UPDATE audit SET released = 1"), SQLITE_OK);
        assert_non_null(strstr(sqlite3_errmsg(db), "append-only"));
        assert_int_not_equal(raw_exec(db, "DELETE FROM audit"), SQLITE_OK);
        assert_int_not_equal(raw_exec(db, "DELETE FROM audit WHERE id = 1"), SQLITE_OK);
        assert_int_equal(raw_count(db, "SELECT count(*) FROM audit"), 2);
        sqlite3_close(db);

        assert_int_equal(key_store_audit_list(s, &e, &n, &d), 0);
        assert_int_equal(n, 2);
        assert_true(e[0].id < e[1].id);
        assert_string_equal(e[0].who, "10.0.0.7");
        assert_string_equal(e[0].key_name, "disk-key");
        assert_string_equal(e[0].key_version, "0123456789abcdef0123456789abcdef");
        assert_string_equal(e[0].jti, "jti-1");
        assert_true(e[0].released);
        assert_string_equal(e[0].reason, "anyOf[0]: released");
        assert_true(e[0].time_usec > 0);
        assert_false(e[1].released);
        assert_null(e[1].jti);
        assert_null(e[1].key_version);
        assert_null(e[1].reason);
        audit_entry_array_free(e, n);
        (void) state;
}

/* A server and an admin command on one store: the second handle writes while the first holds a
 * read transaction open (WAL), and each sees the other's committed writes. */
static void test_two_handles(void **state) {
        _cleanup_(freep) char *dir = new_dir();
        _cleanup_(key_store_closep) KeyStore *a = open_store(dir, 0x81);
        _cleanup_(key_store_closep) KeyStore *b = open_store(dir, 0x81);
        _cleanup_(secret_freep) Secret *m = NULL;
        KeyInfo *list = NULL;
        size_t n = 0;
        sqlite3 *reader;
        sqlite3_stmt *st = NULL;
        Diag d = {};

        assert_int_equal(
                key_store_create(a, "first", KEY_TYPE_EC_P384, false, NULL, false, NULL, &d), 0);
        reader = raw_open(dir);
        assert_int_equal(sqlite3_prepare_v2(reader, "PRAGMA journal_mode", -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *) sqlite3_column_text(st, 0), "wal");
        sqlite3_finalize(st);

        /* A read transaction stays open on a third connection while b writes. */
        assert_int_equal(raw_exec(reader, "BEGIN"), SQLITE_OK);
        assert_int_equal(raw_count(reader, "SELECT count(*) FROM keys"), 1);
        assert_int_equal(
                key_store_create(b, "second", KEY_TYPE_OCT_256, false, NULL, false, NULL, &d), 0);
        assert_int_equal(key_store_rotate(b, "first", NULL, &d), 0);
        assert_int_equal(key_store_get_material(a, "second", NULL, &m, NULL, &d), 0);
        assert_int_equal(raw_count(reader, "SELECT count(*) FROM keys"), 1);
        assert_int_equal(raw_exec(reader, "COMMIT"), SQLITE_OK);
        assert_int_equal(raw_count(reader, "SELECT count(*) FROM keys"), 2);
        sqlite3_close(reader);

        assert_int_equal(key_store_list(a, &list, &n, &d), 0);
        assert_int_equal(n, 2);
        key_info_array_free(list, n);
        assert_int_equal(key_store_audit_append(a, "peer", "first", NULL, "j", false, "no", &d), 0);
        assert_int_equal(key_store_audit_append(b, "peer", "second", NULL, "k", true, "ok", &d), 0);
        (void) state;
}

static int setup(void **state) {
        static char tmpl[] = "test-key-store.XXXXXX";

        workdir = mkdtemp(tmpl);
        (void) state;
        return workdir ? 0 : -1;
}

static int teardown(void **state) {
        _cleanup_(freep) char *cmd = NULL;

        (void) state;
        if (!workdir || asprintf(&cmd, "rm -rf -- '%s'", workdir) < 0)
                return 0;
        return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_import),
                cmocka_unit_test(test_wrong_master_key),
                cmocka_unit_test(test_newer_schema),
                cmocka_unit_test(test_tampered),
                cmocka_unit_test(test_row_swap),
                cmocka_unit_test(test_policies),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_audit),
                cmocka_unit_test(test_two_handles),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
