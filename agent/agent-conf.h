/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

struct Diag;

/*
 * The agent's configuration: /etc/cvm-agent/agent.conf, then the drop-ins
 * /etc/cvm-agent/agent.conf.d/NAME.conf in lexical order of their names (`--config FILE` reads
 * FILE and FILE.d/NAME.conf instead). INI style as systemd's unit files (common/conf.h). Every
 * key, its default and its meaning are documented in agent/agent.conf, the annotated example
 * installed as documentation (a unit test parses it, so it cannot drift from the code).
 *
 * Layering as in systemd: a later assignment of a single-valued key replaces the earlier one, a
 * list key (URL=) appends, and an empty assignment resets the key to its default (a list to
 * empty). Time spans are kept in microseconds.
 */

#define AGENT_CONF_PATH "/etc/cvm-agent/agent.conf"
/* Drop-ins are read from PATH + this suffix. */
#define AGENT_CONF_DROPIN_SUFFIX ".d"

#define AGENT_CONF_URLS_MAX 8u        /* URL= entries (UNLOCK_VERIFIERS_MAX) */
#define AGENT_CONF_URL_MAX 1024u      /* bytes of an effective verifier URL, of Webhook= */
#define AGENT_CONF_TENANT_MAX 64u     /* bytes of Tenant= */
#define AGENT_CONF_PATH_MAX 1024u     /* bytes of a path value */
#define AGENT_CONF_TCTI_MAX 256u
#define AGENT_CONF_DROPINS_MAX 128u   /* drop-in files read, at most */

/* Defaults (agent/agent.conf says the same). */
#define AGENT_CONF_TIMEOUT_USEC (UINT64_C(10) * 1000000)
#define AGENT_CONF_BOOT_DEADLINE_USEC (UINT64_C(90) * 1000000)
#define AGENT_CONF_RETRY_AFTER_USEC (UINT64_C(60) * 1000000)
#define AGENT_CONF_BACKOFF_USEC (UINT64_C(1) * 1000000)
#define AGENT_CONF_BACKOFF_MAX_USEC (UINT64_C(30) * 1000000)
#define AGENT_CONF_TCTI "device:/dev/tpmrm0"
#define AGENT_CONF_PCRS "0-7"
#define AGENT_CONF_EVENTLOG "/sys/kernel/security/tpm0/binary_bios_measurements"
#define AGENT_CONF_INTERVAL_USEC (UINT64_C(300) * 1000000)
#define AGENT_CONF_JITTER_USEC (UINT64_C(30) * 1000000)

/* [SNP] Source=: where the SEV-SNP report comes from. */
typedef enum AgentSnpSource {
        AGENT_SNP_SOURCE_AUTO,      /* the first that works: tsm, sev-guest, azure */
        AGENT_SNP_SOURCE_TSM,       /* configfs-tsm (/sys/kernel/config/tsm/report) */
        AGENT_SNP_SOURCE_SEV_GUEST, /* /dev/sev-guest */
        AGENT_SNP_SOURCE_AZURE,     /* the paravisor's HCL report in vTPM NV 0x01400001 */
        AGENT_SNP_SOURCE_NONE,      /* trusted launch: the vTPM alone */
        _AGENT_SNP_SOURCE_MAX,
        _AGENT_SNP_SOURCE_INVALID = -EINVAL,
} AgentSnpSource;

/* "auto", "tsm", "sev-guest", "azure", "none"; NULL out of range. */
const char *agent_snp_source_to_string(AgentSnpSource s);
/* The reverse (exact, lower case); -EINVAL for anything else. */
AgentSnpSource agent_snp_source_from_string(const char *s);

typedef struct AgentConfig {
        char *file;                 /* the main file (for messages); NULL until loaded */
        /* [Verifier] */
        char *urls[AGENT_CONF_URLS_MAX]; /* URL=: base URLs in failover order, as written */
        size_t n_urls;
        char *tenant;               /* Tenant=: "/a[/b...]" appended to each URL; NULL none */
        uint64_t timeout_usec;      /* Timeout=: per request */
        uint64_t boot_deadline_usec; /* BootDeadline=: the whole boot path */
        uint64_t retry_after_usec;  /* RetryAfter=: cool-down of an endpoint that failed */
        uint64_t backoff_usec;      /* Backoff=: the first wait between rounds */
        uint64_t backoff_max_usec;  /* BackoffMax=: the longest */
        /* [TPM] */
        char *tcti;                 /* TCTI= */
        uint32_t pcr_mask;          /* PCRs=: bit i = PCR i */
        char *eventlog;             /* EventLog= */
        /* [SNP] */
        AgentSnpSource snp_source;  /* Source= */
        char *vcek_chain;           /* VCEKChain=: PEM file; NULL none */
        /* [Monitor] */
        uint64_t interval_usec;     /* Interval= */
        uint64_t jitter_usec;       /* Jitter= */
        /* [Alert] */
        char *webhook;              /* Webhook=: http(s) URL; NULL none */
        char *exec;                 /* Exec=: absolute path; NULL none */
        /* [TLS] */
        char *ca_file;              /* CAFile=: PEM bundle; NULL the system's */
} AgentConfig;

/*
 * The keys the parser knows: the name of the i-th and its section in *ret_section (may be NULL);
 * NULL past the last. For documentation checks and completion. Pure.
 */
const char *agent_config_key(size_t i, const char **ret_section);

/* Fills *c with the defaults (overwriting it: no prior content is freed). -ENOMEM. Pure. */
int agent_config_init(AgentConfig *c);

/*
 * Applies one file's text (size bytes; name is used in messages) onto *c, which
 * agent_config_init() prepared and earlier files may have changed: drop-ins layer this way.
 * Unknown sections or keys and bad values (a URL that is not http:// or https://, a relative
 * path, a time span that does not parse or is out of range, a PCR list out of range, more than
 * AGENT_CONF_URLS_MAX URLs, the same URL twice) are -EBADMSG with "FILE:LINE: [Section] Key=:
 * why"; malformed lines as common/conf.h says. On failure *c still holds what the lines before
 * the bad one set and must be freed with agent_config_done(); callers treat it as unusable.
 * Pure.
 */
int agent_config_parse(const char *text, size_t size, const char *name, AgentConfig *c,
                       struct Diag *d);

/*
 * Checks what no single line can: BackoffMax= not below Backoff=, Jitter= not above Interval=,
 * every effective URL (URL + Tenant) at most AGENT_CONF_URL_MAX bytes.
 * -EINVAL with "FILE: [Section] Key=: why". Whether a URL is needed at all is the command's
 * business. Pure.
 */
int agent_config_check(const AgentConfig *c, struct Diag *d);

/*
 * [io] Loads the configuration: agent_config_init(), the main file (path, or AGENT_CONF_PATH for
 * NULL), then every "*.conf" in path + ".d/" in lexical (strcmp) order of the names, then
 * agent_config_check(). A missing default file is fine (defaults; its drop-ins are still
 * read); a missing explicit file is -ENOENT. A missing drop-in directory is fine. Each file must
 * be a regular file of at most CONF_SIZE_MAX bytes, and it and the drop-in directory must be
 * owned by root or the caller and writable by nobody else (-EPERM): Exec= runs what the file
 * names. Errors: -errno with "FILE: why" or the parser's message. *c is filled on success only
 * (agent_config_done). Never logs.
 */
int agent_config_load(const char *path, AgentConfig *c, struct Diag *d);

/* Frees what *c holds and clears it; a cleared or init-failed *c is fine. */
void agent_config_done(AgentConfig *c);

/*
 * The effective verifier base URLs, in failover order: each URL= without trailing slashes, then
 * Tenant= ("https://v.example/t/contoso"). *ret a NULL-terminated array of new strings
 * (agent_urls_free), *ret_n their count (may be 0). -ENOMEM, -E2BIG over AGENT_CONF_URL_MAX.
 * Pure.
 */
int agent_config_verifier_urls(const AgentConfig *c, char ***ret, size_t *ret_n);
char **agent_urls_free(char **urls);
DEFINE_CLEANUP_FUNC(char **, agent_urls_free);
