/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "common/cli-util.h"
#include "common/diag.h"
#include "common/exit-code.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "verifier/check.h"
#include "vtpm/eventlog.h"
#include "vtpm/tpm-pcrs.h"

/* PCR values files are small; tpm_pcrs_from_json refuses more than 1 MiB anyway. */
#define PCRS_MAX (1024u * 1024u)
/* Width of an event's summary in the listing (the JSON has all of it). */
#define SUMMARY_WIDTH 96u

static void help(void) {
        printf("Usage: cvm-verifier check eventlog LOG [OPTIONS]\n"
               "\n"
               "Parses a TCG firmware event log (binary_bios_measurements: crypto-agile or SHA-1\n"
               "format), replays it into PCR values for every bank it declares and lists its\n"
               "events, decoded. With --pcrs, compares the replay with quoted/read PCR values.\n"
               "\n"
               "  --pcrs FILE     PCR values as JSON: {\"0\": hex, ...}, [hex, ...], either\n"
               "                  under bank names ({\"sha256\": ...}), or MAA's forms\n"
               "                  [{\"Index\", \"Digest\"}] and\n"
               "                  {\"PCRs\": [{\"Index\", \"Digests\"}]}\n"
               "  --json          print the header, replayed PCRs, verdicts and events as JSON\n"
               "\n"
               "Exit codes: 0 ok (every compared PCR matches), 2 usage or unreadable file,\n"
               "3 malformed log or PCR values, 4 a PCR does not match (or none could be\n"
               "compared).\n");
}

/* -EFBIG (with a Diag) for a file over the cap: malformed input, exit 3. -ENOENT (logged) for a
 * file that cannot be read: a usage error, exit 2. */
static int load_input(const char *path, const char *what, size_t max, uint8_t **ret,
                     size_t *ret_size, Diag *d) {
        int r = read_full_file(path, max, ret, ret_size);

        if (r == -EFBIG)
                return diag_set(d, -EFBIG, "%s %s: larger than %zu bytes", what, path, max);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s %s: %m", what, path), -ENOENT;
        return 0;
}

static void alg_label(uint16_t alg, char buf[static 16]) {
        const char *n = tpm_alg_hash_name(alg);

        if (n)
                (void) snprintf(buf, 16, "%s", n);
        else
                (void) snprintf(buf, 16, "0x%04x", alg);
}

/* Why a bank cannot be replayed: the first extended event without a digest for it. */
static void describe_missing_digest(const EventLog *log, uint16_t alg, char *buf, size_t size) {
        for (size_t i = log->crypto_agile ? 1 : 0; i < log->n_events; i++) {
                const TcgEvent *e = &log->events[i];
                bool found = false;

                if (e->type == EV_NO_ACTION)
                        continue;
                for (size_t j = 0; j < e->n_digests; j++)
                        found = found || e->digests[j].alg == alg;
                if (!found) {
                        (void) snprintf(buf, size, "event %zu has no digest for it", i);
                        return;
                }
        }
        (void) snprintf(buf, size, "an event has no digest for it");
}

/* Prints s for a terminal: control characters become '.', at most width bytes (not splitting a
 * UTF-8 sequence), "..." when cut. */
static void print_sanitized(const char *s, size_t width) {
        size_t n = strlen(s), i = 0;

        while (i < n) {
                unsigned char c = (unsigned char) s[i];
                size_t k = 1;

                if (c >= 0xC0) {
                        while (i + k < n && ((unsigned char) s[i + k] & 0xC0) == 0x80)
                                k++;
                }
                if (i + k > width) {
                        fputs("...", stdout);
                        return;
                }
                /* C1 controls in UTF-8 (U+0080..U+009F) too: some terminals act on them. */
                if (c < 0x20 || c == 0x7F ||
                    (c == 0xC2 && k == 2 && (unsigned char) s[i + 1] < 0xA0))
                        putchar('.');
                else
                        fwrite(s + i, 1, k, stdout);
                i += k;
        }
}

static const char *json_str(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return NULL;
        return json_object_get_string(v);
}

static void print_events(json_object *events) {
        size_t n = json_object_array_length(events);

        printf("Events:\n");
        printf("%5s %3s  %-34s %s\n", "#", "PCR", "TYPE", "DATA");
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(events, i), *v;
                int64_t pcr = 0;

                if (json_object_object_get_ex(e, "pcr", &v))
                        pcr = json_object_get_int64(v);
                printf("%5zu ", i);
                if (pcr >= 0 && pcr <= 0xFFFF)
                        printf("%3" PRId64 "  ", pcr);
                else
                        printf("%3s  ", "-");
                printf("%-34s ", json_str(e, "type") ?: "?");
                print_sanitized(json_str(e, "summary") ?: "", SUMMARY_WIDTH);
                if (json_object_object_get_ex(e, "digest_matches_data", &v) &&
                    !json_object_get_boolean(v))
                        fputs("  [digest does not match data]", stdout);
                if (json_object_object_get_ex(e, "decode_error", &v)) {
                        fputs("  [", stdout);
                        print_sanitized(json_object_get_string(v), SUMMARY_WIDTH);
                        fputs("]", stdout);
                }
                putchar('\n');
        }
}

static void print_verdicts(json_object *verdicts, json_object *skipped, const char *pcrs_path) {
        printf("Verdicts against %s:\n", pcrs_path);
        for (size_t i = 0; i < json_object_array_length(skipped); i++)
                printf("  %-8s the log has no replayable bank for it (not compared)\n",
                       json_object_get_string(json_object_array_get_idx(skipped, i)));
        json_object_object_foreach(verdicts, bank, bo) {
                json_object_object_foreach(bo, idx, v) {
                        json_object *m, *w, *evs;

                        printf("  %-8s PCR %2s  ", bank, idx);
                        if (!json_object_object_get_ex(v, "match", &m)) {
                                printf("not extended by the log (not compared)\n");
                                continue;
                        }
                        if (json_object_get_boolean(m)) {
                                if (json_object_object_get_ex(v, "workaround", &w))
                                        printf("match (workaround: %s)\n",
                                               json_object_get_string(w));
                                else
                                        printf("match\n");
                                continue;
                        }
                        printf("MISMATCH: replayed %s, quoted %s", json_str(v, "replayed"),
                               json_str(v, "quoted"));
                        if (json_object_object_get_ex(v, "events", &evs)) {
                                size_t n = json_object_array_length(evs);
                                printf("; extended by event%s", n == 1 ? "" : "s");
                                for (size_t i = 0; i < n; i++)
                                        printf("%s%" PRId64, i ? ", " : " ",
                                               json_object_get_int64(
                                                       json_object_array_get_idx(evs, i)));
                        }
                        putchar('\n');
                }
        }
}

/* "sha256 PCR 4, sha1 PCR 7" for the error line (at most a few). */
static void mismatch_list(json_object *verdicts, char *buf, size_t size) {
        size_t len = 0, shown = 0;

        buf[0] = '\0';
        json_object_object_foreach(verdicts, bank, bo) {
                json_object_object_foreach(bo, idx, v) {
                        json_object *m;
                        int k;

                        if (!json_object_object_get_ex(v, "match", &m) ||
                            json_object_get_boolean(m))
                                continue;
                        if (shown++ == 6) {
                                (void) snprintf(buf + len, size - len, ", ...");
                                return;
                        }
                        k = snprintf(buf + len, size - len, "%s%s PCR %s", len ? ", " : "", bank,
                                     idx);
                        if (k < 0 || (size_t) k >= size - len)
                                return;
                        len += (size_t) k;
                }
        }
}

int check_eventlog_main(int argc, char **argv) {
        enum { ARG_PCRS = 0x100, ARG_JSON };
        static const struct option options[] = {
                { "pcrs", required_argument, NULL, ARG_PCRS },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(eventlog_freep) EventLog *log = NULL;
        _cleanup_(json_object_putp) json_object *ej = NULL, *doc = NULL, *pcrs_json = NULL,
                                                *verdicts = NULL, *skipped = NULL;
        _cleanup_(freep) uint8_t *buf = NULL, *pbuf = NULL;
        const char *log_path, *pcrs_path = NULL;
        size_t size, psize, compared = 0;
        TpmPcrSet quoted = {};
        TpmPcrBank replayed[TPM_MAX_BANKS];
        bool replayable[TPM_MAX_BANKS] = {};
        char why[TPM_MAX_BANKS][64] = {};
        bool json = false;
        int c, r, mismatches = 0, ret = EXIT_OK;
        Diag d = {};

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_PCRS:
                        pcrs_path = optarg;
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        if (optind + 1 != argc) {
                log_error("check eventlog: need exactly one LOG file (see --help)");
                return EXIT_USAGE;
        }
        log_path = argv[optind];

        r = load_input(log_path, "event log", EVENTLOG_MAX_SIZE, &buf, &size, &d);
        if (r == -ENOENT)
                return EXIT_USAGE;
        if (r >= 0 && pcrs_path) {
                r = load_input(pcrs_path, "PCR values", PCRS_MAX, &pbuf, &psize, &d);
                if (r == -ENOENT)
                        return EXIT_USAGE;
        }
        if (r < 0) {
                ret = EXIT_MALFORMED;
                goto fail;
        }
        r = eventlog_parse(buf, size, &log, &d);
        if (r == -ENOMEM)
                return log_error("Out of memory"), EXIT_INTERNAL;
        if (r < 0) {
                diag_set(&d, r, "%s", strerror(-r));
                {
                        Diag d2 = {};
                        diag_set(&d2, r, "%s: %s", log_path, d.text);
                        d = d2;
                }
                ret = EXIT_MALFORMED;
                goto fail;
        }
        if (pcrs_path) {
                Diag pd = {};

                r = tpm_pcrs_from_json((const char *) pbuf, psize, &quoted, &pd);
                if (r < 0) {
                        diag_set(&d, r, "%s: %s", pcrs_path, diag_text(&pd, strerror(-r)));
                        ret = EXIT_MALFORMED;
                        goto fail;
                }
        }

        /* Replay every bank the log declares; those we cannot hash are said so. */
        for (size_t i = 0; i < log->n_algs; i++) {
                r = eventlog_replay(log, log->algs[i].alg, &replayed[i]);
                if (r == -EOPNOTSUPP) {
                        (void) snprintf(why[i], sizeof(why[i]), "algorithm not supported");
                        continue;
                }
                if (r == -ENODATA) {
                        describe_missing_digest(log, log->algs[i].alg, why[i], sizeof(why[i]));
                        continue;
                }
                if (r < 0)
                        return log_error_errno(r, "Cannot replay %s: %m", log_path),
                               EXIT_INTERNAL;
                replayable[i] = true;
        }
        if (pcrs_path) {
                r = eventlog_compare_full(log, &quoted, &verdicts, &compared);
                if (r < 0) {
                        if (r == -ENOMEM)
                                return log_error("Out of memory"), EXIT_INTERNAL;
                        diag_set(&d, r, "%s: cannot compare with %s: %s", log_path, pcrs_path,
                                 strerror(-r));
                        ret = EXIT_MALFORMED;
                        goto fail;
                }
                mismatches = r;
                /* Quoted banks the log does not let us compare, said rather than dropped. */
                skipped = json_object_new_array();
                if (!skipped)
                        return EXIT_INTERNAL;
                for (size_t b = 0; b < quoted.n_banks; b++) {
                        const char *name = tpm_alg_hash_name(quoted.banks[b].alg);

                        if (!json_object_object_get_ex(verdicts, name, NULL) &&
                            json_object_array_add(skipped, json_object_new_string(name)) < 0)
                                return EXIT_INTERNAL;
                }
        }

        r = eventlog_to_json(log, &ej);
        if (r < 0)
                return log_error("Out of memory"), EXIT_INTERNAL;
        pcrs_json = json_object_new_object();
        if (!pcrs_json)
                return EXIT_INTERNAL;
        for (size_t i = 0; i < log->n_algs; i++) {
                json_object *bo;
                char label[16];

                if (!replayable[i])
                        continue;
                alg_label(log->algs[i].alg, label);
                bo = json_object_new_object();
                if (json_add(pcrs_json, label, bo) < 0)
                        return EXIT_INTERNAL;
                for (uint32_t p = 0; p < TPM_PCR_COUNT; p++) {
                        char key[4];

                        if (!(replayed[i].mask & (UINT32_C(1) << p)))
                                continue;
                        (void) snprintf(key, sizeof(key), "%" PRIu32, p);
                        if (json_add_hex(bo, key, replayed[i].value[p], replayed[i].size) < 0)
                                return EXIT_INTERNAL;
                }
        }

        if (pcrs_path && compared == 0) {
                diag_set(&d, -ENODATA, "%s: no PCR in %s is extended by the log in a bank it "
                         "declares: nothing could be compared", log_path, pcrs_path);
                ret = EXIT_VERIFY;
        } else if (mismatches > 0) {
                char list[256];

                mismatch_list(verdicts, list, sizeof(list));
                diag_set(&d, -EBADMSG, "%s: %d of %zu compared PCRs do not match the replay (%s)",
                         log_path, mismatches, compared, list);
                ret = EXIT_VERIFY;
        }

        if (json) {
                static const char *const head[] = { "format", "algorithms", "startup_locality",
                                                    "size", "padding" };
                json_object *v;

                doc = json_object_new_object();
                if (!doc)
                        return EXIT_INTERNAL;
                for (size_t i = 0; i < ELEMENTSOF(head); i++)
                        if (json_object_object_get_ex(ej, head[i], &v) &&
                            json_object_object_add(doc, head[i], json_object_get(v)) < 0)
                                return EXIT_INTERNAL;
                if (json_add(doc, "pcrs", json_object_get(pcrs_json)) < 0)
                        return EXIT_INTERNAL;
                if (pcrs_path) {
                        if (json_add(doc, "verdicts", json_object_get(verdicts)) < 0 ||
                            json_add(doc, "banks_not_compared", json_object_get(skipped)) < 0 ||
                            json_add_int(doc, "compared", (int64_t) compared) < 0 ||
                            json_add_int(doc, "mismatches", mismatches) < 0 ||
                            json_add_bool(doc, "verified", ret == EXIT_OK) < 0 ||
                            (ret != EXIT_OK && json_add_string(doc, "reason", d.text) < 0))
                                return EXIT_INTERNAL;
                }
                if (!json_object_object_get_ex(ej, "events", &v) ||
                    json_add(doc, "events", json_object_get(v)) < 0)
                        return EXIT_INTERNAL;
                if (json_print(stdout, doc) < 0)
                        return EXIT_INTERNAL;
        } else {
                json_object *events = NULL;
                char label[16];

                printf("%s: %s log, %zu events, %zu bytes", log_path,
                       log->crypto_agile ? "crypto-agile" : "SHA-1 format", log->n_events,
                       log->size);
                if (log->padding > 0)
                        printf(" (+%zu bytes of zero padding)", log->padding);
                printf("\nBanks:");
                for (size_t i = 0; i < log->n_algs; i++) {
                        alg_label(log->algs[i].alg, label);
                        if (replayable[i])
                                printf(" %s", label);
                        else
                                printf(" %s (cannot replay: %s)", label, why[i]);
                }
                if (log->has_startup_locality)
                        printf("\nStartup locality: %u", log->startup_locality);
                printf("\nReplayed PCRs:\n");
                json_object_object_foreach(pcrs_json, bank, bo) {
                        printf("  %s:\n", bank);
                        json_object_object_foreach(bo, idx, hex)
                                printf("    %2s: %s\n", idx, json_object_get_string(hex));
                }
                if (pcrs_path)
                        print_verdicts(verdicts, skipped, pcrs_path);
                if (json_object_object_get_ex(ej, "events", &events))
                        print_events(events);
                if (pcrs_path) {
                        if (ret == EXIT_OK)
                                printf("Result: all %zu compared PCRs match.\n", compared);
                        else
                                printf("Result: NOT VERIFIED: %d of %zu compared PCRs do not "
                                       "match.\n",
                                       mismatches, compared);
                }
        }
        if (fflush(stdout) != 0)
                return EXIT_INTERNAL;
        if (ret != EXIT_OK)
                log_error("%s", d.text);
        return ret;

fail:
        if (json) {
                _cleanup_(json_object_putp) json_object *e = json_object_new_object();

                if (!e || json_add_bool(e, "verified", false) < 0 ||
                    json_add_string(e, "reason", diag_text(&d, "malformed input")) < 0 ||
                    json_print(stdout, e) < 0)
                        return EXIT_INTERNAL;
        }
        log_error("%s", diag_text(&d, "malformed input"));
        return ret;
}
