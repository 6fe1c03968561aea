/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent-conf.h"
#include "common/conf.h"
#include "common/diag.h"
#include "common/macro.h"
#include "common/strutil.h"
#include "vtpm/tpm-pcrs.h"

#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)

/* The messages below spell these out. */
static_assert(AGENT_CONF_URLS_MAX == 8, "at most 8 verifiers");
static_assert(AGENT_CONF_TENANT_MAX == 64, "at most 64 bytes");
static_assert(TPM_PCR_COUNT == 24, "PCRs 0..23");

static void *mfree(void *p) {
        free(p);
        return NULL;
}

static const char *const snp_source_names[_AGENT_SNP_SOURCE_MAX] = {
        [AGENT_SNP_SOURCE_AUTO] = "auto",
        [AGENT_SNP_SOURCE_TSM] = "tsm",
        [AGENT_SNP_SOURCE_SEV_GUEST] = "sev-guest",
        [AGENT_SNP_SOURCE_AZURE] = "azure",
        [AGENT_SNP_SOURCE_NONE] = "none",
};

const char *agent_snp_source_to_string(AgentSnpSource s) {
        return s >= 0 && s < _AGENT_SNP_SOURCE_MAX ? snp_source_names[s] : NULL;
}

AgentSnpSource agent_snp_source_from_string(const char *s) {
        for (int i = 0; i < _AGENT_SNP_SOURCE_MAX; i++)
                if (streq(s, snp_source_names[i]))
                        return (AgentSnpSource) i;
        return _AGENT_SNP_SOURCE_INVALID;
}

int agent_config_init(AgentConfig *c) {
        *c = (AgentConfig) {
                .timeout_usec = AGENT_CONF_TIMEOUT_USEC,
                .boot_deadline_usec = AGENT_CONF_BOOT_DEADLINE_USEC,
                .retry_after_usec = AGENT_CONF_RETRY_AFTER_USEC,
                .backoff_usec = AGENT_CONF_BACKOFF_USEC,
                .backoff_max_usec = AGENT_CONF_BACKOFF_MAX_USEC,
                .snp_source = AGENT_SNP_SOURCE_AUTO,
                .interval_usec = AGENT_CONF_INTERVAL_USEC,
                .jitter_usec = AGENT_CONF_JITTER_USEC,
        };
        if (tpm_pcr_mask_parse(AGENT_CONF_PCRS, &c->pcr_mask) < 0)
                return -EINVAL;
        c->tcti = strdup(AGENT_CONF_TCTI);
        c->eventlog = strdup(AGENT_CONF_EVENTLOG);
        if (!c->tcti || !c->eventlog) {
                agent_config_done(c);
                return -ENOMEM;
        }
        return 0;
}

static void free_urls(AgentConfig *c) {
        for (size_t i = 0; i < c->n_urls; i++)
                c->urls[i] = mfree(c->urls[i]);
        c->n_urls = 0;
}

void agent_config_done(AgentConfig *c) {
        if (!c)
                return;
        free(c->file);
        free_urls(c);
        free(c->tenant);
        free(c->tcti);
        free(c->eventlog);
        free(c->vcek_chain);
        free(c->webhook);
        free(c->exec);
        free(c->ca_file);
        *c = (AgentConfig) {};
}

/* ---- values ---- */

static bool has_control(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

/* An absolute path without control characters, at most AGENT_CONF_PATH_MAX bytes. */
static bool path_ok(const char *s, const char **why) {
        if (s[0] != '/')
                return *why = "is not an absolute path", false;
        if (strlen(s) > AGENT_CONF_PATH_MAX)
                return *why = "is too long", false;
        if (has_control(s))
                return *why = "has a control character", false;
        return true;
}

/* The length of a base URL without its trailing slashes. */
static size_t url_trimmed_len(const char *url) {
        size_t n = strlen(url);

        while (n > 0 && url[n - 1] == '/')
                n--;
        return n;
}

/*
 * An http:// or https:// URL of printable ASCII without spaces, with a host (letters, digits,
 * "-._", an IPv6 literal in brackets, an optional :PORT), without user information (credentials
 * do not belong in a file every user may read), without a fragment, and without a query unless
 * allow_query (a verifier's base URL gets paths appended). why is set on failure.
 */
static bool url_ok(const char *s, bool allow_query, const char **why) {
        const char *host, *p;
        size_t n = strlen(s);

        host = startswith(s, "https://") ?: startswith(s, "http://");
        if (!host)
                return *why = "is not an http:// or https:// URL", false;
        if (n > AGENT_CONF_URL_MAX)
                return *why = "is too long", false;
        for (p = s; *p; p++)
                if (*p <= ' ' || *p >= 0x7f)
                        return *why = "has a space or a character outside printable ASCII", false;
        p = host + strcspn(host, "/?#");
        if (p == host)
                return *why = "has no host", false;
        for (const char *q = host; q < p; q++) {
                if (*q == '@')
                        return *why = "has user information (credentials do not belong here)",
                               false;
                if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                      (*q >= '0' && *q <= '9') || strchr("-._:[]", *q)))
                        return *why = "has a character a host may not have", false;
        }
        if (host[0] == ':' || p[-1] == ':')
                return *why = "has no host or an empty port", false;
        if (strchr(p, '#'))
                return *why = "has a fragment (#)", false;
        if (!allow_query && strchr(p, '?'))
                return *why = "has a query (?), and paths are appended to it", false;
        return true;
}

/* "/a[/b...]": letters, digits, "-_.", no empty, "." or ".." segment, no trailing slash. */
static bool tenant_ok(const char *s) {
        size_t n = strlen(s);

        if (n < 2 || n > AGENT_CONF_TENANT_MAX || s[0] != '/' || s[n - 1] == '/' ||
            strstr(s, "//") || strstr(s, "/."))
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-_.") == n;
}

/* A TCTI as tpm2-tss's Tss2_TctiLdr_Initialize takes it: NAME or NAME:CONFIG. */
static bool tcti_ok(const char *s) {
        size_t name = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-_");

        if (name == 0 || (s[name] != '\0' && s[name] != ':'))
                return false;
        if (strlen(s) > AGENT_CONF_TCTI_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if (*p <= ' ' || *p >= 0x7f)
                        return false;
        return true;
}

/* A time span (common/conf.h) within [min, max] microseconds. */
static int timespan(const char *value, uint64_t min, uint64_t max, uint64_t *ret) {
        uint64_t u;
        int r = conf_parse_timespan(value, &u);

        if (r < 0)
                return r;
        if (u < min || u > max)
                return -ERANGE;
        *ret = u;
        return 0;
}

static int set_string(char **slot, const char *value) {
        char *s = strdup(value);

        if (!s)
                return -ENOMEM;
        free(*slot);
        *slot = s;
        return 0;
}

/* An empty value resets the slot to def (NULL: unset), as in systemd. */
static int set_or_reset(char **slot, const char *value, const char *def) {
        if (!*value) {
                if (def)
                        return set_string(slot, def);
                *slot = mfree(*slot);
                return 0;
        }
        return set_string(slot, value);
}

/* ---- keys ---- */

/*
 * One key: its section, its name, and how a value sets it. A setter returns 0, -ENOMEM, or
 * -EBADMSG with *why completing "'VALUE' ..." (an empty value resets the key, and never fails).
 * Time spans share one setter, which reads the field, bounds and default from the entry.
 */
typedef struct ConfKey ConfKey;
struct ConfKey {
        const char *section, *name;
        int (*set)(AgentConfig *c, const ConfKey *k, const char *value, const char **why);
        size_t offset;           /* time spans: the uint64_t field */
        uint64_t min, max, def;  /* time spans: bounds and default (microseconds) */
        const char *range;       /* time spans: the bounds in words */
};

static int set_timespan(AgentConfig *c, const ConfKey *k, const char *value, const char **why) {
        uint64_t *field = (uint64_t *) ((uint8_t *) c + k->offset);

        if (!*value)
                return *field = k->def, 0;
        if (timespan(value, k->min, k->max, field) < 0)
                return *why = k->range, -EBADMSG;
        return 0;
}

static int set_url(AgentConfig *c, const ConfKey *k, const char *value, const char **why) {
        size_t n;

        if (!*value) { /* an empty assignment empties the list */
                free_urls(c);
                return 0;
        }
        if (!url_ok(value, /* allow_query= */ false, why))
                return -EBADMSG;
        n = url_trimmed_len(value);
        for (size_t i = 0; i < c->n_urls; i++)
                if (url_trimmed_len(c->urls[i]) == n && strncmp(c->urls[i], value, n) == 0)
                        return *why = "is already listed", -EBADMSG;
        if (c->n_urls >= AGENT_CONF_URLS_MAX)
                return *why = "is one too many: at most 8 verifiers", -EBADMSG;
        c->urls[c->n_urls] = strdup(value);
        if (!c->urls[c->n_urls])
                return -ENOMEM;
        c->n_urls++;
        return 0;
}

static int set_tenant(AgentConfig *c, const ConfKey *k, const char *value, const char **why) {
        if (!*value || streq(value, "/"))
                return set_or_reset(&c->tenant, "", NULL);
        if (!tenant_ok(value))
                return *why = "is not a URL path prefix like /t/contoso (letters, digits, - _ ., "
                              "at most 64 bytes, no trailing /)", -EBADMSG;
        return set_string(&c->tenant, value);
}

static int set_tcti(AgentConfig *c, const ConfKey *k, const char *value, const char **why) {
        if (*value && !tcti_ok(value))
                return *why = "is not a TCTI like device:/dev/tpmrm0 or swtpm:port=2321",
                       -EBADMSG;
        return set_or_reset(&c->tcti, value, AGENT_CONF_TCTI);
}

static int set_pcrs(AgentConfig *c, const ConfKey *k, const char *value, const char **why) {
        uint32_t mask;

        if (tpm_pcr_mask_parse(*value ? value : AGENT_CONF_PCRS, &mask) < 0 || mask == 0)
                return *why = "is not a list of PCRs 0..23 like 0-7,11", -EBADMSG;
        c->pcr_mask = mask;
        return 0;
}

/* A path key: the field, and its default (NULL: none). */
static int set_path(char **field, const char *def, const char *value, const char **why) {
        if (*value && !path_ok(value, why))
                return -EBADMSG;
        return set_or_reset(field, value, def);
}

static int set_eventlog(AgentConfig *c, const ConfKey *k, const char *value, const char **why) {
        return set_path(&c->eventlog, AGENT_CONF_EVENTLOG, value, why);
}

static int set_vcek_chain(AgentConfig *c, const ConfKey *k, const char *value, const char **why) {
        return set_path(&c->vcek_chain, NULL, value, why);
}

static int set_exec(AgentConfig *c, const ConfKey *k, const char *value, const char **why) {
        return set_path(&c->exec, NULL, value, why);
}

static int set_ca_file(AgentConfig *c, const ConfKey *k, const char *value, const char **why) {
        return set_path(&c->ca_file, NULL, value, why);
}

static int set_snp_source(AgentConfig *c, const ConfKey *k, const char *value, const char **why) {
        AgentSnpSource s = *value ? agent_snp_source_from_string(value) : AGENT_SNP_SOURCE_AUTO;

        if (s < 0)
                return *why = "is not auto, tsm, sev-guest, azure or none", -EBADMSG;
        c->snp_source = s;
        return 0;
}

static int set_webhook(AgentConfig *c, const ConfKey *k, const char *value, const char **why) {
        if (*value && !url_ok(value, /* allow_query= */ true, why))
                return -EBADMSG;
        return set_or_reset(&c->webhook, value, NULL);
}

#define SEC USEC_PER_SEC
#define KEY(s, n, setter) { .section = (s), .name = (n), .set = (setter) }
#define TIMESPAN(s, n, field, lo, hi, d, words)                                                 \
        { .section = (s), .name = (n), .set = set_timespan,                                     \
          .offset = offsetof(AgentConfig, field), .min = (lo), .max = (hi), .def = (d),         \
          .range = "is not a time span of " words }

static const ConfKey keys[] = {
        KEY("Verifier", "URL", set_url),
        KEY("Verifier", "Tenant", set_tenant),
        TIMESPAN("Verifier", "Timeout", timeout_usec, 100 * USEC_PER_MSEC, 600 * SEC,
                 AGENT_CONF_TIMEOUT_USEC, "100ms .. 10min"),
        TIMESPAN("Verifier", "BootDeadline", boot_deadline_usec, SEC, 3600 * SEC,
                 AGENT_CONF_BOOT_DEADLINE_USEC, "1s .. 1h"),
        TIMESPAN("Verifier", "RetryAfter", retry_after_usec, 0, 86400 * SEC,
                 AGENT_CONF_RETRY_AFTER_USEC, "0 .. 1d"),
        TIMESPAN("Verifier", "Backoff", backoff_usec, 0, 600 * SEC, AGENT_CONF_BACKOFF_USEC,
                 "0 .. 10min"),
        TIMESPAN("Verifier", "BackoffMax", backoff_max_usec, 0, 3600 * SEC,
                 AGENT_CONF_BACKOFF_MAX_USEC, "0 .. 1h"),
        KEY("TPM", "TCTI", set_tcti),
        KEY("TPM", "PCRs", set_pcrs),
        KEY("TPM", "EventLog", set_eventlog),
        KEY("SNP", "Source", set_snp_source),
        KEY("SNP", "VCEKChain", set_vcek_chain),
        TIMESPAN("Monitor", "Interval", interval_usec, SEC, 7 * 86400 * SEC,
                 AGENT_CONF_INTERVAL_USEC, "1s .. 7d"),
        TIMESPAN("Monitor", "Jitter", jitter_usec, 0, 86400 * SEC, AGENT_CONF_JITTER_USEC,
                 "0 .. 1d"),
        KEY("Alert", "Webhook", set_webhook),
        KEY("Alert", "Exec", set_exec),
        KEY("TLS", "CAFile", set_ca_file),
};

#undef TIMESPAN
#undef KEY
#undef SEC

static const char *const sections[] = { "Verifier", "TPM", "SNP", "Monitor", "Alert", "TLS" };

const char *agent_config_key(size_t i, const char **ret_section) {
        if (i >= ELEMENTSOF(keys))
                return NULL;
        if (ret_section)
                *ret_section = keys[i].section;
        return keys[i].name;
}

static int on_line(void *userdata, const char *file, unsigned line, const char *section,
                   const char *key, const char *value, Diag *d) {
        AgentConfig *c = userdata;
        bool known = false;

        for (size_t i = 0; i < ELEMENTSOF(sections) && !known; i++)
                known = streq(section, sections[i]);
        if (!known)
                return conf_diag(d, -EBADMSG, file, line, section, key,
                                 "unknown section [%s] (Verifier, TPM, SNP, Monitor, Alert, TLS)",
                                 section);
        if (!key)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const char *why = "is not valid";
                char buf[DIAG_PRINTABLE_MAX + 4];
                int r;

                if (!streq(section, keys[i].section) || !streq(key, keys[i].name))
                        continue;
                r = keys[i].set(c, &keys[i], value, &why);
                if (r == -EBADMSG)
                        return conf_diag(d, r, file, line, section, key, "'%s' %s",
                                         diag_printable(value, strlen(value), buf), why);
                return r;
        }
        return conf_diag(d, -EBADMSG, file, line, section, key, "unknown key");
}

int agent_config_parse(const char *text, size_t size, const char *name, AgentConfig *c,
                       Diag *d) {
        if (!text && size > 0)
                return -EINVAL;
        return conf_parse(text ?: "", size, name, on_line, c, d);
}

/* ---- the whole ---- */

static size_t effective_url_len(const AgentConfig *c, size_t i) {
        return url_trimmed_len(c->urls[i]) + (c->tenant ? strlen(c->tenant) : 0);
}

int agent_config_check(const AgentConfig *c, Diag *d) {
        const char *file = c->file ?: "agent.conf";

        if (c->backoff_max_usec < c->backoff_usec)
                return diag_set(d, -EINVAL, "%s: [Verifier] BackoffMax=: shorter than Backoff=",
                                file);
        if (c->jitter_usec > c->interval_usec)
                return diag_set(d, -EINVAL, "%s: [Monitor] Jitter=: longer than Interval=", file);
        for (size_t i = 0; i < c->n_urls; i++)
                if (effective_url_len(c, i) > AGENT_CONF_URL_MAX)
                        return diag_set(d, -EINVAL, "%s: [Verifier] Tenant=: makes URL #%zu "
                                        "longer than %u bytes", file, i + 1, AGENT_CONF_URL_MAX);
        return 0;
}

char **agent_urls_free(char **urls) {
        if (urls)
                for (char **p = urls; *p; p++)
                        free(*p);
        free(urls);
        return NULL;
}

int agent_config_verifier_urls(const AgentConfig *c, char ***ret, size_t *ret_n) {
        _cleanup_(agent_urls_freep) char **urls = NULL;
        const char *tenant = c->tenant ?: "";

        urls = calloc(c->n_urls + 1, sizeof(char *));
        if (!urls)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_urls; i++) {
                size_t n = url_trimmed_len(c->urls[i]);

                if (effective_url_len(c, i) > AGENT_CONF_URL_MAX)
                        return -E2BIG;
                if (asprintf(&urls[i], "%.*s%s", (int) n, c->urls[i], tenant) < 0) {
                        urls[i] = NULL;
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(urls);
        if (ret_n)
                *ret_n = c->n_urls;
        return 0;
}
