/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent/drift.c on real event logs (shared/vectors/eventlog) and on logs derived from them here by
 * changing entries: a db certificate added, dbx hashes added, Secure Boot turned off, the kernel
 * command line changed (grub and systemd-stub), a boot application replaced, entries removed
 * and inserted; PCRs extended outside the log; and the baseline file's strict parser.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "agent/drift.h"
#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/openssl-util.h"
#include "common/strutil.h"
#include "tests/unit/test-util.h"
#include "vtpm/efi-decode.h"
#include "vtpm/eventlog.h"
#include "vtpm/tpm-pcrs.h"

#define T0 1796000000 /* 2026-11-29 */

typedef struct Loaded {
        uint8_t *buf;
        size_t size;
        EventLog *log;
} Loaded;

static Loaded load_bytes(uint8_t *buf, size_t size) {
        Loaded l = {.buf = buf, .size = size};
        Diag d = {};
        int r;

        r = eventlog_parse(l.buf, l.size, &l.log, &d);
        if (r < 0)
                fail_msg("eventlog_parse: %d: %s", r, d.text);
        return l;
}

static Loaded load(const char *rel) {
        size_t size;
        uint8_t *buf = test_read_vector(rel, &size);

        return load_bytes(buf, size);
}

static void unload(Loaded *l) {
        eventlog_free(l->log);
        free(l->buf);
        *l = (Loaded){};
}

/* The PCRs a log replays to, in every bank it declares (what the TPM would hold). */
static TpmPcrSet replay_all(const EventLog *log) {
        TpmPcrSet s = {};

        for (size_t i = 0; i < log->n_algs; i++) {
                TpmPcrBank *b = &s.banks[s.n_banks];

                if (eventlog_replay(log, log->algs[i].alg, b) < 0)
                        continue;
                /* The TPM holds all 24; the ones the log does not extend are at their reset. */
                b->mask = (UINT32_C(1) << TPM_PCR_COUNT) - 1;
                s.n_banks++;
        }
        assert_true(s.n_banks > 0);
        return s;
}

/* ---- building logs ---- */

/* A new log: the original's header, then events copied or made here. */
typedef struct Builder {
        const EventLog *log;
        const uint8_t *buf;
        uint8_t *out;
        size_t n, cap;
} Builder;

static void put(Builder *b, const void *p, size_t n) {
        if (b->n + n > b->cap) {
                b->cap = (b->n + n) * 2;
                b->out = realloc(b->out, b->cap);
                assert_non_null(b->out);
        }
        memcpy(b->out + b->n, p, n);
        b->n += n;
}

static void put_u32(Builder *b, uint32_t v) {
        uint8_t x[4] = {(uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16), (uint8_t) (v >> 24)};

        put(b, x, 4);
}

static void copy_event(Builder *b, size_t i) {
        const EventLog *log = b->log;
        size_t end = i + 1 < log->n_events ? log->events[i + 1].offset : log->size;

        put(b, b->buf + log->events[i].offset, end - log->events[i].offset);
}

/* An event with the digest of `hashed` in every bank of the log (a crypto-agile log) or SHA-1. */
static void new_event(Builder *b, uint32_t pcr, uint32_t type, const void *data, size_t size,
                      const void *hashed, size_t hashed_size) {
        const EventLog *log = b->log;

        put_u32(b, pcr);
        put_u32(b, type);
        if (log->crypto_agile)
                put_u32(b, (uint32_t) log->n_algs);
        for (size_t i = 0; i < log->n_algs; i++) {
                uint8_t md[EVP_MAX_MD_SIZE];
                uint16_t alg = log->algs[i].alg;

                assert_int_equal(
                        EVP_Digest(hashed, hashed_size, md, NULL, tpm_alg_to_evp(alg), NULL), 1);
                if (log->crypto_agile) {
                        uint8_t a[2] = {(uint8_t) alg, (uint8_t) (alg >> 8)};
                        put(b, a, 2);
                }
                put(b, md, log->algs[i].size);
        }
        put_u32(b, (uint32_t) size);
        put(b, data, size);
}

static Loaded builder_done(Builder *b) {
        return load_bytes(b->out, b->n);
}

/* The log with event `idx` replaced by an event of the same PCR and type carrying data (hashed
 * as `hashed`), or dropped when data is NULL. */
static Loaded with_event(const Loaded *l, size_t idx, const void *data, size_t size,
                         const void *hashed, size_t hashed_size) {
        Builder b = {.log = l->log, .buf = l->buf};

        for (size_t i = 0; i < l->log->n_events; i++) {
                if (i != idx)
                        copy_event(&b, i);
                else if (data)
                        new_event(&b, l->log->events[i].pcr, l->log->events[i].type, data, size,
                                  hashed, hashed_size);
        }
        return builder_done(&b);
}

/* The first event of type on pcr whose data contains needle (NULL: any), or fails. */
static size_t find_event(const EventLog *log, uint32_t pcr, uint32_t type, const void *needle,
                         size_t needle_size) {
        for (size_t i = 0; i < log->n_events; i++) {
                const TcgEvent *e = &log->events[i];

                if (e->pcr == pcr && e->type == type &&
                    (!needle || memmem(e->data, e->data_size, needle, needle_size)))
                        return i;
        }
        fail_msg("no event of type 0x%x on PCR %u", type, pcr);
        return 0;
}

/* UEFI_VARIABLE_DATA of event idx with `extra` appended to its VariableData. */
static uint8_t *variable_append(const TcgEvent *e, const uint8_t *extra, size_t extra_size,
                                size_t *ret_size) {
        uint64_t name_len, data_len;
        uint8_t *out;

        assert_true(e->data_size >= 32);
        memcpy(&name_len, e->data + 16, 8);
        memcpy(&data_len, e->data + 24, 8);
        assert_int_equal(32 + 2 * name_len + data_len, e->data_size);
        out = malloc(e->data_size + extra_size);
        assert_non_null(out);
        memcpy(out, e->data, e->data_size);
        memcpy(out + e->data_size, extra, extra_size);
        data_len += extra_size;
        memcpy(out + 24, &data_len, 8);
        *ret_size = e->data_size + extra_size;
        return out;
}

/* EFI_SIGNATURE_LIST of one entry per value (all value_size long), type given as GUID text. */
static uint8_t *signature_list(const char *type_guid, const uint8_t *const *values, size_t n,
                               size_t value_size, size_t *ret_size) {
        size_t list = 28 + n * (16 + value_size);
        uint8_t *out = calloc(1, list), guid[16];
        unsigned g[11];
        uint32_t v;

        assert_non_null(out);
        assert_int_equal(sscanf(type_guid, "%8x-%4x-%4x-%2x%2x-%2x%2x%2x%2x%2x%2x", &g[0], &g[1],
                                &g[2], &g[3], &g[4], &g[5], &g[6], &g[7], &g[8], &g[9], &g[10]),
                         11);
        guid[0] = (uint8_t) g[0];
        guid[1] = (uint8_t) (g[0] >> 8);
        guid[2] = (uint8_t) (g[0] >> 16);
        guid[3] = (uint8_t) (g[0] >> 24);
        guid[4] = (uint8_t) g[1];
        guid[5] = (uint8_t) (g[1] >> 8);
        guid[6] = (uint8_t) g[2];
        guid[7] = (uint8_t) (g[2] >> 8);
        for (size_t i = 0; i < 8; i++)
                guid[8 + i] = (uint8_t) g[3 + i];
        memcpy(out, guid, 16);
        v = (uint32_t) list;
        memcpy(out + 16, &v, 4);
        v = 0;
        memcpy(out + 20, &v, 4);
        v = (uint32_t) (16 + value_size);
        memcpy(out + 24, &v, 4);
        for (size_t i = 0; i < n; i++) {
                uint8_t *e = out + 28 + i * (16 + value_size);

                memset(e, 0x77, 16); /* owner */
                memcpy(e + 16, values[i], value_size);
        }
        *ret_size = list;
        return out;
}

#define EFI_CERT_X509   "a5c059a1-94e4-4aa7-87b5-ab155c2bf072"
#define EFI_CERT_SHA256 "c1c41626-504c-4092-aca9-41f936934328"

/* A self-signed P-256 certificate with subject CN=cn, DER. */
static uint8_t *make_certificate(const char *cn, size_t *ret_size) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = EVP_EC_gen("P-256");
        _cleanup_(X509_freep) X509 *x = X509_new();
        X509_NAME *name = X509_NAME_new();
        uint8_t *der = NULL;
        int n;

        assert_non_null(k);
        assert_non_null(x);
        assert_non_null(name);
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                                    (const unsigned char *) cn, -1, -1, 0),
                         1);
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                                    (const unsigned char *) "Contoso", -1, -1, 0),
                         1);
        assert_int_equal(X509_set_version(x, 2), 1);
        assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
        assert_int_equal(X509_set_subject_name(x, name), 1);
        assert_int_equal(X509_set_issuer_name(x, name), 1);
        X509_NAME_free(name);
        assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
        assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
        assert_int_equal(X509_set_pubkey(x, k), 1);
        assert_true(X509_sign(x, k, EVP_sha256()) > 0);
        n = i2d_X509(x, &der);
        assert_true(n > 0);
        *ret_size = (size_t) n;
        return der;
}

/* ---- helpers on reports ---- */

/* CVM_TEST_VERBOSE=1 prints every report the tests make. */
static void dump(const DriftReport *r);
static DriftReport *shown(DriftReport *r) {
        if (secure_getenv("CVM_TEST_VERBOSE"))
                dump(r);
        return r;
}

static DriftBaseline *baseline_of(const Loaded *l) {
        DriftBaseline *b = NULL;
        TpmPcrSet pcrs = replay_all(l->log);
        Diag d = {};

        assert_int_equal(drift_baseline_new(DRIFT_SOURCE_BOOT, T0, &pcrs, l->buf, l->size, &b, &d),
                         0);
        return b;
}

static DriftReport *compare_with(const DriftBaseline *b, const Loaded *now) {
        TpmPcrSet pcrs = replay_all(now->log);
        DriftReport *r = NULL;

        assert_int_equal(drift_compare(b, &pcrs, now->buf, now->size, &r), 0);
        return shown(r);
}

static const DriftPcr *report_pcr(const DriftReport *r, unsigned pcr) {
        for (size_t i = 0; i < r->n_pcrs; i++)
                if (r->pcrs[i].pcr == pcr)
                        return &r->pcrs[i];
        return NULL;
}

static void dump(const DriftReport *r) {
        for (size_t i = 0; i < r->n_pcrs; i++)
                for (size_t j = 0; j < r->pcrs[i].n_lines; j++)
                        print_message("#   %s\n", r->pcrs[i].lines[j]);
}

/* The report has a line equal to `line`. */
static void assert_line(const DriftReport *r, const char *line) {
        for (size_t i = 0; i < r->n_pcrs; i++)
                for (size_t j = 0; j < r->pcrs[i].n_lines; j++)
                        if (streq(r->pcrs[i].lines[j], line))
                                return;
        dump(r);
        fail_msg("no line \"%s\"", line);
}

/* The report has a line starting with `prefix`. */
static void assert_line_prefix(const DriftReport *r, const char *prefix) {
        for (size_t i = 0; i < r->n_pcrs; i++)
                for (size_t j = 0; j < r->pcrs[i].n_lines; j++)
                        if (startswith(r->pcrs[i].lines[j], prefix))
                                return;
        dump(r);
        fail_msg("no line starting \"%s\"", prefix);
}

static size_t n_lines(const DriftReport *r) {
        size_t n = 0;

        for (size_t i = 0; i < r->n_pcrs; i++)
                n += r->pcrs[i].n_lines;
        return n;
}

/* ---- tests ---- */

static const char *const real_logs[] = {
        "eventlog/go-tpm-tools/arch-linux-workstation.bin",
        "eventlog/go-tpm-tools/confidential-gke-debug-251000_eventlog.bin",
        "eventlog/go-tpm-tools/cos-101-amd-sev.bin",
        "eventlog/go-tpm-tools/cos-85-amd-sev.bin",
        "eventlog/go-tpm-tools/cos-93-amd-sev.bin",
        "eventlog/go-tpm-tools/debian-10.bin",
        "eventlog/go-tpm-tools/eventlogwithsp800155.bin",
        "eventlog/go-tpm-tools/gdc-host.bin",
        "eventlog/go-tpm-tools/glinux-alex.bin",
        "eventlog/go-tpm-tools/rhel8-uefi.bin",
        "eventlog/go-tpm-tools/ubuntu-1804-amd-sev.bin",
        "eventlog/go-tpm-tools/ubuntu-2104-no-dbx.bin",
        "eventlog/go-tpm-tools/ubuntu-2104-no-secure-boot.bin",
        "eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin",
        "eventlog/go-attestation/coreos_36_shielded_vm_no_secure_boot_eventlog",
        "eventlog/go-attestation/crypto_agile_eventlog",
        "eventlog/go-attestation/ebs_event_missing_eventlog",
        "eventlog/go-attestation/option_rom_eventlog",
        "eventlog/go-attestation/sb_cert_eventlog",
        "eventlog/tpm2-tools/event-bootorder.bin",
        "eventlog/tpm2-tools/event-moklisttrusted.bin",
        "eventlog/tpm2-tools/event-postcode.bin",
        "eventlog/tpm2-tools/event-sd-boot-fedora37.bin",
        "eventlog/tpm2-tools/event-uefi-sha1-log.bin",
};

/* Every real log against itself: no drift, every PCR compared. Then with its last measured
 * event dropped: exactly that PCR drifts, and the line says what was removed. */
static void test_real_logs(void **state) {
        SKIP_WITHOUT_VECTORS();
        for (size_t k = 0; k < ELEMENTSOF(real_logs); k++) {
                Loaded l = load(real_logs[k]), cut;
                _cleanup_(drift_baseline_freep) DriftBaseline *b = baseline_of(&l);
                _cleanup_(drift_report_freep) DriftReport *same = compare_with(b, &l), *r = NULL;
                size_t last = l.log->n_events;
                const DriftPcr *p;
                char want[64];

                if (same->drifted != 0) {
                        dump(same);
                        fail_msg("%s: drift against itself", real_logs[k]);
                }
                assert_int_equal(same->compared, (UINT32_C(1) << TPM_PCR_COUNT) - 1);
                assert_string_equal(same->log_note, "");

                while (last-- > 0 && l.log->events[last].type == EV_NO_ACTION)
                        ;
                cut = with_event(&l, last, NULL, 0, NULL, 0);
                r = compare_with(b, &cut);
                if (r->drifted != UINT32_C(1) << l.log->events[last].pcr) {
                        dump(r);
                        fail_msg("%s: drifted 0x%x after dropping event %zu on PCR %u",
                                 real_logs[k], r->drifted, last, l.log->events[last].pcr);
                }
                p = &r->pcrs[0];
                assert_true(p->value_changed);
                assert_true(p->log_changed);
                assert_false(p->outside_log);
                assert_int_equal(p->n_lines, 1);
                (void) snprintf(want, sizeof(want), "PCR %u: ", p->pcr);
                assert_true(startswith(p->lines[0], want));
                if (!strstr(p->lines[0], " removed")) {
                        dump(r);
                        fail_msg("%s: no 'removed'", real_logs[k]);
                }
                unload(&cut);
                unload(&l);
        }
}

/* A certificate added to db (ubuntu-2404-amd-sevsnp: db holds two Microsoft CAs). */
static void test_db_certificate_added(void **state) {
        _cleanup_(freep) uint8_t *cert = NULL, *list = NULL, *var = NULL;
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL;
        _cleanup_(drift_report_freep) DriftReport *r = NULL;
        _cleanup_(json_object_putp) json_object *j = NULL;
        size_t cert_size, list_size, var_size, idx;
        const uint8_t *values[1];
        const DriftPcr *p;
        Loaded l, now;

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin");
        b = baseline_of(&l);
        cert = make_certificate("Contoso Secure Boot CA 2026", &cert_size);
        values[0] = cert;
        list = signature_list(EFI_CERT_X509, values, 1, cert_size, &list_size);
        idx = find_event(l.log, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "d\0b\0", 4);
        var = variable_append(&l.log->events[idx], list, list_size, &var_size);
        now = with_event(&l, idx, var, var_size, var, var_size);
        r = compare_with(b, &now);

        assert_int_equal(r->drifted, 1u << 7);
        assert_line(r, "PCR 7: db changed: certificate CN=Contoso Secure Boot CA 2026 added");
        assert_int_equal(n_lines(r), 1);
        p = report_pcr(r, 7);
        assert_non_null(p);
        assert_true(p->value_changed && p->log_changed && !p->outside_log);
        assert_int_equal(p->alg, TPM_ALG_SHA256);
        assert_true(startswith(p->key, "drift:pcr7:"));
        assert_int_equal(strlen(p->key), strlen("drift:pcr7:") + 32);

        /* The report as JSON carries the same. */
        assert_int_equal(drift_report_to_json(r, &j), 0);
        assert_string_equal(json_object_to_json_string_ext(json_object_object_get(j, "drifted"),
                                                           JSON_C_TO_STRING_PLAIN),
                            "[7]");
        unload(&now);
        unload(&l);
}

/* Three hashes added to dbx, and the key: stable for the same values, other for others. */
static void test_dbx_hashes_added(void **state) {
        _cleanup_(freep) uint8_t *list = NULL, *var = NULL, *list2 = NULL, *var2 = NULL;
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL;
        _cleanup_(drift_report_freep) DriftReport *r = NULL, *again = NULL, *other = NULL;
        uint8_t h[3][32];
        const uint8_t *values[3] = {h[0], h[1], h[2]};
        size_t list_size, var_size, list2_size, var2_size, idx;
        Loaded l, now, now2;

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin");
        b = baseline_of(&l);
        for (size_t i = 0; i < 3; i++)
                memset(h[i], 0xa0 + (int) i, 32);
        list = signature_list(EFI_CERT_SHA256, values, 3, 32, &list_size);
        idx = find_event(l.log, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "d\0b\0x\0", 6);
        var = variable_append(&l.log->events[idx], list, list_size, &var_size);
        now = with_event(&l, idx, var, var_size, var, var_size);
        r = compare_with(b, &now);
        assert_int_equal(r->drifted, 1u << 7);
        assert_line(r, "PCR 7: dbx changed: 3 hashes added");
        assert_int_equal(n_lines(r), 1);

        again = compare_with(b, &now);
        assert_string_equal(again->pcrs[0].key, r->pcrs[0].key);

        list2 = signature_list(EFI_CERT_SHA256, values, 1, 32, &list2_size);
        var2 = variable_append(&l.log->events[idx], list2, list2_size, &var2_size);
        now2 = with_event(&l, idx, var2, var2_size, var2, var2_size);
        other = compare_with(b, &now2);
        assert_line(other, "PCR 7: dbx changed: 1 hash added");
        assert_string_not_equal(other->pcrs[0].key, r->pcrs[0].key);
        unload(&now2);
        unload(&now);
        unload(&l);
}

/* A db certificate removed (sb_cert_eventlog: four in db), and SecureBoot turned off. */
static void test_db_certificate_removed_secure_boot_off(void **state) {
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL;
        _cleanup_(drift_report_freep) DriftReport *r = NULL, *r2 = NULL;
        _cleanup_(freep) uint8_t *var = NULL, *sb = NULL;
        const TcgEvent *e;
        uint64_t data_len, name_len;
        size_t idx, var_size;
        Loaded l, now, now2;
        uint32_t list_size;

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/go-attestation/sb_cert_eventlog");
        b = baseline_of(&l);

        /* db without its first EFI_SIGNATURE_LIST (one certificate per list there). */
        idx = find_event(l.log, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "d\0b\0", 4);
        e = &l.log->events[idx];
        memcpy(&name_len, e->data + 16, 8);
        assert_int_equal(name_len, 2);
        var = malloc(e->data_size);
        assert_non_null(var);
        /* after the GUID, the two lengths and L"db" */
        memcpy(&list_size, e->data + 36 + 16, 4);
        memcpy(var, e->data, 36);
        memcpy(var + 36, e->data + 36 + list_size, e->data_size - 36 - list_size);
        var_size = e->data_size - list_size;
        memcpy(&data_len, var + 24, 8);
        data_len -= list_size;
        memcpy(var + 24, &data_len, 8);
        now = with_event(&l, idx, var, var_size, var, var_size);
        r = compare_with(b, &now);
        assert_line(r, "PCR 7: db changed: certificate CN=Microsoft Corporation UEFI CA 2011 "
                       "removed");
        assert_int_equal(n_lines(r), 1);

        idx = find_event(l.log, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "S\0e\0c\0u\0r\0e\0B\0", 14);
        e = &l.log->events[idx];
        sb = malloc(e->data_size);
        assert_non_null(sb);
        memcpy(sb, e->data, e->data_size);
        assert_int_equal(sb[e->data_size - 1], 1);
        sb[e->data_size - 1] = 0;
        now2 = with_event(&l, idx, sb, e->data_size, sb, e->data_size);
        r2 = compare_with(b, &now2);
        assert_line(r2, "PCR 7: SecureBoot changed: enabled -> disabled");
        assert_int_equal(n_lines(r2), 1);
        unload(&now2);
        unload(&now);
        unload(&l);
}

/* grub's kernel command line (PCR 8) and the boot application (PCR 4) changed. */
static void test_cmdline_and_boot_application(void **state) {
        static const char cmd[] = "kernel_cmdline: /vmlinuz-6.8.0-1010-gcp root=PARTUUID="
                                  "8270f3c9-b4e4-4345-80ee-5a62db7ebf3f ro init=/bin/sh";
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL;
        _cleanup_(drift_report_freep) DriftReport *r = NULL, *r2 = NULL;
        size_t idx, app;
        Loaded l, now, now2;
        Builder bl;

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin");
        b = baseline_of(&l);
        idx = find_event(l.log, 8, EV_IPL, "kernel_cmdline", 14);
        now = with_event(&l, idx, cmd, sizeof(cmd), cmd + 16, sizeof(cmd) - 17);
        r = compare_with(b, &now);
        assert_int_equal(r->drifted, 1u << 8);
        assert_line(r, "PCR 8: kernel command line changed: /vmlinuz-6.8.0-1010-gcp root=PARTUUID="
                       "8270f3c9-b4e4-4345-80ee-5a62db7ebf3f ro console=ttyS0,115200 panic=-1 -> "
                       "/vmlinuz-6.8.0-1010-gcp root=PARTUUID=8270f3c9-b4e4-4345-80ee-5a62db7ebf3f "
                       "ro init=/bin/sh");
        assert_int_equal(n_lines(r), 1);

        /* shim's image replaced: the same path, another Authenticode digest. */
        app = find_event(l.log, 4, EV_EFI_BOOT_SERVICES_APPLICATION, NULL, 0);
        bl = (Builder){.log = l.log, .buf = l.buf};
        for (size_t i = 0; i < l.log->n_events; i++)
                if (i == app)
                        new_event(&bl, 4, EV_EFI_BOOT_SERVICES_APPLICATION, l.log->events[i].data,
                                  l.log->events[i].data_size, "another shim", 12);
                else
                        copy_event(&bl, i);
        now2 = builder_done(&bl);
        r2 = compare_with(b, &now2);
        assert_int_equal(r2->drifted, 1u << 4);
        assert_int_equal(n_lines(r2), 1);
        assert_line_prefix(r2, "PCR 4: boot application changed: \\EFI\\ubuntu\\shimx64.efi: "
                               "image digest 724de6844dd0fe61... -> ");
        unload(&now2);
        unload(&now);
        unload(&l);
}

/* systemd-stub's UTF-16 command line on PCR 12 (event-sd-boot-fedora37.bin measures it twice). */
static void test_cmdline_systemd_stub(void **state) {
        static const char text[] = " console=ttyS0 rd.break ";
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL;
        _cleanup_(drift_report_freep) DriftReport *r = NULL;
        uint8_t u16[2 * sizeof(text)];
        size_t idx;
        Loaded l, now;

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/tpm2-tools/event-sd-boot-fedora37.bin");
        b = baseline_of(&l);
        for (size_t i = 0; i < sizeof(text); i++) {
                u16[2 * i] = (uint8_t) text[i];
                u16[2 * i + 1] = 0;
        }
        idx = find_event(l.log, 12, EV_IPL, NULL, 0);
        now = with_event(&l, idx, u16, sizeof(u16), u16, sizeof(u16));
        r = compare_with(b, &now);
        assert_int_equal(r->drifted, 1u << 12);
        assert_line(r, "PCR 12: kernel command line changed: console=ttyS0 console=tty0 efi=debug "
                       "-> console=ttyS0 rd.break");
        assert_int_equal(n_lines(r), 1);
        unload(&now);
        unload(&l);
}

/* An event inserted in the middle reads as one added entry, not as everything after it
 * changed; a separator removed; entries on several PCRs at once. */
static void test_inserted_and_removed(void **state) {
        static const char action[] = "Unexpected Application";
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL;
        _cleanup_(drift_report_freep) DriftReport *r = NULL;
        size_t grub, sep;
        Loaded l, now;
        Builder bl;

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin");
        b = baseline_of(&l);
        grub = find_event(l.log, 8, EV_IPL, "grub_cmd: set default=0", 23);
        sep = find_event(l.log, 2, EV_SEPARATOR, NULL, 0);
        bl = (Builder){.log = l.log, .buf = l.buf};
        for (size_t i = 0; i < l.log->n_events; i++) {
                if (i == sep)
                        continue;
                copy_event(&bl, i);
                if (i == grub) {
                        static const char c[] = "grub_cmd: insmod evil";
                        new_event(&bl, 8, EV_IPL, c, sizeof(c), c + 10, sizeof(c) - 11);
                        new_event(&bl, 4, EV_EFI_ACTION, action, sizeof(action) - 1, action,
                                  sizeof(action) - 1);
                }
        }
        now = builder_done(&bl);
        r = compare_with(b, &now);
        assert_int_equal(r->drifted, (1u << 2) | (1u << 4) | (1u << 8));
        assert_line(r, "PCR 8: grub command added: insmod evil");
        assert_line(r, "PCR 2: separator removed");
        {
                _cleanup_(freep) char *m = NULL;

                assert_int_equal(drift_pcr_message(report_pcr(r, 8), &m), 0);
                assert_string_equal(m, "PCR 8: grub command added: insmod evil");
        }
        assert_line_prefix(r, "PCR 4: event added: EV_EFI_ACTION Unexpected Application (digest ");
        assert_int_equal(n_lines(r), 3);
        unload(&now);
        unload(&l);
}

/* The log unchanged and a PCR moved: extended outside the log. The log changed and a PCR moved
 * by more than it says: both said. A log changed under an unchanged PCR is drift too. */
static void test_outside_log(void **state) {
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL;
        _cleanup_(drift_report_freep) DriftReport *r = NULL, *r2 = NULL, *r3 = NULL;
        TpmPcrSet pcrs;
        size_t idx;
        Loaded l, now;

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/go-tpm-tools/cos-101-amd-sev.bin");
        b = baseline_of(&l);
        pcrs = replay_all(l.log);
        for (size_t i = 0; i < pcrs.n_banks; i++) {
                TpmPcrBank *bank = &pcrs.banks[i];
                uint8_t buf[2 * TPM_DIGEST_MAX];

                memcpy(buf, bank->value[4], bank->size);
                memset(buf + bank->size, 0x5a, bank->size);
                assert_int_equal(EVP_Digest(buf, 2u * bank->size, bank->value[4], NULL,
                                            tpm_alg_to_evp(bank->alg), NULL),
                                 1);
        }
        assert_int_equal(drift_compare(b, &pcrs, l.buf, l.size, &r), 0);
        assert_int_equal(r->drifted, 1u << 4);
        assert_line(r, "PCR 4: extended outside the event log");
        assert_int_equal(n_lines(r), 1);
        assert_true(r->pcrs[0].outside_log && !r->pcrs[0].log_changed);

        /* The log loses an event on PCR 4 and PCR 4 is extended besides. */
        idx = find_event(l.log, 4, EV_EFI_BOOT_SERVICES_APPLICATION, NULL, 0);
        now = with_event(&l, idx, NULL, 0, NULL, 0);
        assert_int_equal(drift_compare(b, &pcrs, now.buf, now.size, &r2), 0);
        assert_line_prefix(r2, "PCR 4: boot application removed: ");
        assert_line(r2, "PCR 4: also extended outside the event log");

        /* The same log edit with the PCRs of the baseline: the log no longer describes PCR 4. */
        pcrs = replay_all(l.log);
        assert_int_equal(drift_compare(b, &pcrs, now.buf, now.size, &r3), 0);
        assert_int_equal(r3->drifted, 1u << 4);
        assert_false(r3->pcrs[0].value_changed);
        assert_line(r3, "PCR 4: the event log changed but the PCR did not");
        assert_line_prefix(r3, "PCR 4: boot application removed: ");
        unload(&now);
        unload(&l);
}

/* No log on either side, and a log now that does not parse: PCRs still compared. Only PCRs both
 * sides have are compared. */
static void test_without_logs(void **state) {
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL, *nolog = NULL;
        _cleanup_(drift_report_freep) DriftReport *r = NULL, *r2 = NULL, *r3 = NULL;
        static const uint8_t garbage[64] = {1, 2, 3};
        TpmPcrSet pcrs, now;
        Diag d = {};
        Loaded l;

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/tpm2-tools/event-sd-boot-fedora37.bin");
        b = baseline_of(&l);
        pcrs = replay_all(l.log);
        now = pcrs;
        now.banks[0].value[9][0] ^= 1;
        assert_int_equal(drift_compare(b, &now, NULL, 0, &r), 0);
        assert_string_equal(r->log_note, "no event log now");
        assert_int_equal(r->drifted, 1u << 9);
        assert_line_prefix(r, "PCR 9: changed (sha256 ");
        assert_non_null(strstr(r->pcrs[0].lines[0], "; no event log now"));

        assert_int_equal(drift_compare(b, &now, garbage, sizeof(garbage), &r2), 0);
        assert_true(startswith(r2->log_note, "the event log does not parse: "));
        assert_int_equal(r2->drifted, 1u << 9);

        assert_int_equal(
                drift_baseline_new(DRIFT_SOURCE_ENROLLMENT, T0, &pcrs, NULL, 0, &nolog, &d), 0);
        now.banks[0].mask = 1u << 9;
        assert_int_equal(drift_compare(nolog, &now, l.buf, l.size, &r3), 0);
        assert_string_equal(r3->log_note, "the baseline has no event log");
        assert_int_equal(r3->compared, 1u << 9);
        assert_int_equal(r3->drifted, 1u << 9);
        /* The log of now does not give the changed value either. */
        assert_true(r3->pcrs[0].outside_log);
        assert_line(r3, "PCR 9: extended outside the event log");
        unload(&l);
}

/* A SHA-1 format log (Windows-style option ROM log): entries changed by type and digest. */
static void test_sha1_log(void **state) {
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL;
        _cleanup_(drift_report_freep) DriftReport *r = NULL;
        static const char blob[] = "different code";
        size_t idx;
        Loaded l, now;

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/tpm2-tools/event-uefi-sha1-log.bin");
        assert_false(l.log->crypto_agile);
        b = baseline_of(&l);
        idx = find_event(l.log, 0, EV_S_CRTM_VERSION, NULL, 0);
        now = with_event(&l, idx, blob, sizeof(blob) - 1, blob, sizeof(blob) - 1);
        r = compare_with(b, &now);
        assert_int_equal(r->drifted, 1u);
        assert_int_equal(r->pcrs[0].alg, TPM_ALG_SHA1);
        assert_line_prefix(r, "PCR 0: event changed: EV_S_CRTM_VERSION ");
        assert_non_null(strstr(r->pcrs[0].lines[0], "-> different code"));
        unload(&now);
        unload(&l);
}

/* Many differences: capped, the last line counts the rest. */
static void test_lines_capped(void **state) {
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL;
        _cleanup_(drift_report_freep) DriftReport *r = NULL;
        Loaded l, now;
        Builder bl;

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin");
        b = baseline_of(&l);
        bl = (Builder){.log = l.log, .buf = l.buf};
        for (size_t i = 0; i < l.log->n_events; i++) {
                /* every grub command rewritten */
                if (l.log->events[i].pcr == 8 && l.log->events[i].data_size > 10 &&
                    memcmp(l.log->events[i].data, "grub_cmd: ", 10) == 0) {
                        char c[64];
                        int n = snprintf(c, sizeof(c), "grub_cmd: echo %zu", i);
                        new_event(&bl, 8, EV_IPL, c, (size_t) n + 1, c + 10, (size_t) n - 10);
                } else
                        copy_event(&bl, i);
        }
        now = builder_done(&bl);
        r = compare_with(b, &now);
        assert_int_equal(r->drifted, 1u << 8);
        assert_int_equal(r->pcrs[0].n_lines, DRIFT_LINES_PER_PCR_MAX);
        assert_line_prefix(r, "PCR 8: grub command changed: search.fs_uuid ");
        assert_true(startswith(r->pcrs[0].lines[DRIFT_LINES_PER_PCR_MAX - 1], "PCR 8: ... and "));
        {
                _cleanup_(freep) char *m = NULL;
                size_t nl = 0;

                assert_int_equal(drift_pcr_message(&r->pcrs[0], &m), 0);
                for (const char *c = m; *c; c++)
                        nl += *c == '\n';
                assert_int_equal(nl, DRIFT_LINES_PER_PCR_MAX - 1);
                assert_true(startswith(m, r->pcrs[0].lines[0]));
                assert_true(endswith(m, " more differences"));
        }
        assert_non_null(strstr(r->pcrs[0].lines[DRIFT_LINES_PER_PCR_MAX - 1], " more differences"));
        for (size_t i = 0; i < r->pcrs[0].n_lines; i++) {
                assert_true(strlen(r->pcrs[0].lines[i]) <= DRIFT_LINE_MAX);
                for (const char *c = r->pcrs[0].lines[i]; *c; c++)
                        assert_true((unsigned char) *c >= 0x20 && *c != 0x7f);
        }
        unload(&now);
        unload(&l);
}

/* ---- the baseline file ---- */

static void test_baseline_round_trip(void **state) {
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL, *back = NULL, *nolog = NULL,
                                                      *back2 = NULL;
        _cleanup_(freep) char *text = NULL, *text2 = NULL, *again = NULL;
        TpmPcrSet pcrs;
        Diag d = {};
        Loaded l;

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin");
        b = baseline_of(&l);
        assert_int_equal(drift_baseline_to_json(b, &text), 0);
        assert_true(endswith(text, "}\n"));
        assert_int_equal(drift_baseline_parse(text, strlen(text), &back, &d), 0);
        assert_int_equal(back->time, T0);
        assert_int_equal(back->source, DRIFT_SOURCE_BOOT);
        assert_int_equal(back->eventlog_size, l.size);
        assert_memory_equal(back->eventlog, l.buf, l.size);
        assert_int_equal(back->pcrs.n_banks, 3);
        assert_memory_equal(&back->pcrs, &b->pcrs, sizeof(TpmPcrSet));
        assert_non_null(back->log);
        assert_int_equal(drift_baseline_to_json(back, &again), 0);
        assert_string_equal(again, text);

        pcrs = replay_all(l.log);
        assert_int_equal(
                drift_baseline_new(DRIFT_SOURCE_ENROLLMENT, T0, &pcrs, NULL, 0, &nolog, &d), 0);
        assert_int_equal(drift_baseline_to_json(nolog, &text2), 0);
        assert_non_null(strstr(text2, "\"eventlog\":null"));
        assert_int_equal(drift_baseline_parse(text2, strlen(text2), &back2, &d), 0);
        assert_null(back2->eventlog);
        assert_null(back2->log);
        assert_int_equal(back2->source, DRIFT_SOURCE_ENROLLMENT);
        unload(&l);
}

/* Each hostile variant of a small valid baseline is refused with a Diag naming the problem. */
static void test_baseline_strict(void **state) {
        static const char pcrs_ok[] =
                "\"pcrs\":{\"sha256\":{\"0\":"
                "\"0000000000000000000000000000000000000000000000000000000000000000\"}}";
        static const struct {
                const char *text;
                int error;
                const char *diag;
        } cases[] = {
                {"{\"version\":1,\"source\":\"boot\",\"time\":\"2026-11-29T03:00:00Z\",%s,"
                 "\"eventlog\":null,\"eventlog_sha256\":null}",
                 0, NULL},
                {"{\"version\":2,\"source\":\"boot\",\"time\":\"2026-11-29T03:00:00Z\",%s,"
                 "\"eventlog\":null,\"eventlog_sha256\":null}",
                 -EPROTONOSUPPORT, "version 2"},
                {"{\"version\":1,\"version\":1,\"source\":\"boot\",\"time\":\"2026-11-29T03:00:"
                 "00Z\","
                 "%s,\"eventlog\":null,\"eventlog_sha256\":null}",
                 -EBADMSG, "a member twice"},
                {"{\"version\":1,\"source\":\"boot\",\"time\":\"2026-11-29T03:00:00Z\",%s,"
                 "\"eventlog\":null,\"eventlog_sha256\":null,\"x\":1}",
                 -EBADMSG, "unknown member \"x\""},
                {"{\"version\":1,\"source\":\"reboot\",\"time\":\"2026-11-29T03:00:00Z\",%s,"
                 "\"eventlog\":null,\"eventlog_sha256\":null}",
                 -EBADMSG, "source"},
                {"{\"version\":1,\"source\":\"boot\",\"time\":\"2026-11-29T04:00:00+01:00\",%s,"
                 "\"eventlog\":null,\"eventlog_sha256\":null}",
                 -EBADMSG, "YYYY-MM-DDTHH:MM:SSZ"},
                {"{\"version\":1,\"source\":\"boot\",\"time\":\"2026-11-29T03:00:00Z\","
                 "\"pcrs\":{\"SHA256\":{}},\"eventlog\":null,\"eventlog_sha256\":null}",
                 -EBADMSG, "not a bank name"},
                {"{\"version\":1,\"source\":\"boot\",\"time\":\"2026-11-29T03:00:00Z\","
                 "\"pcrs\":{\"sha256\":{\"07\":\"00\"}},\"eventlog\":null,\"eventlog_sha256\":"
                 "null}",
                 -EBADMSG, "not a PCR index"},
                {"{\"version\":1,\"source\":\"boot\",\"time\":\"2026-11-29T03:00:00Z\","
                 "\"pcrs\":{\"sha1\":{\"24\":\"00\"}},\"eventlog\":null,\"eventlog_sha256\":null}",
                 -EBADMSG, "not a PCR index"},
                {"{\"version\":1,\"source\":\"boot\",\"time\":\"2026-11-29T03:00:00Z\","
                 "\"pcrs\":{\"sha1\":{\"0\":\"00\"}},\"eventlog\":null,\"eventlog_sha256\":null}",
                 -EBADMSG, "pcrs.sha1.0: not 20 bytes"},
                {"{\"version\":1,\"source\":\"boot\",\"time\":\"2026-11-29T03:00:00Z\","
                 "\"pcrs\":{\"sha1\":{\"0\":\"00000000000000000000000000000000000000AA\"}},"
                 "\"eventlog\":null,\"eventlog_sha256\":null}",
                 -EBADMSG, "lower-case hex"},
                {"{\"version\":1,\"source\":\"boot\",\"time\":\"2026-11-29T03:00:00Z\","
                 "\"pcrs\":{},\"eventlog\":null,\"eventlog_sha256\":null}",
                 -EBADMSG, "no PCR values"},
                {"{\"version\":1,\"source\":\"boot\",\"time\":\"2026-11-29T03:00:00Z\",%s,"
                 "\"eventlog\":\"AAAA\",\"eventlog_sha256\":null}",
                 -EBADMSG, "eventlog_sha256"},
                {"{\"version\":1,\"source\":\"boot\",\"time\":\"2026-11-29T03:00:00Z\",%s,"
                 "\"eventlog\":\"AA==\",\"eventlog_sha256\":null}",
                 -EBADMSG, "not base64url"},
                {"{\"version\":1,\"source\":\"boot\",\"time\":\"2026-11-29T03:00:00Z\",%s,"
                 "\"eventlog\":\"AB\",\"eventlog_sha256\":"
                 "\"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d\"}",
                 -EBADMSG, "not base64url"},
                {"{\"version\":1,\"source\":\"boot\",\"time\":\"2026-11-29T03:00:00Z\",%s,"
                 "\"eventlog\":\"AA\",\"eventlog_sha256\":"
                 "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
                 -EBADMSG, "does not match"},
                /* SHA-256 of one zero byte: matches, but one byte is no event log. */
                {"{\"version\":1,\"source\":\"boot\",\"time\":\"2026-11-29T03:00:00Z\",%s,"
                 "\"eventlog\":\"AA\",\"eventlog_sha256\":"
                 "\"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d\"}",
                 -EBADMSG, "event log"},
                {"[1]", -EBADMSG, "not one JSON object"},
                {"{\"version\":1}{}", -EBADMSG, "not one JSON object"},
                {"{\"version\":\"1\"}", -EBADMSG, "version"},
                {"{\"version\":1,\"source\":\"b\\u0000oot\"}", -EBADMSG, "not one JSON object"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL;
                char text[1024];
                Diag d = {};
                int r;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                (void) snprintf(text, sizeof(text), cases[i].text, pcrs_ok);
#pragma GCC diagnostic pop
                r = drift_baseline_parse(text, strlen(text), &b, &d);
                if (r != cases[i].error)
                        fail_msg("case %zu: %d, expected %d (%s)", i, r, cases[i].error, d.text);
                if (cases[i].error == 0) {
                        assert_non_null(b);
                        continue;
                }
                assert_null(b);
                if (!strstr(d.text, cases[i].diag))
                        fail_msg("case %zu: diag \"%s\" lacks \"%s\"", i, d.text, cases[i].diag);
        }
}

static void test_baseline_too_big(void **state) {
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL;
        size_t n = DRIFT_BASELINE_MAX + 1;
        _cleanup_(freep) char *text = malloc(n);
        Diag d = {};

        assert_non_null(text);
        memset(text, ' ', n);
        assert_int_equal(drift_baseline_parse(text, n, &b, &d), -E2BIG);
        assert_null(b);
}

static void test_baseline_new_refuses(void **state) {
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL;
        TpmPcrSet none = {}, twice = {.n_banks = 2};
        static const uint8_t junk[8] = {1};
        Diag d = {};

        assert_int_equal(drift_baseline_new(DRIFT_SOURCE_BOOT, T0, &none, NULL, 0, &b, &d),
                         -EINVAL);
        twice.banks[0] = (TpmPcrBank){.alg = TPM_ALG_SHA256, .size = 32, .mask = 1};
        twice.banks[1] = twice.banks[0];
        assert_int_equal(drift_baseline_new(DRIFT_SOURCE_BOOT, T0, &twice, NULL, 0, &b, &d),
                         -EINVAL);
        twice.n_banks = 1;
        assert_int_equal(
                drift_baseline_new(DRIFT_SOURCE_BOOT, T0, &twice, junk, sizeof(junk), &b, &d),
                -EBADMSG);
        assert_null(b);
        assert_int_equal(drift_baseline_new(DRIFT_SOURCE_BOOT, T0, &twice, NULL, 0, &b, &d), 0);
        assert_string_equal(drift_source_to_string(DRIFT_SOURCE_ENROLLMENT), "enrollment");
        assert_int_equal(drift_source_from_string("enrollment"), DRIFT_SOURCE_ENROLLMENT);
        assert_int_equal(drift_source_from_string("x"), -EINVAL);
}

static void test_pcr_list(void **state) {
        char buf[DRIFT_PCR_LIST_SIZE];

        assert_string_equal(drift_pcr_list(0, buf), "");
        assert_string_equal(drift_pcr_list((1u << 0) | (1u << 7) | (1u << 23), buf), "0,7,23");
        assert_string_equal(drift_pcr_list(0xffffff, buf),
                            "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23");
}

static int strict(const char *text, size_t max, int depth, json_object **ret) {
        return json_parse_object_strict(text, strlen(text), max, depth, ret);
}

/* The pieces drift shares with the verifier: one event's JSON is the whole log's entry, the
 * Secure Boot variables' vendor GUIDs, the strict object parser. */
static void test_shared_pieces(void **state) {
        _cleanup_(json_object_putp) json_object *all = NULL, *o = NULL;
        json_object *events;
        Loaded l;

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin");
        assert_int_equal(eventlog_to_json(l.log, &all), 0);
        assert_true(json_object_object_get_ex(all, "events", &events));
        for (size_t i = 0; i < l.log->n_events; i++) {
                _cleanup_(json_object_putp) json_object *one = NULL;

                assert_int_equal(eventlog_event_to_json(l.log, i, &one), 0);
                assert_string_equal(
                        json_object_to_json_string(one),
                        json_object_to_json_string(json_object_array_get_idx(events, i)));
        }
        assert_int_equal(eventlog_event_to_json(l.log, l.log->n_events, &o), -EINVAL);
        assert_null(o);
        unload(&l);

        assert_string_equal(efi_secure_boot_variable_guid("PK"),
                            "8be4df61-93ca-11d2-aa0d-00e098032b8c");
        assert_string_equal(efi_secure_boot_variable_guid("KEK"),
                            "8be4df61-93ca-11d2-aa0d-00e098032b8c");
        assert_string_equal(efi_secure_boot_variable_guid("db"),
                            "d719b2cb-3d3a-4596-a3bc-dad00e67656f");
        assert_string_equal(efi_secure_boot_variable_guid("dbx"),
                            "d719b2cb-3d3a-4596-a3bc-dad00e67656f");
        assert_null(efi_secure_boot_variable_guid("MokList"));
        assert_null(efi_secure_boot_variable_guid("pk"));

        assert_int_equal(strict("{\"a\":{\"b\":1}}", 100, 2, &o), 0);
        json_object_put(TAKE_PTR(o));
        assert_int_equal(strict("{\"a\":{\"b\":1}}", 12, 2, &o), -E2BIG);
        assert_int_equal(strict("{\"a\":{\"b\":[1]}}", 100, 2, &o), -EBADMSG);
        assert_int_equal(strict("{\"a\":1,\"a\":2}", 100, 2, &o), -EBADMSG);
        assert_int_equal(strict("{\"a\":{\"b\":1,\"b\":1}}", 100, 2, &o), -EBADMSG);
        assert_int_equal(strict("[]", 100, 2, &o), -EBADMSG);
        assert_int_equal(strict("{\"a\":\"\\u0000\"}", 100, 2, &o), -EBADMSG);
        assert_null(o);
        assert_int_equal(strict("{\"a\":1,\"b\":2}", 100, 2, &o), 0);
        {
                static const char *const ab[] = {"a", "b"}, *const a[] = {"a"};

                assert_null(json_unknown_member(o, ab, 2));
                assert_string_equal(json_unknown_member(o, a, 1), "b");
        }
}

/* ---- the known-good reference ---- */

static void lines_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* A denial explained: the reboot with another kernel command line, against the reference. */
static void test_reference_lines(void **state) {
        static const char cmd[] = "kernel_cmdline: /vmlinuz-6.8.0-1010-gcp root=PARTUUID="
                                  "8270f3c9-b4e4-4345-80ee-5a62db7ebf3f ro init=/bin/sh";
        _cleanup_(drift_baseline_freep) DriftBaseline *ref = NULL;
        _cleanup_(drift_report_freep) DriftReport *r = NULL, *same = NULL;
        TpmPcrSet pcrs;
        char **v = NULL;
        size_t n = 0, idx;
        Diag d = {};
        Loaded l, now;

        assert_int_equal(drift_reference_lines(NULL, NULL, 8, &v, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(v[0], "no known-good reference: enroll or a permitted attestation "
                                  "records one");
        lines_free(v, n);
        assert_int_equal(drift_reference_lines(NULL, NULL, 1, &v, &n), -EINVAL);

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin");
        pcrs = replay_all(l.log);
        assert_int_equal(drift_baseline_new(DRIFT_SOURCE_ACCEPTED, T0, &pcrs, l.buf, l.size, &ref,
                                            &d),
                         0);
        assert_int_equal(drift_reference_lines(ref, NULL, 8, &v, &n), -EINVAL);

        same = compare_with(ref, &l);
        assert_int_equal(drift_reference_lines(ref, same, 8, &v, &n), 0);
        assert_int_equal(n, 1);
        assert_true(startswith(v[0], "nothing changed since the known-good reference of "
                                     "2026-11-30T00:53:20Z (accepted): "));
        lines_free(v, n);

        idx = find_event(l.log, 8, EV_IPL, "kernel_cmdline", 14);
        now = with_event(&l, idx, cmd, sizeof(cmd), cmd + 16, sizeof(cmd) - 17);
        r = compare_with(ref, &now);
        assert_int_equal(drift_reference_lines(ref, r, 8, &v, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(v[0], "changed since the known-good reference of "
                                  "2026-11-30T00:53:20Z (accepted): PCR 8");
        assert_true(startswith(v[1], "PCR 8: kernel command line changed: /vmlinuz-6.8.0-1010-gcp "));
        assert_true(endswith(v[1], " -> /vmlinuz-6.8.0-1010-gcp root=PARTUUID="
                                   "8270f3c9-b4e4-4345-80ee-5a62db7ebf3f ro init=/bin/sh"));
        lines_free(v, n);
        unload(&now);
        unload(&l);
}

/* More lines than allowed: the first ones, then how many more. */
static void test_reference_lines_capped(void **state) {
        char *l7[] = {"PCR 7: a", "PCR 7: b", "PCR 7: c"}, *l9[] = {"PCR 9: d", "PCR 9: e"};
        DriftPcr p[] = {{.pcr = 7, .lines = l7, .n_lines = 3}, {.pcr = 9, .lines = l9, .n_lines = 2}};
        DriftReport rep = {.compared = 0xffffff, .drifted = (1u << 7) | (1u << 9), .pcrs = p,
                           .n_pcrs = 2};
        DriftBaseline ref = {.source = DRIFT_SOURCE_ENROLLMENT, .time = T0};
        char **v = NULL;
        size_t n = 0;

        assert_int_equal(drift_reference_lines(&ref, &rep, 4, &v, &n), 0);
        assert_int_equal(n, 4);
        assert_string_equal(v[0], "changed since the known-good reference of "
                                  "2026-11-30T00:53:20Z (enrollment): PCRs 7,9");
        assert_string_equal(v[1], "PCR 7: a");
        assert_string_equal(v[2], "PCR 7: b");
        assert_string_equal(v[3], "... and 3 more lines");
        lines_free(v, n);
        /* Exactly as many as fit: no "more" line. */
        assert_int_equal(drift_reference_lines(&ref, &rep, 6, &v, &n), 0);
        assert_int_equal(n, 6);
        assert_string_equal(v[5], "PCR 9: e");
        lines_free(v, n);
        assert_int_equal(drift_reference_lines(&ref, &rep, 5, &v, &n), 0);
        assert_int_equal(n, 5);
        assert_string_equal(v[4], "... and 2 more lines");
        lines_free(v, n);
        /* The log note follows the first line. */
        (void) snprintf(rep.log_note, sizeof(rep.log_note), "no event log now");
        assert_int_equal(drift_reference_lines(&ref, &rep, 6, &v, &n), 0);
        assert_true(endswith(v[0], "PCRs 7,9; no event log now"));
        lines_free(v, n);
}

/* Same measurements whatever the source and time; any PCR, bank or log byte makes them differ. */
static void test_baseline_same(void **state) {
        _cleanup_(drift_baseline_freep) DriftBaseline *a = NULL, *b = NULL, *c = NULL,
                                                      *nolog = NULL, *moved = NULL,
                                                      *back = NULL;
        _cleanup_(freep) char *text = NULL;
        TpmPcrSet pcrs, other;
        Diag d = {};
        Loaded l;

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin");
        pcrs = replay_all(l.log);
        assert_int_equal(drift_baseline_new(DRIFT_SOURCE_ACCEPTED, T0, &pcrs, l.buf, l.size, &a, &d),
                         0);
        assert_int_equal(drift_baseline_new(DRIFT_SOURCE_ENROLLMENT, T0 + 60, &pcrs, l.buf, l.size,
                                            &b, &d),
                         0);
        assert_true(drift_baseline_same(a, b));
        assert_true(drift_baseline_same(b, a));
        assert_int_equal(drift_baseline_new(DRIFT_SOURCE_ACCEPTED, T0, &pcrs, NULL, 0, &nolog, &d),
                         0);
        assert_false(drift_baseline_same(a, nolog));
        other = pcrs;
        other.banks[1].value[8][0] ^= 1;
        assert_int_equal(drift_baseline_new(DRIFT_SOURCE_ACCEPTED, T0, &other, l.buf, l.size,
                                            &moved, &d),
                         0);
        assert_false(drift_baseline_same(a, moved));
        other = pcrs;
        other.n_banks = 2;
        assert_int_equal(drift_baseline_new(DRIFT_SOURCE_ACCEPTED, T0, &other, l.buf, l.size, &c,
                                            &d),
                         0);
        assert_false(drift_baseline_same(a, c));
        assert_false(drift_baseline_same(a, NULL));

        /* "accepted" is written and read back. */
        assert_int_equal(drift_baseline_to_json(a, &text), 0);
        assert_non_null(strstr(text, "\"source\":\"accepted\""));
        assert_int_equal(drift_baseline_parse(text, strlen(text), &back, &d), 0);
        assert_int_equal(back->source, DRIFT_SOURCE_ACCEPTED);
        assert_true(drift_baseline_same(a, back));
        assert_string_equal(drift_source_to_string(DRIFT_SOURCE_ACCEPTED), "accepted");
        assert_int_equal(drift_source_from_string("accepted"), DRIFT_SOURCE_ACCEPTED);
        unload(&l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_real_logs),
                cmocka_unit_test(test_db_certificate_added),
                cmocka_unit_test(test_dbx_hashes_added),
                cmocka_unit_test(test_db_certificate_removed_secure_boot_off),
                cmocka_unit_test(test_cmdline_and_boot_application),
                cmocka_unit_test(test_cmdline_systemd_stub),
                cmocka_unit_test(test_inserted_and_removed),
                cmocka_unit_test(test_outside_log),
                cmocka_unit_test(test_without_logs),
                cmocka_unit_test(test_sha1_log),
                cmocka_unit_test(test_lines_capped),
                cmocka_unit_test(test_baseline_round_trip),
                cmocka_unit_test(test_baseline_strict),
                cmocka_unit_test(test_baseline_too_big),
                cmocka_unit_test(test_baseline_new_refuses),
                cmocka_unit_test(test_pcr_list),
                cmocka_unit_test(test_shared_pieces),
                cmocka_unit_test(test_reference_lines),
                cmocka_unit_test(test_reference_lines_capped),
                cmocka_unit_test(test_baseline_same),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
