/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct Diag;
struct json_object;
struct SnpReport;
struct SnpEndorsement;

/* Options shared by every command that verifies an SNP report (--cert, --certs, --crl, --root,
 * --at); commands use these getopt values for them. */
enum {
        SNP_ARG_CERT = 0x100,
        SNP_ARG_CERTS,
        SNP_ARG_CRL,
        SNP_ARG_ROOT,
        SNP_ARG_AT,
        SNP_ARG_MAX,
};
#define SNP_CHECK_GETOPT                                                \
        { "cert", required_argument, NULL, SNP_ARG_CERT },              \
        { "certs", required_argument, NULL, SNP_ARG_CERTS },            \
        { "crl", required_argument, NULL, SNP_ARG_CRL },                \
        { "root", required_argument, NULL, SNP_ARG_ROOT },              \
        { "at", required_argument, NULL, SNP_ARG_AT }

typedef struct SnpCheckOptions {
        const char *cert_path, *certs_path, *crl_path;
        const char *roots[16];
        size_t n_roots;
        time_t at;
        const uint8_t *certs_data; /* a certificate table or PEM from the evidence itself */
        size_t certs_size;
} SnpCheckOptions;

/* [io] Handles one of the options above: 1 if c was one, 0 if not, -1 (logged) if bad. */
int snp_check_option(SnpCheckOptions *o, int c, const char *arg);
/*
 * [io] Parses and verifies the report bytes with the certificates and roots the options name,
 * adding "report" and "endorsement" to doc. -ENOENT when an input file cannot be read (logged: a
 * usage error), else -errno with a Diag. *ret_endorsement (may be NULL) is the caller's.
 */
int snp_check_verify(const SnpCheckOptions *o, const uint8_t *report, size_t size,
                     struct json_object *doc, struct SnpReport *ret_report,
                     struct SnpEndorsement **ret_endorsement, struct Diag *d);
/* The exit code for a negative result of snp_check_verify. */
int snp_check_exit_code(int r);
/* [io] Reads an input file (capped at 256 KiB): -EFBIG with a Diag when larger, -ENOENT (logged)
 * when it cannot be read. */
int load_file(const char *path, const char *what, uint8_t **ret, size_t *ret_size,
              struct Diag *d);

/* [io] `cvm-verifier check snp`: argv[0] is "snp". Returns an exit code. Logs its verdict. */
int check_snp_main(int argc, char **argv);

/* [io] `cvm-verifier check eventlog LOG [--pcrs JSON] [--json]`: argv[0] is "eventlog". */
int check_eventlog_main(int argc, char **argv);

/* [io] `cvm-verifier check quote ...` and `check hcl ...`: argv[0] is the subcommand. */
int check_quote_main(int argc, char **argv);
int check_hcl_main(int argc, char **argv);

struct TpmPcrSet;
/* [io] PCR values from a JSON file (tpm_pcrs_from_json). */
int load_pcrs(const char *path, struct TpmPcrSet *ret, struct Diag *d);
/* [io] Prints the verdict of a check (JSON or ok_line, or one error line naming what) and
 * returns the exit code. */
int check_verdict(const char *what, int r, struct Diag *d, bool json, struct json_object *doc,
                  const char *ok_line);

/* [io] `cvm-verifier check evidence FILE ...`: argv[0] is "evidence". */
int check_evidence_main(int argc, char **argv);

/* [io] `cvm-verifier check token JWT [--jwks FILE|--key PEM|--issuer URL] [--require-tee ...]`. */
int check_token_main(int argc, char **argv);
