/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct Diag;
struct json_object;

/*
 * Alerts of the integrity monitor: what they are and how they are deduplicated (pure, in
 * agent/alert-doc.c), and how they are delivered (an Alerter, [io], agent/alert.c).
 *
 * Kinds. Each kind has a MESSAGE_ID for its alert and one for its recovery, documented for
 * `journalctl -x` in systemd/cvm-agent.catalog:
 *
 *   kind             alert (priority)                        recovery (notice)
 *   drift            a9cb47a5d10a49d784ad476d8835133f crit   fdfca581de134162b39e5527a5188652
 *   denied           676778b227814ae2aa9d7c08fd0527e1 err    f82ba1a2f9904cb8904c88f0253b30be
 *   unreachable      02b7b003c10a4fd9a0d4c0e229916040 warn   929e3425eb8548a9b46e58593b09ed5e
 *   tpm-unavailable  36079e1289af4cd28b786c7f5faf36e4 err    4ac7fbbdc10c4264b934d5b38f1a49c0
 *
 * Conditions and deduplication. A condition is named by a key: "KIND" or "KIND:...:DETAIL"
 * (1..ALERT_KEY_MAX characters of a-z 0-9 . _ - and ':'), whose first component is the kind. Its
 * scope is the key without the last component ("drift:pcr7" for "drift:pcr7:<hash>", "denied"
 * for "denied:<hash>", "unreachable" for "unreachable"). Each cycle the monitor says which kinds
 * it judged and which conditions hold; then a condition not open before raises one alert, one
 * that stays open raises nothing, a condition of a scope that was open under another key (PCR 7
 * moved again, the verifier denies for another reason) raises one alert that supersedes the old
 * one, and an open condition whose kind was judged and whose scope no longer holds raises one
 * recovery. Kinds not judged this cycle (no verifier answered, so nothing was denied or allowed)
 * keep their conditions as they are. The open conditions persist in the state directory
 * (alerts.json), so that a restarted monitor does not alert again.
 *
 * Delivery. Every alert is one structured journal entry (sd_journal_send: MESSAGE, MESSAGE_ID,
 * PRIORITY, SYSLOG_IDENTIFIER=cvm-agent, CVM_AGENT_ALERT_KIND=, CVM_AGENT_ALERT_KEY=,
 * CVM_AGENT_ALERT_ID=, CVM_AGENT_ALERT_RECOVERY=0|1, CVM_AGENT_ALERT_SINCE=,
 * [CVM_AGENT_ALERT_SUPERSEDES=] and the condition's own CVM_AGENT_* fields such as
 * CVM_AGENT_PCRS=7 or CVM_AGENT_VERIFIER=URL). Where the journal is not there (tests, the initrd
 * before journald) it is one line on stderr in the log format of common/log.h instead:
 *
 *   ALERT drift key=drift:pcr7:...: PCR 7: db changed: ... | PCR 7: ... [CVM_AGENT_PCRS=7]
 *   RECOVERED drift key=drift:pcr7:...: drift cleared: the measurements match the baseline
 *       again (was: PCR 7: ...)
 *
 * Optionally it is also POSTed as JSON to a webhook and handed to an exec hook, both from
 * bounded queues served by their own threads, so that neither blocks the monitor; see
 * AlertOptions. The JSON (webhook body, and the exec hook's stdin) is
 *
 *   {"kind": "drift", "recovery": false, "id": 32 hex (unique per alert), "message_id": 32 hex,
 *    "priority": 2, "key": "drift:pcr7:...", "message": "PCR 7: ...", "time": RFC 3339,
 *    "since": RFC 3339 (when the condition opened), "host": "...",
 *    "supersedes": key (when it does), "fields": {"CVM_AGENT_PCRS": "7", ...}}
 *
 * An alert holds no secret: measurements, verifier URLs, claims a verifier stated and reasons
 * in words. The exec hook gets it as that JSON on stdin and as environment variables.
 */

typedef enum AlertKind {
        ALERT_DRIFT,
        ALERT_DENIED,
        ALERT_UNREACHABLE,
        ALERT_TPM_UNAVAILABLE,
        _ALERT_KIND_MAX,
        _ALERT_KIND_INVALID = -EINVAL,
} AlertKind;

#define ALERT_KIND_BIT(k) (UINT32_C(1) << (k))
#define ALERT_KINDS_ALL   (ALERT_KIND_BIT(_ALERT_KIND_MAX) - 1)

#define ALERT_KEY_MAX         128u
#define ALERT_MESSAGE_MAX     (16u * 1024u)
#define ALERT_FIELDS_MAX      16u
#define ALERT_FIELD_NAME_MAX  64u
#define ALERT_FIELD_VALUE_MAX 4096u
/* Open conditions kept; a state file with more is refused. */
#define ALERT_OPEN_MAX 256u
/* 128-bit ids in hex, and a NUL. */
#define ALERT_ID_SIZE 33u

/* "drift", "denied", "unreachable", "tpm-unavailable"; NULL out of range. */
const char *alert_kind_to_string(AlertKind k);
AlertKind alert_kind_from_string(const char *s);
/* The MESSAGE_ID (32 lower-case hex digits) of a kind's alert or recovery; NULL out of range. */
const char *alert_message_id(AlertKind k, bool recovery);
/* The syslog priority (LOG_CRIT ...) of a kind's alert or recovery; -EINVAL out of range. */
int alert_priority(AlertKind k, bool recovery);
/* The kind a key names, or -EINVAL when the key is malformed. */
AlertKind alert_key_kind(const char *key);
/* Is name a field a condition may carry: CVM_AGENT_ then A-Z 0-9 _, at most
 * ALERT_FIELD_NAME_MAX characters, and not CVM_AGENT_ALERT_* (the alert's own)? */
bool alert_field_name_valid(const char *name);

/* What holds now, as the monitor found it: key, message (lines separated by '\n', printable
 * UTF-8) and fields ("NAME=value" strings, NULL-terminated, may be NULL). Borrowed. */
typedef struct AlertCondition {
        const char *key;
        const char *message;
        const char *const *fields;
} AlertCondition;

typedef struct Alert {
        AlertKind kind;
        bool recovery;
        char key[ALERT_KEY_MAX + 1];
        char supersedes[ALERT_KEY_MAX + 1]; /* "" unless it replaces an open condition */
        char id[ALERT_ID_SIZE];             /* unique per alert */
        char *message;
        int64_t time;                   /* Unix seconds */
        int64_t since;                  /* when the condition opened */
        char *fields[ALERT_FIELDS_MAX]; /* "NAME=value" */
        size_t n_fields;
} Alert;

/*
 * A new alert *ret (alert_free) for key at time; since is when the condition opened (time for
 * a new one). fields as in AlertCondition. -EINVAL for a malformed key, an empty message or one
 * over ALERT_MESSAGE_MAX, more than ALERT_FIELDS_MAX fields or a malformed one; -ENOMEM. The id
 * is the first 16 bytes of SHA-256 over key, time, recovery and since. Pure.
 */
int alert_new(const char *key, bool recovery, const char *message, int64_t time, int64_t since,
              const char *const *fields, Alert **ret);
Alert *alert_free(Alert *a);
void alert_freep(Alert **a);

/* The JSON above (host may be NULL: left out). -ENOMEM. Pure. */
int alert_to_json(const Alert *a, const char *host, struct json_object **ret);
/* The stderr line above, one line (message lines joined by " | ", control characters as
 * spaces), at most 1900 bytes. -ENOMEM. Pure. */
int alert_to_line(const Alert *a, char **ret);

/* One open condition. */
typedef struct AlertOpen {
        char key[ALERT_KEY_MAX + 1];
        char id[ALERT_ID_SIZE]; /* of the alert that opened it */
        char *message;
        int64_t since;
} AlertOpen;

/* The open conditions. Zero-initialised is empty. */
typedef struct AlertSet {
        AlertOpen *items;
        size_t n;
} AlertSet;

void alert_set_done(AlertSet *s);
/* The open condition of key's scope, or NULL. */
const AlertOpen *alert_set_find_scope(const AlertSet *s, const char *key);

/*
 * One cycle of deduplication (see above): s holds the open conditions and is updated; the kinds
 * with a bit in evaluated (ALERT_KIND_BIT) were judged and conds[0, n) hold now. *ret_alerts
 * (free each with alert_free, then the array with free()) gets the alerts to send in order:
 * recoveries first, then new and superseding alerts, *ret_n how many (0 and NULL when none).
 * -EINVAL when a condition is malformed (see alert_new), of a kind not in evaluated, or shares
 * its scope with another of conds; -E2BIG when more than ALERT_OPEN_MAX would be open; s is
 * unchanged on failure. -ENOMEM. Pure.
 */
int alert_set_update(AlertSet *s, uint32_t evaluated, const AlertCondition *conds, size_t n,
                     int64_t now, Alert ***ret_alerts, size_t *ret_n);

/* The open conditions as JSON text (ends in a newline):
 * {"version": 1, "open": [{"key", "id", "message", "since": RFC 3339}, ...]}. -ENOMEM. Pure. */
int alert_set_to_json(const AlertSet *s, char **ret_text);
/*
 * Parses that strictly (another process wrote it): at most 4 MiB (-E2BIG), no unknown or
 * duplicate members, version 1 (-EPROTONOSUPPORT for a newer one), at most ALERT_OPEN_MAX
 * entries with well-formed keys of distinct scopes, 32-hex ids, messages as alert_new takes
 * them, times as "YYYY-MM-DDTHH:MM:SSZ". -EBADMSG with a Diag otherwise; *ret filled only on
 * success (alert_set_done). Pure.
 */
#define ALERT_SET_FILE_MAX (4u * 1024u * 1024u)
int alert_set_parse(const char *text, size_t size, AlertSet *ret, struct Diag *d);

/* ---- delivery ([io], agent/alert.c) ---- */

typedef struct AlertOptions {
        /* Where alerts.json (the open conditions) lives, and its lock; NULL: in memory only. */
        const char *state_dir;
        /* Write alerts to stderr only, never trying the journal. */
        bool stderr_only;
        /* The host name in the JSON; NULL: gethostname(). */
        const char *host;
        /* POST every alert here (http:// or https://), NULL for none; TLS peers verified against
         * ca_file (NULL: the system's CAs). Each POST has webhook_timeout_ms (0: 5000); a
         * connection error, a timeout, 408, 429 or 5xx is retried after retry_initial_ms (0:
         * 1000), doubling up to retry_max_ms (0: 60000; a Retry-After within that is honoured),
         * at most attempts_max times in all (0: 8); any other answer but 2xx is final. */
        const char *webhook;
        const char *ca_file;
        unsigned webhook_timeout_ms;
        unsigned retry_initial_ms;
        unsigned retry_max_ms;
        unsigned attempts_max;
        /* Alerts waiting per queue (0: 64); when full the oldest waiting one is dropped and
         * counted. */
        size_t queue_max;
        /*
         * Run this program (an absolute path) for every alert, never through a shell: argv is
         * the path alone, stdin the alert's JSON, stdout and stderr the agent's, the environment
         * only PATH=/usr/sbin:/usr/bin:/sbin:/bin and CVM_AGENT_ALERT_KIND, _RECOVERY (0|1),
         * _KEY, _ID, _MESSAGE_ID, _PRIORITY, _MESSAGE, _TIME, _SINCE, _HOST, [_SUPERSEDES] and
         * the alert's CVM_AGENT_* fields. It runs in its own process group, which is killed
         * (SIGKILL) after exec_timeout_ms (0: 10000). Exit status 0 is delivered; anything else
         * is counted as failed, and not run again.
         */
        const char *exec;
        unsigned exec_timeout_ms;
} AlertOptions;

typedef struct AlertDeliveryStats {
        uint64_t queued; /* alerts handed to the queue */
        uint64_t delivered;
        uint64_t failed;  /* given up on: a final answer, the attempts used up, or stopped */
        uint64_t dropped; /* pushed out of a full queue */
        uint64_t retries;
        size_t pending; /* waiting or being delivered */
        char last_error[256];
} AlertDeliveryStats;

typedef struct Alerter Alerter;

/*
 * [io] A new Alerter *ret (alerter_free): checks the options (-EINVAL with a Diag: a webhook that
 * is not http(s), an exec that is not an absolute path to an executable file), creates state_dir
 * if missing, and starts a thread per configured hook. Calls http_global_init() when there is a
 * webhook (so create Alerters before other threads start). -ENOMEM, -errno.
 */
int alerter_new(const AlertOptions *o, Alerter **ret, struct Diag *d);
/* [io] Stops the hooks' threads (an alert being delivered finishes, waiting ones are counted
 * as failed; call alerter_flush first to give them time) and frees. NULL is fine; returns NULL. */
Alerter *alerter_free(Alerter *a);
void alerter_freep(Alerter **a);

/*
 * [io] One cycle: under the state directory's lock, reads the open conditions (alerts.json; a
 * missing file is none), runs alert_set_update, sends what it returns (alerter_send), and writes
 * the open conditions back. *ret_sent (may be NULL) gets how many alerts went out. A malformed
 * alerts.json is replaced: the cycle goes on from nothing open (so its conditions alert again
 * rather than never), and the function then returns the parse error (with its Diag) although
 * the alerts were sent; so does a failure to send one alert or to write the file. Before
 * anything is sent: the errors of alert_set_update, -errno from the state directory (-EBUSY when
 * its lock is held over 5 s), -ENOMEM.
 */
int alerter_update(Alerter *a, uint32_t evaluated, const AlertCondition *conds, size_t n,
                   int64_t now, size_t *ret_sent, struct Diag *d);

/* [io] Sends one alert: the journal entry or stderr line now, the hooks queued. 0, or -errno
 * when neither the journal nor stderr took it. */
int alerter_send(Alerter *a, const Alert *alert);

/* [io] Waits until every queued alert was delivered or given up on, at most timeout_usec:
 * 0, or -ETIMEDOUT. */
int alerter_flush(Alerter *a, uint64_t timeout_usec);

/* [io] The hooks' counters (zero for a hook not configured); either may be NULL. */
void alerter_stats(Alerter *a, AlertDeliveryStats *ret_webhook, AlertDeliveryStats *ret_exec);

/* [io] The open conditions as the state directory holds them now (for `cvm-agent status`):
 * *ret filled (alert_set_done); a missing file is none. Errors of alert_set_parse. */
int alert_state_load(const char *state_dir, AlertSet *ret, struct Diag *d);
