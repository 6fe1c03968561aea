/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>

#include "tests/sim/sim-platform.h"

/*
 * A test ARK -> ASK -> VCEK (and ARK -> ASVK -> VLEK) hierarchy shaped like AMD's (spec section 6):
 * RSA-4096 ARK/ASK/ASVK, EC P-384 VCEK/VLEK, every signature RSASSA-PSS SHA-384 / MGF1 SHA-384 /
 * salt 48, AMD subject names, and the VCEK/VLEK extensions under 1.3.6.1.4.1.3704.1 in the order
 * AMD's own certificates use. Keys are PEM (mode 0600), certificates PEM and DER.
 */

#define SIM_PKI_ARK_PEM "ark.pem"
#define SIM_PKI_ARK_DER "ark.der"
#define SIM_PKI_ARK_KEY "ark.key"
#define SIM_PKI_ASK_PEM "ask.pem"
#define SIM_PKI_ASK_DER "ask.der"
#define SIM_PKI_ASK_KEY "ask.key"
#define SIM_PKI_VCEK_PEM "vcek.pem"
#define SIM_PKI_VCEK_DER "vcek.der"
#define SIM_PKI_VCEK_KEY "vcek.key"
#define SIM_PKI_ASVK_PEM "asvk.pem"
#define SIM_PKI_ASVK_DER "asvk.der"
#define SIM_PKI_ASVK_KEY "asvk.key"
#define SIM_PKI_VLEK_PEM "vlek.pem"
#define SIM_PKI_VLEK_DER "vlek.der"
#define SIM_PKI_VLEK_KEY "vlek.key"
#define SIM_PKI_CERT_CHAIN "cert_chain.pem"           /* KDS format: ASK, then ARK */
#define SIM_PKI_VLEK_CERT_CHAIN "vlek_cert_chain.pem" /* ASVK, then ARK */

/*
 * Makes whatever of the hierarchy is missing in dir (never redoes what exists, unless a parent
 * had to be made anew, or reissue_leaf asks for fresh VCEK/VLEK certificates from the current
 * platform.conf values: chip_id, reported_tcb, product_name, csp_id). The VLEK branch only when
 * vlek. Logs progress and failures.
 */
int sim_pki_ensure(const char *dir, const SimPlatform *p, bool vlek, bool reissue_leaf);
