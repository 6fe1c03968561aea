/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct Diag;

/*
 * cvm-verifier's configuration file (`serve --config FILE`). Every key, its default and its
 * meaning are documented in verifier/cvm-verifier.conf, the annotated example installed as
 * documentation. Parsing is pure: paths are stored, not opened; the server opens them.
 */

#define VCONF_LISTEN_MAX 8u
#define VCONF_KEYS_MAX 8u
#define VCONF_ROOTS_MAX 16u
#define VCONF_TENANTS_MAX 16u
#define VCONF_ISSUERS_MAX 16u

typedef enum PolicyType {
        POLICY_SEVSNPVM,
        POLICY_AZUREGUEST,
        _POLICY_TYPE_MAX,
} PolicyType;

/* "SevSnpVm", "AzureGuest" (the MAA names, as in /attest/{type} and /policies/{type}). */
const char *policy_type_to_string(PolicyType t);
/* Case-insensitive, as MAA's REST API. -EINVAL for anything else. */
int policy_type_from_string(const char *s);

typedef struct SigningKeyConfig {
        char *key;          /* PEM private key: a path, "credential:NAME", or "ephemeral" */
        int64_t activate;   /* Unix seconds it starts signing; 0 = at once */
        char alg[8];        /* RS256 (default), PS256, ES256, ES384 */
} SigningKeyConfig;

typedef struct TenantConfig {
        char *name;
        char *path;           /* URL path prefix: "" for the root tenant, else "/x[/y...]" */
        char *issuer;         /* NULL: PublicURL + path */
        bool isolated;        /* Mode=isolated: policies must be signed by a policy certificate */
        char *policy_certs;   /* PEM certificates that may sign policies */
        char *admin_token;    /* path or credential:NAME of the policy-management bearer token */
        bool require_nonce;
        char *policy[_POLICY_TYPE_MAX]; /* initial policy files; NULL: the built-in defaults */
        char *reference_values;         /* JSON reference values for x-ms-compliance-status */
} TenantConfig;

typedef struct VerifierConfig {
        char *file;
        /* [Service] */
        char *listen[VCONF_LISTEN_MAX];
        size_t n_listen;
        char *tls_certificate, *tls_key;
        char *public_url;
        char *state_directory;
        unsigned threads;            /* 0: one per online CPU */
        unsigned request_timeout;    /* seconds */
        /* [Signing] and [SigningKey] */
        SigningKeyConfig keys[VCONF_KEYS_MAX];
        size_t n_keys;
        uint64_t token_lifetime;      /* seconds */
        uint64_t rotate_every;        /* seconds; for ephemeral keys, 0 = never */
        uint64_t publish_ahead;       /* seconds a new ephemeral key is published before it signs */
        int tee;                      /* TEEAttestation=: -1 auto, 0 no, 1 yes */
        uint32_t leeway;
        /* [SNP] */
        char *trust_roots[VCONF_ROOTS_MAX];
        size_t n_trust_roots;
        char *kds_url;                /* NULL: offline (cache only) */
        char *vcek_cache;
        unsigned kds_timeout;         /* seconds */
        bool check_revocation;        /* CheckRevocation=: AMD's CRL is required */
        /* [TrustedLaunch] */
        char *ak_ca[VCONF_ROOTS_MAX];
        size_t n_ak_ca;
        char *ek_ca[VCONF_ROOTS_MAX];
        size_t n_ek_ca;
        /* [KeyRelease] */
        bool key_release;             /* Enable=: serve POST /keys/{name}[/{version}]/release */
        char *key_store;              /* Store=: the key store folder; NULL: StateDirectory/keys */
        char *master_key;             /* MasterKey=: path or credential:NAME; NULL: the default */
        bool trust_tenants;           /* TrustTenants=: this service's own tokens are accepted */
        char *trusted_issuers[VCONF_ISSUERS_MAX]; /* TrustedIssuer=: external authorities */
        size_t n_trusted_issuers;
        unsigned issuer_refresh;      /* IssuerRefresh=: seconds between key fetches per issuer */
        /* [Tenant] sections */
        TenantConfig tenants[VCONF_TENANTS_MAX];
        size_t n_tenants;
} VerifierConfig;

/*
 * Parses a configuration file's text (name is used in messages). Defaults are filled first; then
 * unknown sections or keys, bad values, too many repeats, duplicate tenant names or paths, a
 * tenant without Name=, are -EBADMSG with "FILE:LINE: [Section] Key=: why". After parsing the
 * whole is checked (-EINVAL, naming the key): at least one Listen=, TLS certificate and key both
 * or neither, at least one signing key, no tenant: one root tenant named "default" is added.
 * *c is cleared on failure. Pure.
 */
int verifier_config_parse(const char *text, size_t size, const char *name, VerifierConfig *c,
                          struct Diag *d);
void verifier_config_done(VerifierConfig *c);
