/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"
#include "keyrelease/key-wrap.h"

struct Diag;

/*
 * The LUKS2 token of type "cvm-agent" (spec/tpm.md §5): everything `cvm-agent unlock` needs to
 * get the key of one keyslot again, and nothing secret. Its JSON, one object in the header's
 * "tokens" (members in this order when built):
 *
 *     "type": "cvm-agent"
 *     "keyslots": ["N"]               exactly one keyslot, "0" to "31", canonical decimal
 *     "cvm-agent-version": 1          format version of this document (an integer)
 *     "verifiers": [URL, ...]         1 to 8 attestation endpoints, tried in this order
 *     "key-release": URL              the key as Key Vault names it: scheme://host[:port][/prefix]
 *                                     /keys/NAME or .../keys/NAME/VERSION; the release request
 *                                     goes to this URL + "/release"
 *     "key": NAME                     the key's name, as in key-release (checked to match)
 *     "pcr-bank": "sha256"            bank of the PCR policy of the key the release is wrapped to
 *     "pcrs": [0, 7, ...]             its PCRs: 1 to 24 of 0..23, ascending, no repeats
 *     "enc": "RSA_AES_KEY_WRAP_256"   the wrap algorithm the release asks for (key-wrap.h names)
 *
 * URLs are http or https (scheme in lowercase), 1 to LUKS_TOKEN_URL_MAX printable ASCII
 * characters without spaces, quotes, backslashes, '<', '>', a fragment or user information
 * ('@' before the host: a header is readable by anyone who can read the disk, so it must not
 * carry credentials); key-release also has no query. Verifier URLs are stored as given (the
 * attestation client decides what to append) and must differ from each other. NAME is 1 to
 * LUKS_TOKEN_KEY_NAME_MAX of [0-9A-Za-z-] (Key Vault's rule), VERSION 32 lowercase hex digits.
 *
 * The JSON area is untrusted: a header can come from anywhere. The parser caps the text
 * (LUKS_TOKEN_JSON_MAX, before parsing) and its nesting (LUKS_TOKEN_DEPTH), parses strictly
 * (RFC 8259, no trailing text), refuses a member that appears twice (json-c keeps the last
 * where another reader may keep the first), "\u0000" in strings and every type mismatch.
 * Unknown members: a member whose name starts with "x-" is ignored (room for notes by people
 * and other tools); any other unknown member is refused, because a newer format may add
 * members that change what unlock must do, and an older agent must not unlock while ignoring
 * them. A newer format declares itself through "cvm-agent-version" and is refused with
 * -EPROTONOSUPPORT.
 *
 * Everything here is pure: json-c only, no I/O, no logging.
 */

#define LUKS_TOKEN_TYPE    "cvm-agent"
#define LUKS_TOKEN_VERSION 1
/* LUKS2 has keyslots 0 to 31 (LUKS2_KEYSLOTS_MAX). */
#define LUKS_TOKEN_KEYSLOT_MAX      31
#define LUKS_TOKEN_VERIFIERS_MAX    8u
#define LUKS_TOKEN_URL_MAX          1024u
#define LUKS_TOKEN_KEY_NAME_MAX     127u
#define LUKS_TOKEN_KEY_VERSION_SIZE 32u
#define LUKS_TOKEN_PCR_COUNT        24u
/*
 * Caps for parsing. The largest token we build (eight verifiers and a key URL at the URL cap)
 * is under 11 KiB; the JSON area of a default LUKS2 header is 12 KiB for everything, and
 * libcryptsetup hands a token back as the compact text of what it parsed. Depth: the object, an
 * array in it, and two levels for "x-" members.
 */
#define LUKS_TOKEN_JSON_MAX (16u * 1024u)
#define LUKS_TOKEN_DEPTH    4

typedef struct LuksToken {
        int keyslot;                               /* "keyslots": [keyslot] */
        char *verifiers[LUKS_TOKEN_VERIFIERS_MAX]; /* "verifiers", n_verifiers of them */
        size_t n_verifiers;
        char *key_url;     /* "key-release" */
        char *key_name;    /* "key" */
        char *key_version; /* from key_url; NULL for the latest version */
        uint16_t pcr_bank; /* "pcr-bank" as a TPM_ALG_ID (0x000B sha256) */
        uint32_t pcr_mask; /* "pcrs": bit i set = PCR i */
        KeyWrapAlg enc;    /* "enc" */
} LuksToken;

/* Frees t and its strings. Accepts NULL; returns NULL. */
LuksToken *luks_token_free(LuksToken *t);
DEFINE_CLEANUP_FUNC(LuksToken *, luks_token_free);

/*
 * A new empty token (keyslot -1, no verifiers, bank sha256, no PCRs, enc RSA_AES_KEY_WRAP_256)
 * for a caller to fill: luks_token_add_verifier(), luks_token_set_key(), pcr_mask, keyslot.
 * -ENOMEM. Pure.
 */
int luks_token_new(LuksToken **ret);

/*
 * Appends a verifier URL (copied) after checking it as described above: -EINVAL (Diag) for a
 * URL that is not one we store, -EEXIST (Diag) for one already listed, -E2BIG (Diag) past
 * LUKS_TOKEN_VERIFIERS_MAX, -ENOMEM. t unchanged on failure. Pure.
 */
int luks_token_add_verifier(LuksToken *t, const char *url, struct Diag *d);

/*
 * Sets key_url, key_name and key_version from what a command line gives: key_release is either
 * the key's URL (.../keys/NAME or .../keys/NAME/VERSION, whose NAME must equal name when name is
 * not NULL) or the URL of the vault itself (scheme://host[:port] with an empty path or "/",
 * then name is required and "/keys/NAME" is appended). A trailing '/' is dropped. -EINVAL (Diag)
 * for a URL or name that is not one we store or a name that differs from the URL's, -ENOMEM.
 * t unchanged on failure. Pure.
 */
int luks_token_set_key(LuksToken *t, const char *key_release, const char *name, struct Diag *d);

/*
 * Parses the JSON of a token (exactly size bytes, as crypt_token_json_get() returns it) under the
 * rules above. On success *ret is the caller's (luks_token_free()). Errors, each with a Diag
 * naming the member at fault: -E2BIG over LUKS_TOKEN_JSON_MAX (before parsing), -EBADMSG
 * malformed JSON, a wrong type, a missing, repeated or unknown member, or a value out of range,
 * -EMEDIUMTYPE a token of another "type", -EPROTONOSUPPORT another "cvm-agent-version", an
 * unknown "enc" or "pcr-bank", -ENOMEM. *ret untouched on failure. Pure.
 */
int luks_token_parse(const char *json, size_t size, LuksToken **ret, struct Diag *d);

/*
 * Builds the token's JSON text (compact, members in the order above, no escaped '/'): *ret is a
 * new NUL-terminated string (free()). t must be complete and valid as the parser requires
 * (keyslot 0..31, 1 to 8 verifiers, a key, at least one PCR, a known bank and enc), so that
 * what we build, we parse: -EINVAL (Diag naming the member) otherwise, -ENOMEM. Pure.
 */
int luks_token_build(const LuksToken *t, char **ret, struct Diag *d);

/*
 * The URL the release request is posted to: key_url + "/release" (the SKR client adds its
 * "api-version" query). *ret is a new string (free()). -EINVAL for a token without a key URL,
 * -ENOMEM. Pure.
 */
int luks_token_release_url(const LuksToken *t, char **ret);

/*
 * The PCR selection as text, "sha256:0,7,11" (the bank's name, then the PCRs in ascending
 * order), into buf. Never fails; "?" for a bank we do not name. Pure.
 */
#define LUKS_TOKEN_PCRS_TEXT_MAX 80u
const char *luks_token_pcrs_to_string(const LuksToken *t,
                                      char buf[static LUKS_TOKEN_PCRS_TEXT_MAX]);

/*
 * A human-readable description of t for `cryptsetup luksDump` (the token plugin's
 * cryptsetup_token_dump) and `cvm-agent` output: a few lines, each starting with a tab and
 * ending with '\n', every value from the parsed (so validated, printable) token:
 *
 *         cvm-agent format: 1
 *         Verifiers:  https://a.example/attest
 *                     https://b.example/attest
 *         Key:        disk (latest version)
 *         Key URL:    https://kv.example/keys/disk
 *         PCRs:       sha256:0,7
 *         Wrap:       RSA_AES_KEY_WRAP_256
 *
 * The keyslot is not repeated (luksDump prints it). *ret is a new string (free()). -ENOMEM.
 * Pure.
 */
int luks_token_dump(const LuksToken *t, char **ret);
