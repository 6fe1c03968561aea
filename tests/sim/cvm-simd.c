/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cvm-simd: the SEV-SNP platform simulator. A stand-in for the AMD secure processor, the host and
 * the guest kernel's attestation interfaces, for tests and the demo on machines without SEV-SNP:
 *
 *   serve   configfs-tsm over FUSE at DIR/tsm, and the host side of /dev/sev-guest on
 *           DIR/sevguest.sock (for the LD_PRELOAD shim cvm-sim-sevguest.so)
 *   pki     DIR/platform.conf and the ARK -> ASK -> VCEK (and ASVK -> VLEK) hierarchy
 *   report  one signed report to a file; certs: the certificate table to a file
 *   set     edit DIR/platform.conf; show: print its effective values
 *   tpm-setup  provision and boot a fresh swtpm: AK, AK certificate, measured boot, Azure NV
 *   replay  the PCR values an event log replays to (the simulator's own parser)
 *
 * serve --tpm-port N also runs the TPM proxy (and with --azure the simulated paravisor) in front
 * of swtpm; its command port goes to DIR/tpm-proxy.port.
 *
 *   qemu-tpm   the same proxy for QEMU's `-tpmdev emulator`: a unix socket for QEMU's chardev in
 *              front of swtpm's unix control socket, the data channel (CMD_SET_DATAFD) relayed
 *
 * Normally driven by the cvm-sim script. It does not use the project's snp/ code on purpose.
 */
#include <getopt.h>
#include <limits.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include "tests/sim/sim-daemon.h"
#include "tests/sim/sim-eventlog.h"
#include "tests/sim/sim-pki.h"
#include "tests/sim/sim-proto.h"
#include "common/codec.h"
#include "common/strutil.h"
#include "tests/sim/sim-util.h"
#include "tests/sim/sim-vtpm.h"

#define EXIT_MOUNT_FAILED 2 /* cvm-sim turns this into "FUSE unavailable" */
#define PID_FILE "cvm-simd.pid"
#define TSM_MOUNT "tsm"
#define PROXY_PORT_FILE "tpm-proxy.port"

typedef struct Options {
        const char *dir;
        const char *product;
        const char *report_data;
        const char *out;
        uint32_t report_version; /* 0: not given */
        uint32_t vmpl;
        bool vlek, no_certs, reissue;
        uint16_t tpm_port; /* 0: no TPM */
        bool azure;
        const char *eventlog;
        const char *bank;
        const char *listen;     /* qemu-tpm: the socket QEMU's chardev connects to */
        const char *swtpm_ctrl; /* qemu-tpm: swtpm's --ctrl type=unixio,path= */
} Options;

static void usage(FILE *f) {
        fputs("Usage:\n"
              "  cvm-simd pki --dir DIR [--product milan|genoa|turin] [--report-version N]\n"
              "               [--vlek] [--no-certs] [--reissue]\n"
              "  cvm-simd serve --dir DIR [--tpm-port N [--azure]]\n"
              "  cvm-simd tpm-setup --dir DIR --tpm-port N [--eventlog FILE] [--azure]\n"
              "  cvm-simd qemu-tpm --dir DIR --listen SOCKET --swtpm-ctrl SOCKET [--azure]\n"
              "  cvm-simd replay --eventlog FILE [--bank sha1|sha256|sha384|sha512]\n"
              "  cvm-simd report --dir DIR [--report-data HEX] [--vmpl N] --out FILE\n"
              "  cvm-simd certs --dir DIR --out FILE\n"
              "  cvm-simd set --dir DIR KEY=VALUE...\n"
              "  cvm-simd show --dir DIR\n",
              f);
}

static int parse_options(int argc, char **argv, Options *o) {
        enum {
                OPT_REPORT_VERSION = 0x100,
                OPT_REPORT_DATA,
                OPT_NO_CERTS,
                OPT_REISSUE,
                OPT_TPM_PORT,
                OPT_AZURE,
                OPT_EVENTLOG,
                OPT_BANK,
                OPT_LISTEN,
                OPT_SWTPM_CTRL,
        };
        static const struct option longopts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "product", required_argument, NULL, 'p' },
                { "report-version", required_argument, NULL, OPT_REPORT_VERSION },
                { "report-data", required_argument, NULL, OPT_REPORT_DATA },
                { "vmpl", required_argument, NULL, 'v' },
                { "out", required_argument, NULL, 'o' },
                { "vlek", no_argument, NULL, 'l' },
                { "no-certs", no_argument, NULL, OPT_NO_CERTS },
                { "reissue", no_argument, NULL, OPT_REISSUE },
                { "tpm-port", required_argument, NULL, OPT_TPM_PORT },
                { "azure", no_argument, NULL, OPT_AZURE },
                { "eventlog", required_argument, NULL, OPT_EVENTLOG },
                { "bank", required_argument, NULL, OPT_BANK },
                { "listen", required_argument, NULL, OPT_LISTEN },
                { "swtpm-ctrl", required_argument, NULL, OPT_SWTPM_CTRL },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "+d:p:v:o:lh", longopts, NULL)) != -1)
                switch (c) {
                case 'd':
                        o->dir = optarg;
                        break;
                case 'p':
                        o->product = optarg;
                        break;
                case OPT_REPORT_VERSION:
                        if (safe_atou32(optarg, &o->report_version) < 0 ||
                            o->report_version < 2 || o->report_version > 5)
                                return sim_log_errno(-EINVAL, "Bad --report-version '%s'",
                                                     optarg);
                        break;
                case OPT_REPORT_DATA:
                        o->report_data = optarg;
                        break;
                case 'v':
                        if (safe_atou32(optarg, &o->vmpl) < 0)
                                return sim_log_errno(-EINVAL, "Bad --vmpl '%s'", optarg);
                        break;
                case 'o':
                        o->out = optarg;
                        break;
                case 'l':
                        o->vlek = true;
                        break;
                case OPT_NO_CERTS:
                        o->no_certs = true;
                        break;
                case OPT_REISSUE:
                        o->reissue = true;
                        break;
                case OPT_TPM_PORT: {
                        uint32_t v;

                        /* the control port is the next one */
                        if (safe_atou32(optarg, &v) < 0 || v == 0 || v >= UINT16_MAX)
                                return sim_log_errno(-EINVAL, "Bad --tpm-port '%s'", optarg);
                        o->tpm_port = (uint16_t) v;
                        break;
                }
                case OPT_AZURE:
                        o->azure = true;
                        break;
                case OPT_EVENTLOG:
                        o->eventlog = optarg;
                        break;
                case OPT_BANK:
                        o->bank = optarg;
                        break;
                case OPT_LISTEN:
                        o->listen = optarg;
                        break;
                case OPT_SWTPM_CTRL:
                        o->swtpm_ctrl = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        exit(EXIT_SUCCESS);
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        return 0;
}

static int conf_path(const char *dir, char *buf, size_t size) {
        return sim_path_join(buf, size, dir, SIM_PLATFORM_CONF);
}

static int cmd_pki(const Options *o) {
        char path[PATH_MAX], asvk[PATH_MAX];
        SimPlatform p;
        int r;

        if (mkdir(o->dir, 0755) < 0 && errno != EEXIST)
                return sim_log_errno(-errno, "Cannot create %s", o->dir);
        r = conf_path(o->dir, path, sizeof(path));
        if (r < 0)
                return r;
        if (sim_file_exists(path)) {
                char *set[3];
                char rv[32];
                size_t n = 0;

                r = sim_platform_load(o->dir, &p);
                if (r < 0)
                        return r;
                if (o->product && sim_product_from_string(o->product) != p.product)
                        return sim_log_errno(-EEXIST,
                                             "%s already simulates %s; use a fresh directory for "
                                             "%s",
                                             o->dir, sim_product_to_string(p.product),
                                             o->product);
                if (o->report_version != 0 && o->report_version != p.report_version) {
                        snprintf(rv, sizeof(rv), "report_version=%u", o->report_version);
                        set[n++] = rv;
                }
                if (o->no_certs && p.certs)
                        set[n++] = (char *) "certs=0";
                if (o->vlek && p.signing_key != 1)
                        set[n++] = (char *) "signing_key=1";
                if (n > 0) {
                        r = sim_platform_set(o->dir, set, n);
                        if (r < 0)
                                return r;
                        r = sim_platform_load(o->dir, &p);
                        if (r < 0)
                                return r;
                }
        } else {
                SimProduct prod = SIM_PRODUCT_MILAN;

                if (o->product) {
                        prod = sim_product_from_string(o->product);
                        if (prod < 0)
                                return sim_log_errno(-EINVAL, "Unknown product '%s'",
                                                     o->product);
                }
                sim_platform_defaults(prod, &p);
                /* a random chip; Turin's CHIP_ID has 8 meaningful bytes, then zeros */
                if (RAND_bytes(p.chip_id, prod == SIM_PRODUCT_TURIN ? 8 : 64) != 1)
                        return sim_log_errno(-EIO, "RAND_bytes() failed");
                if (o->report_version != 0)
                        p.report_version = o->report_version;
                if (o->no_certs)
                        p.certs = false;
                if (o->vlek)
                        p.signing_key = 1;
                r = sim_platform_write(o->dir, &p);
                if (r < 0)
                        return sim_log_errno(r, "Cannot write %s", path);
                sim_log("Wrote %s (%s)", path, sim_product_to_string(prod));
        }
        r = sim_path_join(asvk, sizeof(asvk), o->dir, SIM_PKI_ASVK_PEM);
        if (r < 0)
                return r;
        return sim_pki_ensure(o->dir, &p, p.signing_key == 1 || sim_file_exists(asvk),
                              o->reissue);
}

static int cmd_report(const Options *o) {
        uint8_t rd[64] = {}, report_id[32], report[SIM_REPORT_SIZE];
        SimPlatform p;
        int r;

        if (!o->out)
                return sim_log_errno(-EINVAL, "--out is required");
        if (o->report_data) {
                size_t len = strlen(o->report_data);

                /* up to 64 bytes; shorter data is padded with zeros */
                if (len % 2 != 0 || len > 2 * sizeof(rd))
                        return sim_log_errno(-EINVAL, "--report-data takes up to 128 hex digits");
                if (hex_decode_exact(o->report_data, rd, len / 2) < 0)
                        return sim_log_errno(-EINVAL, "--report-data is not hex");
        }
        r = sim_platform_load(o->dir, &p);
        if (r < 0)
                return r;
        if (RAND_bytes(report_id, sizeof(report_id)) != 1)
                return sim_log_errno(-EIO, "RAND_bytes() failed");
        r = sim_report_make(o->dir, &p, rd, o->vmpl, report_id, report);
        if (r < 0)
                return r;
        r = sim_write_file_atomic(o->out, report, sizeof(report), 0644);
        if (r < 0)
                return sim_log_errno(r, "Cannot write %s", o->out);
        return 0;
}

static int cmd_certs(const Options *o) {
        _cleanup_(freep) uint8_t *table = NULL;
        size_t size;
        SimPlatform p;
        int r;

        if (!o->out)
                return sim_log_errno(-EINVAL, "--out is required");
        r = sim_platform_load(o->dir, &p);
        if (r < 0)
                return r;
        r = sim_cert_table_build(o->dir, &p, &table, &size);
        if (r < 0)
                return r;
        r = sim_write_file_atomic(o->out, table, size, 0644);
        if (r < 0)
                return sim_log_errno(r, "Cannot write %s", o->out);
        return 0;
}

static int cmd_show(const Options *o) {
        SimPlatform p;
        int r;

        r = sim_platform_load(o->dir, &p);
        if (r < 0)
                return r;
        sim_platform_dump(&p, stdout);
        return 0;
}

static int write_pid_file(const char *dir) {
        char path[PATH_MAX], text[32];
        int r;

        r = sim_path_join(path, sizeof(path), dir, PID_FILE);
        if (r < 0)
                return r;
        snprintf(text, sizeof(text), "%d\n", (int) getpid());
        return sim_write_file_atomic(path, text, strlen(text), 0644);
}

static int cmd_tpm_setup(const Options *o) {
        const SimVtpmSetup setup = {
                .port = o->tpm_port,
                .eventlog = o->eventlog,
                .azure = o->azure,
        };
        char dir[PATH_MAX];

        if (o->tpm_port == 0)
                return sim_log_errno(-EINVAL, "--tpm-port is required");
        if (!realpath(o->dir, dir))
                return sim_log_errno(-errno, "Cannot resolve %s", o->dir);
        return sim_vtpm_setup(dir, &setup);
}

static int cmd_replay(const Options *o) {
        static const struct {
                const char *name;
                uint16_t alg;
        } banks[] = { { "sha1", 0x0004 }, { "sha256", 0x000B }, { "sha384", 0x000C },
                      { "sha512", 0x000D } };
        _cleanup_(freep) uint8_t *buf = NULL;
        _cleanup_(sim_eventlog_done) SimEventLog log = {};
        uint8_t pcrs[SIM_EVENTLOG_PCRS][64];
        char hex[129];
        size_t size;
        int r;

        if (!o->eventlog)
                return sim_log_errno(-EINVAL, "--eventlog is required");
        if (o->bank) {
                bool known = false;

                for (size_t i = 0; i < ELEMENTSOF(banks); i++)
                        known = known || streq(o->bank, banks[i].name);
                if (!known)
                        return sim_log_errno(-EINVAL, "Unknown bank '%s'", o->bank);
        }
        r = sim_read_file(o->eventlog, SIM_EVENTLOG_MAX_SIZE, &buf, &size);
        if (r < 0)
                return sim_log_errno(r, "Cannot read %s", o->eventlog);
        r = sim_eventlog_parse(buf, size, &log);
        if (r < 0)
                return sim_log_errno(r, "%s: not a crypto-agile event log", o->eventlog);
        for (size_t i = 0; i < ELEMENTSOF(banks); i++) {
                if (o->bank && !streq(o->bank, banks[i].name))
                        continue;
                r = sim_eventlog_replay(&log, banks[i].alg, pcrs, &size);
                if (r == -ENOENT || r == -EPROTONOSUPPORT)
                        continue;
                if (r < 0)
                        return r;
                /* "bank pcr hex", one line per PCR: easy to compare in a shell test */
                for (uint32_t pcr = 0; pcr < SIM_EVENTLOG_PCRS; pcr++) {
                        hex_encode_buf(pcrs[pcr], size, hex);
                        printf("%s %u %s\n", banks[i].name, pcr, hex);
                }
        }
        return 0;
}

static int write_port_file(const char *dir, uint16_t port) {
        char path[PATH_MAX], text[16];
        int r;

        r = sim_path_join(path, sizeof(path), dir, PROXY_PORT_FILE);
        if (r < 0)
                return r;
        snprintf(text, sizeof(text), "%u\n", port);
        return sim_write_file_atomic(path, text, strlen(text), 0644);
}

/* What serve and qemu-tpm both start from: DIR resolved into dir (PATH_MAX), its platform.conf
 * read (a broken one fails early), and the daemon's report id. */
static int daemon_prepare(const Options *o, SimDaemon *d, char *dir, SimPlatform *p) {
        int r;

        if (!realpath(o->dir, dir))
                return sim_log_errno(-errno, "Cannot resolve %s", o->dir);
        d->dir = dir;
        r = sim_platform_load(dir, p);
        if (r < 0)
                return r;
        if (RAND_bytes(d->report_id, sizeof(d->report_id)) != 1)
                return sim_log_errno(-EIO, "RAND_bytes() failed");
        return 0;
}

static int cmd_serve(const Options *o) {
        static SimDaemon d = { .fw_lock = PTHREAD_MUTEX_INITIALIZER };
        char dir[PATH_MAX], mnt[PATH_MAX], sock[PATH_MAX], pid[PATH_MAX], portf[PATH_MAX];
        struct fuse *f = NULL;
        SimPlatform p;
        int r;

        r = daemon_prepare(o, &d, dir, &p);
        if (r < 0)
                return r;
        if (sim_path_join(mnt, sizeof(mnt), dir, TSM_MOUNT) < 0 ||
            sim_path_join(sock, sizeof(sock), dir, SIM_PROTO_SOCKET) < 0 ||
            sim_path_join(pid, sizeof(pid), dir, PID_FILE) < 0 ||
            sim_path_join(portf, sizeof(portf), dir, PROXY_PORT_FILE) < 0)
                return -ENAMETOOLONG;
        (void) unlink(portf);
        if (mkdir(mnt, 0755) < 0 && errno != EEXIST)
                return sim_log_errno(-errno, "Cannot create %s", mnt);

        r = sim_tsmfs_mount(&d, mnt, &f);
        if (r < 0)
                exit(EXIT_MOUNT_FAILED);
        r = sim_sockd_start(&d, sock);
        if (r >= 0 && o->tpm_port != 0) {
                uint16_t port;

                r = sim_tpmproxy_start(&d, o->tpm_port, o->azure, &port);
                if (r >= 0)
                        r = write_port_file(dir, port);
                if (r >= 0)
                        sim_log("TPM proxy on 127.0.0.1:%u for swtpm on port %u%s", port,
                                o->tpm_port, o->azure ? ", Azure paravisor" : "");
        }
        if (r >= 0)
                r = write_pid_file(dir);
        if (r < 0) {
                sim_tsmfs_unmount(f);
                (void) unlink(sock);
                (void) unlink(portf);
                return r;
        }
        sim_log("Serving %s: configfs-tsm at %s, sev-guest socket %s, %s report v%u", dir, mnt,
                sock, sim_product_to_string(p.product), p.report_version);
        r = sim_tsmfs_run(f);
        (void) unlink(sock);
        (void) unlink(portf);
        (void) unlink(pid);
        sim_log("Stopped");
        return r;
}

/* The paravisor in front of QEMU's swtpm: no configfs-tsm, no sev-guest socket (the guest is
 * QEMU's), only the TPM. DIR is the simulator's (PKI, platform.conf, paravisor.auth). */
static int cmd_qemu_tpm(const Options *o) {
        static SimDaemon d = { .fw_lock = PTHREAD_MUTEX_INITIALIZER };
        char dir[PATH_MAX];
        SimPlatform p;
        int r;

        if (!o->listen || !o->swtpm_ctrl)
                return sim_log_errno(-EINVAL, "--listen and --swtpm-ctrl are required");
        r = daemon_prepare(o, &d, dir, &p);
        if (r < 0)
                return r;
        return sim_qemutpm_run(&d, o->listen, o->swtpm_ctrl, o->azure);
}

int main(int argc, char **argv) {
        Options o = {};
        const char *cmd;
        int r;

        if (argc < 2) {
                usage(stderr);
                return EXIT_FAILURE;
        }
        cmd = argv[1];
        if (streq(cmd, "--help") || streq(cmd, "-h") || streq(cmd, "help")) {
                usage(stdout);
                return EXIT_SUCCESS;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        r = parse_options(argc - 1, argv + 1, &o);
        if (r < 0)
                return EXIT_FAILURE;
        /* options end at the first non-option (getopt "+"): the rest are KEY=VALUE for set */
        if (!streq(cmd, "set") && optind < argc - 1) {
                sim_log("Unexpected argument '%s'", argv[optind + 1]);
                return EXIT_FAILURE;
        }
        if (!o.dir && !streq(cmd, "replay")) {
                usage(stderr);
                sim_log("--dir is required");
                return EXIT_FAILURE;
        }
        if (streq(cmd, "pki"))
                r = cmd_pki(&o);
        else if (streq(cmd, "serve"))
                r = cmd_serve(&o);
        else if (streq(cmd, "report"))
                r = cmd_report(&o);
        else if (streq(cmd, "certs"))
                r = cmd_certs(&o);
        else if (streq(cmd, "show"))
                r = cmd_show(&o);
        else if (streq(cmd, "tpm-setup"))
                r = cmd_tpm_setup(&o);
        else if (streq(cmd, "replay"))
                r = cmd_replay(&o);
        else if (streq(cmd, "qemu-tpm"))
                r = cmd_qemu_tpm(&o);
        else if (streq(cmd, "set")) {
                if (optind >= argc - 1) {
                        sim_log("set: give at least one KEY=VALUE");
                        return EXIT_FAILURE;
                }
                r = sim_platform_set(o.dir, argv + 1 + optind, (size_t) (argc - 1 - optind));
        } else {
                usage(stderr);
                sim_log("Unknown command '%s'", cmd);
                return EXIT_FAILURE;
        }
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
