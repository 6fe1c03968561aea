/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/conf.h"
#include "common/diag.h"
#include "common/macro.h"
#include "common/strutil.h"
#include "common/time-util.h"
#include "verifier/config.h"

static const char *const policy_type_names[_POLICY_TYPE_MAX] = {
        [POLICY_SEVSNPVM] = "SevSnpVm",
        [POLICY_AZUREGUEST] = "AzureGuest",
};

const char *policy_type_to_string(PolicyType t) {
        return t >= 0 && t < _POLICY_TYPE_MAX ? policy_type_names[t] : NULL;
}

int policy_type_from_string(const char *s) {
        for (int i = 0; i < _POLICY_TYPE_MAX; i++)
                if (strcasecmp(s, policy_type_names[i]) == 0)
                        return i;
        return -EINVAL;
}

typedef struct Parser {
        VerifierConfig *c;
        SigningKeyConfig *key;   /* the current [SigningKey] section */
        TenantConfig *tenant;    /* the current [Tenant] section */
} Parser;

#define FAIL(fmt, ...) conf_diag(d, -EBADMSG, file, line, section, key, fmt, ##__VA_ARGS__)

static int set_string(char **slot, const char *value) {
        char *s = strdup(value);

        if (!s)
                return -ENOMEM;
        free(*slot);
        *slot = s;
        return 0;
}

/* An empty value clears the slot ("reset to default", as in systemd). */
static int set_opt_string(char **slot, const char *value) {
        if (!*value) {
                free(*slot);
                *slot = NULL;
                return 0;
        }
        return set_string(slot, value);
}

static int append(char **array, size_t *n, size_t max, const char *value) {
        if (!*value) { /* an empty assignment clears the list */
                for (size_t i = 0; i < *n; i++)
                        free(array[i]);
                *n = 0;
                return 0;
        }
        if (*n >= max)
                return -E2BIG;
        array[*n] = strdup(value);
        if (!array[*n])
                return -ENOMEM;
        (*n)++;
        return 0;
}

static int seconds(const char *value, uint64_t *ret) {
        uint64_t usec;
        int r = conf_parse_timespan(value, &usec);

        if (r < 0)
                return r;
        *ret = usec / 1000000;
        return 0;
}

static bool path_ok(const char *p) {
        if (streq(p, "") || streq(p, "/"))
                return true;
        if (p[0] != '/' || p[strlen(p) - 1] == '/' || strstr(p, "//") || strstr(p, "/.") ||
            strlen(p) > 64)
                return false;
        for (const char *q = p; *q; q++)
                if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                      (*q >= '0' && *q <= '9') || *q == '/' || *q == '-' || *q == '_' || *q == '.'))
                        return false;
        return true;
}

static int on_service(Parser *p, const char *file, unsigned line, const char *section,
                      const char *key, const char *value, Diag *d) {
        VerifierConfig *c = p->c;
        uint32_t u;
        uint64_t s;

        if (streq(key, "Listen")) {
                int r = append(c->listen, &c->n_listen, VCONF_LISTEN_MAX, value);
                return r == -E2BIG ? FAIL("at most %u", VCONF_LISTEN_MAX) : r;
        }
        if (streq(key, "TLSCertificate"))
                return set_opt_string(&c->tls_certificate, value);
        if (streq(key, "TLSKey"))
                return set_opt_string(&c->tls_key, value);
        if (streq(key, "PublicURL")) {
                if (*value && strncmp(value, "https://", 8) != 0 && strncmp(value, "http://", 7) != 0)
                        return FAIL("'%s' is not an http:// or https:// URL", value);
                return set_opt_string(&c->public_url, value);
        }
        if (streq(key, "StateDirectory"))
                return set_string(&c->state_directory, value);
        if (streq(key, "Threads")) {
                if (safe_atou32(value, &u) < 0 || u > 256)
                        return FAIL("'%s' is not a number of threads (0..256)", value);
                c->threads = u;
                return 0;
        }
        if (streq(key, "RequestTimeout")) {
                if (seconds(value, &s) < 0 || s < 1 || s > 3600)
                        return FAIL("'%s' is not a time span of 1 s .. 1 h", value);
                c->request_timeout = (unsigned) s;
                return 0;
        }
        return FAIL("unknown key");
}

static int on_signing(Parser *p, const char *file, unsigned line, const char *section,
                      const char *key, const char *value, Diag *d) {
        VerifierConfig *c = p->c;
        uint64_t s;

        if (streq(key, "TokenLifetime")) {
                if (seconds(value, &s) < 0 || s < 1 || s > 366 * 86400)
                        return FAIL("'%s' is not a time span of 1 s .. 1 year", value);
                c->token_lifetime = s;
                return 0;
        }
        if (streq(key, "RotateEvery")) {
                if (seconds(value, &s) < 0 || (s != 0 && s < 2))
                        return FAIL("'%s' is not a time span (0 = never)", value);
                c->rotate_every = s;
                return 0;
        }
        if (streq(key, "PublishAhead")) {
                if (seconds(value, &s) < 0)
                        return FAIL("'%s' is not a time span", value);
                c->publish_ahead = s;
                return 0;
        }
        if (streq(key, "Leeway")) {
                if (seconds(value, &s) < 0 || s > 3600)
                        return FAIL("'%s' is not a time span of at most 1 h", value);
                c->leeway = (uint32_t) s;
                return 0;
        }
        if (streq(key, "TEEAttestation")) {
                bool b;

                if (strcasecmp(value, "auto") == 0)
                        c->tee = -1;
                else if (conf_parse_bool(value, &b) == 0)
                        c->tee = b;
                else
                        return FAIL("'%s' is not auto, yes or no", value);
                return 0;
        }
        return FAIL("unknown key");
}

static int on_signing_key(Parser *p, const char *file, unsigned line, const char *section,
                          const char *key, const char *value, Diag *d) {
        SigningKeyConfig *k = p->key;

        if (streq(key, "Key")) {
                if (!*value)
                        return FAIL("empty");
                return set_string(&k->key, value);
        }
        if (streq(key, "Activate")) {
                time_t t;

                if (parse_rfc3339(value, &t) < 0)
                        return FAIL("'%s' is not an RFC 3339 time", value);
                k->activate = t;
                return 0;
        }
        if (streq(key, "Algorithm")) {
                if (!streq(value, "RS256") && !streq(value, "PS256") && !streq(value, "ES256") &&
                    !streq(value, "ES384"))
                        return FAIL("'%s' is not RS256, PS256, ES256 or ES384", value);
                (void) snprintf(k->alg, sizeof(k->alg), "%s", value);
                return 0;
        }
        return FAIL("unknown key");
}

static int on_snp(Parser *p, const char *file, unsigned line, const char *section, const char *key,
                  const char *value, Diag *d) {
        VerifierConfig *c = p->c;
        uint64_t s;

        if (streq(key, "TrustRoot")) {
                int r = append(c->trust_roots, &c->n_trust_roots, VCONF_ROOTS_MAX, value);
                return r == -E2BIG ? FAIL("at most %u", VCONF_ROOTS_MAX) : r;
        }
        if (streq(key, "KDS")) {
                if (*value && strncmp(value, "https://", 8) != 0 && strncmp(value, "http://", 7) != 0)
                        return FAIL("'%s' is not an http:// or https:// URL", value);
                return set_opt_string(&c->kds_url, value);
        }
        if (streq(key, "VCEKCache"))
                return set_string(&c->vcek_cache, value);
        if (streq(key, "CheckRevocation")) {
                if (conf_parse_bool(value, &c->check_revocation) < 0)
                        return FAIL("'%s' is not a boolean", value);
                return 0;
        }
        if (streq(key, "KDSTimeout")) {
                if (seconds(value, &s) < 0 || s < 1 || s > 300)
                        return FAIL("'%s' is not a time span of 1 s .. 5 min", value);
                c->kds_timeout = (unsigned) s;
                return 0;
        }
        return FAIL("unknown key");
}

static int on_trusted_launch(Parser *p, const char *file, unsigned line, const char *section,
                             const char *key, const char *value, Diag *d) {
        VerifierConfig *c = p->c;
        int r;

        if (streq(key, "AKCertificateAuthority"))
                r = append(c->ak_ca, &c->n_ak_ca, VCONF_ROOTS_MAX, value);
        else if (streq(key, "EKCertificateAuthority"))
                r = append(c->ek_ca, &c->n_ek_ca, VCONF_ROOTS_MAX, value);
        else
                return FAIL("unknown key");
        return r == -E2BIG ? FAIL("at most %u", VCONF_ROOTS_MAX) : r;
}

static int on_key_release(Parser *p, const char *file, unsigned line, const char *section,
                          const char *key, const char *value, Diag *d) {
        VerifierConfig *c = p->c;
        uint64_t s;

        if (streq(key, "Enable")) {
                if (conf_parse_bool(value, &c->key_release) < 0)
                        return FAIL("'%s' is not a boolean", value);
                return 0;
        }
        if (streq(key, "Store"))
                return set_opt_string(&c->key_store, value);
        if (streq(key, "MasterKey"))
                return set_opt_string(&c->master_key, value);
        if (streq(key, "TrustTenants")) {
                if (conf_parse_bool(value, &c->trust_tenants) < 0)
                        return FAIL("'%s' is not a boolean", value);
                return 0;
        }
        if (streq(key, "TrustedIssuer")) {
                int r;

                if (strncmp(value, "https://", 8) != 0 && strncmp(value, "http://", 7) != 0)
                        return FAIL("'%s' is not an http:// or https:// URL", value);
                r = append(c->trusted_issuers, &c->n_trusted_issuers, VCONF_ISSUERS_MAX, value);
                return r == -E2BIG ? FAIL("at most %u", VCONF_ISSUERS_MAX) : r;
        }
        if (streq(key, "IssuerRefresh")) {
                if (seconds(value, &s) < 0 || s > 86400)
                        return FAIL("'%s' is not a time span of at most 1 d", value);
                c->issuer_refresh = (unsigned) s;
                return 0;
        }
        return FAIL("unknown key");
}

static int on_tenant(Parser *p, const char *file, unsigned line, const char *section,
                     const char *key, const char *value, Diag *d) {
        TenantConfig *t = p->tenant;
        int r;

        if (streq(key, "Name")) {
                if (!*value || strlen(value) > 64 || strspn(value, "abcdefghijklmnopqrstuvwxyz"
                                                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                   "0123456789-_.") != strlen(value))
                        return FAIL("'%s' is not a name (letters, digits, - _ ., at most 64)", value);
                return set_string(&t->name, value);
        }
        if (streq(key, "Path")) {
                if (!path_ok(value))
                        return FAIL("'%s' is not a URL path prefix (\"/\" or \"/a/b\", no trailing /)",
                                    value);
                return set_string(&t->path, streq(value, "/") ? "" : value);
        }
        if (streq(key, "Issuer")) {
                if (*value && strncmp(value, "https://", 8) != 0 && strncmp(value, "http://", 7) != 0)
                        return FAIL("'%s' is not an http:// or https:// URL", value);
                return set_opt_string(&t->issuer, value);
        }
        if (streq(key, "Mode")) {
                if (strcasecmp(value, "isolated") == 0)
                        t->isolated = true;
                else if (strcasecmp(value, "default") == 0)
                        t->isolated = false;
                else
                        return FAIL("'%s' is not default or isolated", value);
                return 0;
        }
        if (streq(key, "PolicySigningCertificates"))
                return set_opt_string(&t->policy_certs, value);
        if (streq(key, "AdminToken"))
                return set_opt_string(&t->admin_token, value);
        if (streq(key, "RequireNonce")) {
                if (conf_parse_bool(value, &t->require_nonce) < 0)
                        return FAIL("'%s' is not a boolean", value);
                return 0;
        }
        if (streq(key, "ReferenceValues"))
                return set_opt_string(&t->reference_values, value);
        if (strncmp(key, "Policy.", 7) == 0) {
                r = policy_type_from_string(key + 7);
                if (r < 0)
                        return FAIL("unknown attestation type (SevSnpVm, AzureGuest)");
                return set_opt_string(&t->policy[r], value);
        }
        return FAIL("unknown key");
}

static int on_line(void *userdata, const char *file, unsigned line, const char *section,
                   const char *key, const char *value, Diag *d) {
        Parser *p = userdata;
        VerifierConfig *c = p->c;

        if (!key) {
                if (streq(section, "SigningKey")) {
                        if (c->n_keys >= VCONF_KEYS_MAX)
                                return FAIL("at most %u [SigningKey] sections", VCONF_KEYS_MAX);
                        p->key = &c->keys[c->n_keys++];
                        (void) snprintf(p->key->alg, sizeof(p->key->alg), "RS256");
                } else if (streq(section, "Tenant")) {
                        if (c->n_tenants >= VCONF_TENANTS_MAX)
                                return FAIL("at most %u [Tenant] sections", VCONF_TENANTS_MAX);
                        p->tenant = &c->tenants[c->n_tenants++];
                } else if (!streq(section, "Service") && !streq(section, "Signing") &&
                           !streq(section, "SNP") && !streq(section, "TrustedLaunch") &&
                           !streq(section, "KeyRelease"))
                        return FAIL("unknown section [%s]", section);
                return 0;
        }
        if (streq(section, "Service"))
                return on_service(p, file, line, section, key, value, d);
        if (streq(section, "Signing"))
                return on_signing(p, file, line, section, key, value, d);
        if (streq(section, "SigningKey"))
                return on_signing_key(p, file, line, section, key, value, d);
        if (streq(section, "SNP"))
                return on_snp(p, file, line, section, key, value, d);
        if (streq(section, "TrustedLaunch"))
                return on_trusted_launch(p, file, line, section, key, value, d);
        if (streq(section, "KeyRelease"))
                return on_key_release(p, file, line, section, key, value, d);
        return on_tenant(p, file, line, section, key, value, d);
}

#undef FAIL

static int check(VerifierConfig *c, Diag *d) {
        if (c->n_listen == 0)
                return diag_set(d, -EINVAL, "%s: [Service] Listen= is required", c->file);
        if (!c->tls_certificate != !c->tls_key)
                return diag_set(d, -EINVAL, "%s: [Service] TLSCertificate= and TLSKey= go together",
                                c->file);
        if (c->n_keys == 0)
                return diag_set(d, -EINVAL, "%s: no [SigningKey] section", c->file);
        for (size_t i = 0; i < c->n_keys; i++) {
                if (!c->keys[i].key)
                        return diag_set(d, -EINVAL, "%s: [SigningKey] #%zu has no Key=", c->file,
                                        i + 1);
                if (streq(c->keys[i].key, "ephemeral") && c->n_keys > 1)
                        return diag_set(d, -EINVAL, "%s: [SigningKey] Key=ephemeral stands alone "
                                        "(it rotates itself with RotateEvery=)", c->file);
        }
        if (c->rotate_every && !(c->n_keys == 1 && streq(c->keys[0].key, "ephemeral")))
                return diag_set(d, -EINVAL, "%s: [Signing] RotateEvery= needs Key=ephemeral; "
                                "rotate file keys with [SigningKey] Activate=", c->file);
        if (c->rotate_every && c->publish_ahead >= c->rotate_every)
                return diag_set(d, -EINVAL, "%s: [Signing] PublishAhead= must be shorter than "
                                "RotateEvery=", c->file);
        if (c->key_release && !c->key_store && !c->state_directory)
                return diag_set(d, -EINVAL, "%s: [KeyRelease] Enable=yes needs Store= or "
                                "[Service] StateDirectory=", c->file);
        if (c->key_release && !c->trust_tenants && c->n_trusted_issuers == 0)
                return diag_set(d, -EINVAL, "%s: [KeyRelease] trusts no issuer: set "
                                "TrustTenants=yes or a TrustedIssuer=", c->file);
        if (c->n_tenants == 0) {
                TenantConfig *t = &c->tenants[c->n_tenants++];

                t->name = strdup("default");
                t->path = strdup("");
                if (!t->name || !t->path)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < c->n_tenants; i++) {
                TenantConfig *t = &c->tenants[i];

                if (!t->name)
                        return diag_set(d, -EINVAL, "%s: [Tenant] #%zu has no Name=", c->file, i + 1);
                if (!t->path && !(t->path = strdup("")))
                        return -ENOMEM;
                if (t->isolated && !t->policy_certs)
                        return diag_set(d, -EINVAL, "%s: [Tenant] %s: Mode=isolated needs "
                                        "PolicySigningCertificates=", c->file, t->name);
                for (size_t j = 0; j < i; j++) {
                        if (streq(t->name, c->tenants[j].name))
                                return diag_set(d, -EINVAL, "%s: [Tenant] Name=%s appears twice",
                                                c->file, t->name);
                        if (streq(t->path, c->tenants[j].path))
                                return diag_set(d, -EINVAL, "%s: [Tenant] %s and %s have the same "
                                                "Path=", c->file, c->tenants[j].name, t->name);
                }
        }
        return 0;
}

int verifier_config_parse(const char *text, size_t size, const char *name, VerifierConfig *c,
                          Diag *d) {
        Parser p = { .c = c };
        int r;

        *c = (VerifierConfig) {
                .threads = 0,
                .request_timeout = 10,
                .token_lifetime = 8 * 3600,
                .publish_ahead = 3600,
                .tee = -1,
                .leeway = 0,
                .kds_timeout = 10,
                .check_revocation = true,
                .trust_tenants = true,
                .issuer_refresh = 60,
        };
        c->file = strdup(name);
        c->state_directory = strdup("/var/lib/cvm-verifier");
        c->vcek_cache = strdup("/var/cache/cvm-verifier/kds");
        c->kds_url = strdup("https://kdsintf.amd.com");
        if (!c->file || !c->state_directory || !c->vcek_cache || !c->kds_url) {
                verifier_config_done(c);
                return -ENOMEM;
        }
        r = conf_parse(text, size, name, on_line, &p, d);
        if (r >= 0)
                r = check(c, d);
        if (r < 0)
                verifier_config_done(c);
        return r;
}

static void free_array(char **a, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(a[i]);
}

void verifier_config_done(VerifierConfig *c) {
        free(c->file);
        free_array(c->listen, c->n_listen);
        free(c->tls_certificate);
        free(c->tls_key);
        free(c->public_url);
        free(c->state_directory);
        for (size_t i = 0; i < c->n_keys; i++)
                free(c->keys[i].key);
        free_array(c->trust_roots, c->n_trust_roots);
        free(c->kds_url);
        free(c->vcek_cache);
        free_array(c->ak_ca, c->n_ak_ca);
        free_array(c->ek_ca, c->n_ek_ca);
        free(c->key_store);
        free(c->master_key);
        free_array(c->trusted_issuers, c->n_trusted_issuers);
        for (size_t i = 0; i < c->n_tenants; i++) {
                TenantConfig *t = &c->tenants[i];

                free(t->name);
                free(t->path);
                free(t->issuer);
                free(t->policy_certs);
                free(t->admin_token);
                free(t->reference_values);
                for (int j = 0; j < _POLICY_TYPE_MAX; j++)
                        free(t->policy[j]);
        }
        *c = (VerifierConfig) {};
}
