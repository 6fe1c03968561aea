/* SPDX-License-Identifier: Apache-2.0 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/strutil.h"
#include "tests/unit/test-util.h"
#include "vtpm/efi-decode.h"
#include "vtpm/eventlog.h"
#include "vtpm/tpm-pcrs.h"

/* A log read from the vectors, parsed; the EventLog points into buf. */
typedef struct Loaded {
        uint8_t *buf;
        size_t size;
        EventLog *log;
} Loaded;

static Loaded load(const char *rel) {
        Loaded l = {};
        Diag d = {};
        int r;

        l.buf = test_read_vector(rel, &l.size);
        r = eventlog_parse(l.buf, l.size, &l.log, &d);
        if (r < 0)
                fail_msg("%s: eventlog_parse: %d: %s", rel, r, d.text);
        return l;
}

static void unload(Loaded *l) {
        eventlog_free(l->log);
        free(l->buf);
        *l = (Loaded) {};
}

static void assert_pcr_hex(const TpmPcrBank *b, uint32_t pcr, const char *hex, const char *what) {
        char got[2 * TPM_DIGEST_MAX + 1];

        if (!(b->mask & (UINT32_C(1) << pcr)))
                fail_msg("%s: PCR %u is not in the replay", what, pcr);
        hex_encode_buf(b->value[pcr], b->size, got);
        if (strcmp(got, hex) != 0)
                fail_msg("%s: PCR %u replays to %s, expected %s", what, pcr, got, hex);
}

static json_object *json_get(json_object *o, const char *key) {
        json_object *v = NULL;

        if (!json_object_object_get_ex(o, key, &v))
                return NULL;
        return v;
}

static const char *json_get_str(json_object *o, const char *key) {
        json_object *v = json_get(o, key);
        return v ? json_object_get_string(v) : NULL;
}

/* ---- go-tpm-tools: expected-pcrs.json, all fourteen logs ---- */

static void test_go_tpm_tools_expected(void **state) {
        _cleanup_(json_object_putp) json_object *exp = NULL;
        uint8_t *text;
        size_t size, n_files = 0, n_pcrs = 0;

        SKIP_WITHOUT_VECTORS();
        text = test_read_vector("eventlog/go-tpm-tools/expected-pcrs.json", &size);
        assert_int_equal(json_parse_capped((const char *) text, size, 1u << 20, 16, &exp), 0);
        free(text);
        json_object_object_foreach(exp, file, spec) {
                char rel[256];
                Loaded l;

                (void) snprintf(rel, sizeof(rel), "eventlog/go-tpm-tools/%s", file);
                print_message("# %s\n", rel);
                l = load(rel);
                json_object_object_foreach(json_get(spec, "pcrs"), bank, values) {
                        uint16_t alg = tpm_alg_from_name(bank);
                        TpmPcrBank b;
                        char what[300];

                        assert_int_not_equal(alg, 0);
                        assert_int_equal(eventlog_replay(l.log, alg, &b), 0);
                        (void) snprintf(what, sizeof(what), "%s %s", file, bank);
                        json_object_object_foreach(values, idx, hex) {
                                uint32_t pcr;

                                assert_int_equal(safe_atou32(idx, &pcr), 0);
                                assert_pcr_hex(&b, pcr, json_object_get_string(hex), what);
                                n_pcrs++;
                        }
                }
                /* The digests of the EFI applications (PCR 4) go-tpm-tools extracts; gdc-host's
                 * expected ones are not in its log (they come from elsewhere in that test). */
                if (strcmp(file, "gdc-host.bin") != 0) {
                        json_object_object_foreach(json_get(spec, "efi_app_digests"), abank, list) {
                                uint16_t alg = tpm_alg_from_name(abank);
                                size_t k = 0;
                                char got[2 * TPM_DIGEST_MAX + 1];

                                for (size_t i = 0; i < l.log->n_events; i++) {
                                        const TcgEvent *e = &l.log->events[i];
                                        if (e->type != EV_EFI_BOOT_SERVICES_APPLICATION ||
                                            e->pcr != 4)
                                                continue;
                                        for (size_t j = 0; j < e->n_digests; j++) {
                                                if (e->digests[j].alg != alg)
                                                        continue;
                                                assert_true(k < json_object_array_length(list));
                                                hex_encode_buf(e->digests[j].digest,
                                                               e->digests[j].size, got);
                                                assert_string_equal(
                                                        got, json_object_get_string(
                                                                     json_object_array_get_idx(
                                                                             list, k)));
                                                k++;
                                        }
                                }
                                assert_int_equal(k, json_object_array_length(list));
                        }
                }
                unload(&l);
                n_files++;
        }
        assert_int_equal(n_files, 14);
        print_message("# %zu PCR values matched\n", n_pcrs);
        assert_true(n_pcrs > 200);
}

/* The format details the README states. */
static void test_go_tpm_tools_formats(void **state) {
        static const struct {
                const char *file;
                bool agile;
                size_t n_events, n_algs;
                int locality; /* -1: none */
        } v[] = {
                { "ubuntu-2404-amd-sevsnp.bin", true, 117, 3, -1 },
                { "rhel8-uefi.bin", true, 83, 3, -1 },
                { "ubuntu-1804-amd-sev.bin", true, 88, 3, -1 },
                { "ubuntu-2104-no-dbx.bin", true, 112, 3, -1 },
                { "ubuntu-2104-no-secure-boot.bin", true, 106, 3, -1 },
                { "gdc-host.bin", true, 159, 1, 3 },
                { "glinux-alex.bin", true, 29, 2, 3 },
                { "arch-linux-workstation.bin", true, 25, 2, -1 },
                { "debian-10.bin", false, 25, 1, -1 },
        };

        SKIP_WITHOUT_VECTORS();
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                char rel[256];
                Loaded l;
                TpmPcrBank b;

                (void) snprintf(rel, sizeof(rel), "eventlog/go-tpm-tools/%s", v[i].file);
                l = load(rel);
                assert_int_equal(l.log->crypto_agile, v[i].agile);
                assert_int_equal(l.log->n_events, v[i].n_events);
                assert_int_equal(l.log->n_algs, v[i].n_algs);
                assert_int_equal(l.log->has_startup_locality, v[i].locality >= 0);
                if (v[i].locality >= 0)
                        assert_int_equal(l.log->startup_locality, v[i].locality);
                assert_int_equal(l.log->padding, 0);
                assert_int_equal(l.log->size, l.size);
                /* The SHA-1 format has no Spec ID header: event 0 is extended. */
                if (!v[i].agile) {
                        assert_int_not_equal(l.log->events[0].type, EV_NO_ACTION);
                        assert_int_equal(eventlog_replay(l.log, TPM_ALG_SHA256, &b), -ENOENT);
                }
                unload(&l);
        }
}

/* ---- tpm2-tools: the pcrs: section of each event-pretty YAML ---- */

/* Compares the log's replay with a tpm2_eventlog YAML's "pcrs:" section; returns the count. */
static size_t check_yaml(const char *yaml_rel, const char *log_rel) {
        uint8_t *text;
        size_t size, n = 0;
        char *line, *save = NULL;
        bool in_pcrs = false;
        TpmPcrBank bank = {};
        bool have_bank = false;
        Loaded l;

        text = test_read_vector(yaml_rel, &size);
        l = load(log_rel);
        for (line = strtok_r((char *) text, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
                char name[32], hex[160];
                unsigned idx;

                if (strcmp(line, "pcrs:") == 0) {
                        in_pcrs = true;
                        continue;
                }
                if (!in_pcrs)
                        continue;
                if (sscanf(line, "  %31[a-z0-9_]:", name) == 1 && line[2] != ' ') {
                        uint16_t alg = tpm_alg_from_name(name);

                        assert_int_not_equal(alg, 0);
                        assert_int_equal(eventlog_replay(l.log, alg, &bank), 0);
                        have_bank = true;
                        continue;
                }
                if (sscanf(line, "    %u : 0x%159[0-9a-f]", &idx, hex) == 2) {
                        char what[300];

                        assert_true(have_bank);
                        (void) snprintf(what, sizeof(what), "%s %s", log_rel,
                                        tpm_alg_hash_name(bank.alg));
                        assert_pcr_hex(&bank, idx, hex, what);
                        n++;
                        continue;
                }
                fail_msg("%s: unexpected line in pcrs: '%s'", yaml_rel, line);
        }
        unload(&l);
        free(text);
        return n;
}

static void test_tpm2_tools_yaml(void **state) {
        /* The counts are what the vectors README says each YAML holds. */
        static const struct {
                const char *name;
                size_t n;
        } v[] = {
                { "event-arch-linux.bin", 18 },    { "event-bootorder.bin", 20 },
                { "event-moklisttrusted.bin", 11 }, { "event-postcode.bin", 20 },
                { "event-sd-boot-fedora37.bin", 10 }, { "event-uefi-sha1-log.bin", 8 },
                { "event-uefiaction.bin", 2 },     { "event-uefiservices.bin", 2 },
                { "event-uefivar.bin", 2 },
        };

        SKIP_WITHOUT_VECTORS();
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                char yaml[256], log[256];

                (void) snprintf(yaml, sizeof(yaml), "eventlog/tpm2-tools/event-pretty/%s.yaml",
                                v[i].name);
                (void) snprintf(log, sizeof(log), "eventlog/tpm2-tools/%s", v[i].name);
                print_message("# %s\n", log);
                assert_int_equal(check_yaml(yaml, log), v[i].n);
        }
}

/* The tiny hand-cut logs declare SHA-384/512 but their events carry only SHA-1/256. */
static void test_tpm2_tools_partial_banks(void **state) {
        Loaded l;
        TpmPcrBank b;

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/tpm2-tools/event-uefivar.bin");
        assert_int_equal(l.log->n_algs, 4);
        assert_int_equal(eventlog_replay(l.log, TPM_ALG_SHA256, &b), 0);
        assert_int_equal(b.mask, 1u << 7);
        assert_int_equal(eventlog_replay(l.log, TPM_ALG_SHA384, &b), -ENODATA);
        assert_int_equal(eventlog_replay(l.log, TPM_ALG_SHA512, &b), -ENODATA);
        assert_int_equal(eventlog_replay(l.log, TPM_ALG_SM3_256, &b), -ENOENT);
        unload(&l);
}

/* ---- go-attestation ---- */

static TpmPcrSet one_pcr(uint16_t alg, uint32_t pcr, const char *hex) {
        TpmPcrSet s = {};
        TpmPcrBank *b = tpm_pcr_set_bank_add(&s, alg);

        assert_non_null(b);
        assert_int_equal(hex_decode_exact(hex, b->value[pcr], b->size), 0);
        b->mask = UINT32_C(1) << pcr;
        return s;
}

static void test_ebs_workaround(void **state) {
        _cleanup_(json_object_putp) json_object *v = NULL;
        json_object *p5;
        Loaded l;
        TpmPcrBank b;
        TpmPcrSet q;
        size_t compared;
        char hex[41];

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/go-attestation/ebs_event_missing_eventlog");
        assert_false(l.log->crypto_agile);
        assert_int_equal(l.log->n_events, 38);
        /* Plain replay: e5781a2f...d43c (README). */
        assert_int_equal(eventlog_replay(l.log, TPM_ALG_SHA1, &b), 0);
        hex_encode_buf(b.value[5], 20, hex);
        assert_memory_equal(hex, "e5781a2f", 8);
        assert_string_equal(hex + 36, "d43c");

        /* go-attestation's TestEBSVerifyWorkaround: PCR 5 matches with the two events added. */
        q = one_pcr(TPM_ALG_SHA1, 5, "31245808d6d35849bc394f6343f2b3ff908ed5e3");
        assert_int_equal(eventlog_compare_full(l.log, &q, &v, &compared), 0);
        assert_int_equal(compared, 1);
        p5 = json_get(json_get(v, "sha1"), "5");
        assert_non_null(p5);
        assert_true(json_object_get_boolean(json_get(p5, "match")));
        assert_string_equal(json_get_str(p5, "workaround"), EVENTLOG_WORKAROUND_EBS);
        assert_string_equal(json_get_str(p5, "replayed_with_workaround"),
                            "31245808d6d35849bc394f6343f2b3ff908ed5e3");
        assert_string_equal(json_get_str(p5, "replayed"), hex);
        json_object_put(v);
        v = NULL;

        /* Not when the value is something else: a plain mismatch, naming PCR 5's events. */
        q = one_pcr(TPM_ALG_SHA1, 5, "0000000000000000000000000000000000000001");
        assert_int_equal(eventlog_compare(l.log, &q, &v), 1);
        p5 = json_get(json_get(v, "sha1"), "5");
        assert_false(json_object_get_boolean(json_get(p5, "match")));
        assert_null(json_get(p5, "workaround"));
        assert_true(json_object_array_length(json_get(p5, "events")) >= 2);
        for (size_t i = 0; i < json_object_array_length(json_get(p5, "events")); i++) {
                int64_t k = json_object_get_int64(
                        json_object_array_get_idx(json_get(p5, "events"), i));
                assert_int_equal(l.log->events[k].pcr, 5);
        }
        json_object_put(v);
        v = NULL;
        unload(&l);

        /* Never for a log that has its ExitBootServices events: coreos_36 does. Its PCR 5 with
         * two more EBS events appended would "match" only through the workaround. */
        l = load("eventlog/go-attestation/coreos_36_shielded_vm_no_secure_boot_eventlog");
        assert_int_equal(eventlog_replay(l.log, TPM_ALG_SHA256, &b), 0);
        {
                EVP_MD_CTX *ctx = EVP_MD_CTX_new();
                static const char *const s[] = { "Exit Boot Services Invocation",
                                                 "Exit Boot Services Returned with Success" };
                uint8_t dg[32];

                for (size_t i = 0; i < 2; i++) {
                        assert_int_equal(EVP_Digest(s[i], strlen(s[i]), dg, NULL, EVP_sha256(),
                                                    NULL),
                                         1);
                        assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
                        EVP_DigestUpdate(ctx, b.value[5], 32);
                        EVP_DigestUpdate(ctx, dg, 32);
                        assert_int_equal(EVP_DigestFinal_ex(ctx, b.value[5], NULL), 1);
                }
                EVP_MD_CTX_free(ctx);
        }
        q = (TpmPcrSet) {};
        assert_non_null(tpm_pcr_set_bank_add(&q, TPM_ALG_SHA256));
        memcpy(q.banks[0].value[5], b.value[5], 32);
        q.banks[0].mask = 1u << 5;
        assert_int_equal(eventlog_compare(l.log, &q, &v), 1);
        assert_null(json_get(json_get(json_get(v, "sha256"), "5"), "workaround"));
        unload(&l);
}

static void test_go_attestation_logs(void **state) {
        static const struct {
                const char *file;
                bool agile;
                size_t n_events, n_algs;
        } v[] = {
                { "coreos_36_shielded_vm_no_secure_boot_eventlog", true, 76, 3 },
                { "crypto_agile_eventlog", true, 27, 1 },
                { "option_rom_eventlog", false, 61, 1 },
                { "sb_cert_eventlog", true, 15, 3 },
                { "short_no_action_eventlog", false, 1, 1 },
        };
        Loaded l;
        TpmPcrBank b;

        SKIP_WITHOUT_VECTORS();
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                char rel[256];
                _cleanup_(json_object_putp) json_object *j = NULL;

                (void) snprintf(rel, sizeof(rel), "eventlog/go-attestation/%s", v[i].file);
                l = load(rel);
                assert_int_equal(l.log->crypto_agile, v[i].agile);
                assert_int_equal(l.log->n_events, v[i].n_events);
                assert_int_equal(l.log->n_algs, v[i].n_algs);
                assert_int_equal(eventlog_to_json(l.log, &j), 0);
                unload(&l);
        }

        /* A single SHA-1 format StartupLocality event: PCR 0 = 00..03, nothing extended. */
        l = load("eventlog/go-attestation/short_no_action_eventlog");
        assert_true(l.log->has_startup_locality);
        assert_int_equal(l.log->startup_locality, 3);
        assert_int_equal(eventlog_replay(l.log, TPM_ALG_SHA1, &b), 0);
        assert_int_equal(b.mask, 1);
        assert_pcr_hex(&b, 0, "0000000000000000000000000000000000000003", "short_no_action");
        unload(&l);

        /* option_rom: an EV_NO_ACTION event with pcrIndex 0xFFFFFFFF parses and is skipped. */
        l = load("eventlog/go-attestation/option_rom_eventlog");
        assert_int_equal(l.log->events[60].type, EV_NO_ACTION);
        assert_int_equal(l.log->events[60].pcr, UINT32_MAX);
        assert_int_equal(eventlog_replay(l.log, TPM_ALG_SHA1, &b), 0);
        assert_int_equal(b.mask, (1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) |
                                         (1u << 5) | (1u << 6) | (1u << 7) | (1u << 11) |
                                         (1u << 12) | (1u << 13) | (1u << 14));
        unload(&l);
}

/* ---- tpm/: quotes' PCR values against their logs ---- */

static void compare_file(const EventLog *log, const char *pcrs_rel, size_t want_compared) {
        _cleanup_(json_object_putp) json_object *v = NULL;
        uint8_t *text;
        size_t size, compared = 0;
        TpmPcrSet q;
        Diag d = {};

        text = test_read_vector(pcrs_rel, &size);
        assert_int_equal(tpm_pcrs_from_json((const char *) text, size, &q, &d), 0);
        free(text);
        assert_int_equal(eventlog_compare_full(log, &q, &v, &compared), 0);
        assert_int_equal(compared, want_compared);
        /* PCRs the log does not extend are listed, not compared. */
        json_object_object_foreach(v, bank, bo) {
                (void) bank;
                json_object_object_foreach(bo, idx, pv) {
                        (void) idx;
                        if (!json_get(pv, "match"))
                                assert_false(json_object_get_boolean(json_get(pv, "in_log")));
                        else
                                assert_true(json_object_get_boolean(json_get(pv, "match")));
                }
        }
}

static void test_tpm_quotes(void **state) {
        static const char *const cos[] = {
                "tpm/gce-cos-85/nonce9009.pcrs-sha1.json",
                "tpm/gce-cos-85/nonce9009.pcrs-sha256.json",
                "tpm/gce-cos-85/nonce9009.pcrs-sha384.json",
                "tpm/gce-cos-85/no-nonce.pcrs-sha1.json",
                "tpm/gce-cos-85/no-nonce.pcrs-sha256.json",
                "tpm/gce-cos-85/no-nonce.pcrs-sha384.json",
        };
        Loaded l;

        SKIP_WITHOUT_VECTORS();
        /* "replaying eventlog.bin reproduces PCRs 0–9 of every bank" */
        l = load("tpm/gce-cos-85/eventlog.bin");
        assert_int_equal(l.log->n_events, 45);
        for (size_t i = 0; i < ELEMENTSOF(cos); i++)
                compare_file(l.log, cos[i], 10);
        unload(&l);

        /* "replay reproduces PCRs 0, 4, 5, 7, 11, 12, 13, 14" */
        l = load("tpm/windows-gcp-shielded-vm/eventlog.bin");
        assert_false(l.log->crypto_agile);
        assert_int_equal(l.log->n_events, 21);
        compare_file(l.log, "tpm/windows-gcp-shielded-vm/pcrs-sha1.json", 8);
        unload(&l);
}

/* A quote none of whose PCRs the log covers compares nothing (and says so). */
static void test_compare_nothing(void **state) {
        _cleanup_(json_object_putp) json_object *v = NULL;
        Loaded l;
        TpmPcrSet q;
        size_t compared = 99;

        SKIP_WITHOUT_VECTORS();
        l = load("tpm/gce-cos-85/eventlog.bin");
        q = one_pcr(TPM_ALG_SHA256, 10,
                    "0000000000000000000000000000000000000000000000000000000000000000");
        assert_int_equal(eventlog_compare_full(l.log, &q, &v, &compared), 0);
        assert_int_equal(compared, 0);
        assert_false(json_object_get_boolean(json_get(json_get(json_get(v, "sha256"), "10"),
                                                      "in_log")));
        json_object_put(v);
        v = NULL;
        /* A bank the log does not carry: SHA-512. */
        q = one_pcr(TPM_ALG_SHA512, 0,
                    "0000000000000000000000000000000000000000000000000000000000000000"
                    "0000000000000000000000000000000000000000000000000000000000000000");
        assert_int_equal(eventlog_compare_full(l.log, &q, &v, &compared), 0);
        assert_int_equal(compared, 0);
        assert_null(json_get(v, "sha512"));
        unload(&l);
}

/* ---- decoding ---- */

static json_object *event_json(json_object *doc, size_t i) {
        json_object *e = json_object_array_get_idx(json_get(doc, "events"), i);

        assert_non_null(e);
        assert_int_equal(json_object_get_int64(json_get(e, "num")), (int64_t) i);
        return e;
}

static json_object *decoded(json_object *doc, size_t i) {
        json_object *d = json_get(event_json(doc, i), "decoded");

        if (!d)
                fail_msg("event %zu has no decoded data: %s", i,
                         json_get_str(event_json(doc, i), "summary"));
        return d;
}

static void test_decode_ubuntu_2404(void **state) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        json_object *d, *lists;
        Loaded l;

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin");
        assert_int_equal(eventlog_to_json(l.log, &j), 0);
        assert_string_equal(json_get_str(j, "format"), "crypto-agile");
        assert_int_equal(json_object_array_length(json_get(j, "algorithms")), 3);
        assert_null(json_get(j, "startup_locality"));

        d = decoded(j, 0);
        assert_string_equal(json_get_str(d, "signature"), "Spec ID Event03");
        assert_string_equal(json_get_str(d, "spec_version"), "2.0");
        assert_int_equal(json_object_array_length(json_get(d, "algorithms")), 3);

        assert_string_equal(json_get_str(decoded(j, 1), "version"), "GCE Virtual Firmware v2");
        d = decoded(j, 2);
        assert_string_equal(json_get_str(d, "confidential_technology_name"), "AMD SEV-SNP");

        /* Secure Boot is off (README). */
        d = decoded(j, 3);
        assert_string_equal(json_get_str(d, "name"), "SecureBoot");
        assert_string_equal(json_get_str(d, "variable_guid"),
                            "8be4df61-93ca-11d2-aa0d-00e098032b8c");
        assert_false(json_object_get_boolean(json_get(d, "enabled")));
        assert_true(json_object_get_boolean(json_get(event_json(j, 3), "digest_matches_data")));

        /* PK: one X.509 certificate; dbx: SHA-256 hashes only. */
        d = decoded(j, 4);
        assert_string_equal(json_get_str(d, "name"), "PK");
        lists = json_get(d, "signature_lists");
        assert_int_equal(json_object_array_length(lists), 1);
        assert_string_equal(json_get_str(json_object_array_get_idx(lists, 0), "type"), "x509");
        assert_string_equal(
                json_get_str(json_get(json_object_array_get_idx(
                                              json_get(json_object_array_get_idx(lists, 0),
                                                       "entries"),
                                              0),
                                      "certificate"),
                             "subject"),
                "CN=newpk");
        d = decoded(j, 7);
        assert_string_equal(json_get_str(d, "name"), "dbx");
        {
                size_t hashes = 0;
                lists = json_get(d, "signature_lists");
                for (size_t i = 0; i < json_object_array_length(lists); i++) {
                        json_object *li = json_object_array_get_idx(lists, i);
                        assert_string_equal(json_get_str(li, "type"), "sha256");
                        hashes += (size_t) json_object_get_int64(json_get(li, "count"));
                }
                assert_int_equal(hashes, 371);
        }
        assert_string_equal(json_get_str(event_json(j, 7), "summary"),
                            "dbx: 0 certificates, 371 hashes");

        /* Separator, boot variables, EFI action, GPT. */
        d = decoded(j, 8);
        assert_string_equal(json_get_str(d, "value"), "00000000");
        assert_false(json_object_get_boolean(json_get(d, "error")));
        d = decoded(j, 12);
        assert_int_equal(json_object_array_length(json_get(d, "boot_order")), 3);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(
                                    json_get(d, "boot_order"), 0)),
                            "Boot0002");
        d = json_get(decoded(j, 13), "load_option");
        assert_string_equal(json_get_str(d, "description"), "Ubuntu");
        assert_memory_equal(json_get_str(d, "device_path"), "PciRoot(0x0)/Pci(0x4,0x0)/NVMe(0x1,",
                            35);
        assert_true(json_object_get_boolean(json_get(event_json(j, 13), "digest_matches_data")));
        assert_string_equal(json_get_str(decoded(j, 16), "text"),
                            "Calling EFI Application from Boot Option");
        d = decoded(j, 24);
        assert_int_equal(json_object_get_int64(json_get(d, "number_of_partitions")), 4);
        assert_int_equal(json_object_array_length(json_get(d, "partitions")), 4);
        assert_true(json_object_get_boolean(json_get(event_json(j, 24), "digest_matches_data")));

        /* Boot applications: shim by device path, grub by file path. */
        d = decoded(j, 25);
        assert_memory_equal(json_get_str(d, "device_path"),
                            "PciRoot(0x0)/Pci(0x4,0x0)/NVMe(0x1,00-00-00-00-00-00-00-00)/"
                            "HD(15,GPT,",
                            65);
        assert_non_null(
                strstr(json_get_str(d, "device_path"), "/File(\\EFI\\ubuntu\\shimx64.efi)"));
        assert_string_equal(json_get_str(decoded(j, 30), "device_path"),
                            "File(\\EFI\\ubuntu\\grubx64.efi)");

        /* shim: MOK variable names on PCR 14; SbatLevel as the authority text. */
        d = decoded(j, 26);
        assert_string_equal(json_get_str(d, "text"), "MokList");
        assert_string_equal(json_get_str(d, "source"), "shim");
        assert_null(json_get(event_json(j, 26), "digest_matches_data"));
        d = decoded(j, 28);
        assert_string_equal(json_get_str(d, "name"), "SbatLevel");
        assert_memory_equal(json_get_str(d, "text"), "sbat,1,", 7);

        /* grub: commands on PCR 8 (digest over the text after the first space). */
        d = decoded(j, 33);
        assert_memory_equal(json_get_str(d, "text"), "grub_cmd: search.fs_uuid ", 25);
        assert_string_equal(json_get_str(d, "source"), "grub");
        assert_true(json_object_get_boolean(json_get(event_json(j, 33), "digest_matches_data")));
        /* The kernel command line the README gives. */
        assert_string_equal(json_get_str(decoded(j, 105), "text"),
                            "kernel_cmdline: /vmlinuz-6.8.0-1010-gcp "
                            "root=PARTUUID=8270f3c9-b4e4-4345-80ee-5a62db7ebf3f ro "
                            "console=ttyS0,115200 panic=-1");
        assert_true(json_object_get_boolean(json_get(event_json(j, 105), "digest_matches_data")));
        assert_string_equal(json_get_str(decoded(j, 104), "text"), "/vmlinuz-6.8.0-1010-gcp");

        /* The Linux EFI stub's tagged event. */
        d = decoded(j, 113);
        assert_string_equal(json_get_str(d, "tag_id"), "0x8f3b22ed");
        assert_string_equal(json_get_str(d, "tag"), "Linux: kernel command line");
        assert_string_equal(json_get_str(d, "text"), "LOADED_IMAGE::LoadOptions");

        assert_string_equal(json_get_str(decoded(j, 116), "text"),
                            "Exit Boot Services Returned with Success");
        /* Every event has a type name, digests, raw data and a summary. */
        for (size_t i = 0; i < l.log->n_events; i++) {
                json_object *e = event_json(j, i);
                assert_non_null(json_get_str(e, "type"));
                assert_non_null(json_get_str(e, "summary"));
                assert_non_null(json_get(e, "data"));
                assert_int_equal(json_object_object_length(json_get(e, "digests")),
                                 i == 0 ? 1 : 3);
                assert_null(json_get(e, "decode_error"));
        }
        unload(&l);
}

/* The documented quirks: arch-linux's SecureBoot variable has no data (go-tpm-tools fails on
 * it; we must not), and its last event's digest does not match its payload (tpm2-tools warns
 * "Event 24's digest does not match its payload"). */
static void test_decode_arch_quirks(void **state) {
        static const char *const logs[] = { "eventlog/go-tpm-tools/arch-linux-workstation.bin",
                                            "eventlog/tpm2-tools/event-arch-linux.bin" };

        SKIP_WITHOUT_VECTORS();
        for (size_t k = 0; k < ELEMENTSOF(logs); k++) {
                _cleanup_(json_object_putp) json_object *j = NULL;
                json_object *d, *e;
                Loaded l = load(logs[k]);

                assert_int_equal(eventlog_to_json(l.log, &j), 0);
                d = decoded(j, 3);
                assert_string_equal(json_get_str(d, "name"), "SecureBoot");
                assert_int_equal(json_object_get_int64(json_get(d, "data_size")), 0);
                assert_true(json_object_object_get_ex(d, "enabled", NULL));
                assert_null(json_get(d, "enabled"));
                assert_string_equal(json_get_str(d, "note"),
                                    "SecureBoot data len is 0, expected 1");

                e = event_json(j, 24);
                assert_string_equal(json_get_str(e, "type"), "EV_IPL");
                assert_false(json_object_get_boolean(json_get(e, "digest_matches_data")));
                /* systemd-boot's UTF-16 command line (365 bytes: half a NUL). */
                d = decoded(j, 24);
                assert_string_equal(json_get_str(d, "encoding"), "utf-16le");
                assert_memory_equal(json_get_str(d, "text"), "initrd=\\intel-ucode.img ", 24);
                assert_string_equal(json_get_str(d, "source"), "systemd-boot");
                for (size_t i = 0; i < l.log->n_events; i++)
                        if (i != 24)
                                assert_true(json_object_get_boolean(json_get(
                                                    event_json(j, i), "digest_matches_data")) ||
                                            !json_get(event_json(j, i), "digest_matches_data"));
                unload(&l);
        }
}

/* Across every real log, digest_matches_data is false exactly where we know it is. */
static void test_digest_matches_data_all(void **state) {
        static const char *const logs[] = {
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
                "eventlog/tpm2-tools/event-arch-linux.bin",
                "eventlog/tpm2-tools/event-bootorder.bin",
                "eventlog/tpm2-tools/event-moklisttrusted.bin",
                "eventlog/tpm2-tools/event-postcode.bin",
                "eventlog/tpm2-tools/event-sd-boot-fedora37.bin",
                "eventlog/tpm2-tools/event-uefi-sha1-log.bin",
                "eventlog/tpm2-tools/event-uefiaction.bin",
                "eventlog/tpm2-tools/event-uefiservices.bin",
                "eventlog/tpm2-tools/event-uefivar.bin",
                "eventlog/go-attestation/coreos_36_shielded_vm_no_secure_boot_eventlog",
                "eventlog/go-attestation/crypto_agile_eventlog",
                "eventlog/go-attestation/ebs_event_missing_eventlog",
                "eventlog/go-attestation/option_rom_eventlog",
                "eventlog/go-attestation/sb_cert_eventlog",
                "eventlog/go-attestation/short_no_action_eventlog",
                "tpm/gce-cos-85/eventlog.bin",
                "tpm/windows-gcp-shielded-vm/eventlog.bin",
        };
        char found[512] = "";
        size_t checked = 0;

        SKIP_WITHOUT_VECTORS();
        for (size_t k = 0; k < ELEMENTSOF(logs); k++) {
                _cleanup_(json_object_putp) json_object *j = NULL;
                Loaded l = load(logs[k]);

                assert_int_equal(eventlog_to_json(l.log, &j), 0);
                for (size_t i = 0; i < l.log->n_events; i++) {
                        json_object *e = event_json(j, i), *m = json_get(e, "digest_matches_data");

                        /* Nothing real is malformed for its type. */
                        if (json_get(e, "decode_error"))
                                fail_msg("%s event %zu: %s", logs[k], i,
                                         json_get_str(e, "decode_error"));
                        if (!m)
                                continue;
                        checked++;
                        if (!json_object_get_boolean(m)) {
                                const char *base = strrchr(logs[k], '/') + 1;
                                size_t len = strlen(found);
                                (void) snprintf(found + len, sizeof(found) - len, "%s:%zu ", base,
                                                i);
                        }
                }
                unload(&l);
        }
        /* arch-linux's systemd-boot command line (both copies), and gdc-host's
         * EV_S_CRTM_VERSION (which tpm2-tools also flags). */
        assert_string_equal(found, "arch-linux-workstation.bin:24 gdc-host.bin:3 "
                                   "event-arch-linux.bin:24 ");
        assert_true(checked > 1000);
}

static void test_decode_misc(void **state) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        json_object *d;
        Loaded l;

        SKIP_WITHOUT_VECTORS();
        /* SP 800-155 reference-manifest events. */
        l = load("eventlog/go-tpm-tools/eventlogwithsp800155.bin");
        assert_int_equal(eventlog_to_json(l.log, &j), 0);
        d = decoded(j, 1);
        assert_string_equal(json_get_str(d, "signature"), "SP800-155 Event3");
        assert_string_equal(json_get_str(d, "platform_manufacturer"), "Google, Inc.");
        assert_string_equal(json_get_str(d, "platform_model"), "Google Compute Engine");
        assert_string_equal(json_get_str(d, "firmware_version"), "2.7");
        assert_int_equal(json_object_get_int64(json_get(d, "platform_manufacturer_id")), 11129);
        assert_string_equal(json_get_str(json_get(d, "rim_locator"), "variable_name"),
                            "FirmwareRIM");
        d = decoded(j, 2);
        assert_memory_equal(json_get_str(json_get(d, "rim_locator"), "uri"),
                            "https://storage.googleapis.com/gce_tcb_integrity/", 49);
        json_object_put(j);
        j = NULL;
        unload(&l);

        /* StartupLocality, S-CRTM contents, firmware blobs, platform config text. */
        l = load("eventlog/go-tpm-tools/gdc-host.bin");
        assert_int_equal(eventlog_to_json(l.log, &j), 0);
        assert_int_equal(json_object_get_int64(json_get(j, "startup_locality")), 3);
        assert_int_equal(json_object_get_int64(json_get(decoded(j, 1), "startup_locality")), 3);
        assert_string_equal(json_get_str(decoded(j, 2), "text"), "Boot Guard Measured S-CRTM");
        assert_string_equal(json_get_str(decoded(j, 4), "blob_base"), "0xffdc0000");
        assert_string_equal(json_get_str(decoded(j, 4), "blob_length"), "0x230000");
        d = json_object_array_get_idx(json_get(decoded(j, 69), "tables"), 0);
        assert_string_equal(json_get_str(d, "name"), "SMBIOS3_TABLE_GUID");
        json_object_put(j);
        j = NULL;
        unload(&l);

        /* systemd-boot/stub on Fedora: UTF-16 kernel command line on PCR 12, initrd tag. */
        l = load("eventlog/tpm2-tools/event-sd-boot-fedora37.bin");
        assert_int_equal(eventlog_to_json(l.log, &j), 0);
        d = decoded(j, 23);
        assert_string_equal(json_get_str(d, "text"), " console=ttyS0 console=tty0 efi=debug ");
        assert_string_equal(json_get_str(d, "source"), "systemd-stub");
        assert_true(json_object_get_boolean(json_get(event_json(j, 23), "digest_matches_data")));
        assert_string_equal(json_get_str(decoded(j, 25), "tag"), "Linux: initrd");
        json_object_put(j);
        j = NULL;
        unload(&l);

        /* Windows: "WBCL" separators are not errors; the authority certificate. */
        l = load("eventlog/go-attestation/option_rom_eventlog");
        assert_int_equal(eventlog_to_json(l.log, &j), 0);
        d = decoded(j, 55);
        assert_false(json_object_get_boolean(json_get(d, "error")));
        assert_string_equal(json_get_str(d, "text"), "WBCL");
        d = decoded(j, 10);
        assert_non_null(strstr(json_get_str(json_get(d, "certificate"), "subject"),
                               "CN=Microsoft Corporation UEFI CA 2011"));
        assert_int_equal(strlen(json_get_str(json_get(d, "certificate"), "sha256")), 64);
        assert_string_equal(json_get_str(decoded(j, 8), "text"),
                            "Load microcode revision 000000A1 for processor 000306F2");
        assert_string_equal(json_get_str(decoded(j, 11), "device_path"),
                            "PciRoot(0x0)/Pci(0x2,0x0)/Pci(0x0,0x0)/Offset(0xf600,0x207ff)");
        assert_null(json_get(event_json(j, 60), "decoded"));
        assert_string_equal(json_get_str(event_json(j, 60), "type"), "EV_NO_ACTION");
        json_object_put(j);
        j = NULL;
        unload(&l);

        /* Unknown event types: the number and the raw bytes. */
        {
                static const uint8_t raw[] = {
                        0, 0, 0, 0, 0x78, 0x56, 0x34, 0x12,            /* PCR 0, type */
                        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, /* SHA-1 digest */
                        15, 16, 17, 18, 19, 20, 3, 0, 0, 0, 0xde, 0xad, 0xbe,
                };
                EventLog *log = NULL;

                assert_int_equal(eventlog_parse(raw, sizeof(raw), &log, NULL), 0);
                assert_int_equal(eventlog_to_json(log, &j), 0);
                assert_string_equal(json_get_str(event_json(j, 0), "type"), "0x12345678");
                assert_string_equal(json_get_str(event_json(j, 0), "data"), "deadbe");
                assert_string_equal(json_get_str(event_json(j, 0), "summary"), "deadbe");
                assert_null(json_get(event_json(j, 0), "decoded"));
                assert_null(json_get(event_json(j, 0), "decode_error"));
                eventlog_free(log);
        }
}

static void test_type_names(void **state) {
        assert_string_equal(eventlog_type_to_string(EV_SEPARATOR), "EV_SEPARATOR");
        assert_string_equal(eventlog_type_to_string(EV_NO_ACTION), "EV_NO_ACTION");
        assert_string_equal(eventlog_type_to_string(EV_EFI_VARIABLE_AUTHORITY),
                            "EV_EFI_VARIABLE_AUTHORITY");
        assert_string_equal(eventlog_type_to_string(EV_EFI_HCRTM_EVENT), "EV_EFI_HCRTM_EVENT");
        assert_null(eventlog_type_to_string(0x12345678));
        assert_null(eventlog_type_to_string(0x80000100));
}

/* ---- synthetic logs ---- */

typedef struct Buf {
        uint8_t b[16384];
        size_t n;
} Buf;

static void put(Buf *b, const void *p, size_t n) {
        assert_true(b->n + n <= sizeof(b->b));
        memcpy(b->b + b->n, p, n);
        b->n += n;
}
static void put_u8(Buf *b, uint8_t v) {
        put(b, &v, 1);
}
static void put_u16(Buf *b, uint16_t v) {
        uint8_t x[2] = { (uint8_t) v, (uint8_t) (v >> 8) };
        put(b, x, 2);
}
static void put_u32(Buf *b, uint32_t v) {
        uint8_t x[4] = { (uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16),
                         (uint8_t) (v >> 24) };
        put(b, x, 4);
}
static void put_fill(Buf *b, uint8_t v, size_t n) {
        assert_true(b->n + n <= sizeof(b->b));
        memset(b->b + b->n, v, n);
        b->n += n;
}

/* A crypto-agile header declaring algs[0..n). */
static void put_header(Buf *b, const uint16_t *algs, const uint16_t *sizes, uint32_t n) {
        put_u32(b, 0);            /* pcrIndex */
        put_u32(b, EV_NO_ACTION); /* eventType */
        put_fill(b, 0, 20);
        put_u32(b, 16 + 4 + 4 + 4 + 4 * n + 1);
        put(b, "Spec ID Event03", 16);
        put_u32(b, 0);      /* platformClass */
        put_u8(b, 0);       /* minor */
        put_u8(b, 2);       /* major */
        put_u8(b, 2);       /* errata */
        put_u8(b, 2);       /* uintnSize */
        put_u32(b, n);
        for (uint32_t i = 0; i < n; i++) {
                put_u16(b, algs[i]);
                put_u16(b, sizes[i]);
        }
        put_u8(b, 0); /* vendorInfoSize */
}

/* An agile event with one digest per (alg, size), each filled with fill. */
static void put_event2(Buf *b, uint32_t pcr, uint32_t type, const uint16_t *algs,
                       const uint16_t *sizes, uint32_t n, uint8_t fill, const void *data,
                       uint32_t data_size) {
        put_u32(b, pcr);
        put_u32(b, type);
        put_u32(b, n);
        for (uint32_t i = 0; i < n; i++) {
                put_u16(b, algs[i]);
                put_fill(b, fill, sizes[i]);
        }
        put_u32(b, data_size);
        put(b, data, data_size);
}

static int parse_buf(const Buf *b, EventLog **ret, Diag *d) {
        return eventlog_parse(b->b, b->n, ret, d);
}

static void test_synthetic_algorithms(void **state) {
        /* SHA-256, SM3 and an algorithm we do not know (SHA3-256, 0x0027): all parse, SHA-256
         * replays, the unknown one cannot. */
        static const uint16_t algs[] = { TPM_ALG_SHA256, TPM_ALG_SM3_256, 0x0027 };
        static const uint16_t sizes[] = { 32, 32, 32 };
        static const uint8_t sep[4] = {};
        Buf b = {};
        EventLog *log = NULL;
        TpmPcrBank bank;
        _cleanup_(json_object_putp) json_object *j = NULL;
        int r;

        put_header(&b, algs, sizes, 3);
        put_event2(&b, 7, EV_SEPARATOR, algs, sizes, 3, 0xAB, sep, 4);
        put_event2(&b, 0, EV_NO_ACTION, algs, sizes, 3, 0x00, "StartupLocality\0\4", 17);
        assert_int_equal(parse_buf(&b, &log, NULL), 0);
        assert_int_equal(log->n_algs, 3);
        assert_int_equal(log->n_events, 3);
        assert_true(log->has_startup_locality);
        assert_int_equal(log->startup_locality, 4);
        assert_int_equal(eventlog_replay(log, TPM_ALG_SHA256, &bank), 0);
        assert_int_equal(bank.mask, (1u << 0) | (1u << 7));
        assert_pcr_hex(&bank, 0, "0000000000000000000000000000000000000000000000000000000000000004",
                       "locality 4");
        assert_int_equal(eventlog_replay(log, 0x0027, &bank), -EOPNOTSUPP);
        r = eventlog_replay(log, TPM_ALG_SM3_256, &bank);
        assert_true(r == 0 || r == -EOPNOTSUPP);
        assert_int_equal(eventlog_replay(log, TPM_ALG_SHA1, &bank), -ENOENT);
        assert_int_equal(eventlog_to_json(log, &j), 0);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(
                                    json_get(j, "algorithms"), 2)),
                            "0x0027");
        assert_non_null(json_get(json_get(event_json(j, 1), "digests"), "0x0027"));
        /* The separator's SHA-256 digest is not the hash of its data. */
        assert_false(json_object_get_boolean(json_get(event_json(j, 1), "digest_matches_data")));
        eventlog_free(log);
}

static void test_synthetic_malformed(void **state) {
        static const uint16_t algs[] = { TPM_ALG_SHA1, TPM_ALG_SHA256 };
        static const uint16_t sizes[] = { 20, 32 };
        static const uint8_t sep[4] = {};
        EventLog *log = NULL;
        Buf b;
        Diag d;

        /* Digest algorithm not in the Spec ID table. */
        b = (Buf) {};
        put_header(&b, algs, sizes, 1);
        put_event2(&b, 0, EV_SEPARATOR, algs + 1, sizes + 1, 1, 0, sep, 4);
        d = (Diag) {};
        assert_int_equal(parse_buf(&b, &log, &d), -EPROTONOSUPPORT);
        assert_non_null(strstr(d.text, "event 1 at offset 65"));
        assert_non_null(strstr(d.text, "0x000b"));
        assert_null(log);

        /* More digests than declared algorithms. */
        b = (Buf) {};
        put_header(&b, algs, sizes, 1);
        put_u32(&b, 0);
        put_u32(&b, EV_SEPARATOR);
        put_u32(&b, 2);
        d = (Diag) {};
        assert_int_equal(parse_buf(&b, &log, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "digests.count 2"));

        /* The same algorithm twice in one event. */
        b = (Buf) {};
        put_header(&b, algs, sizes, 2);
        {
                static const uint16_t twice[] = { TPM_ALG_SHA1, TPM_ALG_SHA1 };
                static const uint16_t tsz[] = { 20, 20 };
                put_event2(&b, 0, EV_SEPARATOR, twice, tsz, 2, 0, sep, 4);
        }
        assert_int_equal(parse_buf(&b, &log, NULL), -EBADMSG);

        /* eventSize larger than what is left. */
        b = (Buf) {};
        put_header(&b, algs, sizes, 2);
        put_event2(&b, 0, EV_SEPARATOR, algs, sizes, 2, 0, sep, 4);
        b.b[b.n - 8] = 0xFF, b.b[b.n - 7] = 0xFF, b.b[b.n - 6] = 0xFF, b.b[b.n - 5] = 0xFF;
        d = (Diag) {};
        assert_int_equal(parse_buf(&b, &log, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "eventSize 4294967295"));

        /* PCR index out of range (only EV_NO_ACTION may use one). */
        b = (Buf) {};
        put_header(&b, algs, sizes, 2);
        put_event2(&b, 24, EV_SEPARATOR, algs, sizes, 2, 0, sep, 4);
        d = (Diag) {};
        assert_int_equal(parse_buf(&b, &log, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "pcrIndex 24"));
        b = (Buf) {};
        put_header(&b, algs, sizes, 2);
        put_event2(&b, 0xFFFFFFFF, EV_NO_ACTION, algs, sizes, 2, 0, sep, 4);
        assert_int_equal(parse_buf(&b, &log, NULL), 0);
        eventlog_free(log);
        log = NULL;

        /* Spec ID: no algorithms, too many, wrong digest size for a known one, duplicates. */
        {
                static const uint16_t six[] = { 4, 11, 12, 13, 0x12, 0x27 };
                static const uint16_t six_sz[] = { 20, 32, 48, 64, 32, 32 };
                static const uint16_t bad[] = { TPM_ALG_SHA256 };
                static const uint16_t bad_sz[] = { 20 };
                static const uint16_t dup[] = { TPM_ALG_SHA256, TPM_ALG_SHA256 };
                static const uint16_t dup_sz[] = { 32, 32 };
                static const uint16_t huge[] = { 0x0027 };
                static const uint16_t huge_sz[] = { 65 };

                b = (Buf) {};
                put_header(&b, algs, sizes, 0);
                assert_int_equal(parse_buf(&b, &log, NULL), -EBADMSG);
                b = (Buf) {};
                put_header(&b, six, six_sz, 6);
                assert_int_equal(parse_buf(&b, &log, NULL), -EPROTONOSUPPORT);
                b = (Buf) {};
                put_header(&b, bad, bad_sz, 1);
                assert_int_equal(parse_buf(&b, &log, NULL), -EBADMSG);
                b = (Buf) {};
                put_header(&b, dup, dup_sz, 2);
                assert_int_equal(parse_buf(&b, &log, NULL), -EBADMSG);
                b = (Buf) {};
                put_header(&b, huge, huge_sz, 1);
                assert_int_equal(parse_buf(&b, &log, NULL), -EBADMSG);
                /* numberOfAlgorithms far beyond the event data. */
                b = (Buf) {};
                put_header(&b, algs, sizes, 1);
                b.b[32 + 24] = 0xFF, b.b[32 + 25] = 0xFF, b.b[32 + 26] = 0xFF, b.b[32 + 27] = 0x7F;
                assert_true(parse_buf(&b, &log, NULL) < 0);
        }

        /* Empty, all zero, too large. */
        assert_int_equal(eventlog_parse((const uint8_t *) "", 0, &log, NULL), -EBADMSG);
        b = (Buf) {};
        put_fill(&b, 0, 4096);
        assert_int_equal(parse_buf(&b, &log, NULL), -EBADMSG);
        {
                uint8_t *big = calloc(1, EVENTLOG_MAX_SIZE + 1u);
                assert_non_null(big);
                big[0] = 1;
                d = (Diag) {};
                assert_int_equal(eventlog_parse(big, EVENTLOG_MAX_SIZE + 1u, &log, &d), -E2BIG);
                free(big);
        }
        assert_null(log);

        /* A missing digest makes that bank unreplayable, not the log unparseable. */
        b = (Buf) {};
        put_header(&b, algs, sizes, 2);
        put_event2(&b, 0, EV_SEPARATOR, algs, sizes, 1, 0, sep, 4);
        assert_int_equal(parse_buf(&b, &log, NULL), 0);
        {
                TpmPcrBank bank;
                assert_int_equal(eventlog_replay(log, TPM_ALG_SHA1, &bank), 0);
                assert_int_equal(eventlog_replay(log, TPM_ALG_SHA256, &bank), -ENODATA);
        }
        eventlog_free(log);
}

/* Trailing zero padding ends the log, wherever the bytes come from. */
static void test_trailing_zeros(void **state) {
        Loaded l;
        uint8_t *padded;
        EventLog *log = NULL;
        TpmPcrBank a, b;

        SKIP_WITHOUT_VECTORS();
        l = load("eventlog/tpm2-tools/event-sd-boot-fedora37.bin");
        padded = calloc(1, l.size + 8192);
        assert_non_null(padded);
        memcpy(padded, l.buf, l.size);
        assert_int_equal(eventlog_parse(padded, l.size + 8192, &log, NULL), 0);
        assert_int_equal(log->n_events, l.log->n_events);
        assert_int_equal(log->padding, 8192);
        assert_int_equal(log->size, l.size);
        assert_int_equal(eventlog_replay(log, TPM_ALG_SHA256, &a), 0);
        assert_int_equal(eventlog_replay(l.log, TPM_ALG_SHA256, &b), 0);
        assert_memory_equal(&a, &b, sizeof(a));
        eventlog_free(log);
        log = NULL;
        /* Zeros then something: not padding, so parsing goes on (and fails here). */
        padded[l.size + 4000] = 1;
        assert_int_equal(eventlog_parse(padded, l.size + 8192, &log, NULL), -EBADMSG);
        free(padded);
        unload(&l);
}

/* Every prefix of a real log parses to exactly its whole events (a cut inside an event counts
 * as trailing zero padding only when the bytes cut off there are all zero), or fails cleanly. */
static void test_truncations(void **state) {
        static const char *const logs[] = { "eventlog/tpm2-tools/event-sd-boot-fedora37.bin",
                                            "eventlog/tpm2-tools/event-uefi-sha1-log.bin" };

        SKIP_WITHOUT_VECTORS();
        for (size_t k = 0; k < ELEMENTSOF(logs); k++) {
                Loaded l = load(logs[k]);
                size_t ok = 0;

                for (size_t n = 0; n <= l.size; n++) {
                        uint8_t *p = malloc(n ? n : 1);
                        EventLog *log = NULL;
                        size_t boundary = 0, whole = 0;
                        Diag d = {};
                        int r;

                        assert_non_null(p);
                        memcpy(p, l.buf, n);
                        /* The last event boundary at or before n, and the events before it. */
                        for (size_t i = 1; i <= l.log->n_events; i++) {
                                size_t end = i < l.log->n_events ? l.log->events[i].offset : l.size;
                                if (end <= n) {
                                        boundary = end;
                                        whole = i;
                                }
                        }
                        r = eventlog_parse(p, n, &log, &d);
                        if (whole > 0 && memeqzero(p + boundary, n - boundary)) {
                                assert_int_equal(r, 0);
                                assert_int_equal(log->n_events, whole);
                                assert_int_equal(log->size, boundary);
                                ok++;
                                eventlog_free(log);
                        } else {
                                assert_int_equal(r, -EBADMSG);
                                assert_true(d.text[0] != '\0');
                        }
                        free(p);
                }
                assert_true(ok >= l.log->n_events);
                unload(&l);
        }
}

/* Deterministic mutations of real logs: parse, replay and decode must never read out of
 * bounds (run under ASan) nor fail on anything but malformed input. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint32_t rng(void) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return (uint32_t) (rng_state >> 11);
}

static void test_mutations(void **state) {
        static const char *const logs[] = {
                "eventlog/tpm2-tools/event-sd-boot-fedora37.bin",
                "eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin",
                "eventlog/go-attestation/option_rom_eventlog",
                "eventlog/go-attestation/sb_cert_eventlog",
                "eventlog/tpm2-tools/event-uefi-sha1-log.bin",
        };
        size_t parsed = 0;

        SKIP_WITHOUT_VECTORS();
        for (size_t k = 0; k < ELEMENTSOF(logs); k++) {
                size_t size;
                uint8_t *orig = test_read_vector(logs[k], &size);

                for (int iter = 0; iter < 300; iter++) {
                        uint8_t *p = malloc(size);
                        size_t n = size;
                        EventLog *log = NULL;
                        int r;

                        assert_non_null(p);
                        memcpy(p, orig, size);
                        for (int m = 0, nm = 1 + (int) (rng() % 8); m < nm; m++) {
                                size_t at = rng() % size;
                                switch (rng() % 4) {
                                case 0:
                                        p[at] ^= (uint8_t) (1u << (rng() % 8));
                                        break;
                                case 1:
                                        p[at] = (uint8_t) rng();
                                        break;
                                case 2:
                                        p[at] = 0xFF;
                                        break;
                                default:
                                        n = MIN(n, at + 1);
                                        break;
                                }
                        }
                        r = eventlog_parse(p, n, &log, NULL);
                        assert_true(r == 0 || r == -EBADMSG || r == -EPROTONOSUPPORT);
                        if (r == 0) {
                                json_object *j = NULL;
                                TpmPcrBank bank;

                                for (size_t a = 0; a < log->n_algs; a++) {
                                        int q = eventlog_replay(log, log->algs[a].alg, &bank);
                                        assert_true(q == 0 || q == -EOPNOTSUPP || q == -ENODATA);
                                }
                                assert_int_equal(eventlog_to_json(log, &j), 0);
                                assert_non_null(json_object_to_json_string(j));
                                json_object_put(j);
                                eventlog_free(log);
                                parsed++;
                        }
                        free(p);
                }
                free(orig);
        }
        print_message("# %zu mutated logs parsed\n", parsed);
}

/* The event count is capped. */
static void test_event_cap(void **state) {
        /* SHA-1 format: a 32-byte minimal event, repeated. */
        size_t one = 32, n = EVENTLOG_MAX_EVENTS + 1u, size = n * one;
        uint8_t *p = calloc(n, one);
        EventLog *log = NULL;
        Diag d = {};

        assert_non_null(p);
        for (size_t i = 0; i < n; i++) {
                p[i * one + 4] = EV_SEPARATOR;
                p[i * one + 8] = 1; /* a non-zero digest byte: not padding */
        }
        assert_int_equal(eventlog_parse(p, size, &log, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "more than 100000 events"));
        assert_int_equal(eventlog_parse(p, size - one, &log, NULL), 0);
        assert_int_equal(log->n_events, EVENTLOG_MAX_EVENTS);
        eventlog_free(log);
        free(p);
}

/* ---- efi-decode pieces ---- */

static char *dp_text(const uint8_t *p, size_t n, int *ret) {
        TextBuf t = {};
        char *s;

        *ret = efi_device_path_to_text(p, n, &t);
        s = strdup(text_buf_str(&t));
        text_buf_done(&t);
        assert_non_null(s);
        return s;
}

static void test_device_paths(void **state) {
        static const uint8_t pci[] = {
                /* PciRoot(0x0) */
                0x02, 0x01, 0x0C, 0x00, 0xD0, 0x41, 0x03, 0x0A, 0x00, 0x00, 0x00, 0x00,
                /* Pci(0x1f,0x0) */
                0x01, 0x01, 0x06, 0x00, 0x00, 0x1F,
                /* Sata */
                0x03, 0x12, 0x0A, 0x00, 0x01, 0x00, 0xFF, 0xFF, 0x00, 0x00,
                /* File */
                0x04, 0x04, 0x0C, 0x00, '\\', 0, 'a', 0, '.', 0, 'e', 0,
                /* unknown */
                0x09, 0x07, 0x06, 0x00, 0xAA, 0xBB,
                0x7F, 0xFF, 0x04, 0x00,                                                 /* End */
        };
        static const uint8_t short_len[] = { 0x01, 0x01, 0x03, 0x00 };
        static const uint8_t overrun[] = { 0x01, 0x01, 0x40, 0x00, 0, 0 };
        static const uint8_t short_pci[] = { 0x01, 0x01, 0x05, 0x00, 0x00 };
        int r;
        char *s;

        s = dp_text(pci, sizeof(pci), &r);
        assert_int_equal(r, 0);
        assert_string_equal(s, "PciRoot(0x0)/Pci(0x1f,0x0)/Sata(0x1,0xffff,0x0)/File(\\a.e)/"
                               "Path(9,7,aabb)");
        free(s);
        s = dp_text(short_len, sizeof(short_len), &r);
        assert_int_equal(r, -EBADMSG);
        free(s);
        s = dp_text(overrun, sizeof(overrun), &r);
        assert_int_equal(r, -EBADMSG);
        free(s);
        /* A node too short for its type is shown generically. */
        s = dp_text(short_pci, sizeof(short_pci), &r);
        assert_int_equal(r, 0);
        assert_string_equal(s, "Path(1,1,00)");
        free(s);
        s = dp_text(pci, 0, &r);
        assert_int_equal(r, 0);
        assert_string_equal(s, "");
        free(s);
}

static void test_text_helpers(void **state) {
        /* U+1F600 as a surrogate pair, an unpaired surrogate, then "A". */
        static const uint8_t u16[] = { 0x3D, 0xD8, 0x00, 0xDE, 0x00, 0xD8, 'A', 0, 0, 0 };
        static const uint8_t bad_utf8[] = { 'a', 0xC0, 0x80, 'b', 0xED, 0xA0, 0x80 };
        TextBuf t = {};
        uint8_t g[16];

        text_buf_utf16le(&t, u16, sizeof(u16), true);
        assert_string_equal(text_buf_str(&t), "\xF0\x9F\x98\x80\xEF\xBF\xBD" "A");
        text_buf_done(&t);
        text_buf_utf8(&t, bad_utf8, sizeof(bad_utf8));
        assert_string_equal(text_buf_str(&t), "a\xEF\xBF\xBD\xEF\xBF\xBD" "b"
                                              "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
        text_buf_done(&t);
        assert_true(efi_text_ascii((const uint8_t *) "grub_cmd: x\0", 12));
        assert_false(efi_text_ascii((const uint8_t *) "a\0b", 3));
        assert_false(efi_text_ascii((const uint8_t *) "\0\0", 2));
        assert_true(efi_text_utf16le((const uint8_t *) "a\0b\0\0", 5)); /* systemd-boot's odd NUL */
        assert_false(efi_text_utf16le((const uint8_t *) "a\0b\0c", 5));
        assert_false(efi_text_utf16le((const uint8_t *) "\0\0a\0", 4));
        /* GUIDs: EFI byte order. */
        assert_int_equal(hex_decode_exact("61dfe48bca93d211aa0d00e098032b8c", g, 16), 0);
        {
                char s[EFI_GUID_STRING_SIZE];
                efi_guid_to_string(g, s);
                assert_string_equal(s, "8be4df61-93ca-11d2-aa0d-00e098032b8c");
                assert_string_equal(efi_guid_name(g), "EFI_GLOBAL_VARIABLE");
        }
}

static void test_variable_decode(void **state) {
        /* UEFI_VARIABLE_DATA with a UnicodeNameLength whose byte count overflows. */
        uint8_t v[64] = {};
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        TextBuf t = {};

        assert_non_null(o);
        memset(v + 16, 0xFF, 8);
        assert_int_equal(efi_variable_decode(v, sizeof(v), false, o, &t, NULL, NULL), -EBADMSG);
        /* VariableDataLength past the end. */
        memset(v + 16, 0, 8);
        v[16] = 1;
        v[24] = 100;
        assert_int_equal(efi_variable_decode(v, sizeof(v), false, o, &t, NULL, NULL), -EBADMSG);
        /* A db whose EFI_SIGNATURE_LIST is malformed: decoded with a note, not an error. */
        {
                Buf b = {};
                json_object *o2 = json_object_new_object();

                put_fill(&b, 0x11, 16);
                put_u32(&b, 2); /* UnicodeNameLength */
                put_u32(&b, 0);
                put_u32(&b, 12); /* VariableDataLength */
                put_u32(&b, 0);
                put(&b, "d\0b\0", 4);
                put_fill(&b, 0, 12); /* SignatureType */
                assert_int_equal(efi_variable_decode(b.b, b.n, false, o2, &t, NULL, NULL), 0);
                assert_string_equal(json_get_str(o2, "note"), "malformed EFI_SIGNATURE_LIST");
                json_object_put(o2);
        }
        text_buf_done(&t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_go_tpm_tools_expected),
                cmocka_unit_test(test_go_tpm_tools_formats),
                cmocka_unit_test(test_tpm2_tools_yaml),
                cmocka_unit_test(test_tpm2_tools_partial_banks),
                cmocka_unit_test(test_ebs_workaround),
                cmocka_unit_test(test_go_attestation_logs),
                cmocka_unit_test(test_tpm_quotes),
                cmocka_unit_test(test_compare_nothing),
                cmocka_unit_test(test_decode_ubuntu_2404),
                cmocka_unit_test(test_decode_arch_quirks),
                cmocka_unit_test(test_digest_matches_data_all),
                cmocka_unit_test(test_decode_misc),
                cmocka_unit_test(test_type_names),
                cmocka_unit_test(test_synthetic_algorithms),
                cmocka_unit_test(test_synthetic_malformed),
                cmocka_unit_test(test_trailing_zeros),
                cmocka_unit_test(test_truncations),
                cmocka_unit_test(test_mutations),
                cmocka_unit_test(test_event_cap),
                cmocka_unit_test(test_device_paths),
                cmocka_unit_test(test_text_helpers),
                cmocka_unit_test(test_variable_decode),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
