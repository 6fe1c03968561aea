/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's configuration (agent/agent-conf.c, pure): defaults, every key, layering of
 * drop-ins, the messages for bad values, the checks of the whole, and the annotated example
 * agent/agent.conf, which must document every key with the default the code has. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent-conf.h"
#include "common/diag.h"
#include "tests/unit/test-util.h"

#define SEC UINT64_C(1000000)

static int parse(const char *text, AgentConfig *c, Diag *d) {
        return agent_config_parse(text, strlen(text), "test.conf", c, d);
}

/* Asserts that c holds exactly the defaults. */
static void assert_defaults(const AgentConfig *c) {
        assert_int_equal(c->n_urls, 0);
        assert_null(c->tenant);
        assert_int_equal(c->timeout_usec, 10 * SEC);
        assert_int_equal(c->boot_deadline_usec, 90 * SEC);
        assert_int_equal(c->retry_after_usec, 60 * SEC);
        assert_int_equal(c->backoff_usec, 1 * SEC);
        assert_int_equal(c->backoff_max_usec, 30 * SEC);
        assert_string_equal(c->tcti, "device:/dev/tpmrm0");
        assert_int_equal(c->pcr_mask, 0xff);
        assert_string_equal(c->eventlog, "/sys/kernel/security/tpm0/binary_bios_measurements");
        assert_int_equal(c->snp_source, AGENT_SNP_SOURCE_AUTO);
        assert_null(c->vcek_chain);
        assert_int_equal(c->interval_usec, 300 * SEC);
        assert_int_equal(c->jitter_usec, 30 * SEC);
        assert_null(c->webhook);
        assert_null(c->exec);
        assert_null(c->ca_file);
}

static void test_defaults(void **state) {
        AgentConfig c;

        assert_int_equal(agent_config_init(&c), 0);
        assert_defaults(&c);
        assert_int_equal(agent_config_check(&c, NULL), 0);
        agent_config_done(&c);
        /* Twice is fine: done clears. */
        agent_config_done(&c);
        assert_null(c.tcti);
}

static char *read_example(size_t *ret_size) {
        char path[4096];
        uint8_t *text;

        (void) snprintf(path, sizeof(path), "%s/agent/agent.conf", TEST_SRCDIR);
        text = test_read_file(path, ret_size);
        assert_non_null(text);
        return (char *) text;
}

/* The example as shipped: everything commented out, so the defaults. */
static void test_example_as_shipped(void **state) {
        size_t size;
        char *text = read_example(&size);
        AgentConfig c;
        Diag d = {};

        assert_int_equal(agent_config_init(&c), 0);
        assert_int_equal(agent_config_parse(text, size, "agent.conf", &c, &d), 0);
        assert_int_equal(agent_config_check(&c, &d), 0);
        assert_defaults(&c);
        agent_config_done(&c);
        free(text);
}

/*
 * The example with every "#Key=value" line uncommented: each key the code knows is there under
 * its section, the file parses, and what it sets is the code's default. So the documented
 * defaults cannot drift from the code, nor a new key go undocumented.
 */
static void test_example_documents_defaults(void **state) {
        size_t size, n_keys = 0, n_seen = 0, used = 0;
        char *text = read_example(&size), *out, section[64] = "";
        const char *key, *sec, *p, *end = text + size;
        bool seen[64] = {};
        AgentConfig c;
        Diag d = {};

        while (agent_config_key(n_keys, NULL))
                n_keys++;
        assert_true(n_keys > 10 && n_keys <= ELEMENTSOF(seen));
        out = calloc(1, size + 1);
        assert_non_null(out);
        for (p = text; p < end;) {
                const char *nl = memchr(p, '\n', (size_t) (end - p)) ?: end, *line = p;
                size_t len = (size_t) (nl - p), name;

                p = nl < end ? nl + 1 : end;
                if (line[0] == '[') {
                        (void) snprintf(section, sizeof(section), "%.*s",
                                        (int) strcspn(line + 1, "]\n"), line + 1);
                } else if (line[0] == '#' && len > 1 &&
                           (name = strspn(line + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                    "abcdefghijklmnopqrstuvwxyz")) > 0 &&
                           line[1 + name] == '=') {
                        /* "#Key=value": documents a key; uncommented below. */
                        for (size_t i = 0; (key = agent_config_key(i, &sec)); i++)
                                if (streq(sec, section) && strlen(key) == name &&
                                    strncmp(line + 1, key, name) == 0) {
                                        assert_false(seen[i]); /* documented once */
                                        seen[i] = true;
                                        n_seen++;
                                }
                        line++;
                        len--;
                } else
                        continue;
                memcpy(out + used, line, len);
                used += len;
                out[used++] = '\n';
        }
        for (size_t i = 0; (key = agent_config_key(i, &sec)); i++)
                if (!seen[i])
                        fail_msg("[%s] %s= is not documented in agent/agent.conf", sec, key);
        assert_int_equal(n_seen, n_keys);

        assert_int_equal(agent_config_init(&c), 0);
        if (agent_config_parse(out, used, "agent.conf", &c, &d) < 0)
                fail_msg("%s", d.text);
        assert_int_equal(agent_config_check(&c, &d), 0);
        assert_defaults(&c);
        agent_config_done(&c);
        free(out);
        free(text);
}

static void test_every_key(void **state) {
        static const char text[] =
                "# a comment\n"
                "[Verifier]\n"
                "URL=https://attest-westeurope.example.com/\n"
                "URL = http://127.0.0.1:8443\n"
                "URL=https://[::1]:9443/base\n"
                "Tenant=/t/contoso\n"
                "Timeout=500ms\n"
                "BootDeadline=2min\n"
                "RetryAfter=0\n"
                "Backoff=250ms\n"
                "BackoffMax=1min 30s\n"
                "[TPM]\n"
                "TCTI=swtpm:host=127.0.0.1,port=2321\n"
                "PCRs=0-4,7,11,23\n"
                "EventLog=/tmp/log.bin\n"
                "[SNP]\n"
                "Source=sev-guest\n"
                "VCEKChain=/etc/cvm-agent/vcek-chain.pem\n"
                "[Monitor]\n"
                "Interval=10\n"
                "Jitter=2s\n"
                "[Alert]\n"
                "Webhook=https://hooks.example.com/alert?channel=ops\n"
                "Exec=/usr/local/bin/page-someone\n"
                "[TLS]\n"
                "CAFile=/etc/ssl/private-ca.pem\n";
        _cleanup_(agent_urls_freep) char **urls = NULL;
        AgentConfig c;
        Diag d = {};
        size_t n;

        assert_int_equal(agent_config_init(&c), 0);
        if (parse(text, &c, &d) < 0)
                fail_msg("%s", d.text);
        assert_int_equal(agent_config_check(&c, &d), 0);
        assert_int_equal(c.n_urls, 3);
        assert_string_equal(c.urls[0], "https://attest-westeurope.example.com/");
        assert_string_equal(c.urls[1], "http://127.0.0.1:8443");
        assert_string_equal(c.urls[2], "https://[::1]:9443/base");
        assert_string_equal(c.tenant, "/t/contoso");
        assert_int_equal(c.timeout_usec, 500000);
        assert_int_equal(c.boot_deadline_usec, 120 * SEC);
        assert_int_equal(c.retry_after_usec, 0);
        assert_int_equal(c.backoff_usec, 250000);
        assert_int_equal(c.backoff_max_usec, 90 * SEC);
        assert_string_equal(c.tcti, "swtpm:host=127.0.0.1,port=2321");
        assert_int_equal(c.pcr_mask, 0x1f | 1u << 7 | 1u << 11 | 1u << 23);
        assert_string_equal(c.eventlog, "/tmp/log.bin");
        assert_int_equal(c.snp_source, AGENT_SNP_SOURCE_SEV_GUEST);
        assert_string_equal(c.vcek_chain, "/etc/cvm-agent/vcek-chain.pem");
        assert_int_equal(c.interval_usec, 10 * SEC);
        assert_int_equal(c.jitter_usec, 2 * SEC);
        assert_string_equal(c.webhook, "https://hooks.example.com/alert?channel=ops");
        assert_string_equal(c.exec, "/usr/local/bin/page-someone");
        assert_string_equal(c.ca_file, "/etc/ssl/private-ca.pem");

        /* The effective URLs: trailing slashes dropped, the tenant appended. */
        assert_int_equal(agent_config_verifier_urls(&c, &urls, &n), 0);
        assert_int_equal(n, 3);
        assert_string_equal(urls[0], "https://attest-westeurope.example.com/t/contoso");
        assert_string_equal(urls[1], "http://127.0.0.1:8443/t/contoso");
        assert_string_equal(urls[2], "https://[::1]:9443/base/t/contoso");
        assert_null(urls[3]);
        agent_config_done(&c);
}

static void test_verifier_urls_without_tenant(void **state) {
        _cleanup_(agent_urls_freep) char **urls = NULL, **none = NULL;
        AgentConfig c;
        size_t n = 99;

        assert_int_equal(agent_config_init(&c), 0);
        assert_int_equal(agent_config_verifier_urls(&c, &none, &n), 0);
        assert_int_equal(n, 0);
        assert_null(none[0]);
        assert_int_equal(parse("[Verifier]\nURL=https://v.example//\nTenant=/\n", &c, NULL), 0);
        assert_null(c.tenant);
        assert_int_equal(agent_config_verifier_urls(&c, &urls, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(urls[0], "https://v.example");
        agent_config_done(&c);
}

/* Files applied one after another, as the main file and its drop-ins are. */
static void test_layering(void **state) {
        AgentConfig c;
        Diag d = {};

        assert_int_equal(agent_config_init(&c), 0);
        assert_int_equal(parse("[Verifier]\nURL=https://a.example\nURL=https://b.example\n"
                               "Timeout=5s\nTenant=/t/one\n[TPM]\nPCRs=7\n"
                               "[Alert]\nExec=/bin/true\n", &c, &d), 0);
        /* A list key appends; a scalar replaces. */
        assert_int_equal(parse("[Verifier]\nURL=https://c.example\nTimeout=20s\n", &c, &d), 0);
        assert_int_equal(c.n_urls, 3);
        assert_string_equal(c.urls[2], "https://c.example");
        assert_int_equal(c.timeout_usec, 20 * SEC);
        assert_string_equal(c.tenant, "/t/one");
        /* An empty assignment resets: the list to empty, a scalar to its default. */
        assert_int_equal(parse("[Verifier]\nURL=\nURL=https://d.example\nTimeout=\nTenant=\n"
                               "[TPM]\nPCRs=\n[Alert]\nExec=\n", &c, &d), 0);
        assert_int_equal(c.n_urls, 1);
        assert_string_equal(c.urls[0], "https://d.example");
        assert_int_equal(c.timeout_usec, 10 * SEC);
        assert_null(c.tenant);
        assert_int_equal(c.pcr_mask, 0xff);
        assert_null(c.exec);
        /* Sections may repeat; the last assignment wins within a file too. */
        assert_int_equal(parse("[TPM]\nTCTI=mssim\n[SNP]\nSource=none\n[TPM]\nTCTI=\n"
                               "[SNP]\nSource=azure\n", &c, &d), 0);
        assert_string_equal(c.tcti, "device:/dev/tpmrm0");
        assert_int_equal(c.snp_source, AGENT_SNP_SOURCE_AZURE);
        assert_int_equal(parse("[SNP]\nSource=\n", &c, &d), 0);
        assert_int_equal(c.snp_source, AGENT_SNP_SOURCE_AUTO);
        agent_config_done(&c);
}

static void test_bad_values(void **state) {
        static const struct {
                const char *text, *message;
        } cases[] = {
                { "[Verifier]\nURL=ftp://v.example\n",
                  "test.conf:2: [Verifier] URL=: 'ftp://v.example' is not an http:// or "
                  "https:// URL" },
                { "[Verifier]\nURL=v.example\n",
                  "test.conf:2: [Verifier] URL=: 'v.example' is not an http:// or https:// URL" },
                { "[Verifier]\n\nURL=https://\n",
                  "test.conf:3: [Verifier] URL=: 'https://' has no host" },
                { "[Verifier]\nURL=https:///x\n",
                  "test.conf:2: [Verifier] URL=: 'https:///x' has no host" },
                { "[Verifier]\nURL=https://v.example/a?b=c\n",
                  "test.conf:2: [Verifier] URL=: 'https://v.example/a?b=c' has a query (?), and "
                  "paths are appended to it" },
                { "[Verifier]\nURL=https://v.example/#top\n",
                  "test.conf:2: [Verifier] URL=: 'https://v.example/#top' has a fragment (#)" },
                { "[Verifier]\nURL=https://user:pw@v.example\n",
                  "test.conf:2: [Verifier] URL=: 'https://user:pw@v.example' has user "
                  "information (credentials do not belong here)" },
                { "[Verifier]\nURL=https://v.example:\n",
                  "test.conf:2: [Verifier] URL=: 'https://v.example:' has no host or an empty "
                  "port" },
                { "[Verifier]\nURL=https://v example\n",
                  "test.conf:2: [Verifier] URL=: 'https://v example' has a space or a character "
                  "outside printable ASCII" },
                { "[Verifier]\nURL=https://a.example\nURL=https://a.example/\n",
                  "test.conf:3: [Verifier] URL=: 'https://a.example/' is already listed" },
                { "[Verifier]\nURL=https://1.example\nURL=https://2.example\n"
                  "URL=https://3.example\nURL=https://4.example\nURL=https://5.example\n"
                  "URL=https://6.example\nURL=https://7.example\nURL=https://8.example\n"
                  "URL=https://9.example\n",
                  "test.conf:10: [Verifier] URL=: 'https://9.example' is one too many: at most 8 "
                  "verifiers" },
                { "[Verifier]\nTenant=t/contoso\n",
                  "test.conf:2: [Verifier] Tenant=: 't/contoso' is not a URL path prefix like "
                  "/t/contoso (letters, digits, - _ ., at most 64 bytes, no trailing /)" },
                { "[Verifier]\nTenant=/t/../x\n", "test.conf:2: [Verifier] Tenant=: '/t/../x'" },
                { "[Verifier]\nTenant=/t/\n", "test.conf:2: [Verifier] Tenant=: '/t/'" },
                { "[Verifier]\nTimeout=soon\n",
                  "test.conf:2: [Verifier] Timeout=: 'soon' is not a time span of 100ms .. "
                  "10min" },
                { "[Verifier]\nTimeout=50ms\n",
                  "test.conf:2: [Verifier] Timeout=: '50ms' is not a time span of 100ms .. "
                  "10min" },
                { "[Verifier]\nBootDeadline=2h\n",
                  "test.conf:2: [Verifier] BootDeadline=: '2h' is not a time span of 1s .. 1h" },
                { "[Verifier]\nRetryAfter=-1\n",
                  "test.conf:2: [Verifier] RetryAfter=: '-1' is not a time span of 0 .. 1d" },
                { "[Verifier]\nBackoff=5 parsecs\n",
                  "test.conf:2: [Verifier] Backoff=: '5 parsecs' is not a time span of 0 .. "
                  "10min" },
                { "[Verifier]\nBackoffMax=99999999999999999w\n",
                  "test.conf:2: [Verifier] BackoffMax=: '99999999999999999w' is not a time span "
                  "of 0 .. 1h" },
                { "[Verifier]\nurl=https://v.example\n",
                  "test.conf:2: [Verifier] url=: unknown key" },
                { "[TPM]\nPCRs=0-24\n",
                  "test.conf:2: [TPM] PCRs=: '0-24' is not a list of PCRs 0..23 like 0-7,11" },
                { "[TPM]\nPCRs=7-3\n", "test.conf:2: [TPM] PCRs=: '7-3' is not a list" },
                { "[TPM]\nPCRs=all\n", "test.conf:2: [TPM] PCRs=: 'all' is not a list" },
                { "[TPM]\nTCTI=:port=1\n",
                  "test.conf:2: [TPM] TCTI=: ':port=1' is not a TCTI like device:/dev/tpmrm0 or "
                  "swtpm:port=2321" },
                { "[TPM]\nTCTI=device /dev/tpm0\n",
                  "test.conf:2: [TPM] TCTI=: 'device /dev/tpm0'" },
                { "[TPM]\nEventLog=binary_bios_measurements\n",
                  "test.conf:2: [TPM] EventLog=: 'binary_bios_measurements' is not an absolute "
                  "path" },
                { "[SNP]\nSource=Auto\n",
                  "test.conf:2: [SNP] Source=: 'Auto' is not auto, tsm, sev-guest, azure or none" },
                { "[SNP]\nVCEKChain=./chain.pem\n",
                  "test.conf:2: [SNP] VCEKChain=: './chain.pem' is not an absolute path" },
                { "[Monitor]\nInterval=0\n",
                  "test.conf:2: [Monitor] Interval=: '0' is not a time span of 1s .. 7d" },
                { "[Monitor]\nInterval=5 min 3\n", NULL }, /* "5min 3s": fine */
                { "[Monitor]\nJitter=2d\n",
                  "test.conf:2: [Monitor] Jitter=: '2d' is not a time span of 0 .. 1d" },
                { "[Alert]\nWebhook=mailto:ops@example.com\n",
                  "test.conf:2: [Alert] Webhook=: 'mailto:ops@example.com' is not an http:// or "
                  "https:// URL" },
                { "[Alert]\nWebhook=https://user@hooks.example\n",
                  "test.conf:2: [Alert] Webhook=: 'https://user@hooks.example' has user "
                  "information" },
                { "[Alert]\nExec=page-someone --now\n",
                  "test.conf:2: [Alert] Exec=: 'page-someone --now' is not an absolute path" },
                { "[Alert]\nExec=/bin/a\x01\n",
                  "test.conf:2: [Alert] Exec=: '/bin/a?' has a control character" },
                { "[TLS]\nCAFile=ca.pem\n",
                  "test.conf:2: [TLS] CAFile=: 'ca.pem' is not an absolute path" },
                { "[TLS]\nCertificate=/c.pem\n", "test.conf:2: [TLS] Certificate=: unknown key" },
                { "[Service]\nURL=https://v.example\n",
                  "test.conf:1: unknown section [Service] (Verifier, TPM, SNP, Monitor, Alert, "
                  "TLS)" },
                { "URL=https://v.example\n",
                  "test.conf:1: assignment before any [Section]" },
                { "[Verifier]\nURL\n", "test.conf:2: expected [Section] or Key=Value" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                AgentConfig c;
                Diag d = {};
                int r;

                assert_int_equal(agent_config_init(&c), 0);
                r = parse(cases[i].text, &c, &d);
                if (!cases[i].message) {
                        if (r < 0)
                                fail_msg("case %zu: %s", i, d.text);
                } else {
                        if (r != -EBADMSG)
                                fail_msg("case %zu: %d, not -EBADMSG", i, r);
                        if (strncmp(d.text, cases[i].message, strlen(cases[i].message)) != 0)
                                fail_msg("case %zu: \"%s\", expected \"%s\"", i, d.text,
                                         cases[i].message);
                }
                agent_config_done(&c);
        }
}

static void test_check(void **state) {
        char text[1200];
        AgentConfig c;
        Diag d = {};

        assert_int_equal(agent_config_init(&c), 0);
        c.file = strdup("/etc/cvm-agent/agent.conf");
        assert_int_equal(parse("[Verifier]\nBackoff=10s\nBackoffMax=5s\n", &c, &d), 0);
        assert_int_equal(agent_config_check(&c, &d), -EINVAL);
        assert_string_equal(d.text, "/etc/cvm-agent/agent.conf: [Verifier] BackoffMax=: shorter "
                                    "than Backoff=");
        assert_int_equal(parse("[Verifier]\nBackoffMax=10s\n", &c, &d), 0);
        assert_int_equal(agent_config_check(&c, NULL), 0);

        memset(&d, 0, sizeof(d));
        assert_int_equal(parse("[Monitor]\nInterval=20s\nJitter=21s\n", &c, &d), 0);
        assert_int_equal(agent_config_check(&c, &d), -EINVAL);
        assert_string_equal(d.text, "/etc/cvm-agent/agent.conf: [Monitor] Jitter=: longer than "
                                    "Interval=");
        assert_int_equal(parse("[Monitor]\nJitter=20s\n", &c, &d), 0);
        assert_int_equal(agent_config_check(&c, NULL), 0);

        /* A URL at the limit is fine alone, and too long with a tenant. */
        memset(&d, 0, sizeof(d));
        (void) snprintf(text, sizeof(text), "[Verifier]\nURL=https://v.example/%0*d\n",
                        (int) (AGENT_CONF_URL_MAX - strlen("https://v.example/")), 0);
        assert_int_equal(parse(text, &c, &d), 0);
        assert_int_equal(agent_config_check(&c, NULL), 0);
        assert_int_equal(parse("[Verifier]\nTenant=/t\n", &c, &d), 0);
        assert_int_equal(agent_config_check(&c, &d), -EINVAL);
        assert_string_equal(d.text, "/etc/cvm-agent/agent.conf: [Verifier] Tenant=: makes URL #1 "
                                    "longer than 1024 bytes");
        {
                char **urls = NULL;
                size_t n;

                assert_int_equal(agent_config_verifier_urls(&c, &urls, &n), -E2BIG);
                assert_null(urls);
        }
        /* One byte over the limit is refused by the parser itself. */
        memset(&d, 0, sizeof(d));
        (void) snprintf(text, sizeof(text), "[Verifier]\nURL=https://w.example/%0*d\n",
                        (int) (AGENT_CONF_URL_MAX + 1 - strlen("https://w.example/")), 0);
        assert_int_equal(parse(text, &c, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "is too long"));
        agent_config_done(&c);
}

static void test_snp_source_names(void **state) {
        for (int i = 0; i < _AGENT_SNP_SOURCE_MAX; i++)
                assert_int_equal(agent_snp_source_from_string(agent_snp_source_to_string(i)), i);
        assert_string_equal(agent_snp_source_to_string(AGENT_SNP_SOURCE_SEV_GUEST), "sev-guest");
        assert_null(agent_snp_source_to_string(_AGENT_SNP_SOURCE_MAX));
        assert_null(agent_snp_source_to_string(-1));
        assert_int_equal(agent_snp_source_from_string("sev_guest"), -EINVAL);
}

/* The INI layer's limits reach the agent's parser unchanged. */
static void test_malformed_files(void **state) {
        char *big;
        AgentConfig c;
        Diag d = {};

        assert_int_equal(agent_config_init(&c), 0);
        assert_int_equal(agent_config_parse("[TPM]\nTCTI=a\0b\n", 14, "nul.conf", &c, &d),
                         -EBADMSG);
        assert_string_equal(d.text, "nul.conf: contains a NUL byte");
        big = malloc(300 * 1024);
        assert_non_null(big);
        memset(big, '#', 300 * 1024);
        memset(&d, 0, sizeof(d));
        assert_int_equal(agent_config_parse(big, 300 * 1024, "big.conf", &c, &d), -E2BIG);
        free(big);
        assert_int_equal(agent_config_parse(NULL, 0, "empty.conf", &c, NULL), 0);
        assert_int_equal(agent_config_parse("", 0, "empty.conf", &c, NULL), 0);
        assert_defaults(&c);
        agent_config_done(&c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_example_as_shipped),
                cmocka_unit_test(test_example_documents_defaults),
                cmocka_unit_test(test_every_key),
                cmocka_unit_test(test_verifier_urls_without_tenant),
                cmocka_unit_test(test_layering),
                cmocka_unit_test(test_bad_values),
                cmocka_unit_test(test_check),
                cmocka_unit_test(test_snp_source_names),
                cmocka_unit_test(test_malformed_files),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
