/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: SEV-SNP ATTESTATION_REPORT parsing (snp_report_parse) and everything done with a
 * parsed report before any signature check: the JSON dump, the KDS path and TCB decoding.
 */
#include <json-c/json.h>

#include "common/diag.h"
#include "common/json-util.h"
#include "snp/snp-report.h"
#include "snp/snp-verify.h"
#include "tests/fuzz/fuzz.h"

/* decode(encode(decode(raw))) must equal decode(raw): encoding loses only unused bytes. */
static void check_tcb(uint64_t raw, SnpProduct product) {
        SnpTcb a, b;

        snp_tcb_decode(raw, product, &a);
        snp_tcb_decode(snp_tcb_encode(&a, product), product, &b);
        if (a.fmc != b.fmc || a.bootloader != b.bootloader || a.tee != b.tee || a.snp != b.snp ||
            a.microcode != b.microcode || a.has_fmc != b.has_fmc)
                abort();
        fuzz_consume(a.bootloader + a.tee + a.snp + a.microcode + a.fmc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        _cleanup_(freep) char *path = NULL;
        const uint64_t *tcbs[4];
        SnpReport rep;
        Diag diag = {};
        int r;

        r = snp_report_parse(data, size, &rep, &diag);
        fuzz_consume(strlen(diag.text));
        if (r < 0)
                return 0;

        tcbs[0] = &rep.current_tcb;
        tcbs[1] = &rep.reported_tcb;
        tcbs[2] = &rep.committed_tcb;
        tcbs[3] = &rep.launch_tcb;
        for (size_t i = 0; i < ELEMENTSOF(tcbs); i++)
                for (SnpProduct p = SNP_PRODUCT_UNKNOWN; p < _SNP_PRODUCT_MAX; p++)
                        check_tcb(*tcbs[i], p);

        fuzz_consume(strlen(snp_product_to_string(rep.product)));
        fuzz_consume((uint64_t) snp_report_signing_key(&rep));

        if (snp_report_to_json(&rep, &j) >= 0)
                fuzz_consume(strlen(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN)));

        r = snp_kds_vcek_path(&rep, &path);
        if (r >= 0)
                fuzz_consume(strlen(path));
        else if (rep.product != SNP_PRODUCT_UNKNOWN)
                abort(); /* only an unknown product may fail (or -ENOMEM) */
        return 0;
}
