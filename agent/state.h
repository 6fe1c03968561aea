/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/drift.h"

struct Diag;
struct json_object;

/*
 * The agent's state directory, /run/cvm-agent by default (--state-dir for tests): what the
 * monitor and attest-now write and `cvm-agent status` reads. Every file is written atomically
 * (a temporary file renamed over it) with mode 0644: none holds a secret (no token, no key; a
 * summary of claims at most). Every reader is strict, since another process wrote the file:
 * a size cap, one JSON object, no duplicate or unknown members, a version.
 *
 *   status.json     the last attestation: times, verdict and reasons, the verifier that answered,
 *                   the token's expiry and a summary of its claims, the last drift report's lines
 *                   (MonitorStatus; pure parts in agent/state-doc.c)
 *   baseline.json   the boot (or enrollment) baseline (agent/drift.h)
 *   alerts.json     the open alert conditions (agent/alert.h)
 *   verifiers.json  the verifiers' health as the failover code serialises it, kept opaque here
 *   .lock           flock()ed by whoever changes alerts.json
 *
 * and, kept across boots, the known-good reference directory, /var/lib/cvm-agent by default
 * (StateDirectory=; --reference-dir, and the --state-dir directory itself when that is given
 * alone, so that a test or a second instance never touches the system's):
 *
 *   reference.json  the measurements of the last boot known to be good, in baseline.json's
 *                   format (agent/drift.h): source "enrollment" when `cvm-agent enroll` got its
 *                   key, "accepted" when the monitor saw a verifier permit an attestation of
 *                   measurements that had not moved since. Mode 0644: measurements are no
 *                   secret. Never written on a denial or on doubt; when the verifier denies,
 *                   the monitor explains the denial by what changed since it.
 */

#define STATE_DIR_DEFAULT    "/run/cvm-agent"
#define STATE_FILE_STATUS    "status.json"
#define STATE_FILE_BASELINE  "baseline.json"
#define STATE_FILE_ALERTS    "alerts.json"
#define STATE_FILE_VERIFIERS "verifiers.json"
#define STATE_FILE_LOCK      ".lock"

#define STATE_REFERENCE_DIR_DEFAULT "/var/lib/cvm-agent"
#define STATE_FILE_REFERENCE        "reference.json"

#define STATE_STATUS_MAX    (1024u * 1024u)
#define STATE_VERIFIERS_MAX (1024u * 1024u)

typedef enum StateVerdict {
        STATE_VERDICT_NONE,            /* no attestation yet */
        STATE_VERDICT_ALLOWED,         /* a verifier issued a token */
        STATE_VERDICT_DENIED,          /* a verifier refused (policy or verification) */
        STATE_VERDICT_UNREACHABLE,     /* no verifier answered */
        STATE_VERDICT_TPM_UNAVAILABLE, /* the evidence could not be collected */
        STATE_VERDICT_ERROR,           /* anything else went wrong here */
        _STATE_VERDICT_MAX,
        _STATE_VERDICT_INVALID = -EINVAL,
} StateVerdict;

/* "none", "allowed", "denied", "unreachable", "tpm-unavailable", "error"; NULL out of range. */
const char *state_verdict_to_string(StateVerdict v);
StateVerdict state_verdict_from_string(const char *s);

#define STATE_REASONS_MAX     64u
#define STATE_REASON_MAX      1024u
#define STATE_CLAIMS_MAX      64u
#define STATE_CLAIM_NAME_MAX  128u
#define STATE_CLAIM_VALUE_MAX 1024u
#define STATE_DRIFT_LINES_MAX 800u
#define STATE_DRIFT_LINE_MAX  1024u
#define STATE_URL_MAX         2048u
#define STATE_REF_LINES_MAX   64u

typedef struct MonitorStatus {
        int64_t last_attempt; /* Unix seconds; 0: never */
        int64_t last_success; /* of an attestation that was allowed; 0: never */
        StateVerdict verdict; /* of the last attempt */
        char **reasons;       /* in words, printable; NULL when none */
        size_t n_reasons;
        char *verifier;             /* the URL that answered the last attempt, or NULL */
        int64_t token_expiry;       /* Unix seconds; 0: no token */
        struct json_object *claims; /* a summary of the token's claims: an object of strings,
                                     * integers, booleans and nulls; NULL when none */
        uint32_t drifted;           /* PCRs that drifted from the baseline at the last look */
        char **drift;               /* that report's lines */
        size_t n_drift;
        /* A denial explained: what changed since the known-good reference (reference.json). */
        bool ref_checked;    /* the measurements were compared with it (the last attempt was
                              * denied); the members below are meaningful only then */
        DriftSource ref_source; /* _DRIFT_SOURCE_INVALID: there was no usable reference */
        int64_t ref_time;    /* when it was recorded; 0 without one */
        uint32_t ref_changed; /* PCRs that moved since */
        char **ref_lines;    /* drift_reference_lines(): the first says what was compared */
        size_t n_ref_lines;
} MonitorStatus;

/* Frees what s holds and zeroes it. Pure. */
void monitor_status_done(MonitorStatus *s);

/*
 * s as JSON text (a new string ending in a newline; -EINVAL when s breaks the limits above or a
 * reason is not printable UTF-8 in one line, -ENOMEM):
 *
 *   {"version": 1, "last_attempt": RFC 3339 | null, "last_success": RFC 3339 | null,
 *    "verdict": "allowed", "reasons": [...], "verifier": URL | null,
 *    "token": {"expires": RFC 3339, "claims": {...}} | null,
 *    "drift": {"pcrs": [7, ...], "lines": [...]}}
 *
 * Pure.
 */
int monitor_status_to_json(const MonitorStatus *s, char **ret_text);

/* Parses that strictly: at most STATE_STATUS_MAX bytes (-E2BIG), the members above only, none
 * twice, version 1 (-EPROTONOSUPPORT for a newer one), the limits above. -EBADMSG with a Diag
 * otherwise; *ret filled only on success (monitor_status_done). Pure. */
int monitor_status_parse(const char *text, size_t size, MonitorStatus *ret, struct Diag *d);

/* ---- files ([io], agent/state.c) ---- */

/* [io] Creates dir (and missing parents) with mode 0755 when absent. -ENOTDIR when it is not a
 * directory, -errno. */
int state_dir_ensure(const char *dir);

/* [io] Reads dir/name: a regular file (-EBADMSG for anything else; not followed through a
 * symbolic link: -ELOOP), at most max bytes (-E2BIG), NUL-terminated. -ENOENT when absent,
 * -errno. */
int state_read_file(const char *dir, const char *name, size_t max, char **ret, size_t *ret_size);
/* [io] Writes dir/name atomically, mode 0644. -errno. */
int state_write_file(const char *dir, const char *name, const char *data, size_t size);

/* [io] Takes dir/.lock exclusively (flock), waiting at most timeout_usec (-EBUSY after);
 * *ret_fd is the lock, closing it releases. -errno. */
int state_lock(const char *dir, uint64_t timeout_usec, int *ret_fd);

/* [io] status.json. Load: -ENOENT when absent, and the errors of state_read_file and
 * monitor_status_parse (with a Diag naming the file). */
int state_status_save(const char *dir, const MonitorStatus *s);
int state_status_load(const char *dir, MonitorStatus *ret, struct Diag *d);

/* [io] baseline.json (agent/drift.h). Load: -ENOENT when absent, the errors of
 * drift_baseline_parse. */
int state_baseline_save(const char *dir, const DriftBaseline *b);
int state_baseline_load(const char *dir, DriftBaseline **ret, struct Diag *d);
/* [io] A file of the baseline's format in dir (baseline.json, reference.json), the same way. */
int state_baseline_file_load(const char *dir, const char *file, DriftBaseline **ret,
                             struct Diag *d);

/* ---- the known-good reference ([io], agent/state-reference.c) ---- */

/* The reference directory: reference_dir when given, else state_dir when given, else
 * STATE_REFERENCE_DIR_DEFAULT. */
const char *state_reference_dir(const char *reference_dir, const char *state_dir);

/* [io] reference.json in dir. Load: -ENOENT when absent, the errors of drift_baseline_parse
 * (with a Diag naming the file). Save: creates dir (0755) when missing, writes atomically. */
int state_reference_save(const char *dir, const DriftBaseline *b);
int state_reference_load(const char *dir, DriftBaseline **ret, struct Diag *d);

/*
 * [io] The measurements now: the PCRs of every bank the TPM at tcti has (NULL: the default
 * TCTI) into *ret, and the TCG event log at eventlog_path into *ret_log (a new buffer, NULL
 * and 0 when it cannot be read: that is logged at debug level, not an error). -errno with a
 * Diag when the TPM cannot be read.
 */
int state_measurements_read(const char *tcti, const char *eventlog_path, TpmPcrSet *ret,
                            uint8_t **ret_log, size_t *ret_log_size, struct Diag *d);

/*
 * [io] Records pcrs and the event log (eventlog NULL and 0 when none; a log that does not
 * parse is left out, the PCRs kept) as the reference in dir, as source at time, unless the
 * reference there holds the same measurements already (then it keeps its source and time: when
 * that state was first vouched for). A reference that cannot be read is replaced, except one of
 * a newer version (-EPROTONOSUPPORT, kept). Returns 1 when written, 0 when kept; -errno with a
 * Diag.
 */
int state_reference_record(const char *dir, DriftSource source, int64_t time,
                           const TpmPcrSet *pcrs, const uint8_t *eventlog,
                           size_t eventlog_size, struct Diag *d);

/* [io] verifiers.json, opaque: text of at most STATE_VERIFIERS_MAX bytes, which the failover code
 * writes and parses. Load: -ENOENT when absent, -E2BIG. */
int state_verifiers_save(const char *dir, const char *text, size_t size);
int state_verifiers_load(const char *dir, char **ret_text, size_t *ret_size);
