/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

struct Diag;
struct Secret;

/*
 * [io] The key store of the key release service: one SQLite database, DIR/keys.db (WAL, created
 * 0600 with its schema on first open), holding keys by name, their versions, one release policy
 * per key and an append-only audit of release decisions. Key material is encrypted at rest with
 * AES-256-GCM under a 32-byte master key (a random 12-byte nonce per row; the associated data
 * binds the row's name, version and type, so rows cannot be swapped), and is only ever
 * decrypted into a Secret. A key check value written at creation makes a wrong master key fail
 * at open, never later as garbage.
 *
 * Every call that writes runs in one transaction (BEGIN IMMEDIATE): on failure the database is
 * unchanged. Several processes may open the same store at once (a server and admin commands):
 * writers wait up to KEY_STORE_BUSY_TIMEOUT_MS for each other, readers never block a writer. A
 * KeyStore handle is for one thread at a time.
 *
 * Errors: -EINVAL bad arguments (a bad name, a master key that is not 32 bytes), -ENOENT no such
 * key or version, -EEXIST a key of that name exists, -EPERM an immutable policy or a write the
 * audit triggers refused, -EKEYREJECTED a wrong master key or material that does not decrypt
 * (tampered or moved), -EPROTONOSUPPORT a schema newer than ours, -EBADMSG a policy or material
 * that does not parse, -EBUSY the database stayed locked, -ENOMEM, -EIO other SQLite or OpenSSL
 * failures. A Diag says what failed; nothing here logs, and no key material reaches a Diag.
 */

/* The schema this code writes; a store with a newer one is refused. */
#define KEY_STORE_SCHEMA_VERSION  1
#define KEY_STORE_MASTER_KEY_SIZE 32u
/* Key Vault's key names: 1 to 127 of [0-9A-Za-z-]. */
#define KEY_STORE_NAME_MAX 127u
/* Version ids: 32 lowercase hex digits (128 random bits), as Key Vault's. */
#define KEY_STORE_VERSION_SIZE    32u
#define KEY_STORE_BUSY_TIMEOUT_MS 5000
/* The database in the store's directory (SQLite adds -wal and -shm files beside it). */
#define KEY_STORE_FILE_NAME "keys.db"

typedef struct KeyStore KeyStore;

typedef enum KeyType {
        KEY_TYPE_RSA_2048, /* "RSA-2048": PKCS#8 DER */
        KEY_TYPE_RSA_3072, /* "RSA-3072": PKCS#8 DER */
        KEY_TYPE_RSA_4096, /* "RSA-4096": PKCS#8 DER */
        KEY_TYPE_EC_P256,  /* "EC-P-256": PKCS#8 DER */
        KEY_TYPE_EC_P384,  /* "EC-P-384": PKCS#8 DER */
        KEY_TYPE_OCT_256,  /* "oct-256": 32 raw bytes (Key Vault's oct-HSM) */
        _KEY_TYPE_MAX,
        _KEY_TYPE_INVALID = -EINVAL,
} KeyType;

/* The name as stored ("RSA-2048", ...), or NULL for a value out of range. */
const char *key_type_to_string(KeyType t);
/* The name back (exact); _KEY_TYPE_INVALID otherwise or for NULL. */
KeyType key_type_from_string(const char *s);

/* Whether name is a valid key name (1 to KEY_STORE_NAME_MAX of [0-9A-Za-z-]). Pure. */
bool key_store_name_valid(const char *name);

typedef struct KeyVersionInfo {
        char version[KEY_STORE_VERSION_SIZE + 1];
        uint64_t created_usec; /* CLOCK_REALTIME */
        bool enabled;
} KeyVersionInfo;

typedef struct KeyInfo {
        char *name;
        KeyType type;
        bool exportable;
        char current_version[KEY_STORE_VERSION_SIZE + 1];
        uint64_t created_usec; /* of the current version */
        /* key_store_show() only; NULL and 0 from key_store_list(). */
        char *policy; /* the release policy text as given, or NULL for none */
        bool policy_immutable;
        KeyVersionInfo *versions; /* oldest first */
        size_t n_versions;
} KeyInfo;

/* Frees one KeyInfo (NULL is fine); returns NULL. */
KeyInfo *key_info_free(KeyInfo *k);
DEFINE_CLEANUP_FUNC(KeyInfo *, key_info_free);
/* Frees an array of n KeyInfo as key_store_list() returns it (NULL is fine). */
void key_info_array_free(KeyInfo *k, size_t n);

typedef struct AuditEntry {
        uint64_t id; /* increasing */
        uint64_t time_usec;
        char *who;
        char *key_name;
        char *key_version; /* NULL when none was resolved */
        char *jti;         /* NULL when the token had none */
        bool released;
        char *reason; /* NULL when none was given */
} AuditEntry;

/* Frees an array of n AuditEntry as key_store_audit_list() returns it (NULL is fine). */
void audit_entry_array_free(AuditEntry *e, size_t n);

/*
 * Opens DIR/keys.db under master_key (exactly KEY_STORE_MASTER_KEY_SIZE bytes; copied, the
 * caller keeps its Secret), creating the file (0600) and the schema, with a fresh key check
 * value, when the database is new. Sets journal_mode=WAL, foreign_keys=ON and the busy timeout.
 * -EKEYREJECTED (Diag) when master_key is not the one the store was created with,
 * -EPROTONOSUPPORT for a newer schema, -EBADMSG for a file that is not a key store, -errno from
 * open(). On success *ret is the caller's (key_store_close()); untouched on failure.
 */
int key_store_open(const char *dir, const struct Secret *master_key, KeyStore **ret,
                   struct Diag *d);
/* Closes the database and wipes the master key. NULL is fine; returns NULL. */
KeyStore *key_store_close(KeyStore *s);
DEFINE_CLEANUP_FUNC(KeyStore *, key_store_close);

/*
 * Creates key name of type with OpenSSL (RSA, EC or 32 random bytes), its first version current.
 * policy_text (NUL-terminated; NULL for none) must parse with release_policy_parse() and is
 * stored as given; an exportable key needs one (-EINVAL). The policy is immutable when immutable
 * is set or when the text is the key's form with "immutable": true. On success, when
 * ret_version (KEY_STORE_VERSION_SIZE + 1 bytes) is not NULL, the new version id is copied
 * there, NUL-terminated. -EEXIST for an existing name.
 */
int key_store_create(KeyStore *s, const char *name, KeyType type, bool exportable,
                     const char *policy_text, bool immutable, char *ret_version, struct Diag *d);

/*
 * The same with given material: PKCS#8 DER of a private key matching type (the RSA size or the
 * EC curve; exactly the DER, nothing after it) or exactly 32 bytes for KEY_TYPE_OCT_256.
 * -EBADMSG (Diag) for material that does not parse or does not match type.
 */
int key_store_import(KeyStore *s, const char *name, KeyType type, const struct Secret *material,
                     bool exportable, const char *policy_text, bool immutable, char *ret_version,
                     struct Diag *d);

/*
 * Whether material is what type says: exactly one PKCS#8 DER private key of that algorithm and
 * size (the RSA modulus, the EC curve), nothing after it, or exactly 32 bytes for
 * KEY_TYPE_OCT_256. -EBADMSG (Diag) otherwise. key_store_import() checks this itself; callers use
 * it to refuse material before they open (and so create) a store. Pure.
 */
int key_store_material_check(KeyType type, const struct Secret *material, struct Diag *d);

/* Every key, sorted by name, without policies or versions: *ret (key_info_array_free()) of
 * *ret_n entries (*ret NULL when there are none). */
int key_store_list(KeyStore *s, KeyInfo **ret, size_t *ret_n, struct Diag *d);

/* Metadata, policy and versions of one key, never its material: *ret (key_info_free()). */
int key_store_show(KeyStore *s, const char *name, KeyInfo **ret, struct Diag *d);

/*
 * Replaces the release policy of name (policy_text as for key_store_create(); NULL removes it,
 * refused for an exportable key). -EPERM (Diag) when the key's policy is immutable; making a
 * policy immutable is one way.
 */
int key_store_set_policy(KeyStore *s, const char *name, const char *policy_text, bool immutable,
                         struct Diag *d);

/*
 * Generates a new version of name, of the same type, and makes it current; older versions stay
 * (key_store_get_material() still reads them). The new id is copied to ret_version if not NULL.
 */
int key_store_rotate(KeyStore *s, const char *name, char *ret_version, struct Diag *d);

/*
 * Decrypts the material of version (NULL: the current one) of name into a new Secret *ret
 * (secret_free()); *ret_type, if not NULL, gets the key's type. -ENOENT for an unknown name or
 * version, -EPERM for a disabled version, -EKEYREJECTED (Diag) for a row that does not decrypt
 * under the master key for this name and version (tampered, or moved from another row).
 */
int key_store_get_material(KeyStore *s, const char *name, const char *version, struct Secret **ret,
                           KeyType *ret_type, struct Diag *d);

/*
 * The release policy text of name: *ret_policy a new string (free()), or -ENODATA when the key
 * has none. *ret_exportable and ret_current_version (KEY_STORE_VERSION_SIZE + 1 bytes), when
 * not NULL, are filled too.
 */
int key_store_get_policy(KeyStore *s, const char *name, char **ret_policy, bool *ret_exportable,
                         char *ret_current_version, struct Diag *d);

/*
 * Appends one release decision to the audit table, stamped with CLOCK_REALTIME: who asked (a
 * peer or tenant, non-empty), which key (name need not exist: refusals of unknown keys are
 * audited too) and version, which token (its jti), released or not, and why. version, jti and
 * reason may be NULL. The table refuses UPDATE and DELETE (triggers), so entries stay.
 */
int key_store_audit_append(KeyStore *s, const char *who, const char *name, const char *version,
                           const char *jti, bool released, const char *reason, struct Diag *d);

/* Every audit entry, oldest first: *ret (audit_entry_array_free()) of *ret_n entries. */
int key_store_audit_list(KeyStore *s, AuditEntry **ret, size_t *ret_n, struct Diag *d);
