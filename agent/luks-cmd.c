/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `cvm-agent enroll` and `cvm-agent unlock`: a LUKS2 keyslot whose passphrase is a key the
 * key release service gives only to this VM when it attests, and a "cvm-agent" token that says
 * how to get it again (agent/luks-token.h); then, at every boot, attest, get the key, open.
 * An enrollment also records this boot's measurements as the known-good reference
 * (agent/state.h): the admin vouched for it, and the monitor explains a later denial by what
 * changed since.
 */
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include <libcryptsetup.h>

#include "agent/agent-conf.h"
#include "agent/agent.h"
#include "agent/luks-token.h"
#include "agent/luks.h"
#include "agent/passphrase.h"
#include "agent/state.h"
#include "agent/unlock-key.h"
#include "common/conf.h"
#include "common/diag.h"
#include "common/exit-code.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/strutil.h"
#include "vtpm/eventlog.h"
#include "vtpm/evidence.h"
#include "vtpm/tpm-pcrs.h"

/* Header backups, beside the known-good reference. */
#define LIB_DIR STATE_REFERENCE_DIR_DEFAULT
#define ENROLL_ENC_DEFAULT KEY_WRAP_RSA_AES_256

static void enroll_help(void) {
        printf("Usage: cvm-agent enroll DEVICE --verifier URL [--verifier URL]... --key-release URL\n"
               "                        --key NAME [--pcrs LIST] [--enc ENC]\n"
               "                        [--passphrase-file FILE] [--header-backup FILE]\n"
               "                        [--vcek-chain FILE] [--ca-file FILE] [--reference-dir DIR]\n"
               "\n"
               "Attests as at boot, asks the key release service for key NAME (wrapped to this\n"
               "TPM, bound to the PCRs), and adds a LUKS2 keyslot to DEVICE whose passphrase is\n"
               "that key, with a \"cvm-agent\" token that says how to get it again. This boot's\n"
               "measurements then become the monitor's known-good reference.\n"
               "\n"
               "  --verifier URL       attestation service (tenant) URL; repeat for failover\n"
               "  --key-release URL    the key's URL (.../keys/NAME[/VERSION]) or the service's\n"
               "  --key NAME           the key's name\n"
               "  --pcrs LIST          SHA-256 PCRs the evidence quotes and the unwrap is bound\n"
               "                       to (default: PCRs= of the configuration, %s)\n"
               "  --enc ENC            CKM_RSA_AES_KEY_WRAP, RSA_AES_KEY_WRAP_256 (default) or\n"
               "                       RSA_AES_KEY_WRAP_384\n"
               "  --passphrase-file F  an existing passphrase or recovery key (exact bytes, as\n"
               "                       cryptsetup's --key-file; \"-\" for stdin); default: asked\n"
               "                       on the terminal\n"
               "  --header-backup F    where the header is backed up first (default\n"
               "                       %s/header-backups/NAME-TIME.img); never overwritten\n"
               "  --vcek-chain FILE    the VCEK chain for an SEV-SNP proof (or CVM_VCEK_CHAIN)\n"
               "  --ca-file FILE       TLS roots for the services (default: the system's)\n"
               "  --config FILE        the agent's configuration (default /etc/cvm-agent/agent.conf\n"
               "                       and agent.conf.d/): TPM, TLS, timeouts, PCRs= default\n"
               "  --reference-dir DIR  where the known-good reference is kept (default %s)\n"
               "\n"
               "Exit status: 0 enrolled; 2 usage; 3 malformed answer or header; 4 evidence or\n"
               "token refused, wrong passphrase; 5 a policy said no; 6 no TPM, service or device.\n",
               EVIDENCE_PCRS_DEFAULT, LIB_DIR, STATE_REFERENCE_DIR_DEFAULT);
}

static void unlock_help(void) {
        printf("Usage: cvm-agent unlock DEVICE|--all [--name NAME] [--check] [--verifier URL]...\n"
               "                        [--token ID] [--vcek-chain FILE] [--ca-file FILE]\n"
               "                        [--deadline SPAN]\n"
               "\n"
               "For each \"cvm-agent\" token of DEVICE (or of every LUKS2 device with --all):\n"
               "attests, gets the key, unwraps it in the TPM and opens the volume as\n"
               "/dev/mapper/NAME (default cvm-DEVICE'S-BASENAME). With --check, or where the\n"
               "kernel has no device-mapper, only checks that the key opens the keyslot.\n"
               "\n"
               "  --verifier URL   use these verifiers instead of the token's (repeatable)\n"
               "  --token ID       only this token\n"
               "  --vcek-chain F   the VCEK chain for an SEV-SNP proof (or CVM_VCEK_CHAIN)\n"
               "  --ca-file FILE   TLS roots for the services (default: the system's)\n"
               "  --config FILE    the agent's configuration (default /etc/cvm-agent/agent.conf\n"
               "                   and agent.conf.d/): TPM, TLS, timeouts, BootDeadline=\n"
               "  --deadline SPAN  give up SPAN from now instead of BootDeadline= (\"20s\": what\n"
               "                   is left of a boot deadline the caller started earlier)\n"
               "\n"
               "Verifiers are tried in order, each round of them after a backoff, until\n"
               "BootDeadline= (default 90 s); then the volume is left for the passphrase prompt.\n"
               "Nothing is written to the device. On failure the volume stays locked for the\n"
               "next way in (passphrase prompt, recovery key).\n"
               "Exit status: 0 opened (or checked); 2 usage; 3 malformed; 4 evidence, token or\n"
               "key refused, PCRs changed; 5 a policy said no; 6 no TPM, verifier or device.\n");
}

/* The default header backup: STATE/header-backups/DEVICE-BASENAME-YYYYmmddTHHMMSSZ.img. */
static int default_backup_path(const char *device, char *buf, size_t size) {
        char dev[PATH_MAX], stamp[32];
        struct tm tm;
        time_t now = time(NULL);
        const char *base;

        (void) snprintf(dev, sizeof(dev), "%s", device);
        base = basename(dev);
        if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
                return -EINVAL;
        if (mkdir(LIB_DIR, 0700) < 0 && errno != EEXIST)
                return -errno;
        if (mkdir(LIB_DIR "/header-backups", 0700) < 0 && errno != EEXIST)
                return -errno;
        (void) snprintf(buf, size, "%s/header-backups/%s-%s.img", LIB_DIR, base, stamp);
        return 0;
}

static uint64_t boottime_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_BOOTTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* The agent's configuration (path, or the default file and drop-ins); logs why not. */
static int load_config(const char *path, AgentConfig *c) {
        Diag d = {};
        int r = agent_config_load(path, c, &d);

        if (r < 0)
                log_error("%s", diag_text(&d, "cannot load the configuration"));
        return r;
}

/* Logs a failed unlock step and gives its exit code. */
static int step_error(int r, const char *what, Diag *d) {
        log_error("%s: %s", what, diag_text(d, strerror(-r)));
        return exit_code_from_errno(r == -ESTALE ? -EKEYREJECTED : r);
}

/* One line per step on the console and in the journal (plymouth shows the last one). */
static void show_progress(UnlockStep step, const char *url, struct TpmDevice *t, void *userdata) {
        static const char *const what[_UNLOCK_STEP_MAX] = {
                [UNLOCK_STEP_EVIDENCE] = "Collecting evidence for",
                [UNLOCK_STEP_ATTEST] = "Attesting at",
                [UNLOCK_STEP_RELEASE] = "Asking for the key at",
                [UNLOCK_STEP_UNWRAP] = "Unwrapping the key in the TPM",
                [UNLOCK_STEP_BACKOFF] = "No verifier answered; waiting before the next round",
        };

        (void) t;
        (void) userdata;
        log_info("%s%s%s", what[step], url ? " " : "", url ?: "");
}

static void report_steps(const UnlockReport *rep) {
        log_info("Attested at %s: evidence %.0f ms, attestation %.0f ms, key release %.0f ms, "
                 "unwrap %.0f ms (token %s)", rep->verifier ?: "?", rep->evidence_ms,
                 rep->attest_ms, rep->release_ms, rep->unwrap_ms,
                 rep->token_jti[0] ? rep->token_jti : "without jti");
}

/* The measurements now as the known-good reference, source "enrollment". A failure is a
 * warning: the keyslot is there already. */
static void record_enrollment(const UnlockSource *src, const char *dir) {
        _cleanup_(freep) uint8_t *log = NULL;
        TpmPcrSet pcrs = {};
        size_t log_size = 0;
        Diag d = {};
        int r;

        r = state_measurements_read(src->tcti, src->eventlog ?: EVENTLOG_DEFAULT, &pcrs, &log,
                                    &log_size, &d);
        if (r >= 0)
                r = state_reference_record(dir, DRIFT_SOURCE_ENROLLMENT, time(NULL), &pcrs, log,
                                           log_size, &d);
        if (r < 0)
                log_warning("Cannot record this boot as the known-good reference in %s: %s", dir,
                            diag_text(&d, strerror(-r)));
        else
                log_info("This boot's measurements are the known-good reference (%s/%s%s)", dir,
                         STATE_FILE_REFERENCE, r == 0 ? ", unchanged" : "");
}

int enroll_main(int argc, char **argv) {
        enum { ARG_VERIFIER = 0x100, ARG_KEY_RELEASE, ARG_KEY, ARG_PCRS, ARG_ENC,
               ARG_PASSPHRASE_FILE, ARG_HEADER_BACKUP, ARG_VCEK_CHAIN, ARG_CA_FILE, ARG_CONFIG,
               ARG_REFERENCE_DIR };
        static const struct option options[] = {
                { "verifier", required_argument, NULL, ARG_VERIFIER },
                { "key-release", required_argument, NULL, ARG_KEY_RELEASE },
                { "key", required_argument, NULL, ARG_KEY },
                { "pcrs", required_argument, NULL, ARG_PCRS },
                { "enc", required_argument, NULL, ARG_ENC },
                { "passphrase-file", required_argument, NULL, ARG_PASSPHRASE_FILE },
                { "header-backup", required_argument, NULL, ARG_HEADER_BACKUP },
                { "vcek-chain", required_argument, NULL, ARG_VCEK_CHAIN },
                { "ca-file", required_argument, NULL, ARG_CA_FILE },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "reference-dir", required_argument, NULL, ARG_REFERENCE_DIR },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(agent_config_done) AgentConfig conf = {};
        _cleanup_(luks_token_freep) LuksToken *token = NULL;
        _cleanup_(secret_freep) Secret *passphrase = NULL, *key = NULL;
        const char *key_release = NULL, *key_name = NULL, *passphrase_file = NULL,
                   *backup = NULL, *device, *config = NULL, *vcek_chain = NULL, *ca_file = NULL,
                   *reference_dir = NULL;
        UnlockSource src = { .enc = ENROLL_ENC_DEFAULT, .progress = show_progress };
        UnlockReport rep;
        LuksEnrollResult res;
        char backup_buf[PATH_MAX];
        uint32_t mask = 0;
        Diag d = {};
        int c, r;

        if (luks_token_new(&token) < 0)
                return EXIT_INTERNAL;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_VERIFIER:
                        r = luks_token_add_verifier(token, optarg, &d);
                        if (r < 0)
                                return log_error("--verifier: %s", diag_text(&d, strerror(-r))),
                                       EXIT_USAGE;
                        break;
                case ARG_KEY_RELEASE:
                        key_release = optarg;
                        break;
                case ARG_KEY:
                        key_name = optarg;
                        break;
                case ARG_PCRS:
                        if (tpm_pcr_mask_parse(optarg, &mask) < 0 || mask == 0)
                                return log_error("--pcrs: '%s' is not a PCR list like 0-7,11",
                                                 optarg), EXIT_USAGE;
                        break;
                case ARG_ENC:
                        if (key_wrap_alg_from_string(optarg) < 0)
                                return log_error("--enc: CKM_RSA_AES_KEY_WRAP, RSA_AES_KEY_WRAP_256 "
                                                 "or RSA_AES_KEY_WRAP_384"), EXIT_USAGE;
                        src.enc = key_wrap_alg_from_string(optarg);
                        break;
                case ARG_PASSPHRASE_FILE:
                        passphrase_file = optarg;
                        break;
                case ARG_HEADER_BACKUP:
                        backup = optarg;
                        break;
                case ARG_VCEK_CHAIN:
                        vcek_chain = optarg;
                        break;
                case ARG_CA_FILE:
                        ca_file = optarg;
                        break;
                case ARG_CONFIG:
                        config = optarg;
                        break;
                case ARG_REFERENCE_DIR:
                        reference_dir = optarg;
                        break;
                case 'h':
                        enroll_help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        if (optind + 1 != argc)
                return log_error("enroll: need exactly one DEVICE (see --help)"), EXIT_USAGE;
        device = argv[optind];
        if (token->n_verifiers == 0 || !key_release || !key_name)
                return log_error("enroll: --verifier, --key-release and --key are required"),
                       EXIT_USAGE;
        r = luks_token_set_key(token, key_release, key_name, &d);
        if (r < 0)
                return log_error("--key-release/--key: %s", diag_text(&d, strerror(-r))), EXIT_USAGE;
        if (load_config(config, &conf) < 0)
                return EXIT_USAGE;
        src.pcr_mask = mask;
        unlock_source_from_config(&src, &conf);
        src.vcek_chain = vcek_chain ?: src.vcek_chain;
        src.ca_file = ca_file ?: src.ca_file;
        token->pcr_mask = src.pcr_mask;
        token->enc = src.enc;

        /* The authorising passphrase first: nothing is asked of the services for a user who
         * cannot give one. */
        r = passphrase_file ? passphrase_read_file(passphrase_file, &passphrase, &d)
                            : passphrase_read_tty("Existing passphrase or recovery key for the "
                                                  "new keyslot: ", 0, &passphrase, &d);
        if (r < 0)
                return log_error("Cannot read the passphrase: %s", diag_text(&d, strerror(-r))),
                       r == -ECANCELED || r == -ENXIO ? EXIT_USAGE : exit_code_from_errno(r);

        for (size_t i = 0; i < token->n_verifiers; i++)
                src.verifiers[src.n_verifiers++] = token->verifiers[i];
        src.key_url = token->key_url;
        src.deadline_usec = boottime_usec() + conf.boot_deadline_usec;
        r = unlock_fetch_key(&src, &key, &rep, &d);
        if (r < 0)
                return step_error(r, "Cannot get the key", &d);
        report_steps(&rep);

        if (!backup) {
                r = default_backup_path(device, backup_buf, sizeof(backup_buf));
                if (r < 0)
                        return log_error_errno(r, "Cannot make %s/header-backups: %m",
                                               LIB_DIR), EXIT_UNAVAILABLE;
                backup = backup_buf;
        }
        r = luks_enroll(device, backup, passphrase, key, token, &res, &d);
        key = secret_free(key);
        if (r < 0)
                return step_error(r, "Cannot enroll", &d);
        log_info("%s: keyslot %d added (authorised by keyslot %d), token %d; header backed up "
                 "to %s", device, res.keyslot, res.auth_keyslot, res.token, backup);
        record_enrollment(&src, state_reference_dir(reference_dir, NULL));
        printf("keyslot %d token %d\n", res.keyslot, res.token);
        return EXIT_OK;
}

/* Attests, gets the key of one token and opens (or checks) the volume with it. */
static int unlock_token(const char *device, const LuksTokenEntry *e, char *const *verifiers,
                        size_t n_verifiers, const UnlockSource *local, const char *name,
                        Diag *d) {
        _cleanup_(secret_freep) Secret *key = NULL;
        UnlockSource src = *local;
        const LuksToken *t = e->token;
        UnlockReport rep;
        int r;

        src.n_verifiers = 0;
        if (n_verifiers > 0)
                for (size_t i = 0; i < n_verifiers && i < UNLOCK_VERIFIERS_MAX; i++)
                        src.verifiers[src.n_verifiers++] = verifiers[i];
        else
                for (size_t i = 0; i < t->n_verifiers; i++)
                        src.verifiers[src.n_verifiers++] = t->verifiers[i];
        src.key_url = t->key_url;
        src.pcr_mask = t->pcr_mask;
        src.enc = t->enc;
        src.health = NULL;
        log_info("%s: token %d: attesting (key %s)", device, e->id, t->key_name);
        r = unlock_fetch_key(&src, &key, &rep, d);
        if (r < 0)
                return r;
        report_steps(&rep);
        r = luks_open_with_key(device, e->id, name, key, 0, d);
        if (r == -ENODEV && name) {
                log_warning("%s: %s; checking the key against keyslot %d only", device,
                            diag_text(d, "no device-mapper"), t->keyslot);
                *d = (Diag) {};
                r = luks_open_with_key(device, e->id, NULL, key, 0, d);
                name = NULL;
        }
        /* The key is wiped as soon as libcryptsetup is done with it. */
        key = secret_free(key);
        if (r < 0)
                return r;
        if (name)
                log_info("%s: opened as /dev/mapper/%s (keyslot %d)", device, name, r);
        else
                log_info("%s: the released key opens keyslot %d (checked, not activated)", device, r);
        return 0;
}

/* Every usable token of one device in turn, until one opens it. */
static int unlock_device(const char *device, const LuksTokenList *list, int only_token,
                         char *const *verifiers, size_t n_verifiers, const UnlockSource *local,
                         const char *name, bool check) {
        char dev[PATH_MAX], default_name[PATH_MAX + 8];
        int r = -ENOENT, last = EXIT_UNAVAILABLE;
        bool tried = false;

        if (!name && !check) {
                (void) snprintf(dev, sizeof(dev), "%s", device);
                (void) snprintf(default_name, sizeof(default_name), "cvm-%s", basename(dev));
                name = default_name;
        }
        for (size_t i = 0; i < list->n; i++) {
                const LuksTokenEntry *e = &list->entries[i];
                Diag d = {};

                if (only_token >= 0 && e->id != only_token)
                        continue;
                if (!e->token) {
                        log_warning("%s: token %d skipped: %s", device, e->id,
                                    diag_text(&e->diag, strerror(-e->error)));
                        continue;
                }
                tried = true;
                r = unlock_token(device, e, verifiers, n_verifiers, local, check ? NULL : name, &d);
                if (r >= 0)
                        return EXIT_OK;
                last = step_error(r, "Cannot unlock with this token", &d);
                log_error("%s: token %d failed; the volume stays locked", device, e->id);
        }
        if (!tried) {
                log_error("%s: no usable cvm-agent token%s", device,
                          only_token >= 0 ? " with that id" : "");
                return EXIT_UNAVAILABLE;
        }
        return last;
}

int unlock_main(int argc, char **argv) {
        enum { ARG_ALL = 0x100, ARG_NAME, ARG_CHECK, ARG_VERIFIER, ARG_TOKEN, ARG_VCEK_CHAIN,
               ARG_CA_FILE, ARG_CONFIG, ARG_DEADLINE };
        static const struct option options[] = {
                { "all", no_argument, NULL, ARG_ALL },
                { "name", required_argument, NULL, ARG_NAME },
                { "check", no_argument, NULL, ARG_CHECK },
                { "verifier", required_argument, NULL, ARG_VERIFIER },
                { "token", required_argument, NULL, ARG_TOKEN },
                { "vcek-chain", required_argument, NULL, ARG_VCEK_CHAIN },
                { "ca-file", required_argument, NULL, ARG_CA_FILE },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "deadline", required_argument, NULL, ARG_DEADLINE },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(agent_config_done) AgentConfig conf = {};
        const char *config = NULL, *vcek_chain = NULL, *ca_file = NULL;
        uint64_t deadline = 0;
        char *verifiers[UNLOCK_VERIFIERS_MAX];
        size_t n_verifiers = 0;
        const char *name = NULL;
        bool all = false, check = false;
        int only_token = -1, c, r;
        UnlockSource local = { .progress = show_progress };
        Diag d = {};

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_ALL:
                        all = true;
                        break;
                case ARG_NAME:
                        if (!*optarg || strchr(optarg, '/') || strlen(optarg) > 127)
                                return log_error("--name: '%s' is not a device-mapper name",
                                                 optarg), EXIT_USAGE;
                        name = optarg;
                        break;
                case ARG_CHECK:
                        check = true;
                        break;
                case ARG_VERIFIER: {
                        _cleanup_(luks_token_freep) LuksToken *probe = NULL;

                        /* The same rules as the token's verifiers. */
                        if (n_verifiers >= UNLOCK_VERIFIERS_MAX)
                                return log_error("--verifier: at most %u", UNLOCK_VERIFIERS_MAX),
                                       EXIT_USAGE;
                        if (luks_token_new(&probe) < 0)
                                return EXIT_INTERNAL;
                        r = luks_token_add_verifier(probe, optarg, &d);
                        if (r < 0)
                                return log_error("--verifier: %s", diag_text(&d, strerror(-r))),
                                       EXIT_USAGE;
                        verifiers[n_verifiers++] = optarg;
                        break;
                }
                case ARG_TOKEN: {
                        uint32_t v;
                        if (safe_atou32(optarg, &v) < 0 || v > 31)
                                return log_error("--token: 0 to 31"), EXIT_USAGE;
                        only_token = (int) v;
                        break;
                }
                case ARG_VCEK_CHAIN:
                        vcek_chain = optarg;
                        break;
                case ARG_CA_FILE:
                        ca_file = optarg;
                        break;
                case ARG_CONFIG:
                        config = optarg;
                        break;
                case ARG_DEADLINE:
                        /* The same bounds as BootDeadline=. */
                        if (conf_parse_timespan(optarg, &deadline) < 0 ||
                            deadline < UINT64_C(1000000) || deadline > UINT64_C(3600000000))
                                return log_error("--deadline: '%s' is not a time span from 1 s "
                                                 "to 1 h", optarg), EXIT_USAGE;
                        break;
                case 'h':
                        unlock_help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        if (all == (optind < argc) || argc - optind > 1)
                return log_error("unlock: give one DEVICE or --all (see --help)"), EXIT_USAGE;
        if (all && name)
                return log_error("unlock: --name is for one DEVICE"), EXIT_USAGE;
        if (load_config(config, &conf) < 0)
                return EXIT_USAGE;
        unlock_source_from_config(&local, &conf);
        local.vcek_chain = vcek_chain ?: local.vcek_chain;
        local.ca_file = ca_file ?: local.ca_file;
        /* The boot path gives up at BootDeadline= (or --deadline), then the passphrase prompt
         * follows. */
        local.deadline_usec = boottime_usec() + (deadline ?: conf.boot_deadline_usec);

        if (!all) {
                LuksTokenList list = {};
                const char *device = argv[optind];

                r = luks_find_tokens(device, &list, &d);
                if (r < 0)
                        return log_error("%s: %s", device, diag_text(&d, strerror(-r))),
                               r == -EMEDIUMTYPE ? EXIT_MALFORMED : exit_code_from_errno(r);
                r = unlock_device(device, &list, only_token, verifiers, n_verifiers, &local, name,
                                  check);
                luks_token_list_done(&list);
                return r;
        }
        {
                LuksDevice *devs = NULL;
                size_t n = 0;
                int worst = EXIT_OK;

                r = luks_scan_devices(&devs, &n, &d);
                if (r < 0)
                        return log_error("Cannot list block devices: %s",
                                         diag_text(&d, strerror(-r))), EXIT_UNAVAILABLE;
                if (n == 0)
                        log_info("No LUKS2 device has a cvm-agent token");
                for (size_t i = 0; i < n; i++) {
                        r = unlock_device(devs[i].path, &devs[i].tokens, only_token, verifiers,
                                          n_verifiers, &local, NULL, check);
                        if (r != EXIT_OK)
                                worst = r;
                }
                luks_device_list_free(devs, n);
                return worst;
        }
}
