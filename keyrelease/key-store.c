/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "common/diag.h"
#include "common/openssl-util.h"
#include "common/secret.h"
#include "keyrelease/key-store.h"
#include "verifier/release-policy.h"

#define GCM_NONCE_SIZE 12u
#define GCM_TAG_SIZE   16u
/* Largest material we store: PKCS#8 of RSA-4096 is about 2.4 KiB. */
#define MATERIAL_MAX (16u * 1024u)
/* The plaintext of the key check value: only the right master key decrypts it. */
#define CHECK_PLAINTEXT "cvm-key-store key check value"
#define CHECK_AAD       "cvm-key-store check"
#define ROW_AAD_PREFIX  "cvm-key-store row v1"

struct KeyStore {
        sqlite3 *db;
        Secret *master_key;
};

DEFINE_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize);
DEFINE_CLEANUP_FUNC(EVP_CIPHER_CTX *, EVP_CIPHER_CTX_free);
DEFINE_CLEANUP_FUNC(PKCS8_PRIV_KEY_INFO *, PKCS8_PRIV_KEY_INFO_free);
DEFINE_CLEANUP_FUNC(json_object *, json_object_put);

/* The audit table is append-only: triggers abort any UPDATE or DELETE on it. Key versions
 * reference their key; keys.current_version is checked by the code that writes it. */
static const char schema_sql[] =
        "CREATE TABLE IF NOT EXISTS meta ("
        " id INTEGER PRIMARY KEY CHECK (id = 1),"
        " schema_version INTEGER NOT NULL,"
        " check_nonce BLOB NOT NULL,"
        " check_value BLOB NOT NULL);"
        "CREATE TABLE IF NOT EXISTS keys ("
        " name TEXT PRIMARY KEY NOT NULL,"
        " key_type TEXT NOT NULL,"
        " exportable INTEGER NOT NULL,"
        " policy TEXT,"
        " policy_immutable INTEGER NOT NULL DEFAULT 0,"
        " current_version TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS key_versions ("
        " name TEXT NOT NULL REFERENCES keys(name) ON DELETE RESTRICT,"
        " version TEXT NOT NULL,"
        " created_usec INTEGER NOT NULL,"
        " enabled INTEGER NOT NULL DEFAULT 1,"
        " nonce BLOB NOT NULL,"
        " ciphertext BLOB NOT NULL,"
        " PRIMARY KEY (name, version));"
        "CREATE TABLE IF NOT EXISTS audit ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " time_usec INTEGER NOT NULL,"
        " who TEXT NOT NULL,"
        " key_name TEXT NOT NULL,"
        " key_version TEXT,"
        " jti TEXT,"
        " released INTEGER NOT NULL,"
        " reason TEXT);"
        "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit"
        " BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
        "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit"
        " BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;";

static const char *const key_type_table[_KEY_TYPE_MAX] = {
        [KEY_TYPE_RSA_2048] = "RSA-2048", [KEY_TYPE_RSA_3072] = "RSA-3072",
        [KEY_TYPE_RSA_4096] = "RSA-4096", [KEY_TYPE_EC_P256] = "EC-P-256",
        [KEY_TYPE_EC_P384] = "EC-P-384",  [KEY_TYPE_OCT_256] = "oct-256",
};

const char *key_type_to_string(KeyType t) {
        if (t < 0 || t >= _KEY_TYPE_MAX)
                return NULL;
        return key_type_table[t];
}

KeyType key_type_from_string(const char *s) {
        if (!s)
                return _KEY_TYPE_INVALID;
        for (KeyType t = 0; t < _KEY_TYPE_MAX; t++)
                if (streq(s, key_type_table[t]))
                        return t;
        return _KEY_TYPE_INVALID;
}

bool key_store_name_valid(const char *name) {
        size_t n;

        if (!name)
                return false;
        n = strlen(name);
        if (n == 0 || n > KEY_STORE_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      c == '-'))
                        return false;
        }
        return true;
}

static int sqlite_to_errno(int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_NOTADB:
        case SQLITE_CORRUPT:
                return -EBADMSG;
        case SQLITE_CONSTRAINT:
                return -EPERM;
        case SQLITE_READONLY:
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_FULL:
                return -ENOSPC;
        default:
                return -EIO;
        }
}

/* Maps rc and names what failed with SQLite's own message (never key material). */
static int sqlite_fail(sqlite3 *db, int rc, const char *what, Diag *d) {
        int r = sqlite_to_errno(rc);

        if (r == 0)
                r = -EIO;
        return diag_set(d, r, "key store: %s: %s", what,
                        db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static int ks_exec(KeyStore *s, const char *sql, const char *what, Diag *d) {
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return sqlite_fail(s->db, rc, what, d);
        return 0;
}

static int ks_prepare(KeyStore *s, const char *sql, sqlite3_stmt **ret, Diag *d) {
        int rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);
        if (rc != SQLITE_OK)
                return sqlite_fail(s->db, rc, "preparing a statement", d);
        return 0;
}

/* Steps a statement that returns no row. */
static int ks_step_done(KeyStore *s, sqlite3_stmt *st, const char *what, Diag *d) {
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return sqlite_fail(s->db, rc, what, d);
        return 0;
}

static int ks_begin(KeyStore *s, Diag *d) {
        return ks_exec(s, "BEGIN IMMEDIATE", "starting a transaction", d);
}

/* Commits when r >= 0, rolls back otherwise; returns r or the commit's error. */
static int ks_end(KeyStore *s, int r, Diag *d) {
        if (r >= 0) {
                int q = ks_exec(s, "COMMIT", "committing", d);
                if (q >= 0)
                        return r;
                r = q;
        }
        (void) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000u;
}

static int aead(bool encrypt, const Secret *key, const uint8_t nonce[static GCM_NONCE_SIZE],
                const uint8_t *aad, size_t aad_size, const uint8_t *in, size_t in_size,
                uint8_t *out, uint8_t tag[static GCM_TAG_SIZE]) {
        _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = NULL;
        int len;

        if (in_size > INT_MAX || aad_size > INT_MAX)
                return -E2BIG;
        ctx = EVP_CIPHER_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, GCM_NONCE_SIZE, NULL) != 1 ||
            EVP_CipherInit_ex(ctx, NULL, NULL, key->data, nonce, encrypt) != 1 ||
            EVP_CipherUpdate(ctx, NULL, &len, aad, (int) aad_size) != 1 ||
            (in_size > 0 && EVP_CipherUpdate(ctx, out, &len, in, (int) in_size) != 1))
                return -EIO;
        if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, GCM_TAG_SIZE, tag) != 1)
                return -EIO;
        if (EVP_CipherFinal_ex(ctx, out + in_size, &len) != 1)
                return encrypt ? -EIO : -EKEYREJECTED;
        if (encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, GCM_TAG_SIZE, tag) != 1)
                return -EIO;
        return 0;
}

/* The associated data of a key row: prefix, name, version and type, each NUL-terminated, so
 * that no two rows share it. */
static int row_aad(const char *name, const char *version, KeyType type, char **ret,
                   size_t *ret_size) {
        const char *parts[] = {ROW_AAD_PREFIX, name, version, key_type_to_string(type)};
        size_t n = 0;
        char *buf, *p;

        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                if (!parts[i])
                        return -EINVAL;
                n += strlen(parts[i]) + 1;
        }
        buf = malloc(n);
        if (!buf)
                return -ENOMEM;
        p = buf;
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                size_t l = strlen(parts[i]) + 1;
                memcpy(p, parts[i], l);
                p += l;
        }
        *ret = buf;
        *ret_size = n;
        return 0;
}

/* Encrypts plaintext into *ret (ciphertext || tag, free()) under a fresh nonce. */
static int seal(const Secret *key, const uint8_t *aad, size_t aad_size, const uint8_t *pt,
                size_t pt_size, uint8_t nonce[static GCM_NONCE_SIZE], uint8_t **ret,
                size_t *ret_size) {
        _cleanup_(freep) uint8_t *ct = NULL;
        int r;

        if (RAND_bytes(nonce, GCM_NONCE_SIZE) != 1)
                return -EIO;
        ct = malloc(pt_size + GCM_TAG_SIZE);
        if (!ct)
                return -ENOMEM;
        r = aead(true, key, nonce, aad, aad_size, pt, pt_size, ct, ct + pt_size);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(ct);
        *ret_size = pt_size + GCM_TAG_SIZE;
        return 0;
}

/* Decrypts ciphertext || tag into a new Secret; -EKEYREJECTED when it does not authenticate. */
static int unseal(const Secret *key, const uint8_t *aad, size_t aad_size, const uint8_t *nonce,
                  size_t nonce_size, const uint8_t *ct, size_t ct_size, Secret **ret) {
        _cleanup_(secret_freep) Secret *pt = NULL;
        uint8_t tag[GCM_TAG_SIZE];
        int r;

        if (nonce_size != GCM_NONCE_SIZE || ct_size < GCM_TAG_SIZE ||
            ct_size - GCM_TAG_SIZE > MATERIAL_MAX)
                return -EKEYREJECTED;
        r = secret_new(ct_size - GCM_TAG_SIZE, &pt);
        if (r < 0)
                return r;
        memcpy(tag, ct + pt->size, GCM_TAG_SIZE);
        r = aead(false, key, nonce, aad, aad_size, ct, pt->size, pt->data, tag);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(pt);
        return 0;
}

static int check_value_verify(KeyStore *s, const uint8_t *nonce, size_t nonce_size,
                              const uint8_t *ct, size_t ct_size, Diag *d) {
        _cleanup_(secret_freep) Secret *pt = NULL;
        int r;

        r = unseal(s->master_key, (const uint8_t *) CHECK_AAD, strlen(CHECK_AAD), nonce, nonce_size,
                   ct, ct_size, &pt);
        if (r == -EKEYREJECTED ||
            (r >= 0 && (pt->size != strlen(CHECK_PLAINTEXT) ||
                        CRYPTO_memcmp(pt->data, CHECK_PLAINTEXT, pt->size) != 0)))
                return diag_set(d, -EKEYREJECTED,
                                "key store: the master key is not the one this store was "
                                "created with");
        if (r < 0)
                return diag_set(d, r, "key store: cannot check the master key");
        return 0;
}

/* Creates the schema and key check value in a new database, or checks an existing one. */
static int ks_init(KeyStore *s, Diag *d) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r, rc;

        r = ks_exec(s, schema_sql, "creating the schema", d);
        if (r < 0)
                return r;
        r = ks_prepare(s, "SELECT schema_version, check_nonce, check_value FROM meta WHERE id = 1",
                       &st, d);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                int64_t v = sqlite3_column_int64(st, 0);

                if (v > KEY_STORE_SCHEMA_VERSION)
                        return diag_set(d, -EPROTONOSUPPORT,
                                        "key store: schema version %lld is newer than %d",
                                        (long long) v, KEY_STORE_SCHEMA_VERSION);
                if (v < 1)
                        return diag_set(d, -EBADMSG, "key store: bad schema version %lld",
                                        (long long) v);
                return check_value_verify(
                        s, sqlite3_column_blob(st, 1), (size_t) sqlite3_column_bytes(st, 1),
                        sqlite3_column_blob(st, 2), (size_t) sqlite3_column_bytes(st, 2), d);
        }
        if (rc != SQLITE_DONE)
                return sqlite_fail(s->db, rc, "reading the schema version", d);
        (void) sqlite3_finalize(TAKE_PTR(st));

        uint8_t nonce[GCM_NONCE_SIZE];
        _cleanup_(freep) uint8_t *ct = NULL;
        size_t ct_size;

        r = seal(s->master_key, (const uint8_t *) CHECK_AAD, strlen(CHECK_AAD),
                 (const uint8_t *) CHECK_PLAINTEXT, strlen(CHECK_PLAINTEXT), nonce, &ct, &ct_size);
        if (r < 0)
                return diag_set(d, r, "key store: cannot compute the key check value");
        r = ks_prepare(s,
                       "INSERT INTO meta (id, schema_version, check_nonce, check_value) "
                       "VALUES (1, ?, ?, ?)",
                       &st, d);
        if (r < 0)
                return r;
        if (sqlite3_bind_int(st, 1, KEY_STORE_SCHEMA_VERSION) != SQLITE_OK ||
            sqlite3_bind_blob(st, 2, nonce, sizeof(nonce), SQLITE_TRANSIENT) != SQLITE_OK ||
            sqlite3_bind_blob(st, 3, ct, (int) ct_size, SQLITE_TRANSIENT) != SQLITE_OK)
                return sqlite_fail(s->db, sqlite3_errcode(s->db), "binding", d);
        return ks_step_done(s, st, "writing the schema version", d);
}

KeyStore *key_store_close(KeyStore *s) {
        if (!s)
                return NULL;
        if (s->db)
                (void) sqlite3_close_v2(s->db);
        secret_free(s->master_key);
        free(s);
        return NULL;
}

int key_store_open(const char *dir, const Secret *master_key, KeyStore **ret, Diag *d) {
        _cleanup_(key_store_closep) KeyStore *s = NULL;
        _cleanup_(freep) char *path = NULL;
        int fd, r, rc;

        if (!dir || !master_key || !ret)
                return diag_set(d, -EINVAL, "key store: missing argument");
        if (master_key->size != KEY_STORE_MASTER_KEY_SIZE)
                return diag_set(d, -EINVAL, "key store: the master key must be %u bytes, not %zu",
                                KEY_STORE_MASTER_KEY_SIZE, master_key->size);
        if (asprintf(&path, "%s/" KEY_STORE_FILE_NAME, dir) < 0) {
                path = NULL;
                return -ENOMEM;
        }

        /* Create the file ourselves so that it is 0600 whatever the umask; SQLite gives the
         * -wal and -shm files the same mode. */
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                r = -errno;
                return diag_set(d, r, "key store: cannot open %s: %s", path, strerror(-r));
        }
        (void) close(fd);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        r = secret_new(KEY_STORE_MASTER_KEY_SIZE, &s->master_key);
        if (r < 0)
                return r;
        memcpy(s->master_key->data, master_key->data, KEY_STORE_MASTER_KEY_SIZE);

        rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW,
                             NULL);
        if (rc != SQLITE_OK)
                return sqlite_fail(s->db, rc, path, d);
        (void) sqlite3_extended_result_codes(s->db, 1);
        rc = sqlite3_busy_timeout(s->db, KEY_STORE_BUSY_TIMEOUT_MS);
        if (rc != SQLITE_OK)
                return sqlite_fail(s->db, rc, "setting the busy timeout", d);
        r = ks_exec(s, "PRAGMA foreign_keys = ON", "enabling foreign keys", d);
        if (r < 0)
                return r;
        r = ks_exec(s, "PRAGMA journal_mode = WAL", "switching to WAL", d);
        if (r < 0)
                return r;

        r = ks_begin(s, d);
        if (r < 0)
                return r;
        r = ks_end(s, ks_init(s, d), d);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

static int material_generate(KeyType type, Secret **ret) {
        _cleanup_(secret_freep) Secret *m = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        _cleanup_(PKCS8_PRIV_KEY_INFO_freep) PKCS8_PRIV_KEY_INFO *p8 = NULL;
        unsigned char *p;
        int r, len;

        switch (type) {
        case KEY_TYPE_RSA_2048:
                pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
                break;
        case KEY_TYPE_RSA_3072:
                pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 3072);
                break;
        case KEY_TYPE_RSA_4096:
                pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 4096);
                break;
        case KEY_TYPE_EC_P256:
                pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
                break;
        case KEY_TYPE_EC_P384:
                pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
                break;
        case KEY_TYPE_OCT_256:
                r = secret_new(32, &m);
                if (r < 0)
                        return r;
                if (RAND_priv_bytes(m->data, (int) m->size) != 1)
                        return -EIO;
                *ret = TAKE_PTR(m);
                return 0;
        default:
                return -EINVAL;
        }
        if (!pkey)
                return -EIO;
        /* PKCS8_PRIV_KEY_INFO_free() clears the private key octets it holds. */
        p8 = EVP_PKEY2PKCS8(pkey);
        if (!p8)
                return -EIO;
        len = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
        if (len <= 0 || (size_t) len > MATERIAL_MAX)
                return -EIO;
        r = secret_new((size_t) len, &m);
        if (r < 0)
                return r;
        p = m->data;
        if (i2d_PKCS8_PRIV_KEY_INFO(p8, &p) != len)
                return -EIO;
        *ret = TAKE_PTR(m);
        return 0;
}

int key_store_material_check(KeyType type, const Secret *m, Diag *d) {
        _cleanup_(PKCS8_PRIV_KEY_INFO_freep) PKCS8_PRIV_KEY_INFO *p8 = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        const unsigned char *p;
        char group[64];
        int bits = 0, nid = NID_undef;

        if (!m || m->size == 0 || m->size > MATERIAL_MAX)
                return diag_set(d, -EBADMSG, "key store: key material of %zu bytes",
                                m ? m->size : 0);
        if (type == KEY_TYPE_OCT_256) {
                if (m->size != 32)
                        return diag_set(d, -EBADMSG,
                                        "key store: an oct-256 key is 32 bytes, not %zu", m->size);
                return 0;
        }
        p = m->data;
        p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long) m->size);
        if (!p8 || p != m->data + m->size)
                return diag_set(d, -EBADMSG, "key store: key material is not one PKCS#8 DER key");
        pkey = EVP_PKCS82PKEY(p8);
        if (!pkey)
                return diag_set(d, -EBADMSG, "key store: PKCS#8 key does not decode");

        switch (type) {
        case KEY_TYPE_RSA_2048:
                bits = 2048;
                break;
        case KEY_TYPE_RSA_3072:
                bits = 3072;
                break;
        case KEY_TYPE_RSA_4096:
                bits = 4096;
                break;
        case KEY_TYPE_EC_P256:
                nid = NID_X9_62_prime256v1;
                break;
        case KEY_TYPE_EC_P384:
                nid = NID_secp384r1;
                break;
        default:
                return -EINVAL;
        }
        if (bits > 0) {
                if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA || EVP_PKEY_get_bits(pkey) != bits)
                        return diag_set(d, -EBADMSG, "key store: material is not an %s key",
                                        key_type_to_string(type));
                return 0;
        }
        if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
            EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) != 1 ||
            OBJ_txt2nid(group) != nid)
                return diag_set(d, -EBADMSG, "key store: material is not an %s key",
                                key_type_to_string(type));
        return 0;
}

/* Validates a policy text; *ret_immutable is set when it is the key's form with
 * "immutable": true. */
static int policy_check(const char *text, bool *ret_immutable, Diag *d) {
        _cleanup_(release_policy_freep) ReleasePolicy *p = NULL;
        _cleanup_(json_object_putp) json_object *j = NULL;
        json_object *v;
        int r;

        r = release_policy_parse(text, strlen(text), &p, d);
        if (r < 0)
                return diag_set(d, r, "key store: release policy refused");
        *ret_immutable = false;
        /* It parsed, so it is JSON well within the caps (a leading byte order mark aside). */
        if (strncmp(text, "\xef\xbb\xbf", 3) == 0)
                text += 3;
        j = json_tokener_parse(text);
        if (j && json_object_object_get_ex(j, "data", NULL) &&
            json_object_object_get_ex(j, "immutable", &v) &&
            json_object_is_type(v, json_type_boolean))
                *ret_immutable = json_object_get_boolean(v);
        return 0;
}

static int version_new(char ret[static KEY_STORE_VERSION_SIZE + 1]) {
        static const char hex[] = "0123456789abcdef";
        uint8_t b[KEY_STORE_VERSION_SIZE / 2];

        if (RAND_bytes(b, sizeof(b)) != 1)
                return -EIO;
        for (size_t i = 0; i < sizeof(b); i++) {
                ret[2 * i] = hex[b[i] >> 4];
                ret[2 * i + 1] = hex[b[i] & 15];
        }
        ret[KEY_STORE_VERSION_SIZE] = 0;
        return 0;
}

/* Encrypts material for (name, version, type) and inserts the version row. */
static int version_insert(KeyStore *s, const char *name, const char *version, KeyType type,
                          const Secret *material, Diag *d) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_(freep) char *aad = NULL;
        _cleanup_(freep) uint8_t *ct = NULL;
        uint8_t nonce[GCM_NONCE_SIZE];
        size_t aad_size, ct_size;
        int r;

        r = row_aad(name, version, type, &aad, &aad_size);
        if (r < 0)
                return r;
        r = seal(s->master_key, (const uint8_t *) aad, aad_size, material->data, material->size,
                 nonce, &ct, &ct_size);
        if (r < 0)
                return diag_set(d, r, "key store: cannot encrypt key material");
        r = ks_prepare(s,
                       "INSERT INTO key_versions (name, version, created_usec, enabled, nonce, "
                       "ciphertext) VALUES (?, ?, ?, 1, ?, ?)",
                       &st, d);
        if (r < 0)
                return r;
        if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_text(st, 2, version, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_int64(st, 3, (sqlite3_int64) now_usec()) != SQLITE_OK ||
            sqlite3_bind_blob(st, 4, nonce, sizeof(nonce), SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_blob(st, 5, ct, (int) ct_size, SQLITE_STATIC) != SQLITE_OK)
                return sqlite_fail(s->db, sqlite3_errcode(s->db), "binding", d);
        return ks_step_done(s, st, "storing a key version", d);
}

/* Reads a key's type (and flags) inside a transaction; -ENOENT when there is none. */
static int key_row(KeyStore *s, const char *name, KeyType *ret_type, bool *ret_immutable,
                   bool *ret_exportable, Diag *d) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        KeyType t;
        int r, rc;

        r = ks_prepare(s, "SELECT key_type, policy_immutable, exportable FROM keys WHERE name = ?",
                       &st, d);
        if (r < 0)
                return r;
        if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK)
                return sqlite_fail(s->db, sqlite3_errcode(s->db), "binding", d);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return diag_set(d, -ENOENT, "key store: no key '%s'", name);
        if (rc != SQLITE_ROW)
                return sqlite_fail(s->db, rc, "reading a key", d);
        t = key_type_from_string((const char *) sqlite3_column_text(st, 0));
        if (t < 0)
                return diag_set(d, -EBADMSG, "key store: key '%s' has an unknown type", name);
        if (ret_type)
                *ret_type = t;
        if (ret_immutable)
                *ret_immutable = sqlite3_column_int(st, 1) != 0;
        if (ret_exportable)
                *ret_exportable = sqlite3_column_int(st, 2) != 0;
        return 0;
}

static int key_insert(KeyStore *s, const char *name, KeyType type, const Secret *material,
                      bool exportable, const char *policy_text, bool immutable, const char *version,
                      Diag *d) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        r = key_row(s, name, NULL, NULL, NULL, NULL);
        if (r >= 0)
                return diag_set(d, -EEXIST, "key store: key '%s' exists", name);
        if (r != -ENOENT)
                return diag_set(d, r, "key store: cannot read key '%s'", name);
        r = ks_prepare(s,
                       "INSERT INTO keys (name, key_type, exportable, policy, policy_immutable, "
                       "current_version) VALUES (?, ?, ?, ?, ?, ?)",
                       &st, d);
        if (r < 0)
                return r;
        if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_text(st, 2, key_type_to_string(type), -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_int(st, 3, exportable) != SQLITE_OK ||
            (policy_text ? sqlite3_bind_text(st, 4, policy_text, -1, SQLITE_STATIC)
                         : sqlite3_bind_null(st, 4)) != SQLITE_OK ||
            sqlite3_bind_int(st, 5, immutable) != SQLITE_OK ||
            sqlite3_bind_text(st, 6, version, -1, SQLITE_STATIC) != SQLITE_OK)
                return sqlite_fail(s->db, sqlite3_errcode(s->db), "binding", d);
        r = ks_step_done(s, st, "storing a key", d);
        if (r < 0)
                return r;
        return version_insert(s, name, version, type, material, d);
}

/* Everything create and import check before touching the database. */
static int key_args_check(KeyStore *s, const char *name, KeyType type, bool exportable,
                          const char *policy_text, bool *immutable, Diag *d) {
        bool policy_immutable = false;
        int r;

        if (!s)
                return diag_set(d, -EINVAL, "key store: missing argument");
        if (!key_store_name_valid(name))
                return diag_set(d, -EINVAL,
                                "key store: a key name is 1 to %u letters, digits or '-'",
                                KEY_STORE_NAME_MAX);
        if (!key_type_to_string(type))
                return diag_set(d, -EINVAL, "key store: unknown key type");
        if (exportable && !policy_text)
                return diag_set(d, -EINVAL, "key store: an exportable key needs a release policy");
        if (policy_text) {
                r = policy_check(policy_text, &policy_immutable, d);
                if (r < 0)
                        return r;
        }
        *immutable = *immutable || policy_immutable;
        return 0;
}

static int key_add(KeyStore *s, const char *name, KeyType type, const Secret *material,
                   bool exportable, const char *policy_text, bool immutable, char *ret_version,
                   Diag *d) {
        char version[KEY_STORE_VERSION_SIZE + 1];
        int r;

        r = version_new(version);
        if (r < 0)
                return r;
        r = ks_begin(s, d);
        if (r < 0)
                return r;
        r = ks_end(
                s,
                key_insert(s, name, type, material, exportable, policy_text, immutable, version, d),
                d);
        if (r < 0)
                return r;
        if (ret_version)
                memcpy(ret_version, version, sizeof(version));
        return 0;
}

int key_store_create(KeyStore *s, const char *name, KeyType type, bool exportable,
                     const char *policy_text, bool immutable, char *ret_version, Diag *d) {
        _cleanup_(secret_freep) Secret *material = NULL;
        int r;

        r = key_args_check(s, name, type, exportable, policy_text, &immutable, d);
        if (r < 0)
                return r;
        r = material_generate(type, &material);
        if (r < 0)
                return diag_set(d, r, "key store: cannot generate a %s key",
                                key_type_to_string(type));
        return key_add(s, name, type, material, exportable, policy_text, immutable, ret_version, d);
}

int key_store_import(KeyStore *s, const char *name, KeyType type, const Secret *material,
                     bool exportable, const char *policy_text, bool immutable, char *ret_version,
                     Diag *d) {
        int r;

        r = key_args_check(s, name, type, exportable, policy_text, &immutable, d);
        if (r < 0)
                return r;
        r = key_store_material_check(type, material, d);
        if (r < 0)
                return r;
        return key_add(s, name, type, material, exportable, policy_text, immutable, ret_version, d);
}

static int dup_column(sqlite3_stmt *st, int col, char **ret) {
        const unsigned char *t = sqlite3_column_text(st, col);

        if (!t) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup((const char *) t);
        return *ret ? 0 : -ENOMEM;
}

static void copy_version(sqlite3_stmt *st, int col, char ret[static KEY_STORE_VERSION_SIZE + 1]) {
        const unsigned char *t = sqlite3_column_text(st, col);

        snprintf(ret, KEY_STORE_VERSION_SIZE + 1, "%s", t ? (const char *) t : "");
}

KeyInfo *key_info_free(KeyInfo *k) {
        if (!k)
                return NULL;
        free(k->name);
        free(k->policy);
        free(k->versions);
        free(k);
        return NULL;
}

void key_info_array_free(KeyInfo *k, size_t n) {
        if (!k)
                return;
        for (size_t i = 0; i < n; i++) {
                free(k[i].name);
                free(k[i].policy);
                free(k[i].versions);
        }
        free(k);
}

/* Fills the list columns of k from a row of name, key_type, exportable, current_version,
 * created_usec. */
static int key_info_fill(sqlite3_stmt *st, KeyInfo *k) {
        k->type = key_type_from_string((const char *) sqlite3_column_text(st, 1));
        if (k->type < 0)
                return -EBADMSG;
        k->exportable = sqlite3_column_int(st, 2) != 0;
        copy_version(st, 3, k->current_version);
        k->created_usec = (uint64_t) sqlite3_column_int64(st, 4);
        return dup_column(st, 0, &k->name);
}

#define KEY_INFO_SELECT                                                                          \
        "SELECT k.name, k.key_type, k.exportable, k.current_version, v.created_usec, k.policy, " \
        "k.policy_immutable FROM keys k JOIN key_versions v "                                    \
        "ON v.name = k.name AND v.version = k.current_version "

int key_store_list(KeyStore *s, KeyInfo **ret, size_t *ret_n, Diag *d) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        KeyInfo *list = NULL;
        size_t n = 0;
        int r, rc;

        if (!s || !ret || !ret_n)
                return diag_set(d, -EINVAL, "key store: missing argument");
        r = ks_prepare(s, KEY_INFO_SELECT "ORDER BY k.name", &st, d);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                KeyInfo *l = reallocarray(list, n + 1, sizeof(KeyInfo));
                if (!l) {
                        r = -ENOMEM;
                        goto fail;
                }
                list = l;
                list[n] = (KeyInfo){};
                r = key_info_fill(st, &list[n++]);
                if (r < 0)
                        goto fail;
        }
        if (rc != SQLITE_DONE) {
                r = sqlite_fail(s->db, rc, "listing keys", d);
                goto fail;
        }
        *ret = list;
        *ret_n = n;
        return 0;
fail:
        key_info_array_free(list, n);
        return diag_set(d, r, "key store: cannot list keys");
}

static int key_show_versions(KeyStore *s, KeyInfo *k, Diag *d) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r, rc;

        r = ks_prepare(s,
                       "SELECT version, created_usec, enabled FROM key_versions WHERE name = ? "
                       "ORDER BY created_usec, rowid",
                       &st, d);
        if (r < 0)
                return r;
        if (sqlite3_bind_text(st, 1, k->name, -1, SQLITE_STATIC) != SQLITE_OK)
                return sqlite_fail(s->db, sqlite3_errcode(s->db), "binding", d);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                KeyVersionInfo *v = reallocarray(k->versions, k->n_versions + 1, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                k->versions = v;
                v = &k->versions[k->n_versions++];
                copy_version(st, 0, v->version);
                v->created_usec = (uint64_t) sqlite3_column_int64(st, 1);
                v->enabled = sqlite3_column_int(st, 2) != 0;
        }
        if (rc != SQLITE_DONE)
                return sqlite_fail(s->db, rc, "listing versions", d);
        return 0;
}

static int key_show_locked(KeyStore *s, const char *name, KeyInfo **ret, Diag *d) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_(key_info_freep) KeyInfo *k = NULL;
        int r, rc;

        r = ks_prepare(s, KEY_INFO_SELECT "WHERE k.name = ?", &st, d);
        if (r < 0)
                return r;
        if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK)
                return sqlite_fail(s->db, sqlite3_errcode(s->db), "binding", d);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return diag_set(d, -ENOENT, "key store: no key '%s'", name);
        if (rc != SQLITE_ROW)
                return sqlite_fail(s->db, rc, "reading a key", d);
        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        r = key_info_fill(st, k);
        if (r >= 0)
                r = dup_column(st, 5, &k->policy);
        if (r < 0)
                return diag_set(d, r, "key store: cannot read key '%s'", name);
        k->policy_immutable = sqlite3_column_int(st, 6) != 0;
        r = key_show_versions(s, k, d);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(k);
        return 0;
}

int key_store_show(KeyStore *s, const char *name, KeyInfo **ret, Diag *d) {
        int r;

        if (!s || !ret)
                return diag_set(d, -EINVAL, "key store: missing argument");
        if (!key_store_name_valid(name))
                return diag_set(d, -EINVAL, "key store: invalid key name");
        /* One read transaction, so that the key and its versions are one snapshot. */
        r = ks_exec(s, "BEGIN", "starting a transaction", d);
        if (r < 0)
                return r;
        return ks_end(s, key_show_locked(s, name, ret, d), d);
}

static int set_policy_locked(KeyStore *s, const char *name, const char *policy_text, bool immutable,
                             Diag *d) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        bool was_immutable, exportable;
        int r;

        r = key_row(s, name, NULL, &was_immutable, &exportable, d);
        if (r < 0)
                return r;
        if (was_immutable)
                return diag_set(d, -EPERM, "key store: the release policy of '%s' is immutable",
                                name);
        if (exportable && !policy_text)
                return diag_set(d, -EINVAL, "key store: an exportable key needs a release policy");
        r = ks_prepare(s, "UPDATE keys SET policy = ?, policy_immutable = ? WHERE name = ?", &st,
                       d);
        if (r < 0)
                return r;
        if ((policy_text ? sqlite3_bind_text(st, 1, policy_text, -1, SQLITE_STATIC)
                         : sqlite3_bind_null(st, 1)) != SQLITE_OK ||
            sqlite3_bind_int(st, 2, immutable) != SQLITE_OK ||
            sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC) != SQLITE_OK)
                return sqlite_fail(s->db, sqlite3_errcode(s->db), "binding", d);
        return ks_step_done(s, st, "storing the policy", d);
}

int key_store_set_policy(KeyStore *s, const char *name, const char *policy_text, bool immutable,
                         Diag *d) {
        bool policy_immutable = false;
        int r;

        if (!s)
                return diag_set(d, -EINVAL, "key store: missing argument");
        if (!key_store_name_valid(name))
                return diag_set(d, -EINVAL, "key store: invalid key name");
        if (policy_text) {
                r = policy_check(policy_text, &policy_immutable, d);
                if (r < 0)
                        return r;
        }
        r = ks_begin(s, d);
        if (r < 0)
                return r;
        return ks_end(s, set_policy_locked(s, name, policy_text, immutable || policy_immutable, d),
                      d);
}

static int rotate_locked(KeyStore *s, const char *name, const char *version, Diag *d) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_(secret_freep) Secret *material = NULL;
        KeyType type;
        int r;

        r = key_row(s, name, &type, NULL, NULL, d);
        if (r < 0)
                return r;
        r = material_generate(type, &material);
        if (r < 0)
                return diag_set(d, r, "key store: cannot generate a %s key",
                                key_type_to_string(type));
        r = version_insert(s, name, version, type, material, d);
        if (r < 0)
                return r;
        r = ks_prepare(s, "UPDATE keys SET current_version = ? WHERE name = ?", &st, d);
        if (r < 0)
                return r;
        if (sqlite3_bind_text(st, 1, version, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC) != SQLITE_OK)
                return sqlite_fail(s->db, sqlite3_errcode(s->db), "binding", d);
        return ks_step_done(s, st, "making the new version current", d);
}

int key_store_rotate(KeyStore *s, const char *name, char *ret_version, Diag *d) {
        char version[KEY_STORE_VERSION_SIZE + 1];
        int r;

        if (!s)
                return diag_set(d, -EINVAL, "key store: missing argument");
        if (!key_store_name_valid(name))
                return diag_set(d, -EINVAL, "key store: invalid key name");
        r = version_new(version);
        if (r < 0)
                return r;
        r = ks_begin(s, d);
        if (r < 0)
                return r;
        r = ks_end(s, rotate_locked(s, name, version, d), d);
        if (r < 0)
                return r;
        if (ret_version)
                memcpy(ret_version, version, sizeof(version));
        return 0;
}

static int get_material_locked(KeyStore *s, const char *name, const char *version, Secret **ret,
                               KeyType *ret_type, Diag *d) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_(freep) char *aad = NULL;
        char v[KEY_STORE_VERSION_SIZE + 1];
        size_t aad_size;
        KeyType type;
        int r, rc;

        r = ks_prepare(s,
                       "SELECT k.key_type, v.version, v.enabled, v.nonce, v.ciphertext "
                       "FROM keys k JOIN key_versions v ON v.name = k.name "
                       "WHERE k.name = ?1 AND v.version = coalesce(?2, k.current_version)",
                       &st, d);
        if (r < 0)
                return r;
        if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
            (version ? sqlite3_bind_text(st, 2, version, -1, SQLITE_STATIC)
                     : sqlite3_bind_null(st, 2)) != SQLITE_OK)
                return sqlite_fail(s->db, sqlite3_errcode(s->db), "binding", d);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return diag_set(d, -ENOENT, "key store: no key '%s' version %s", name,
                                version ?: "current");
        if (rc != SQLITE_ROW)
                return sqlite_fail(s->db, rc, "reading key material", d);
        type = key_type_from_string((const char *) sqlite3_column_text(st, 0));
        if (type < 0)
                return diag_set(d, -EBADMSG, "key store: key '%s' has an unknown type", name);
        copy_version(st, 1, v);
        if (sqlite3_column_int(st, 2) == 0)
                return diag_set(d, -EPERM, "key store: version %s of '%s' is disabled", v, name);
        r = row_aad(name, v, type, &aad, &aad_size);
        if (r < 0)
                return r;
        r = unseal(s->master_key, (const uint8_t *) aad, aad_size, sqlite3_column_blob(st, 3),
                   (size_t) sqlite3_column_bytes(st, 3), sqlite3_column_blob(st, 4),
                   (size_t) sqlite3_column_bytes(st, 4), ret);
        if (r == -EKEYREJECTED)
                return diag_set(d, r,
                                "key store: the material of '%s' version %s does not decrypt "
                                "(tampered or moved)",
                                name, v);
        if (r < 0)
                return diag_set(d, r, "key store: cannot decrypt the material of '%s'", name);
        if (ret_type)
                *ret_type = type;
        return 0;
}

int key_store_get_material(KeyStore *s, const char *name, const char *version, Secret **ret,
                           KeyType *ret_type, Diag *d) {
        _cleanup_(secret_freep) Secret *m = NULL;
        KeyType type = _KEY_TYPE_INVALID;
        int r;

        if (!s || !ret)
                return diag_set(d, -EINVAL, "key store: missing argument");
        if (!key_store_name_valid(name))
                return diag_set(d, -EINVAL, "key store: invalid key name");
        r = ks_exec(s, "BEGIN", "starting a transaction", d);
        if (r < 0)
                return r;
        r = ks_end(s, get_material_locked(s, name, version, &m, &type, d), d);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        if (ret_type)
                *ret_type = type;
        return 0;
}

int key_store_get_policy(KeyStore *s, const char *name, char **ret_policy, bool *ret_exportable,
                         char *ret_current_version, Diag *d) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_(freep) char *policy = NULL;
        int r, rc;

        if (!s || !ret_policy)
                return diag_set(d, -EINVAL, "key store: missing argument");
        if (!key_store_name_valid(name))
                return diag_set(d, -EINVAL, "key store: invalid key name");
        r = ks_prepare(s, "SELECT policy, exportable, current_version FROM keys WHERE name = ?",
                       &st, d);
        if (r < 0)
                return r;
        if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK)
                return sqlite_fail(s->db, sqlite3_errcode(s->db), "binding", d);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return diag_set(d, -ENOENT, "key store: no key '%s'", name);
        if (rc != SQLITE_ROW)
                return sqlite_fail(s->db, rc, "reading a policy", d);
        r = dup_column(st, 0, &policy);
        if (r < 0)
                return r;
        if (!policy)
                return diag_set(d, -ENODATA, "key store: key '%s' has no release policy", name);
        if (ret_exportable)
                *ret_exportable = sqlite3_column_int(st, 1) != 0;
        if (ret_current_version)
                copy_version(st, 2, ret_current_version);
        *ret_policy = TAKE_PTR(policy);
        return 0;
}

int key_store_audit_append(KeyStore *s, const char *who, const char *name, const char *version,
                           const char *jti, bool released, const char *reason, Diag *d) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        if (!s || !who || !who[0] || !name)
                return diag_set(d, -EINVAL, "key store: missing audit field");
        r = ks_prepare(s,
                       "INSERT INTO audit (time_usec, who, key_name, key_version, jti, released, "
                       "reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       &st, d);
        if (r < 0)
                return r;
        if (sqlite3_bind_int64(st, 1, (sqlite3_int64) now_usec()) != SQLITE_OK ||
            sqlite3_bind_text(st, 2, who, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC) != SQLITE_OK ||
            (version ? sqlite3_bind_text(st, 4, version, -1, SQLITE_STATIC)
                     : sqlite3_bind_null(st, 4)) != SQLITE_OK ||
            (jti ? sqlite3_bind_text(st, 5, jti, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 5)) !=
                    SQLITE_OK ||
            sqlite3_bind_int(st, 6, released) != SQLITE_OK ||
            (reason ? sqlite3_bind_text(st, 7, reason, -1, SQLITE_STATIC)
                    : sqlite3_bind_null(st, 7)) != SQLITE_OK)
                return sqlite_fail(s->db, sqlite3_errcode(s->db), "binding", d);
        /* A single INSERT is its own transaction. */
        return ks_step_done(s, st, "appending to the audit", d);
}

void audit_entry_array_free(AuditEntry *e, size_t n) {
        if (!e)
                return;
        for (size_t i = 0; i < n; i++) {
                free(e[i].who);
                free(e[i].key_name);
                free(e[i].key_version);
                free(e[i].jti);
                free(e[i].reason);
        }
        free(e);
}

int key_store_audit_list(KeyStore *s, AuditEntry **ret, size_t *ret_n, Diag *d) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        AuditEntry *list = NULL;
        size_t n = 0;
        int r, rc;

        if (!s || !ret || !ret_n)
                return diag_set(d, -EINVAL, "key store: missing argument");
        r = ks_prepare(s,
                       "SELECT id, time_usec, who, key_name, key_version, jti, released, reason "
                       "FROM audit ORDER BY id",
                       &st, d);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                AuditEntry *l = reallocarray(list, n + 1, sizeof(AuditEntry)), *e;
                if (!l) {
                        r = -ENOMEM;
                        goto fail;
                }
                list = l;
                e = &list[n++];
                *e = (AuditEntry){
                        .id = (uint64_t) sqlite3_column_int64(st, 0),
                        .time_usec = (uint64_t) sqlite3_column_int64(st, 1),
                        .released = sqlite3_column_int(st, 6) != 0,
                };
                if (dup_column(st, 2, &e->who) < 0 || dup_column(st, 3, &e->key_name) < 0 ||
                    dup_column(st, 4, &e->key_version) < 0 || dup_column(st, 5, &e->jti) < 0 ||
                    dup_column(st, 7, &e->reason) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
        }
        if (rc != SQLITE_DONE) {
                r = sqlite_fail(s->db, rc, "reading the audit", d);
                goto fail;
        }
        *ret = list;
        *ret_n = n;
        return 0;
fail:
        audit_entry_array_free(list, n);
        return diag_set(d, r, "key store: cannot read the audit");
}
