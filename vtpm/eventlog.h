/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtpm/tpm-pcrs.h"

struct Diag;
struct json_object;

/*
 * The TCG firmware event log (binary_bios_measurements): the crypto-agile format ("Spec ID
 * Event03" header, TCG_PCR_EVENT2 events, every digest algorithm the header declares) and the old
 * SHA-1-only format (TCG_PCR_EVENT). All of it is untrusted: parsed through a ByteReader with
 * every size checked, and trusted only as far as replay reproduces quoted PCRs.
 */

#define EVENTLOG_MAX_SIZE (8u * 1024u * 1024u)
#define EVENTLOG_MAX_EVENTS 100000u

/* Event types (TCG PC Client Platform Firmware Profile 1.05, §10.4.1; PFP 1.06 for SPDM). */
#define EV_PREBOOT_CERT 0x00000000u
#define EV_POST_CODE 0x00000001u
#define EV_UNUSED 0x00000002u
#define EV_NO_ACTION 0x00000003u
#define EV_SEPARATOR 0x00000004u
#define EV_ACTION 0x00000005u
#define EV_EVENT_TAG 0x00000006u
#define EV_S_CRTM_CONTENTS 0x00000007u
#define EV_S_CRTM_VERSION 0x00000008u
#define EV_CPU_MICROCODE 0x00000009u
#define EV_PLATFORM_CONFIG_FLAGS 0x0000000Au
#define EV_TABLE_OF_DEVICES 0x0000000Bu
#define EV_COMPACT_HASH 0x0000000Cu
#define EV_IPL 0x0000000Du
#define EV_IPL_PARTITION_DATA 0x0000000Eu
#define EV_NONHOST_CODE 0x0000000Fu
#define EV_NONHOST_CONFIG 0x00000010u
#define EV_NONHOST_INFO 0x00000011u
#define EV_OMIT_BOOT_DEVICE_EVENTS 0x00000012u
#define EV_POST_CODE2 0x00000013u
#define EV_EFI_EVENT_BASE 0x80000000u
#define EV_EFI_VARIABLE_DRIVER_CONFIG 0x80000001u
#define EV_EFI_VARIABLE_BOOT 0x80000002u
#define EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define EV_EFI_BOOT_SERVICES_DRIVER 0x80000004u
#define EV_EFI_RUNTIME_SERVICES_DRIVER 0x80000005u
#define EV_EFI_GPT_EVENT 0x80000006u
#define EV_EFI_ACTION 0x80000007u
#define EV_EFI_PLATFORM_FIRMWARE_BLOB 0x80000008u
#define EV_EFI_HANDOFF_TABLES 0x80000009u
#define EV_EFI_PLATFORM_FIRMWARE_BLOB2 0x8000000Au
#define EV_EFI_HANDOFF_TABLES2 0x8000000Bu
#define EV_EFI_VARIABLE_BOOT2 0x8000000Cu
#define EV_EFI_GPT_EVENT2 0x8000000Du
#define EV_EFI_HCRTM_EVENT 0x80000010u
#define EV_EFI_VARIABLE_AUTHORITY 0x800000E0u
#define EV_EFI_SPDM_FIRMWARE_BLOB 0x800000E1u
#define EV_EFI_SPDM_FIRMWARE_CONFIG 0x800000E2u
#define EV_EFI_SPDM_DEVICE_POLICY 0x800000E3u
#define EV_EFI_SPDM_DEVICE_AUTHORITY 0x800000E4u

/* The verdict note for PCR 5 matched only after appending the two ExitBootServices events
 * (go-attestation's workaround for firmware that omits them). */
#define EVENTLOG_WORKAROUND_EBS "missing ExitBootServices events"

typedef struct TcgEventDigest {
        uint16_t alg;
        uint16_t size;
        const uint8_t *digest; /* points into the log buffer */
} TcgEventDigest;

typedef struct TcgEvent {
        size_t offset;   /* byte offset of the event in the log */
        uint32_t pcr;
        uint32_t type;
        size_t n_digests;
        TcgEventDigest digests[TPM_MAX_BANKS];
        const uint8_t *data; /* points into the log buffer */
        uint32_t data_size;
} TcgEvent;

typedef struct EventLog {
        bool crypto_agile;
        /* TCG_EfiSpecIdEvent fields (crypto-agile logs only). */
        uint32_t platform_class;
        uint8_t spec_version_minor;
        uint8_t spec_version_major;
        uint8_t spec_errata;
        uint8_t uintn_size;
        const uint8_t *vendor_info; /* points into the log buffer */
        uint8_t vendor_info_size;
        size_t n_algs;
        struct {
                uint16_t alg;
                uint16_t size;
        } algs[TPM_MAX_BANKS];    /* from the Spec ID event; SHA-1 only for the old format */
        bool has_startup_locality;
        uint8_t startup_locality;
        size_t n_events;
        TcgEvent *events;         /* events[0] is the header event */
        size_t size;              /* bytes parsed, excluding trailing zero padding */
        size_t padding;           /* trailing zero bytes after the last event */
} EventLog;

/*
 * Parses a log of size bytes (at most EVENTLOG_MAX_SIZE, -E2BIG otherwise). The EventLog points
 * into buf, which must outlive it; the events are one array (no allocation per event) and no
 * event data is hashed. The first event is a crypto-agile log's Spec ID header when it is an
 * EV_NO_ACTION on PCR 0 signed "Spec ID Event03" (1..TPM_MAX_BANKS algorithms, known ones with
 * their standard digest sizes, unknown ones up to TPM_DIGEST_MAX), else the first event of a
 * SHA-1 format log. A trailing run of zero bytes ends the log (as the kernel treats an event of
 * type 0 and size 0). -EBADMSG with a Diag naming the event number, its offset and the field on
 * anything malformed: truncation, digests.count 0 or above the declared algorithms, an
 * algorithm twice in one event, pcrIndex over 23 (allowed for EV_NO_ACTION only, as Windows
 * logs use ~0), more than EVENTLOG_MAX_EVENTS events, an all-zero or empty log.
 * -EPROTONOSUPPORT for a digest algorithm the header does not declare (or more algorithms than
 * TPM_MAX_BANKS). ret untouched on failure. Pure.
 */
int eventlog_parse(const uint8_t *buf, size_t size, EventLog **ret, struct Diag *d);
EventLog *eventlog_free(EventLog *log);
void eventlog_freep(EventLog **log);

/*
 * Replays the log into the bank for alg: PCRs start at zero (PCR 0's last byte = StartupLocality
 * when the log says so), EV_NO_ACTION is not extended, the header event is extended in the old
 * SHA-1 format only. ret->mask has a bit for every PCR the log extends (and PCR 0 when the log
 * gives a StartupLocality). -ENOENT if the log does not declare alg, -EOPNOTSUPP if we cannot
 * compute it (unknown algorithm, or SM3 without OpenSSL support), -ENODATA if an event that is
 * extended lacks a digest for alg (hand-cut logs declare banks their events do not carry).
 * Digest objects are fetched once per call. Pure.
 */
int eventlog_replay(const EventLog *log, uint16_t alg, TpmPcrBank *ret);

/*
 * Compares the replay of every bank of quoted that the log carries with quoted's values, for the
 * PCRs in quoted's mask (and only those). *ret_verdicts is JSON:
 * {"sha256": {"0": {"match": true, "replayed": hex, "quoted": hex}, "4": {"match": false, ...,
 *  "events": [event numbers that extended it]}}, ...}. Returns the number of mismatching PCRs
 * (0: every quoted PCR that the log covers matches), or -errno. Pure.
 */
int eventlog_compare(const EventLog *log, const TpmPcrSet *quoted,
                     struct json_object **ret_verdicts);
/*
 * The same, also counting in *ret_n_compared the quoted PCRs the log covers (so that a caller can
 * refuse a vacuous "no mismatch"). A PCR the log does not extend is listed as
 * {"in_log": false, "quoted": hex} and neither compared nor counted. When PCR 5 differs, the log
 * has no EV_EFI_ACTION "Exit Boot Services ..." event, and appending "Exit Boot Services
 * Invocation" and "Exit Boot Services Returned with Success" (as go-attestation does) gives the
 * quoted value, PCR 5 counts as matching and its verdict says
 * "workaround": EVENTLOG_WORKAROUND_EBS with "replayed_with_workaround". Banks the log declares
 * but we cannot replay (-EOPNOTSUPP or -ENODATA from eventlog_replay) are skipped. Pure.
 */
int eventlog_compare_full(const EventLog *log, const TpmPcrSet *quoted,
                          struct json_object **ret_verdicts, size_t *ret_n_compared);

/* The log as JSON: header (algorithms, locality) and every event, decoded where we know how
 * (EFI variables with GUID/name and Secure Boot meaning, device paths as text, separators,
 * EV_IPL text, EV_EFI_ACTION, systemd-stub/UKI events), raw hex otherwise. -ENOMEM only. Pure.
 *
 * {"format": "crypto-agile"|"sha1", "algorithms": ["sha1", "sha256", ...] (unknown ones as
 *  "0x0027"), "startup_locality": n|null, "size", "padding", "events": [{"num", "offset",
 *  "pcr", "type" (name or "0x%08x"), "type_id", "digests": {alg: hex}, "data_size", "data" (hex,
 *  never truncated), "summary" (one line for people), "decoded": {...} (when we know the
 *  structure), "decode_error" (when the data does not fit it), "digest_matches_data" (for event
 *  types whose digest is a hash of their data: EV_SEPARATOR, EV_ACTION, EV_EFI_ACTION,
 *  EV_S_CRTM_VERSION, EV_EFI_VARIABLE_DRIVER_CONFIG, EV_EFI_VARIABLE_BOOT/BOOT2 (whole
 *  structure or VariableData only), EV_EFI_GPT_EVENT, EV_IPL on PCR 8 (grub: text after the
 *  first space) and PCR 12; false if any digest we can compute differs)}]}. The Spec ID header
 * is events[0].decoded in crypto-agile logs. Decoding never fails on odd data: what does not
 * decode is shown raw. Hashes event data (with digest objects fetched once per call). */
int eventlog_to_json(const EventLog *log, struct json_object **ret);

/* One event of the log (events[idx], idx < n_events) as eventlog_to_json() writes it in
 * "events": num, pcr, type, digests, data, summary, decoded, ... -ENOMEM only (-EINVAL for an
 * idx out of range). Pure. */
int eventlog_event_to_json(const EventLog *log, size_t idx, struct json_object **ret);

/* "EV_SEPARATOR" ... or NULL for unknown types. */
const char *eventlog_type_to_string(uint32_t type);
