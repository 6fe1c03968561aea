/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtpm/tpm-pcrs.h"

struct Diag;
struct EventLog;
struct json_object;

/*
 * Integrity drift: what changed in the measurements since a baseline, in words. Pure: PCR values
 * and event logs come in as arguments, nothing is read from a device or the clock, nothing logs.
 *
 * A baseline is the PCR values (every bank that was read) and the TCG event log at one point:
 * boot, when the monitor starts on a fresh /run; or, as the known-good reference kept across
 * boots, enrollment (an admin vouched for that boot) or an attestation the verifier permitted. Comparing it with the PCRs and the
 * log of now gives a report: for every PCR whose value moved (in any bank both sides have), the
 * event log entries of that PCR that were added, removed or changed, decoded where the log says
 * what they are:
 *
 *   PCR 7: db changed: certificate CN=Contoso UEFI CA 2026 added
 *   PCR 7: dbx changed: 3 hashes added
 *   PCR 7: SecureBoot changed: enabled -> disabled
 *   PCR 4: boot application changed: ...\EFI\debian\shimx64.efi: image digest 1a2b... -> 3c4d...
 *   PCR 8: kernel command line changed: /vmlinuz ro quiet -> /vmlinuz ro init=/bin/sh
 *   PCR 4: separator removed
 *   PCR 0: event added: EV_POST_CODE ACPI DATA (digest 5e6f...)
 *
 * or, when the log's entries for the PCR are the same as the baseline's and the PCR moved anyway,
 * "PCR 4: extended outside the event log". A PCR whose value did not move but whose log entries
 * did is reported too ("the event log changed but the PCR did not"): the log no longer describes
 * the PCR. Event identity is the type and every digest (not the data: an image load event's
 * holds the load address, which its digest does not cover and which moves from boot to boot);
 * entries are matched by a
 * longest common subsequence per PCR, so an insertion reads as one added entry, and an added and
 * a removed entry of the same thing (the same variable, the same boot application path, the
 * kernel command line) read as one change.
 *
 * Every drifted PCR has a condition key, stable for the same PCR value and so usable to
 * deduplicate alerts: "drift:pcrN:" and 32 hex digits, the first 16 bytes of SHA-256 over the
 * PCR's current value in every bank that has it (ascending algorithm id, each as the id in two
 * big-endian bytes and the digest).
 */

/* A baseline file: the base64 of a log of EVENTLOG_MAX_SIZE bytes, PCRs and a little more. */
#define DRIFT_BASELINE_MAX (12u * 1024u * 1024u)
/* "drift:pcr23:" + 32 hex digits + NUL. */
#define DRIFT_KEY_SIZE 48u
/* Lines kept per PCR (the last one says how many more there were) and per report line. */
#define DRIFT_LINES_PER_PCR_MAX 32u
#define DRIFT_LINE_MAX          480u

typedef enum DriftSource {
        DRIFT_SOURCE_BOOT,       /* this boot's first look */
        DRIFT_SOURCE_ENROLLMENT, /* `cvm-agent enroll` got its key: the admin vouched for it */
        DRIFT_SOURCE_ACCEPTED,   /* a verifier permitted an attestation of these measurements */
        _DRIFT_SOURCE_MAX,
        _DRIFT_SOURCE_INVALID = -EINVAL,
} DriftSource;

/* "boot", "enrollment", "accepted"; NULL out of range. */
const char *drift_source_to_string(DriftSource s);
DriftSource drift_source_from_string(const char *s);

typedef struct DriftBaseline {
        DriftSource source;
        int64_t time;      /* when it was taken, Unix seconds */
        TpmPcrSet pcrs;    /* every bank read, banks in ascending algorithm order */
        uint8_t *eventlog; /* the raw TCG event log, or NULL when there was none */
        size_t eventlog_size;
        struct EventLog *log; /* eventlog parsed (points into it), or NULL */
} DriftBaseline;

/*
 * A new baseline *ret (drift_baseline_free) from copies of pcrs and of the event log (eventlog
 * NULL and eventlog_size 0 when there is none). The log must parse (-EBADMSG, -E2BIG,
 * -EPROTONOSUPPORT with the Diag of eventlog_parse); pcrs must have at least one bank with at
 * least one PCR, known algorithms, each at most once (-EINVAL). -ENOMEM. Pure.
 */
int drift_baseline_new(DriftSource source, int64_t time, const TpmPcrSet *pcrs,
                       const uint8_t *eventlog, size_t eventlog_size, DriftBaseline **ret,
                       struct Diag *d);
DriftBaseline *drift_baseline_free(DriftBaseline *b);
void drift_baseline_freep(DriftBaseline **b);

/*
 * The baseline as JSON text (a new NUL-terminated string, free(), ending in a newline):
 *
 *   {"version": 1, "source": "boot", "time": "2026-11-29T03:00:00Z",
 *    "pcrs": {"sha1": {"0": hex, ...}, "sha256": {...}},
 *    "eventlog": base64url of the raw log, or null,
 *    "eventlog_sha256": hex, or null}
 *
 * -ENOMEM. Pure.
 */
int drift_baseline_to_json(const DriftBaseline *b, char **ret_text);

/* Do a and b hold the same measurements: the same banks with the same PCRs and values, and the
 * same event log bytes (or both none)? Source and time are not compared. Pure. */
bool drift_baseline_same(const DriftBaseline *a, const DriftBaseline *b);

/*
 * Parses a baseline file strictly, as written by drift_baseline_to_json (another process wrote
 * it): at most DRIFT_BASELINE_MAX bytes (-E2BIG), exactly the members above, no duplicates, no
 * other version (-EPROTONOSUPPORT for a newer one), the time as written ("YYYY-MM-DDTHH:MM:SSZ"),
 * bank names as tpm_alg_hash_name spells them, PCR indices 0..23 in decimal, digests in lower-
 * case hex of the bank's size, the log's SHA-256 matching it and the log parsing. -EBADMSG with a
 * Diag naming the member otherwise; *ret untouched on failure. Pure.
 */
int drift_baseline_parse(const char *text, size_t size, DriftBaseline **ret, struct Diag *d);

typedef struct DriftPcr {
        unsigned pcr;
        uint16_t alg; /* the bank old_value and new_value are from */
        uint16_t size;
        uint8_t old_value[TPM_DIGEST_MAX];
        uint8_t new_value[TPM_DIGEST_MAX];
        bool value_changed;       /* false: only its event log entries changed */
        bool log_changed;         /* its entries in the log differ from the baseline's */
        bool outside_log;         /* the value moved without the log saying why */
        char key[DRIFT_KEY_SIZE]; /* the condition key */
        char **lines;             /* "PCR 7: db changed: ...", printable UTF-8, one line each */
        size_t n_lines;
} DriftPcr;

typedef struct DriftReport {
        uint32_t compared; /* PCRs both sides have in a common bank */
        uint32_t drifted;  /* PCRs in pcrs[] */
        DriftPcr *pcrs;    /* ascending PCR index */
        size_t n_pcrs;
        /* Why the logs could not be compared, when they could not (no baseline log, no log now,
         * or a log now that does not parse: the PCRs are then compared without it); else "". */
        char log_note[200];
} DriftReport;

/*
 * Compares baseline b with the PCRs and event log of now (eventlog NULL and 0 when there is
 * none) into a new report *ret (drift_report_free), which says "no drift" with drifted == 0.
 * Only PCRs present in a bank on both sides are compared. A log of now that does not parse is
 * not an error: the report says so in log_note and explains the PCRs without it. -ENOMEM;
 * -EINVAL for a NULL argument. Pure.
 */
int drift_compare(const DriftBaseline *b, const TpmPcrSet *pcrs, const uint8_t *eventlog,
                  size_t eventlog_size, struct DriftReport **ret);
DriftReport *drift_report_free(DriftReport *r);
void drift_report_freep(DriftReport **r);

/*
 * The report as JSON: {"compared": [0, 1, ...], "drifted": [7], "log_note": "..." (when set),
 * "pcrs": [{"pcr": 7, "bank": "sha256", "baseline": hex, "current": hex, "value_changed": true,
 * "log_changed": true, "outside_log": false, "key": "drift:pcr7:...", "lines": [...]}]}.
 * -ENOMEM. Pure.
 */
int drift_report_to_json(const DriftReport *r, struct json_object **ret);

/* The lines of one drifted PCR joined by '\n' (an alert's message), a new string. -ENOMEM.
 * Pure. */
int drift_pcr_message(const DriftPcr *p, char **ret);

/* "0,4,7" for a mask into buf (at least DRIFT_PCR_LIST_SIZE bytes); "" for 0. */
#define DRIFT_PCR_LIST_SIZE 64u
const char *drift_pcr_list(uint32_t mask, char buf[static DRIFT_PCR_LIST_SIZE]);

/*
 * What changed since a known-good reference, for a denial: the lines that explain it, at most
 * max_lines (>= 2; the last then says how many more there were), each printable, one line, at
 * most DRIFT_LINE_MAX bytes, in a new array *ret_lines of *ret_n strings (strv_free-able: each
 * free(), then the array):
 *
 *   ref NULL:         "no known-good reference: enroll or a permitted attestation records one"
 *   nothing changed:  "nothing changed since the known-good reference of T (accepted): 24 PCRs
 *                     compared"
 *   else:             "changed since the known-good reference of T (enrollment): PCRs 8,9"
 *                     then every line of every drifted PCR, as drift_compare wrote them
 *
 * with "; " and the report's log_note after the first line when it has one. rep may be NULL only
 * with ref NULL. -EINVAL, -ENOMEM. Pure.
 */
int drift_reference_lines(const DriftBaseline *ref, const DriftReport *rep, size_t max_lines,
                          char ***ret_lines, size_t *ret_n);
