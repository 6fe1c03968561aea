/* SPDX-License-Identifier: Apache-2.0 */
/* `cvm-verifier key ...`: administering the key release service's key store. */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/cli-util.h"
#include "common/diag.h"
#include "common/exit-code.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/openssl-util.h"
#include "common/secret-file.h"
#include "common/secret.h"
#include "common/strutil.h"
#include "common/time-util.h"
#include "keyrelease/key-store.h"
#include "verifier/key-admin.h"
#include "verifier/master-key.h"
#include "verifier/release-policy.h"

/* Key material files: the PEM of an RSA-4096 key is about 3.3 KiB. */
#define MATERIAL_FILE_MAX (64u * 1024u)
/* What `key create` makes without --type: 32 random bytes, what a LUKS keyslot wants. */
#define KEY_TYPE_DEFAULT KEY_TYPE_OCT_256

DEFINE_CLEANUP_FUNC(PKCS8_PRIV_KEY_INFO *, PKCS8_PRIV_KEY_INFO_free);

typedef enum Verb {
        VERB_CREATE,
        VERB_IMPORT,
        VERB_LIST,
        VERB_SHOW,
        VERB_SET_POLICY,
        VERB_ROTATE,
        VERB_AUDIT,
        _VERB_MAX,
        _VERB_INVALID = -EINVAL,
} Verb;

/* The options a verb takes beyond --state, --master-key, --json and --help. */
enum {
        OPT_TYPE = 1u << 0,
        OPT_EXPORTABLE = 1u << 1,
        OPT_POLICY = 1u << 2,
        OPT_IMMUTABLE = 1u << 3,
        OPT_MATERIAL = 1u << 4,
        OPT_KEY = 1u << 5,
};

static const struct {
        const char *name;
        unsigned options;
        bool takes_name; /* a positional NAME */
} verbs[_VERB_MAX] = {
        [VERB_CREATE] = { "create", OPT_TYPE | OPT_EXPORTABLE | OPT_POLICY | OPT_IMMUTABLE, true },
        [VERB_IMPORT] = { "import",
                          OPT_TYPE | OPT_EXPORTABLE | OPT_POLICY | OPT_IMMUTABLE | OPT_MATERIAL,
                          true },
        [VERB_LIST] = { "list", 0, false },
        [VERB_SHOW] = { "show", 0, true },
        [VERB_SET_POLICY] = { "set-policy", OPT_POLICY | OPT_IMMUTABLE, true },
        [VERB_ROTATE] = { "rotate", 0, true },
        [VERB_AUDIT] = { "audit", OPT_KEY, false },
};

typedef struct Args {
        Verb verb;
        const char *state, *master_key, *name, *policy, *material, *key;
        KeyType type;
        unsigned given; /* OPT_* seen on the command line */
        bool exportable, immutable, json;
} Args;

static void help(void) {
        printf("Usage: cvm-verifier key COMMAND [NAME] --state DIR [OPTIONS]\n"
               "\n"
               "Administers the key release service's key store: DIR/keys.db (SQLite), keys\n"
               "encrypted at rest under a 32-byte master key, their versions, one release policy\n"
               "per key, and the audit of release decisions. Every command works while a server\n"
               "has the same store open.\n"
               "\n"
               "Commands:\n"
               "  create NAME [--type T] [--exportable] [--policy FILE [--immutable]]\n"
               "        Generate a key; T is RSA-2048, RSA-3072, RSA-4096, EC-P-256, EC-P-384 or\n"
               "        oct-256 (the default: 32 random bytes, what a LUKS keyslot wants).\n"
               "        The first create (or import) in a new DIR makes the store.\n"
               "  import NAME --type T --material FILE [--exportable] [--policy FILE\n"
               "        [--immutable]]\n"
               "        Store given key material: a PKCS#8 private key (DER, or PEM without a\n"
               "        passphrase) for RSA and EC, exactly 32 raw bytes for oct-256. FILE must\n"
               "        be a regular file that only its owner can read; its bytes are never\n"
               "        printed.\n"
               "  list  The keys: name, type, exportable, current version, created.\n"
               "  show NAME\n"
               "        A key's type, versions, release policy (as given) and whether the policy\n"
               "        is immutable; never its material.\n"
               "  set-policy NAME --policy FILE [--immutable]\n"
               "        Replace a key's release policy (refused once it is immutable; making it\n"
               "        immutable cannot be undone).\n"
               "  rotate NAME\n"
               "        Generate a new version of the same type and make it current; older\n"
               "        versions stay.\n"
               "  audit [--key NAME]\n"
               "        The release decisions: when, who asked, which key and version, the\n"
               "        token's jti, released or not, and why.\n"
               "\n"
               "Options:\n"
               "  --state DIR        the store's directory (required)\n"
               "  --master-key SPEC  a file, or credential:NAME for $CREDENTIALS_DIRECTORY/NAME\n"
               "                     (systemd's LoadCredential=). Default: the credential\n"
               "                     " MASTER_KEY_CREDENTIAL " when $CREDENTIALS_DIRECTORY holds\n"
               "                     it, else DIR/" MASTER_KEY_FILE_NAME
               ", which the first create or\n"
               "                     import in a new DIR makes (a key beside the store protects\n"
               "                     nothing at rest: give production stores a credential).\n"
               "                     The file holds 32 raw bytes, or 64 hex digits and an\n"
               "                     optional newline (`openssl rand -hex 32`), and only its\n"
               "                     owner may read it (mode 0600 or 0400).\n"
               "  --policy FILE      a release policy in Key Vault's JSON (version 1.0.0), or\n"
               "                     the key's {\"contentType\", \"data\", \"immutable\"} form;\n"
               "                     - reads standard input. An exportable key needs one.\n"
               "  --immutable        the policy can never be changed again\n"
               "  --exportable       the key may be released (Key Vault's exportable)\n"
               "  --json             print JSON: create, import, set-policy, rotate and show\n"
               "                     print the key as show does; list {\"keys\": [...]}; audit\n"
               "                     {\"audit\": [...]}\n"
               "\n"
               "Exit codes: 0 done; 1 internal error; 2 usage: a bad command line, a file that\n"
               "cannot be read or that group or others may read (master key, material), no key\n"
               "store in DIR, no such key, a key of that name exists; 3 malformed: a policy,\n"
               "material or master key file that does not parse, a database that is not a key\n"
               "store or is newer than this program; 4 the master key is not the store's;\n"
               "5 refused: the key's release policy is immutable; 6 unavailable: the store\n"
               "stayed locked by another process, or an I/O error.\n"
               "On any error the store is unchanged, and a new DIR or master key is made only\n"
               "once every argument has been checked.\n");
}

/* Errors about a file the command line names (policy, material, master key): what it holds is
 * malformed (3); anything else about it is the operator's to fix (2). */
static int input_exit_code(int r) {
        switch (-r) {
        case EBADMSG:
        case E2BIG:
        case EFBIG:
        case EPROTONOSUPPORT:
                return EXIT_MALFORMED;
        case ENOMEM:
                return EXIT_INTERNAL;
        default:
                return EXIT_USAGE;
        }
}

/* Errors of the key store (keyrelease/key-store.h lists them). */
static int store_exit_code(int r) {
        switch (-r) {
        case EINVAL:
        case ENOENT:
        case EEXIST:
        case EACCES:
        case ENODATA:
                return EXIT_USAGE;
        case EKEYREJECTED:
                return EXIT_VERIFY;
        case EPERM:
                return EXIT_POLICY;
        case EBADMSG:
        case EPROTONOSUPPORT:
                return EXIT_MALFORMED;
        default:
                return exit_code_from_errno(r);
        }
}

static Verb verb_from_string(const char *s) {
        for (size_t i = 0; i < _VERB_MAX; i++)
                if (streq(s, verbs[i].name))
                        return (Verb) i;
        return _VERB_INVALID;
}

static const char *option_name(unsigned opt) {
        switch (opt) {
        case OPT_TYPE:
                return "--type";
        case OPT_EXPORTABLE:
                return "--exportable";
        case OPT_POLICY:
                return "--policy";
        case OPT_IMMUTABLE:
                return "--immutable";
        case OPT_MATERIAL:
                return "--material";
        case OPT_KEY:
                return "--key";
        default:
                return "?";
        }
}

/* Fills *a from the command line: 0, or 1 when --help was printed, or -EINVAL (logged). */
static int parse_args(int argc, char **argv, Args *a) {
        enum {
                ARG_STATE = 0x100,
                ARG_MASTER_KEY,
                ARG_JSON,
                ARG_TYPE,
                ARG_EXPORTABLE,
                ARG_POLICY,
                ARG_IMMUTABLE,
                ARG_MATERIAL,
                ARG_KEY,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "state", required_argument, NULL, ARG_STATE },
                { "master-key", required_argument, NULL, ARG_MASTER_KEY },
                { "json", no_argument, NULL, ARG_JSON },
                { "type", required_argument, NULL, ARG_TYPE },
                { "exportable", no_argument, NULL, ARG_EXPORTABLE },
                { "policy", required_argument, NULL, ARG_POLICY },
                { "immutable", no_argument, NULL, ARG_IMMUTABLE },
                { "material", required_argument, NULL, ARG_MATERIAL },
                { "key", required_argument, NULL, ARG_KEY },
                {},
        };
        const char *verb;
        int c;

        if (argc < 2) {
                log_error("key: which command? (create, import, list, show, set-policy, rotate, "
                          "audit; see cvm-verifier key --help)");
                return -EINVAL;
        }
        if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
                help();
                return 1;
        }
        verb = argv[1];
        a->verb = verb_from_string(verb);
        if (a->verb < 0) {
                log_error("key: unknown command '%s' (see cvm-verifier key --help)", verb);
                return -EINVAL;
        }
        argc--;
        argv++;

        opterr = 0;
        optind = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                unsigned opt = 0;

                switch (c) {
                case 'h':
                        help();
                        return 1;
                case ARG_STATE:
                        a->state = optarg;
                        break;
                case ARG_MASTER_KEY:
                        a->master_key = optarg;
                        break;
                case ARG_JSON:
                        a->json = true;
                        break;
                case ARG_TYPE:
                        opt = OPT_TYPE;
                        a->type = key_type_from_string(optarg);
                        if (a->type < 0) {
                                log_error("key %s: --type: '%s' is not one of RSA-2048, RSA-3072, "
                                          "RSA-4096, EC-P-256, EC-P-384, oct-256",
                                          verb, optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_EXPORTABLE:
                        opt = OPT_EXPORTABLE;
                        a->exportable = true;
                        break;
                case ARG_POLICY:
                        opt = OPT_POLICY;
                        a->policy = optarg;
                        break;
                case ARG_IMMUTABLE:
                        opt = OPT_IMMUTABLE;
                        a->immutable = true;
                        break;
                case ARG_MATERIAL:
                        opt = OPT_MATERIAL;
                        a->material = optarg;
                        break;
                case ARG_KEY:
                        opt = OPT_KEY;
                        a->key = optarg;
                        break;
                case ':':
                        log_error("key %s: %s needs a value", verb, argv[optind - 1]);
                        return -EINVAL;
                default:
                        log_error("key %s: unknown option '%s' (see cvm-verifier key --help)",
                                  verb, argv[optind - 1]);
                        return -EINVAL;
                }
                if (opt && !(verbs[a->verb].options & opt)) {
                        log_error("key %s: %s does not apply (see cvm-verifier key --help)", verb,
                                  option_name(opt));
                        return -EINVAL;
                }
                a->given |= opt;
        }

        if (verbs[a->verb].takes_name) {
                if (optind >= argc) {
                        log_error("key %s: which key? (key %s NAME ...)", verb, verb);
                        return -EINVAL;
                }
                a->name = argv[optind++];
        }
        if (optind < argc) {
                log_error("key %s: unexpected argument '%s'", verb, argv[optind]);
                return -EINVAL;
        }
        if (!a->state || !*a->state) {
                log_error("key %s: --state DIR is required (the key store's directory)", verb);
                return -EINVAL;
        }
        if (a->master_key && !*a->master_key) {
                log_error("key %s: --master-key: empty", verb);
                return -EINVAL;
        }
        if (a->name && !key_store_name_valid(a->name)) {
                log_error("key %s: '%s' is not a key name (1 to %u of 0-9, A-Z, a-z and '-')",
                          verb, a->name, KEY_STORE_NAME_MAX);
                return -EINVAL;
        }
        if (a->key && !key_store_name_valid(a->key)) {
                log_error("key %s: --key: '%s' is not a key name", verb, a->key);
                return -EINVAL;
        }
        if (a->verb == VERB_IMPORT && !(a->given & OPT_TYPE)) {
                log_error("key import: --type is required (the material's type)");
                return -EINVAL;
        }
        if (a->verb == VERB_IMPORT && !a->material) {
                log_error("key import: --material FILE is required");
                return -EINVAL;
        }
        if (a->verb == VERB_SET_POLICY && !a->policy) {
                log_error("key set-policy: --policy FILE is required");
                return -EINVAL;
        }
        if (a->immutable && !a->policy) {
                log_error("key %s: --immutable needs --policy", verb);
                return -EINVAL;
        }
        if (a->exportable && !a->policy) {
                log_error("key %s: an exportable key needs a release policy (--policy FILE)",
                          verb);
                return -EINVAL;
        }
        return 0;
}

/* Reads and checks a release policy file into a NUL-terminated string. Logs why it failed. */
static int policy_load(const char *path, char **ret) {
        _cleanup_(release_policy_freep) ReleasePolicy *p = NULL;
        _cleanup_(freep) uint8_t *buf = NULL;
        const char *name = streq(path, "-") ? "standard input" : path;
        size_t size;
        Diag d = {};
        int r;

        r = read_full_file(path, RELEASE_POLICY_SIZE_MAX, &buf, &size);
        if (r == -EFBIG)
                return log_error_errno(r, "%s: larger than %u bytes", name,
                                       RELEASE_POLICY_SIZE_MAX);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", name);
        if (memchr(buf, 0, size))
                return log_error_errno(-EBADMSG, "%s: a NUL byte in the policy", name);
        r = release_policy_parse((const char *) buf, size, &p, &d);
        if (r < 0)
                return log_error_errno(r, "%s: %s", name, diag_text(&d, "not a release policy"));
        *ret = (char *) TAKE_PTR(buf);
        return 0;
}

static bool is_pem(const Secret *m) {
        static const char begin[] = "-----BEGIN ";
        size_t i = 0;

        while (i < m->size && (m->data[i] == ' ' || m->data[i] == '\t' || m->data[i] == '\r' ||
                               m->data[i] == '\n'))
                i++;
        return m->size - i >= strlen(begin) && memcmp(m->data + i, begin, strlen(begin)) == 0;
}

/* A PEM private key (PKCS#8 or the traditional RSA and EC forms, unencrypted) to PKCS#8 DER,
 * decoded straight into a new Secret. */
static int material_from_pem(const Secret *pem, const char *path, Secret **ret, Diag *d) {
        _cleanup_(PKCS8_PRIV_KEY_INFO_freep) PKCS8_PRIV_KEY_INFO *p8 = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        _cleanup_(secret_freep) Secret *der = NULL;
        _cleanup_(BIO_freep) BIO *bio = NULL;
        unsigned char *p;
        char *rest = NULL;
        long n_rest;
        int n, r;

        if (pem->size > INT_MAX)
                return diag_set(d, -EBADMSG, "%s: too large", path);
        bio = BIO_new_mem_buf(pem->data, (int) pem->size);
        if (!bio)
                return -ENOMEM;
        pkey = PEM_read_bio_PrivateKey(bio, NULL, pem_no_password, NULL);
        if (!pkey)
                return diag_set(d, -EBADMSG,
                                "%s: not a PEM private key without a passphrase (nor PKCS#8 DER)",
                                path);
        n_rest = BIO_get_mem_data(bio, &rest);
        for (long i = 0; i < n_rest; i++)
                if (!strchr(" \t\r\n", rest[i]) || rest[i] == 0)
                        return diag_set(d, -EBADMSG,
                                        "%s: more than one PEM private key, or other data after "
                                        "it",
                                        path);
        p8 = EVP_PKEY2PKCS8(pkey);
        if (!p8)
                return diag_set(d, -EBADMSG, "%s: the key cannot be written as PKCS#8", path);
        n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
        if (n <= 0)
                return diag_set(d, -EBADMSG, "%s: the key cannot be written as PKCS#8", path);
        r = secret_new((size_t) n, &der);
        if (r < 0)
                return r;
        p = der->data;
        if (i2d_PKCS8_PRIV_KEY_INFO(p8, &p) != n)
                return diag_set(d, -EIO, "%s: the key cannot be written as PKCS#8", path);
        *ret = TAKE_PTR(der);
        return 0;
}

static bool is_pkcs8_der(const Secret *m) {
        _cleanup_(PKCS8_PRIV_KEY_INFO_freep) PKCS8_PRIV_KEY_INFO *p8 = NULL;
        const unsigned char *p = m->data;

        if (m->size == 0 || m->size > LONG_MAX)
                return false;
        p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long) m->size);
        return p8 && p == m->data + m->size;
}

/* Reads key material for type from a secret file into a Secret, in the form the store keeps
 * (PKCS#8 DER, or 32 raw bytes) and checked against type. Logs why it failed, never a byte of
 * the material. */
static int material_load(const char *path, KeyType type, Secret **ret) {
        _cleanup_(secret_freep) Secret *m = NULL, *der = NULL;
        Diag d = {};
        int r;

        r = secret_file_read(path, MATERIAL_FILE_MAX, &m, &d);
        if (r < 0)
                return log_error_errno(r, "%s", diag_text(&d, path));
        if (type != KEY_TYPE_OCT_256 && is_pem(m)) {
                r = material_from_pem(m, path, &der, &d);
                if (r < 0)
                        return log_error_errno(r, "%s", diag_text(&d, path));
                secret_free(TAKE_PTR(m));
                m = TAKE_PTR(der);
        } else if (type != KEY_TYPE_OCT_256 && !is_pkcs8_der(m))
                /* `openssl pkey -outform DER` writes the traditional form. */
                return log_error_errno(-EBADMSG,
                                       "%s: neither a PKCS#8 DER private key nor PEM (`openssl "
                                       "pkcs8 -topk8 -nocrypt -outform DER` converts one)",
                                       path);
        r = key_store_material_check(type, m, &d);
        if (r < 0)
                return log_error_errno(r, "%s: %s", path, diag_text(&d, "bad key material"));
        *ret = TAKE_PTR(m);
        return 0;
}

/* Opens the store for a, loading the master key; makes the store (and its directory, and the
 * default master key file) only for create and import. Returns an exit code; logs. */
static int store_open(const Args *a, KeyStore **ret) {
        _cleanup_(secret_freep) Secret *mk = NULL;
        _cleanup_(freep) char *db = NULL;
        bool adds = a->verb == VERB_CREATE || a->verb == VERB_IMPORT, exists;
        struct stat st;
        Diag d = {};
        int r;

        if (asprintf(&db, "%s/%s", a->state, KEY_STORE_FILE_NAME) < 0) {
                db = NULL;
                return EXIT_INTERNAL;
        }
        exists = lstat(db, &st) == 0;
        if (!exists && errno != ENOENT)
                return log_error_errno(-errno, "Cannot look at %s: %m", db), EXIT_USAGE;
        if (!exists && !adds)
                return log_error("%s: no key store here (no %s; `cvm-verifier key create` makes "
                                 "one)",
                                 a->state, KEY_STORE_FILE_NAME),
                       EXIT_USAGE;

        r = master_key_load(a->master_key, a->state, adds && !exists && !a->master_key, &mk, &d);
        if (r < 0)
                return log_error_errno(r, "%s", diag_text(&d, "Cannot load the master key")),
                       input_exit_code(r);
        if (r > 0)
                log_warning("Created the master key %s/%s beside the key store: it protects "
                            "nothing at rest there; give production stores their master key as a "
                            "systemd credential (--master-key credential:NAME, or "
                            "$CREDENTIALS_DIRECTORY/" MASTER_KEY_CREDENTIAL ")",
                            a->state, MASTER_KEY_FILE_NAME);
        if (!exists && mkdir(a->state, 0700) < 0 && errno != EEXIST)
                return log_error_errno(-errno, "Cannot create %s: %m", a->state), EXIT_USAGE;

        r = key_store_open(a->state, mk, ret, &d);
        if (r < 0)
                return log_error_errno(r, "%s", diag_text(&d, "Cannot open the key store")),
                       store_exit_code(r);
        return EXIT_OK;
}

static void format_usec(uint64_t usec, char buf[static 32]) {
        format_rfc3339((time_t) (usec / 1000000u), buf, 32);
}

/* json_add_string, with JSON null for NULL. */
static int add_string_or_null(json_object *o, const char *key, const char *value) {
        if (!value)
                return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
        return json_add_string(o, key, value);
}

static int add_time(json_object *o, const char *key, uint64_t usec) {
        char t[32];

        format_usec(usec, t);
        return json_add_string(o, key, t);
}

/* The document of one key: list's entries (no policy, no versions) or show's. */
static int key_json(const KeyInfo *k, bool full, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object(), *vs = NULL;

        if (!o || json_add_string(o, "name", k->name) < 0 ||
            json_add_string(o, "type", key_type_to_string(k->type)) < 0 ||
            json_add_bool(o, "exportable", k->exportable) < 0 ||
            json_add_string(o, "current_version", k->current_version) < 0 ||
            add_time(o, "created", k->created_usec) < 0)
                return -ENOMEM;
        if (full) {
                if (add_string_or_null(o, "policy", k->policy) < 0 ||
                    json_add_bool(o, "policy_immutable", k->policy_immutable) < 0)
                        return -ENOMEM;
                vs = json_object_new_array();
                if (!vs)
                        return -ENOMEM;
                for (size_t i = 0; i < k->n_versions; i++) {
                        json_object *v = json_object_new_object();

                        if (!v || json_object_array_add(vs, v) < 0) {
                                json_object_put(v);
                                return -ENOMEM;
                        }
                        if (json_add_string(v, "version", k->versions[i].version) < 0 ||
                            add_time(v, "created", k->versions[i].created_usec) < 0 ||
                            json_add_bool(v, "enabled", k->versions[i].enabled) < 0)
                                return -ENOMEM;
                }
                if (json_add(o, "versions", TAKE_PTR(vs)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

static int key_print(const KeyInfo *k, bool json) {
        char t[32];

        if (json) {
                _cleanup_(json_object_putp) json_object *o = NULL;

                if (key_json(k, true, &o) < 0)
                        return -ENOMEM;
                return json_print(stdout, o);
        }
        format_usec(k->created_usec, t);
        printf("name: %s\n"
               "type: %s\n"
               "exportable: %s\n"
               "current version: %s\n"
               "created: %s\n"
               "release policy: %s\n"
               "versions:\n",
               k->name, key_type_to_string(k->type), k->exportable ? "yes" : "no",
               k->current_version, t,
               !k->policy ? "none" : k->policy_immutable ? "immutable" : "mutable");
        for (size_t i = 0; i < k->n_versions; i++) {
                format_usec(k->versions[i].created_usec, t);
                printf("  %s  %s  %s%s\n", k->versions[i].version, t,
                       k->versions[i].enabled ? "enabled" : "disabled",
                       streq(k->versions[i].version, k->current_version) ? "  current" : "");
        }
        if (k->policy) {
                size_t n = strlen(k->policy);

                printf("policy:\n%s%s", k->policy, n > 0 && k->policy[n - 1] == '\n' ? "" : "\n");
        }
        return fflush(stdout) == 0 ? 0 : -EIO;
}

/* After a change: the key as show prints it (--json), or one line. */
static int changed_print(KeyStore *s, const Args *a) {
        _cleanup_(key_info_freep) KeyInfo *k = NULL;
        const char *type;
        Diag d = {};
        int r;

        r = key_store_show(s, a->name, &k, &d);
        if (r < 0)
                return log_error_errno(r, "%s", diag_text(&d, "Cannot read the key back")),
                       store_exit_code(r);
        type = key_type_to_string(k->type);
        if (a->json)
                r = key_print(k, true);
        else {
                switch (a->verb) {
                case VERB_CREATE:
                        printf("Created key %s (%s), version %s\n", k->name, type,
                               k->current_version);
                        break;
                case VERB_IMPORT:
                        printf("Imported key %s (%s), version %s\n", k->name, type,
                               k->current_version);
                        break;
                case VERB_ROTATE:
                        printf("Rotated key %s (%s): version %s is current, %zu versions in "
                               "all\n",
                               k->name, type, k->current_version, k->n_versions);
                        break;
                default:
                        printf("Set the release policy of key %s (%s)\n", k->name,
                               k->policy_immutable ? "immutable" : "mutable");
                        break;
                }
                r = fflush(stdout) == 0 ? 0 : -EIO;
        }
        if (r < 0)
                return log_error_errno(r, "Cannot write the output: %m"), EXIT_INTERNAL;
        return EXIT_OK;
}

static int do_list(KeyStore *s, const Args *a) {
        _cleanup_(json_object_putp) json_object *doc = NULL, *arr = NULL;
        KeyInfo *keys = NULL;
        size_t n = 0;
        Diag d = {};
        int r;

        r = key_store_list(s, &keys, &n, &d);
        if (r < 0)
                return log_error_errno(r, "%s", diag_text(&d, "Cannot list the keys")),
                       store_exit_code(r);
        if (a->json) {
                doc = json_object_new_object();
                arr = json_object_new_array();
                r = doc && arr ? 0 : -ENOMEM;
                for (size_t i = 0; r >= 0 && i < n; i++) {
                        json_object *o = NULL;

                        r = key_json(&keys[i], false, &o);
                        if (r >= 0 && json_object_array_add(arr, o) < 0) {
                                json_object_put(o);
                                r = -ENOMEM;
                        }
                }
                if (r >= 0)
                        r = json_add(doc, "keys", TAKE_PTR(arr));
                if (r >= 0)
                        r = json_print(stdout, doc);
        } else {
                printf("%-32s %-8s %-10s %-32s %s\n", "NAME", "TYPE", "EXPORTABLE", "VERSION",
                       "CREATED");
                for (size_t i = 0; i < n; i++) {
                        char t[32];

                        format_usec(keys[i].created_usec, t);
                        printf("%-32s %-8s %-10s %-32s %s\n", keys[i].name,
                               key_type_to_string(keys[i].type),
                               keys[i].exportable ? "yes" : "no", keys[i].current_version, t);
                }
                r = fflush(stdout) == 0 ? 0 : -EIO;
        }
        key_info_array_free(keys, n);
        if (r < 0)
                return log_error_errno(r, "Cannot write the output: %m"), EXIT_INTERNAL;
        return EXIT_OK;
}

static int do_show(KeyStore *s, const Args *a) {
        _cleanup_(key_info_freep) KeyInfo *k = NULL;
        Diag d = {};
        int r;

        r = key_store_show(s, a->name, &k, &d);
        if (r < 0)
                return log_error_errno(r, "%s", diag_text(&d, "Cannot read the key")),
                       store_exit_code(r);
        r = key_print(k, a->json);
        if (r < 0)
                return log_error_errno(r, "Cannot write the output: %m"), EXIT_INTERNAL;
        return EXIT_OK;
}

/* Audit fields come from tokens and peers: printed for a terminal, control characters become
 * '?'. NULL is "-". */
static char *printable(const char *s) {
        char *c = strdup(s ?: "-");

        if (c)
                for (char *p = c; *p; p++)
                        if ((unsigned char) *p < 0x20 || *p == 0x7f)
                                *p = '?';
        return c;
}

static int audit_print_line(const AuditEntry *e) {
        _cleanup_(freep) char *who = printable(e->who), *key = printable(e->key_name),
                              *version = printable(e->key_version), *jti = printable(e->jti),
                              *reason = printable(e->reason);
        char t[32];

        if (!who || !key || !version || !jti || !reason)
                return -ENOMEM;
        format_usec(e->time_usec, t);
        printf("%-6" PRIu64 " %-20s %-8s %-24s %-32s %-24s %-36s %s\n", e->id, t,
               e->released ? "released" : "refused", key, version, who, jti, reason);
        return 0;
}

static int audit_json(const AuditEntry *e, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();

        if (!o || json_add_int(o, "id", (int64_t) e->id) < 0 ||
            add_time(o, "time", e->time_usec) < 0 || json_add_string(o, "who", e->who) < 0 ||
            json_add_string(o, "key", e->key_name) < 0 ||
            add_string_or_null(o, "version", e->key_version) < 0 ||
            add_string_or_null(o, "jti", e->jti) < 0 ||
            json_add_bool(o, "released", e->released) < 0 ||
            add_string_or_null(o, "reason", e->reason) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static int do_audit(KeyStore *s, const Args *a) {
        _cleanup_(json_object_putp) json_object *doc = NULL, *arr = NULL;
        AuditEntry *e = NULL;
        size_t n = 0;
        Diag d = {};
        int r = 0;

        r = key_store_audit_list(s, &e, &n, &d);
        if (r < 0)
                return log_error_errno(r, "%s", diag_text(&d, "Cannot read the audit")),
                       store_exit_code(r);
        if (a->json) {
                doc = json_object_new_object();
                arr = json_object_new_array();
                if (!doc || !arr)
                        r = -ENOMEM;
        } else
                printf("%-6s %-20s %-8s %-24s %-32s %-24s %-36s %s\n", "ID", "TIME", "VERDICT",
                       "KEY", "VERSION", "WHO", "JTI", "REASON");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                json_object *o = NULL;

                if (a->key && !streq(e[i].key_name, a->key))
                        continue;
                if (!a->json) {
                        r = audit_print_line(&e[i]);
                        continue;
                }
                r = audit_json(&e[i], &o);
                if (r >= 0 && json_object_array_add(arr, o) < 0) {
                        json_object_put(o);
                        r = -ENOMEM;
                }
        }
        if (r >= 0 && a->json) {
                r = json_add(doc, "audit", TAKE_PTR(arr));
                if (r >= 0)
                        r = json_print(stdout, doc);
        }
        if (r >= 0 && fflush(stdout) != 0)
                r = -EIO;
        audit_entry_array_free(e, n);
        if (r < 0)
                return log_error_errno(r, "Cannot write the output: %m"), EXIT_INTERNAL;
        return EXIT_OK;
}

int key_admin_main(int argc, char **argv) {
        _cleanup_(key_store_closep) KeyStore *s = NULL;
        _cleanup_(secret_freep) Secret *material = NULL;
        _cleanup_(freep) char *policy = NULL;
        Args a = { .type = KEY_TYPE_DEFAULT };
        Diag d = {};
        int r;

        r = parse_args(argc, argv, &a);
        if (r < 0)
                return EXIT_USAGE;
        if (r > 0)
                return EXIT_OK;
        /* The master key and imported material pass through this process: no core dumps. */
        (void) secret_harden_process();

        /* Every input is read and checked before the store is opened, let alone made. */
        if (a.policy) {
                r = policy_load(a.policy, &policy);
                if (r < 0)
                        return input_exit_code(r);
        }
        if (a.material) {
                r = material_load(a.material, a.type, &material);
                if (r < 0)
                        return input_exit_code(r);
        }

        r = store_open(&a, &s);
        if (r != EXIT_OK)
                return r;

        switch (a.verb) {
        case VERB_CREATE:
                r = key_store_create(s, a.name, a.type, a.exportable, policy, a.immutable,
                                     /* ret_version= */ NULL, &d);
                break;
        case VERB_IMPORT:
                r = key_store_import(s, a.name, a.type, material, a.exportable, policy,
                                     a.immutable, /* ret_version= */ NULL, &d);
                /* The store holds it now, encrypted; this copy goes at once. */
                material = secret_free(material);
                break;
        case VERB_SET_POLICY:
                r = key_store_set_policy(s, a.name, policy, a.immutable, &d);
                break;
        case VERB_ROTATE:
                r = key_store_rotate(s, a.name, /* ret_version= */ NULL, &d);
                break;
        case VERB_LIST:
                return do_list(s, &a);
        case VERB_SHOW:
                return do_show(s, &a);
        case VERB_AUDIT:
                return do_audit(s, &a);
        default:
                return EXIT_INTERNAL;
        }
        if (r < 0)
                return log_error_errno(r, "%s", diag_text(&d, "The key store refused")),
                       store_exit_code(r);

        return changed_print(s, &a);
}
