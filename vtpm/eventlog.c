/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "common/byte-reader.h"
#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/openssl-util.h"
#include "vtpm/efi-decode.h"
#include "vtpm/eventlog.h"

/* TCG_EfiSpecIdEvent.signature of a crypto-agile log (PFP 1.05 §10.4.5.1). */
static const uint8_t SPEC_ID_EVENT03[16] = "Spec ID Event03";
/* TCG_EfiStartupLocalityEvent.Signature (PFP 1.05 §10.4.5.3). */
static const uint8_t STARTUP_LOCALITY[16] = "StartupLocality";

#define SHA1_SIZE 20u
/* Raw bytes shown in a summary line; JSON always carries all of them. */
#define SUMMARY_HEX_MAX 32u

static const char EBS_INVOCATION[] = "Exit Boot Services Invocation";
static const char EBS_SUCCESS[] = "Exit Boot Services Returned with Success";

/* ---- parsing ---- */

typedef struct Parser {
        const uint8_t *buf;
        size_t size;
        size_t zero_tail; /* offset where the trailing run of zero bytes begins */
        EventLog *log;
        size_t cap;
        Diag *d;
} Parser;

static int event_fail(Parser *p, int error, size_t num, size_t offset, const char *fmt, ...)
        _printf_(5, 6);
static int event_fail(Parser *p, int error, size_t num, size_t offset, const char *fmt, ...) {
        char what[384];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return diag_set(p->d, error, "event %zu at offset %zu (0x%zx): %s", num, offset, offset,
                        what);
}

static TcgEvent *event_append(Parser *p) {
        EventLog *log = p->log;

        if (log->n_events >= p->cap) {
                size_t cap = MIN(p->cap * 2, (size_t) EVENTLOG_MAX_EVENTS);
                TcgEvent *e;

                if (cap <= p->cap)
                        return NULL;
                e = reallocarray(log->events, cap, sizeof(TcgEvent));
                if (!e)
                        return NULL;
                log->events = e;
                p->cap = cap;
        }
        log->events[log->n_events] = (TcgEvent) {};
        return &log->events[log->n_events++];
}

static int find_alg(const EventLog *log, uint16_t alg) {
        for (size_t i = 0; i < log->n_algs; i++)
                if (log->algs[i].alg == alg)
                        return (int) i;
        return -1;
}

/* TCG_EfiSpecIdEvent, the data of the first event of a crypto-agile log. */
static int parse_spec_id(Parser *p, const uint8_t *data, size_t size) {
        EventLog *log = p->log;
        ByteReader r = br_init(data, size);
        uint32_t n_algs;

        if (!br_skip(&r, 16) || !br_u32le(&r, &log->platform_class) ||
            !br_u8(&r, &log->spec_version_minor) || !br_u8(&r, &log->spec_version_major) ||
            !br_u8(&r, &log->spec_errata) || !br_u8(&r, &log->uintn_size) ||
            !br_u32le(&r, &n_algs))
                return event_fail(p, -EBADMSG, 0, 0, "Spec ID event: truncated (%zu bytes)", size);
        if (n_algs == 0)
                return event_fail(p, -EBADMSG, 0, 0,
                                  "Spec ID event: numberOfAlgorithms is 0");
        if (n_algs > TPM_MAX_BANKS)
                return event_fail(p, -EPROTONOSUPPORT, 0, 0,
                                  "Spec ID event: numberOfAlgorithms %" PRIu32
                                  " exceeds the %u we support",
                                  n_algs, TPM_MAX_BANKS);
        for (uint32_t i = 0; i < n_algs; i++) {
                uint16_t alg, dsize, known;

                if (!br_u16le(&r, &alg) || !br_u16le(&r, &dsize))
                        return event_fail(p, -EBADMSG, 0, 0,
                                          "Spec ID event: digestSizes[%" PRIu32 "] truncated", i);
                known = tpm_alg_digest_size(alg);
                if (dsize == 0 || dsize > TPM_DIGEST_MAX || (known != 0 && dsize != known))
                        return event_fail(p, -EBADMSG, 0, 0,
                                          "Spec ID event: digestSizes[%" PRIu32
                                          "]: algorithm 0x%04x with digestSize %u",
                                          i, alg, dsize);
                if (find_alg(log, alg) >= 0)
                        return event_fail(p, -EBADMSG, 0, 0,
                                          "Spec ID event: algorithm 0x%04x declared twice", alg);
                log->algs[log->n_algs].alg = alg;
                log->algs[log->n_algs].size = dsize;
                log->n_algs++;
        }
        if (!br_u8(&r, &log->vendor_info_size) ||
            !br_bytes(&r, &log->vendor_info, log->vendor_info_size))
                return event_fail(p, -EBADMSG, 0, 0, "Spec ID event: vendorInfo truncated");
        return 0;
}

/* The first event: TCG_PCR_EVENT in both formats. */
static int parse_first(Parser *p, ByteReader *r) {
        EventLog *log = p->log;
        uint32_t pcr, type, data_size;
        const uint8_t *digest, *data;
        TcgEvent *e;
        int k;

        if (!br_u32le(r, &pcr) || !br_u32le(r, &type) || !br_bytes(r, &digest, SHA1_SIZE) ||
            !br_u32le(r, &data_size))
                return event_fail(p, -EBADMSG, 0, 0,
                                  "truncated TCG_PCR_EVENT header (%zu bytes in the log)",
                                  p->size);
        if (!br_bytes(r, &data, data_size))
                return event_fail(p, -EBADMSG, 0, 0,
                                  "eventSize %" PRIu32 " exceeds the %zu bytes left", data_size,
                                  br_left(r));
        if (type == EV_NO_ACTION && pcr == 0 && data_size >= sizeof(SPEC_ID_EVENT03) &&
            memcmp(data, SPEC_ID_EVENT03, sizeof(SPEC_ID_EVENT03)) == 0) {
                log->crypto_agile = true;
                k = parse_spec_id(p, data, data_size);
                if (k < 0)
                        return k;
        } else {
                log->crypto_agile = false;
                log->n_algs = 1;
                log->algs[0].alg = TPM_ALG_SHA1;
                log->algs[0].size = SHA1_SIZE;
                if (type != EV_NO_ACTION && pcr >= TPM_PCR_COUNT)
                        return event_fail(p, -EBADMSG, 0, 0, "pcrIndex %" PRIu32
                                          " is out of range 0..23", pcr);
        }
        e = event_append(p);
        if (!e)
                return -ENOMEM;
        *e = (TcgEvent) {
                .offset = 0,
                .pcr = pcr,
                .type = type,
                .n_digests = 1,
                .digests[0] = { .alg = TPM_ALG_SHA1, .size = SHA1_SIZE, .digest = digest },
                .data = data,
                .data_size = data_size,
        };
        return 0;
}

/* TCG_PCR_EVENT2 (crypto-agile) or TCG_PCR_EVENT (SHA-1 format) after the first event. */
static int parse_event(Parser *p, ByteReader *r, size_t offset) {
        EventLog *log = p->log;
        size_t num = log->n_events;
        uint32_t pcr, type, count, data_size;
        TcgEvent ev = { .offset = offset };
        TcgEvent *e;

        if (!br_u32le(r, &pcr) || !br_u32le(r, &type))
                return event_fail(p, -EBADMSG, num, offset, "truncated event header");
        ev.pcr = pcr;
        ev.type = type;
        if (log->crypto_agile) {
                if (!br_u32le(r, &count))
                        return event_fail(p, -EBADMSG, num, offset,
                                          "truncated event header (digests.count)");
                /* Zero digests would leave every bank unreplayable; firmware logs them all. */
                if (count == 0)
                        return event_fail(p, -EBADMSG, num, offset, "digests.count is 0");
                if (count > log->n_algs)
                        return event_fail(p, -EBADMSG, num, offset,
                                          "digests.count %" PRIu32
                                          " exceeds the %zu algorithms the Spec ID event declares",
                                          count, log->n_algs);
                for (uint32_t i = 0; i < count; i++) {
                        uint16_t alg;
                        int a;

                        if (!br_u16le(r, &alg))
                                return event_fail(p, -EBADMSG, num, offset,
                                                  "digests[%" PRIu32 "].hashAlg truncated", i);
                        a = find_alg(log, alg);
                        if (a < 0)
                                return event_fail(p, -EPROTONOSUPPORT, num, offset,
                                                  "digests[%" PRIu32
                                                  "].hashAlg 0x%04x is not declared in the Spec "
                                                  "ID event",
                                                  i, alg);
                        for (size_t j = 0; j < ev.n_digests; j++)
                                if (ev.digests[j].alg == alg)
                                        return event_fail(p, -EBADMSG, num, offset,
                                                          "digests[%" PRIu32
                                                          "]: algorithm 0x%04x given twice",
                                                          i, alg);
                        ev.digests[ev.n_digests].alg = alg;
                        ev.digests[ev.n_digests].size = log->algs[a].size;
                        if (!br_bytes(r, &ev.digests[ev.n_digests].digest, log->algs[a].size))
                                return event_fail(p, -EBADMSG, num, offset,
                                                  "digests[%" PRIu32 "].digest truncated", i);
                        ev.n_digests++;
                }
        } else {
                ev.n_digests = 1;
                ev.digests[0].alg = TPM_ALG_SHA1;
                ev.digests[0].size = SHA1_SIZE;
                if (!br_bytes(r, &ev.digests[0].digest, SHA1_SIZE))
                        return event_fail(p, -EBADMSG, num, offset, "digest truncated");
        }
        if (!br_u32le(r, &data_size))
                return event_fail(p, -EBADMSG, num, offset, "eventSize truncated");
        if (!br_bytes(r, &ev.data, data_size))
                return event_fail(p, -EBADMSG, num, offset,
                                  "eventSize %" PRIu32 " exceeds the %zu bytes left", data_size,
                                  br_left(r));
        ev.data_size = data_size;
        /* EV_NO_ACTION events are never extended, and Windows logs some with pcrIndex ~0. */
        if (type != EV_NO_ACTION && pcr >= TPM_PCR_COUNT)
                return event_fail(p, -EBADMSG, num, offset,
                                  "pcrIndex %" PRIu32 " is out of range 0..23", pcr);
        if (num >= EVENTLOG_MAX_EVENTS)
                return event_fail(p, -EBADMSG, num, offset, "more than %u events",
                                  EVENTLOG_MAX_EVENTS);
        e = event_append(p);
        if (!e)
                return -ENOMEM;
        *e = ev;
        return 0;
}

static bool is_startup_locality(const TcgEvent *e) {
        return e->type == EV_NO_ACTION && e->pcr == 0 &&
               e->data_size >= sizeof(STARTUP_LOCALITY) + 1 &&
               memcmp(e->data, STARTUP_LOCALITY, sizeof(STARTUP_LOCALITY)) == 0;
}

int eventlog_parse(const uint8_t *buf, size_t size, EventLog **ret, Diag *d) {
        _cleanup_(eventlog_freep) EventLog *log = NULL;
        Parser p = { .buf = buf, .size = size, .d = d };
        ByteReader r;
        int k;

        if (size > EVENTLOG_MAX_SIZE)
                return diag_set(d, -E2BIG, "event log: %zu bytes, more than the %u we accept",
                                size, EVENTLOG_MAX_SIZE);
        /* Where the trailing zero padding starts, found once: checking "is the rest zero?" at
         * every event would be quadratic on a hostile log. */
        p.zero_tail = size;
        while (p.zero_tail > 0 && buf[p.zero_tail - 1] == 0)
                p.zero_tail--;
        if (p.zero_tail == 0)
                return diag_set(d, -EBADMSG, "event log: empty (%zu bytes, all zero)", size);

        log = calloc(1, sizeof(EventLog));
        if (!log)
                return -ENOMEM;
        p.log = log;
        p.cap = MIN(size / 256u + 16u, (size_t) EVENTLOG_MAX_EVENTS);
        log->events = calloc(p.cap, sizeof(TcgEvent));
        if (!log->events)
                return -ENOMEM;

        r = br_init(buf, size);
        k = parse_first(&p, &r);
        if (k < 0)
                return k;
        while (br_left(&r) > 0) {
                size_t offset = size - br_left(&r);

                if (offset >= p.zero_tail)
                        break;
                k = parse_event(&p, &r, offset);
                if (k < 0)
                        return k;
        }
        log->size = size - br_left(&r);
        log->padding = br_left(&r);

        for (size_t i = log->crypto_agile ? 1 : 0; i < log->n_events; i++)
                if (is_startup_locality(&log->events[i])) {
                        log->has_startup_locality = true;
                        log->startup_locality = log->events[i].data[sizeof(STARTUP_LOCALITY)];
                        break;
                }
        *ret = TAKE_PTR(log);
        return 0;
}

EventLog *eventlog_free(EventLog *log) {
        if (log) {
                free(log->events);
                free(log);
        }
        return NULL;
}

void eventlog_freep(EventLog **log) {
        eventlog_free(*log);
}

/* ---- hashing ---- */

/* One fetched digest and a reusable context: no allocation per extend. */
typedef struct Hasher {
        uint16_t alg;
        uint16_t size;
        EVP_MD *md;
        EVP_MD_CTX *ctx;
} Hasher;

static const char *openssl_md_name(uint16_t alg) {
        switch (alg) {
        case TPM_ALG_SHA1:
                return "SHA1";
        case TPM_ALG_SHA256:
                return "SHA256";
        case TPM_ALG_SHA384:
                return "SHA384";
        case TPM_ALG_SHA512:
                return "SHA512";
        case TPM_ALG_SM3_256:
                return "SM3";
        default:
                return NULL;
        }
}

static void hasher_done(Hasher *h) {
        EVP_MD_CTX_free(h->ctx);
        EVP_MD_free(h->md);
        *h = (Hasher) {};
}

/* -EOPNOTSUPP for an algorithm we (or this OpenSSL) cannot compute. */
static int hasher_init(Hasher *h, uint16_t alg) {
        const char *name = openssl_md_name(alg);

        *h = (Hasher) { .alg = alg, .size = tpm_alg_digest_size(alg) };
        if (!name || h->size == 0)
                return -EOPNOTSUPP;
        h->md = EVP_MD_fetch(NULL, name, NULL);
        if (!h->md || (size_t) EVP_MD_get_size(h->md) != h->size) {
                hasher_done(h);
                return -EOPNOTSUPP;
        }
        h->ctx = EVP_MD_CTX_new();
        if (!h->ctx) {
                hasher_done(h);
                return -ENOMEM;
        }
        return 0;
}

/* out = H(a || b); out may alias a. */
static int hasher_digest2(Hasher *h, const void *a, size_t an, const void *b, size_t bn,
                          uint8_t *out) {
        if (EVP_DigestInit_ex2(h->ctx, h->md, NULL) != 1 ||
            EVP_DigestUpdate(h->ctx, a, an) != 1 ||
            (bn > 0 && EVP_DigestUpdate(h->ctx, b, bn) != 1) ||
            EVP_DigestFinal_ex(h->ctx, out, NULL) != 1)
                return -EIO;
        return 0;
}

static int hasher_extend(Hasher *h, uint8_t *pcr, const uint8_t *digest) {
        return hasher_digest2(h, pcr, h->size, digest, h->size, pcr);
}

static const TcgEventDigest *event_digest(const TcgEvent *e, uint16_t alg) {
        for (size_t i = 0; i < e->n_digests; i++)
                if (e->digests[i].alg == alg)
                        return &e->digests[i];
        return NULL;
}

/* Whether replay extends events[i]: not EV_NO_ACTION, not the agile header. */
static bool event_extends(const EventLog *log, size_t i) {
        return !(log->crypto_agile && i == 0) && log->events[i].type != EV_NO_ACTION;
}

static int replay_with(const EventLog *log, Hasher *h, TpmPcrBank *ret) {
        TpmPcrBank bank = { .alg = h->alg, .size = h->size };
        int k;

        if (log->has_startup_locality) {
                bank.value[0][h->size - 1] = log->startup_locality;
                bank.mask |= UINT32_C(1);
        }
        for (size_t i = 0; i < log->n_events; i++) {
                const TcgEvent *e = &log->events[i];
                const TcgEventDigest *dg;

                if (!event_extends(log, i))
                        continue;
                dg = event_digest(e, h->alg);
                if (!dg)
                        return -ENODATA; /* an extending event without a digest for this bank */
                k = hasher_extend(h, bank.value[e->pcr], dg->digest);
                if (k < 0)
                        return k;
                bank.mask |= UINT32_C(1) << e->pcr;
        }
        *ret = bank;
        return 0;
}

int eventlog_replay(const EventLog *log, uint16_t alg, TpmPcrBank *ret) {
        Hasher h;
        int k;

        if (find_alg(log, alg) < 0)
                return -ENOENT;
        k = hasher_init(&h, alg);
        if (k < 0)
                return k;
        k = replay_with(log, &h, ret);
        hasher_done(&h);
        return k;
}

/* ---- comparing with quoted PCRs ---- */

static bool log_has_ebs_events(const EventLog *log) {
        static const char prefix[] = "Exit Boot Services";

        for (size_t i = 0; i < log->n_events; i++) {
                const TcgEvent *e = &log->events[i];
                if (e->type == EV_EFI_ACTION && e->data_size >= sizeof(prefix) - 1 &&
                    memcmp(e->data, prefix, sizeof(prefix) - 1) == 0)
                        return true;
        }
        return false;
}

/* The verdict for one covered PCR; *ret_mismatch set when it does not match. */
static int pcr_verdict(const EventLog *log, Hasher *h, const TpmPcrBank *replayed,
                       const TpmPcrBank *quoted, uint32_t i, bool ebs_allowed, json_object *v,
                       bool *ret_mismatch) {
        bool match = memcmp(replayed->value[i], quoted->value[i], h->size) == 0;
        int k;

        if (json_add_bool(v, "match", match) < 0 ||
            json_add_hex(v, "replayed", replayed->value[i], h->size) < 0 ||
            json_add_hex(v, "quoted", quoted->value[i], h->size) < 0)
                return -ENOMEM;
        if (!match && i == 5 && ebs_allowed) {
                uint8_t pcr[TPM_DIGEST_MAX], dg[TPM_DIGEST_MAX];

                memcpy(pcr, replayed->value[i], h->size);
                if ((k = hasher_digest2(h, EBS_INVOCATION, strlen(EBS_INVOCATION), NULL, 0, dg)) <
                            0 ||
                    (k = hasher_extend(h, pcr, dg)) < 0 ||
                    (k = hasher_digest2(h, EBS_SUCCESS, strlen(EBS_SUCCESS), NULL, 0, dg)) < 0 ||
                    (k = hasher_extend(h, pcr, dg)) < 0)
                        return k;
                if (memcmp(pcr, quoted->value[i], h->size) == 0) {
                        match = true;
                        if (json_add_bool(v, "match", true) < 0 ||
                            json_add_string(v, "workaround", EVENTLOG_WORKAROUND_EBS) < 0 ||
                            json_add_hex(v, "replayed_with_workaround", pcr, h->size) < 0)
                                return -ENOMEM;
                }
        }
        if (!match) {
                json_object *evs = json_object_new_array();

                if (json_add(v, "events", evs) < 0)
                        return -ENOMEM;
                for (size_t j = 0; j < log->n_events; j++)
                        if (event_extends(log, j) && log->events[j].pcr == i &&
                            json_array_append(evs, json_object_new_int64((int64_t) j)) < 0)
                                return -ENOMEM;
        }
        *ret_mismatch = !match;
        return 0;
}

int eventlog_compare_full(const EventLog *log, const TpmPcrSet *quoted, json_object **ret_verdicts,
                          size_t *ret_n_compared) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        bool ebs_allowed = !log_has_ebs_events(log);
        size_t mismatches = 0, compared = 0;
        int k = 0;

        if (!o)
                return -ENOMEM;
        for (size_t b = 0; b < quoted->n_banks; b++) {
                const TpmPcrBank *q = &quoted->banks[b];
                TpmPcrBank replayed;
                json_object *bo;
                Hasher h;

                if (find_alg(log, q->alg) < 0)
                        continue;
                k = hasher_init(&h, q->alg);
                if (k == -EOPNOTSUPP)
                        continue;
                if (k < 0)
                        return k;
                k = replay_with(log, &h, &replayed);
                if (k == -ENODATA) {
                        /* Events lack this bank's digests: nothing to compare it with. */
                        hasher_done(&h);
                        k = 0;
                        continue;
                }
                if (k < 0)
                        goto bank_done;
                bo = json_object_new_object();
                if (json_add(o, tpm_alg_hash_name(q->alg), bo) < 0) {
                        k = -ENOMEM;
                        goto bank_done;
                }
                for (uint32_t i = 0; i < TPM_PCR_COUNT; i++) {
                        json_object *v;
                        char key[4];
                        bool mismatch = false;

                        if (!(q->mask & (UINT32_C(1) << i)))
                                continue;
                        (void) snprintf(key, sizeof(key), "%" PRIu32, i);
                        v = json_object_new_object();
                        if (json_add(bo, key, v) < 0) {
                                k = -ENOMEM;
                                goto bank_done;
                        }
                        if (!(replayed.mask & (UINT32_C(1) << i))) {
                                if (json_add_bool(v, "in_log", false) < 0 ||
                                    json_add_hex(v, "quoted", q->value[i], q->size) < 0) {
                                        k = -ENOMEM;
                                        goto bank_done;
                                }
                                continue;
                        }
                        k = pcr_verdict(log, &h, &replayed, q, i, ebs_allowed, v, &mismatch);
                        if (k < 0)
                                goto bank_done;
                        compared++;
                        mismatches += mismatch;
                }
        bank_done:
                hasher_done(&h);
                if (k < 0)
                        return k;
        }
        if (ret_verdicts)
                *ret_verdicts = TAKE_PTR(o);
        if (ret_n_compared)
                *ret_n_compared = compared;
        return (int) MIN(mismatches, (size_t) INT32_MAX);
}

int eventlog_compare(const EventLog *log, const TpmPcrSet *quoted, json_object **ret_verdicts) {
        return eventlog_compare_full(log, quoted, ret_verdicts, NULL);
}

/* ---- names ---- */

static const struct {
        uint32_t type;
        const char *name;
} event_types[] = {
        { EV_PREBOOT_CERT, "EV_PREBOOT_CERT" },
        { EV_POST_CODE, "EV_POST_CODE" },
        { EV_UNUSED, "EV_UNUSED" },
        { EV_NO_ACTION, "EV_NO_ACTION" },
        { EV_SEPARATOR, "EV_SEPARATOR" },
        { EV_ACTION, "EV_ACTION" },
        { EV_EVENT_TAG, "EV_EVENT_TAG" },
        { EV_S_CRTM_CONTENTS, "EV_S_CRTM_CONTENTS" },
        { EV_S_CRTM_VERSION, "EV_S_CRTM_VERSION" },
        { EV_CPU_MICROCODE, "EV_CPU_MICROCODE" },
        { EV_PLATFORM_CONFIG_FLAGS, "EV_PLATFORM_CONFIG_FLAGS" },
        { EV_TABLE_OF_DEVICES, "EV_TABLE_OF_DEVICES" },
        { EV_COMPACT_HASH, "EV_COMPACT_HASH" },
        { EV_IPL, "EV_IPL" },
        { EV_IPL_PARTITION_DATA, "EV_IPL_PARTITION_DATA" },
        { EV_NONHOST_CODE, "EV_NONHOST_CODE" },
        { EV_NONHOST_CONFIG, "EV_NONHOST_CONFIG" },
        { EV_NONHOST_INFO, "EV_NONHOST_INFO" },
        { EV_OMIT_BOOT_DEVICE_EVENTS, "EV_OMIT_BOOT_DEVICE_EVENTS" },
        { EV_POST_CODE2, "EV_POST_CODE2" },
        { EV_EFI_EVENT_BASE, "EV_EFI_EVENT_BASE" },
        { EV_EFI_VARIABLE_DRIVER_CONFIG, "EV_EFI_VARIABLE_DRIVER_CONFIG" },
        { EV_EFI_VARIABLE_BOOT, "EV_EFI_VARIABLE_BOOT" },
        { EV_EFI_BOOT_SERVICES_APPLICATION, "EV_EFI_BOOT_SERVICES_APPLICATION" },
        { EV_EFI_BOOT_SERVICES_DRIVER, "EV_EFI_BOOT_SERVICES_DRIVER" },
        { EV_EFI_RUNTIME_SERVICES_DRIVER, "EV_EFI_RUNTIME_SERVICES_DRIVER" },
        { EV_EFI_GPT_EVENT, "EV_EFI_GPT_EVENT" },
        { EV_EFI_ACTION, "EV_EFI_ACTION" },
        { EV_EFI_PLATFORM_FIRMWARE_BLOB, "EV_EFI_PLATFORM_FIRMWARE_BLOB" },
        { EV_EFI_HANDOFF_TABLES, "EV_EFI_HANDOFF_TABLES" },
        { EV_EFI_PLATFORM_FIRMWARE_BLOB2, "EV_EFI_PLATFORM_FIRMWARE_BLOB2" },
        { EV_EFI_HANDOFF_TABLES2, "EV_EFI_HANDOFF_TABLES2" },
        { EV_EFI_VARIABLE_BOOT2, "EV_EFI_VARIABLE_BOOT2" },
        { EV_EFI_GPT_EVENT2, "EV_EFI_GPT_EVENT2" },
        { EV_EFI_HCRTM_EVENT, "EV_EFI_HCRTM_EVENT" },
        { EV_EFI_VARIABLE_AUTHORITY, "EV_EFI_VARIABLE_AUTHORITY" },
        { EV_EFI_SPDM_FIRMWARE_BLOB, "EV_EFI_SPDM_FIRMWARE_BLOB" },
        { EV_EFI_SPDM_FIRMWARE_CONFIG, "EV_EFI_SPDM_FIRMWARE_CONFIG" },
        { EV_EFI_SPDM_DEVICE_POLICY, "EV_EFI_SPDM_DEVICE_POLICY" },
        { EV_EFI_SPDM_DEVICE_AUTHORITY, "EV_EFI_SPDM_DEVICE_AUTHORITY" },
};

const char *eventlog_type_to_string(uint32_t type) {
        for (size_t i = 0; i < ELEMENTSOF(event_types); i++)
                if (event_types[i].type == type)
                        return event_types[i].name;
        return NULL;
}

/* EV_EVENT_TAG taggedEventIDs: the Linux EFI stub's and systemd's (src/fundamental/tpm2-pcr.h). */
static const char *tag_name(uint32_t id) {
        switch (id) {
        case 0x8F3B22ECu:
                return "Linux: initrd";
        case 0x8F3B22EDu:
                return "Linux: kernel command line";
        case 0xF5BC582Au:
                return "systemd-boot: loader.conf";
        case 0x6C46F751u:
                return "systemd-stub: devicetree addon";
        case 0x49DFFE0Fu:
                return "systemd-stub: initrd addon";
        case 0xDAC08E1Au:
                return "systemd-stub: ucode addon";
        case 0x13AED6DBu:
                return "systemd-stub: UKI profile";
        case 0xD5CB7CBCu:
                return "systemd-stub: SMBIOS type 1";
        case 0xE0D47BC8u:
                return "systemd-stub: SMBIOS type 2";
        case 0xC0B3BD23u:
                return "systemd-stub: SMBIOS type 11";
        default:
                return NULL;
        }
}

static void alg_label(uint16_t alg, char buf[static 16]) {
        const char *n = tpm_alg_hash_name(alg);

        if (n)
                (void) snprintf(buf, 16, "%s", n);
        else
                (void) snprintf(buf, 16, "0x%04x", alg);
}

/* ---- decoding ---- */

/* What a digest of an event may be the hash of: the decoder names candidate preimages, and the
 * digest matches when one of them hashes to it. */
typedef struct Preimages {
        size_t n;
        struct {
                const uint8_t *p;
                size_t n;
        } c[4];
} Preimages;

static void preimage_add(Preimages *pi, const uint8_t *p, size_t n) {
        if (pi->n < ELEMENTSOF(pi->c)) {
                pi->c[pi->n].p = p;
                pi->c[pi->n].n = n;
                pi->n++;
        }
}

static size_t strip_nul(const uint8_t *p, size_t n) {
        while (n > 0 && p[n - 1] == 0)
                n--;
        return n;
}

/* Text (UTF-8 or UTF-16LE) into decoded["text"] and the summary; false if it is neither. */
static int decode_text(const uint8_t *p, size_t n, json_object *o, TextBuf *summary,
                       const char *key, bool *ret_found) {
        TextBuf t = {};
        const char *enc;
        int k;

        *ret_found = false;
        if (efi_text_ascii(p, n)) {
                text_buf_utf8(&t, p, strip_nul(p, n));
                enc = "utf-8";
        } else if (efi_text_utf16le(p, n)) {
                text_buf_utf16le(&t, p, n, true);
                enc = "utf-16le";
        } else
                return 0;
        k = t.error;
        if (k >= 0 && (json_add_string(o, key, text_buf_str(&t)) < 0 ||
                       (streq(enc, "utf-16le") && json_add_string(o, "encoding", enc) < 0)))
                k = -ENOMEM;
        if (k >= 0)
                text_buf_puts(summary, text_buf_str(&t));
        text_buf_done(&t);
        if (k < 0)
                return k;
        *ret_found = true;
        return 0;
}

static int json_add_bytes_text(json_object *o, const char *key, const uint8_t *p, size_t n) {
        TextBuf t = {};
        int k;

        text_buf_utf8(&t, p, strip_nul(p, n));
        k = t.error < 0 ? t.error : json_add_string(o, key, text_buf_str(&t));
        text_buf_done(&t);
        return k;
}

static int decode_spec_id(const EventLog *log, json_object *o, TextBuf *summary) {
        char v[16], label[16];
        json_object *algs = json_object_new_array();

        (void) snprintf(v, sizeof(v), "%u.%u", log->spec_version_major, log->spec_version_minor);
        if (json_add_string(o, "signature", "Spec ID Event03") < 0 ||
            json_add_int(o, "platform_class", log->platform_class) < 0 ||
            json_add_string(o, "spec_version", v) < 0 ||
            json_add_int(o, "spec_errata", log->spec_errata) < 0 ||
            json_add_int(o, "uintn_size", log->uintn_size) < 0 ||
            json_add(o, "algorithms", algs) < 0)
                return -ENOMEM;
        text_buf_puts(summary, "Spec ID Event03:");
        for (size_t i = 0; i < log->n_algs; i++) {
                json_object *a = json_object_new_object();

                alg_label(log->algs[i].alg, label);
                if (json_array_append(algs, a) < 0 || json_add_int(a, "id", log->algs[i].alg) < 0 ||
                    json_add_string(a, "name", label) < 0 ||
                    json_add_int(a, "digest_size", log->algs[i].size) < 0)
                        return -ENOMEM;
                text_buf_printf(summary, " %s", label);
        }
        if (json_add_hex(o, "vendor_info", log->vendor_info, log->vendor_info_size) < 0)
                return -ENOMEM;
        return 0;
}

/* An SP800-155 locator: by type, 0 raw, 1 URI, 2 device path, 3 UEFI variable (PFP 1.06). */
static int sp800_155_locator(json_object *o, const char *key, uint32_t type, const uint8_t *p,
                             size_t n) {
        json_object *l = json_object_new_object();
        int k;

        if (json_add(o, key, l) < 0 || json_add_int(l, "type", type) < 0)
                return -ENOMEM;
        if (n == 0)
                return 0;
        if (type == 1 && efi_text_ascii(p, n))
                return json_add_bytes_text(l, "uri", p, n);
        if (type == 3 && n >= 18) {
                char g[EFI_GUID_STRING_SIZE];
                TextBuf t = {};

                efi_guid_to_string(p, g);
                text_buf_utf16le(&t, p + 16, n - 16, true);
                k = t.error < 0 ? t.error : 0;
                if (k >= 0 && (json_add_string(l, "variable_guid", g) < 0 ||
                               json_add_string(l, "variable_name", text_buf_str(&t)) < 0))
                        k = -ENOMEM;
                text_buf_done(&t);
                return k;
        }
        if (type == 2) {
                TextBuf t = {};

                if (efi_device_path_to_text(p, n, &t) >= 0 && t.error >= 0) {
                        k = json_add_string(l, "device_path", text_buf_str(&t));
                        text_buf_done(&t);
                        return k;
                }
                text_buf_done(&t);
        }
        return json_add_hex(l, "data", p, n);
}

/* TCG_Sp800_155_PlatformId_Event2/3 (PFP 1.06 §10.4.5.2, .5.5). */
static int decode_sp800_155(const uint8_t *p, size_t n, json_object *o, TextBuf *summary) {
        static const char *const strs[] = { "platform_manufacturer", "platform_model",
                                            "platform_version", "firmware_manufacturer" };
        ByteReader r = br_init(p, n);
        const uint8_t *sig, *guid, *s[ELEMENTSOF(strs)], *fwv;
        uint8_t sn[ELEMENTSOF(strs)], fwvn;
        uint32_t pm_id, fm_id;
        char g[EFI_GUID_STRING_SIZE], sigs[17];
        bool event3;

        if (!br_bytes(&r, &sig, 16) || !br_u32le(&r, &pm_id) || !br_bytes(&r, &guid, 16))
                return -EBADMSG;
        for (size_t i = 0; i < ELEMENTSOF(strs); i++)
                if (!br_u8(&r, &sn[i]) || !br_bytes(&r, &s[i], sn[i]))
                        return -EBADMSG;
        if (!br_u32le(&r, &fm_id) || !br_u8(&r, &fwvn) || !br_bytes(&r, &fwv, fwvn))
                return -EBADMSG;
        memcpy(sigs, sig, 16);
        sigs[16] = '\0';
        efi_guid_to_string(guid, g);
        if (json_add_string(o, "signature", sigs) < 0 ||
            json_add_int(o, "platform_manufacturer_id", pm_id) < 0 ||
            json_add_string(o, "reference_manifest_guid", g) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(strs); i++)
                if (json_add_bytes_text(o, strs[i], s[i], sn[i]) < 0)
                        return -ENOMEM;
        if (json_add_int(o, "firmware_manufacturer_id", fm_id) < 0 ||
            json_add_bytes_text(o, "firmware_version", fwv, fwvn) < 0)
                return -ENOMEM;
        text_buf_printf(summary, "%s:", sigs);
        for (size_t i = 0; i < 2; i++) {
                text_buf_puts(summary, " ");
                text_buf_utf8(summary, s[i], strip_nul(s[i], sn[i]));
        }
        text_buf_puts(summary, ", firmware ");
        text_buf_utf8(summary, fwv, strip_nul(fwv, fwvn));
        event3 = sig[15] == '3';
        if (event3) {
                const char *keys[] = { "rim_locator", "platform_cert_locator" };

                for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                        uint32_t type, len;
                        const uint8_t *loc;
                        int k;

                        if (!br_u32le(&r, &type) || !br_u32le(&r, &len) ||
                            !br_bytes(&r, &loc, len))
                                return -EBADMSG;
                        k = sp800_155_locator(o, keys[i], type, loc, len);
                        if (k < 0)
                                return k;
                }
        }
        return 0;
}

static int decode_no_action(const EventLog *log, size_t idx, const uint8_t *p, size_t n,
                            json_object *o, TextBuf *summary) {
        if (log->crypto_agile && idx == 0)
                return decode_spec_id(log, o, summary);
        if (n >= sizeof(STARTUP_LOCALITY) + 1 &&
            memcmp(p, STARTUP_LOCALITY, sizeof(STARTUP_LOCALITY)) == 0) {
                uint8_t loc = p[sizeof(STARTUP_LOCALITY)];

                if (json_add_string(o, "signature", "StartupLocality") < 0 ||
                    json_add_int(o, "startup_locality", loc) < 0)
                        return -ENOMEM;
                text_buf_printf(summary, "StartupLocality: %u", loc);
                return 0;
        }
        if (n >= 16 && memcmp(p, "SP800-155 Event", 15) == 0 && (p[15] == '2' || p[15] == '3'))
                return decode_sp800_155(p, n, o, summary);
        /* Other NO_ACTION events start with a NUL-terminated signature ("NvIndexInstance",
         * "Spec ID Event00" in TPM 1.2 logs, ...). */
        if (n >= 16 && memchr(p, 0, 16) && efi_text_ascii(p, strlen((const char *) p) + 1) &&
            strlen((const char *) p) >= 4) {
                size_t sl = strlen((const char *) p);

                if (json_add_bytes_text(o, "signature", p, sl) < 0)
                        return -ENOMEM;
                text_buf_utf8(summary, p, sl);
                return 0;
        }
        return -EBADMSG;
}

static int decode_separator(const uint8_t *p, size_t n, json_object *o, TextBuf *summary) {
        uint32_t v;
        bool error;

        if (n != 4)
                return -EBADMSG;
        v = (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
        /* 00000000 normally; FFFFFFFF (PFP) or 00000001 (older TCG EFI spec) when the firmware
         * failed. Windows separates its own PCRs with "WBCL". */
        error = v == UINT32_C(0xFFFFFFFF) || v == 1;
        if (json_add_hex(o, "value", p, 4) < 0 || json_add_bool(o, "error", error) < 0)
                return -ENOMEM;
        text_buf_printf(summary, "%02x%02x%02x%02x%s", p[0], p[1], p[2], p[3],
                        error ? " (error)" : "");
        if (efi_text_ascii(p, n) && strip_nul(p, n) == n) {
                if (json_add_bytes_text(o, "text", p, n) < 0)
                        return -ENOMEM;
                text_buf_puts(summary, " \"");
                text_buf_utf8(summary, p, n);
                text_buf_puts(summary, "\"");
        }
        return 0;
}

/* GCE firmware's EV_NONHOST_INFO: "GCE NonHostInfo\0", then the confidential computing
 * technology byte (go-tpm-tools' GCEConfidentialTechnology). */
static int decode_nonhost_info(const uint8_t *p, size_t n, json_object *o, TextBuf *summary) {
        static const char sig[16] = "GCE NonHostInfo";
        /* go-tpm-tools proto/attest.proto; 3 is reserved. */
        static const char *const tech[] = { "none", "AMD SEV", "AMD SEV-ES", NULL, "AMD SEV-SNP",
                                            "Intel TDX" };

        if (n < 17 || memcmp(p, sig, sizeof(sig)) != 0)
                return -ENODATA;
        if (json_add_string(o, "signature", "GCE NonHostInfo") < 0 ||
            json_add_int(o, "confidential_technology", p[16]) < 0 ||
            (p[16] < ELEMENTSOF(tech) && tech[p[16]] &&
             json_add_string(o, "confidential_technology_name", tech[p[16]]) < 0))
                return -ENOMEM;
        text_buf_printf(summary, "GCE NonHostInfo: confidential technology %u", p[16]);
        if (p[16] < ELEMENTSOF(tech) && tech[p[16]])
                text_buf_printf(summary, " (%s)", tech[p[16]]);
        return 0;
}

static int decode_event_tag(const uint8_t *p, size_t n, json_object *o, TextBuf *summary) {
        ByteReader r = br_init(p, n);
        uint32_t id, size;
        const uint8_t *d;
        const char *name;
        char ids[16];
        bool found;
        int k;

        if (!br_u32le(&r, &id) || !br_u32le(&r, &size) || !br_bytes(&r, &d, size))
                return -EBADMSG;
        name = tag_name(id);
        (void) snprintf(ids, sizeof(ids), "0x%08" PRIx32, id);
        if (json_add_string(o, "tag_id", ids) < 0 ||
            (name && json_add_string(o, "tag", name) < 0) ||
            json_add_int(o, "tagged_data_size", size) < 0)
                return -ENOMEM;
        text_buf_printf(summary, "%s: ", name ? name : ids);
        k = decode_text(d, size, o, summary, "text", &found);
        if (k < 0)
                return k;
        if (!found) {
                if (json_add_hex(o, "tagged_data", d, size) < 0)
                        return -ENOMEM;
                text_buf_printf(summary, "%" PRIu32 " bytes", size);
        }
        return 0;
}

/* EV_IPL: grub commands and files (PCR 8, 9), shim's MOK variable names (14), systemd-boot and
 * systemd-stub strings (UTF-16: kernel command line on 8 or 12, UKI sections 11, sysexts 13). */
static int decode_ipl(const TcgEvent *e, json_object *o, TextBuf *summary, Preimages *pi) {
        const char *source = NULL;
        bool found;
        int k;

        if (e->pcr == 8 || e->pcr == 12) {
                const uint8_t *sp = memchr(e->data, ' ', e->data_size);

                preimage_add(pi, e->data, e->data_size);
                if (e->data_size > 0 && e->data[e->data_size - 1] == 0)
                        preimage_add(pi, e->data, e->data_size - 1);
                /* grub: "grub_cmd: ...", "kernel_cmdline: ...": the digest covers what follows
                 * the first space, with or without the NUL (tpm2-tools' check). */
                if (e->pcr == 8 && sp) {
                        size_t off = (size_t) (sp - e->data) + 1;
                        preimage_add(pi, e->data + off, e->data_size - off);
                        if (e->data_size > off && e->data[e->data_size - 1] == 0)
                                preimage_add(pi, e->data + off, e->data_size - off - 1);
                }
        }
        k = decode_text(e->data, e->data_size, o, summary, "text", &found);
        if (k < 0)
                return k;
        if (!found)
                return -ENODATA;
        switch (e->pcr) {
        case 8:
        case 9:
                source = json_object_object_get(o, "encoding") ? "systemd-boot" : "grub";
                break;
        case 11:
        case 12:
        case 13:
                source = "systemd-stub";
                break;
        case 14:
                source = "shim";
                break;
        }
        if (source && json_add_string(o, "source", source) < 0)
                return -ENOMEM;
        return 0;
}

/* Firmware strings or blobs: EV_POST_CODE, EV_S_CRTM_CONTENTS ("ACPI DATA", "Boot Guard Measured
 * S-CRTM", or a UEFI_PLATFORM_FIRMWARE_BLOB). */
static int decode_text_or_blob(const uint8_t *p, size_t n, json_object *o, TextBuf *summary) {
        bool found;
        int k;

        k = decode_text(p, n, o, summary, "text", &found);
        if (k < 0 || found)
                return k;
        if (n == 16)
                return efi_firmware_blob_decode(p, n, false, o, summary);
        return -ENODATA;
}

static int decode_crtm_version(const uint8_t *p, size_t n, json_object *o, TextBuf *summary) {
        bool found;
        int k;

        k = decode_text(p, n, o, summary, "version", &found);
        if (k < 0 || found)
                return k;
        if (n == 16) {
                char g[EFI_GUID_STRING_SIZE];

                efi_guid_to_string(p, g);
                if (json_add_string(o, "guid", g) < 0)
                        return -ENOMEM;
                text_buf_puts(summary, g);
                return 0;
        }
        return -ENODATA;
}

static int decode_event(const EventLog *log, size_t idx, json_object *o, TextBuf *summary,
                        Preimages *pi) {
        const TcgEvent *e = &log->events[idx];
        const uint8_t *p = e->data;
        size_t n = e->data_size;
        bool found;
        int k;

        switch (e->type) {
        case EV_NO_ACTION:
                return decode_no_action(log, idx, p, n, o, summary);
        case EV_SEPARATOR:
                preimage_add(pi, p, n);
                return decode_separator(p, n, o, summary);
        case EV_ACTION:
        case EV_EFI_ACTION:
                preimage_add(pi, p, n);
                k = decode_text(p, n, o, summary, "text", &found);
                return k < 0 ? k : found ? 0 : -ENODATA;
        case EV_EVENT_TAG:
                return decode_event_tag(p, n, o, summary);
        case EV_POST_CODE:
        case EV_S_CRTM_CONTENTS:
                return decode_text_or_blob(p, n, o, summary);
        case EV_S_CRTM_VERSION:
                preimage_add(pi, p, n);
                return decode_crtm_version(p, n, o, summary);
        case EV_IPL:
                return decode_ipl(e, o, summary, pi);
        case EV_EFI_VARIABLE_DRIVER_CONFIG:
                preimage_add(pi, p, n);
                return efi_variable_decode(p, n, false, o, summary, NULL, NULL);
        case EV_EFI_VARIABLE_BOOT:
        case EV_EFI_VARIABLE_BOOT2: {
                const uint8_t *vd = NULL;
                size_t vn = 0;

                /* Firmware hashes either UEFI_VARIABLE_DATA or just VariableData here (EDK2
                 * measures the variable data for Boot####; tpm2-tools/go-attestation accept
                 * both). */
                preimage_add(pi, p, n);
                k = efi_variable_decode(p, n, false, o, summary, &vd, &vn);
                if (k >= 0)
                        preimage_add(pi, vd, vn);
                return k;
        }
        case EV_EFI_VARIABLE_AUTHORITY:
                return efi_variable_decode(p, n, true, o, summary, NULL, NULL);
        case EV_EFI_BOOT_SERVICES_APPLICATION:
        case EV_EFI_BOOT_SERVICES_DRIVER:
        case EV_EFI_RUNTIME_SERVICES_DRIVER:
                return efi_image_load_decode(p, n, o, summary);
        case EV_EFI_GPT_EVENT:
                preimage_add(pi, p, n);
                return efi_gpt_decode(p, n, o, summary);
        case EV_EFI_PLATFORM_FIRMWARE_BLOB:
                return efi_firmware_blob_decode(p, n, false, o, summary);
        case EV_EFI_PLATFORM_FIRMWARE_BLOB2:
                return efi_firmware_blob_decode(p, n, true, o, summary);
        case EV_EFI_HANDOFF_TABLES:
                return efi_handoff_tables_decode(p, n, false, o, summary);
        case EV_EFI_HANDOFF_TABLES2:
                return efi_handoff_tables_decode(p, n, true, o, summary);
        case EV_NONHOST_INFO:
                k = decode_nonhost_info(p, n, o, summary);
                if (k != -ENODATA)
                        return k;
                k = decode_text(p, n, o, summary, "text", &found);
                return k < 0 ? k : found ? 0 : -ENODATA;
        default:
                /* EV_CPU_MICROCODE, EV_PLATFORM_CONFIG_FLAGS, EV_EFI_HCRTM_EVENT, ...: text when
                 * it is text. */
                k = decode_text(p, n, o, summary, "text", &found);
                return k < 0 ? k : found ? 0 : -ENODATA;
        }
}

/* The structure an event type's data must have, for the message when it does not. */
static const char *structure_name(const TcgEvent *e) {
        switch (e->type) {
        case EV_SEPARATOR:
                return "a 4-byte separator value";
        case EV_EVENT_TAG:
                return "TCG_PCClientTaggedEvent";
        case EV_EFI_VARIABLE_DRIVER_CONFIG:
        case EV_EFI_VARIABLE_BOOT:
        case EV_EFI_VARIABLE_BOOT2:
        case EV_EFI_VARIABLE_AUTHORITY:
                return "UEFI_VARIABLE_DATA";
        case EV_EFI_BOOT_SERVICES_APPLICATION:
        case EV_EFI_BOOT_SERVICES_DRIVER:
        case EV_EFI_RUNTIME_SERVICES_DRIVER:
                return "UEFI_IMAGE_LOAD_EVENT";
        case EV_EFI_GPT_EVENT:
                return "UEFI_GPT_DATA";
        case EV_EFI_PLATFORM_FIRMWARE_BLOB:
        case EV_EFI_PLATFORM_FIRMWARE_BLOB2:
                return "UEFI_PLATFORM_FIRMWARE_BLOB";
        case EV_EFI_HANDOFF_TABLES:
        case EV_EFI_HANDOFF_TABLES2:
                return "UEFI_HANDOFF_TABLE_POINTERS";
        case EV_NO_ACTION:
                if (e->data_size >= 15 && memcmp(e->data, "SP800-155 Event", 15) == 0)
                        return "TCG_Sp800_155_PlatformId_Event";
                return NULL;
        default:
                return NULL;
        }
}

static void summary_raw(TextBuf *summary, const uint8_t *p, size_t n) {
        char h[3];

        if (n == 0) {
                text_buf_puts(summary, "(no data)");
                return;
        }
        for (size_t i = 0; i < MIN(n, (size_t) SUMMARY_HEX_MAX); i++) {
                (void) snprintf(h, sizeof(h), "%02x", p[i]);
                text_buf_append(summary, h, 2);
        }
        if (n > SUMMARY_HEX_MAX)
                text_buf_printf(summary, "... (%zu bytes)", n);
}

/* Hashers for every algorithm of the log, fetched once per eventlog_to_json. */
typedef struct HasherCache {
        Hasher h[TPM_MAX_BANKS];
        int state[TPM_MAX_BANKS]; /* 0 untried, 1 ready, -errno unavailable */
} HasherCache;

static Hasher *hasher_cache_get(HasherCache *c, const EventLog *log, uint16_t alg) {
        int a = find_alg(log, alg);

        if (a < 0)
                return NULL;
        if (c->state[a] == 0) {
                int k = hasher_init(&c->h[a], alg);
                c->state[a] = k < 0 ? k : 1;
        }
        return c->state[a] == 1 ? &c->h[a] : NULL;
}

static void hasher_cache_done(HasherCache *c) {
        for (size_t i = 0; i < TPM_MAX_BANKS; i++)
                if (c->state[i] == 1)
                        hasher_done(&c->h[i]);
}

/* 1 if every digest we can compute equals the hash of some preimage, 0 if one does not, -1 if
 * nothing could be checked. */
static int check_digests(const EventLog *log, const TcgEvent *e, const Preimages *pi,
                         HasherCache *c) {
        int verdict = -1;

        if (pi->n == 0)
                return -1;
        for (size_t i = 0; i < e->n_digests; i++) {
                Hasher *h = hasher_cache_get(c, log, e->digests[i].alg);
                bool ok = false;

                if (!h)
                        continue;
                for (size_t j = 0; j < pi->n && !ok; j++) {
                        uint8_t out[EVP_MAX_MD_SIZE];

                        if (hasher_digest2(h, pi->c[j].p, pi->c[j].n, NULL, 0, out) < 0)
                                continue;
                        ok = memcmp(out, e->digests[i].digest, h->size) == 0;
                }
                if (!ok)
                        return 0;
                verdict = 1;
        }
        return verdict;
}

static int event_to_json(const EventLog *log, size_t idx, HasherCache *cache, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        const TcgEvent *e = &log->events[idx];
        const char *tn = eventlog_type_to_string(e->type);
        json_object *digests, *decoded;
        TextBuf summary = {};
        Preimages pi = {};
        char label[16];
        int k, check;

        if (!o)
                return -ENOMEM;
        if (json_add_int(o, "num", (int64_t) idx) < 0 ||
            json_add_int(o, "offset", (int64_t) e->offset) < 0 ||
            json_add_int(o, "pcr", (int64_t) e->pcr) < 0)
                return -ENOMEM;
        if (!tn) {
                (void) snprintf(label, sizeof(label), "0x%08" PRIx32, e->type);
                tn = label;
        }
        if (json_add_string(o, "type", tn) < 0 || json_add_int(o, "type_id", e->type) < 0)
                return -ENOMEM;
        digests = json_object_new_object();
        if (json_add(o, "digests", digests) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < e->n_digests; i++) {
                alg_label(e->digests[i].alg, label);
                if (json_add_hex(digests, label, e->digests[i].digest, e->digests[i].size) < 0)
                        return -ENOMEM;
        }
        if (json_add_int(o, "data_size", e->data_size) < 0 ||
            json_add_hex(o, "data", e->data, e->data_size) < 0)
                return -ENOMEM;

        decoded = json_object_new_object();
        if (!decoded)
                return -ENOMEM;
        k = decode_event(log, idx, decoded, &summary, &pi);
        if (k == -ENOMEM || summary.error == -ENOMEM) {
                json_object_put(decoded);
                text_buf_done(&summary);
                return -ENOMEM;
        }
        if (k < 0 || summary.error < 0) {
                /* Odd data never fails the log: show it raw and say why. */
                json_object_put(decoded);
                text_buf_done(&summary);
                summary_raw(&summary, e->data, e->data_size);
                if (k == -EBADMSG && structure_name(e)) {
                        char why[96];

                        (void) snprintf(why, sizeof(why), "not a valid %s", structure_name(e));
                        if (json_add_string(o, "decode_error", why) < 0) {
                                text_buf_done(&summary);
                                return -ENOMEM;
                        }
                }
        } else if (json_add(o, "decoded", decoded) < 0) {
                text_buf_done(&summary);
                return -ENOMEM;
        }
        if (summary.error < 0 || json_add_string(o, "summary", text_buf_str(&summary)) < 0) {
                text_buf_done(&summary);
                return -ENOMEM;
        }
        text_buf_done(&summary);

        check = check_digests(log, e, &pi, cache);
        if (check >= 0 && json_add_bool(o, "digest_matches_data", check == 1) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int eventlog_event_to_json(const EventLog *log, size_t idx, json_object **ret) {
        HasherCache cache = {};
        int k;

        if (idx >= log->n_events)
                return -EINVAL;
        k = event_to_json(log, idx, &cache, ret);
        hasher_cache_done(&cache);
        return k;
}

int eventlog_to_json(const EventLog *log, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *algs, *events;
        HasherCache cache = {};
        char label[16];
        int k = 0;

        if (!o)
                return -ENOMEM;
        algs = json_object_new_array();
        if (json_add_string(o, "format", log->crypto_agile ? "crypto-agile" : "sha1") < 0 ||
            json_add(o, "algorithms", algs) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < log->n_algs; i++) {
                alg_label(log->algs[i].alg, label);
                if (json_array_append(algs, json_object_new_string(label)) < 0)
                        return -ENOMEM;
        }
        if (log->has_startup_locality) {
                if (json_add_int(o, "startup_locality", log->startup_locality) < 0)
                        return -ENOMEM;
        } else if (json_object_object_add(o, "startup_locality", NULL) < 0)
                return -ENOMEM;
        if (json_add_int(o, "size", (int64_t) log->size) < 0 ||
            json_add_int(o, "padding", (int64_t) log->padding) < 0)
                return -ENOMEM;
        events = json_object_new_array();
        if (json_add(o, "events", events) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < log->n_events; i++) {
                json_object *ev = NULL;

                k = event_to_json(log, i, &cache, &ev);
                if (k < 0)
                        break;
                k = json_array_append(events, ev);
                if (k < 0)
                        break;
        }
        hasher_cache_done(&cache);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(o);
        return 0;
}
