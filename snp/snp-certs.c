/* SPDX-License-Identifier: Apache-2.0 */
#include "common/byte-reader.h"
#include "common/diag.h"
#include "snp/snp-certs.h"

/* GUIDs of the GHCB certificate table, in RFC 4122 byte order (go-sev-guest abi.go, virtee
 * CertType, Linux sev-guest.c). */
static const struct {
        SnpCertKind kind;
        uint8_t guid[16];
        const char *name;
} cert_guids[] = {
        { SNP_CERT_VCEK, { 0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
                           0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd }, "VCEK" },
        { SNP_CERT_VLEK, { 0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e,
                           0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1 }, "VLEK" },
        { SNP_CERT_ASK, { 0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
                          0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82 }, "ASK" },
        { SNP_CERT_ARK, { 0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52,
                          0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae }, "ARK" },
        { SNP_CERT_CRL, { 0x92, 0xf8, 0x1b, 0xc3, 0x58, 0x11, 0x4d, 0x3d,
                          0x97, 0xff, 0xd1, 0x9f, 0x88, 0xdc, 0x67, 0xea }, "CRL" },
};

const char *snp_cert_kind_to_string(SnpCertKind k) {
        for (size_t i = 0; i < ELEMENTSOF(cert_guids); i++)
                if (cert_guids[i].kind == k)
                        return cert_guids[i].name;
        return "unknown";
}

static SnpCertKind kind_from_guid(const uint8_t guid[16]) {
        for (size_t i = 0; i < ELEMENTSOF(cert_guids); i++)
                if (memcmp(cert_guids[i].guid, guid, 16) == 0)
                        return cert_guids[i].kind;
        return SNP_CERT_UNKNOWN;
}

int snp_cert_table_parse(const uint8_t *buf, size_t size, SnpCertTable *ret, struct Diag *d) {
        SnpCertTable t = {};
        ByteReader r;
        size_t header_end;
        bool terminated = false;

        if (size > SNP_CERT_TABLE_MAX_SIZE)
                return diag_set(d, -E2BIG, "certificate table: %zu bytes, more than %u", size,
                                SNP_CERT_TABLE_MAX_SIZE);
        if (!buf || size == 0) {
                *ret = t;
                return 0;
        }
        r = br_init(buf, size);
        for (;;) {
                SnpCertEntry e = {};

                if (!br_copy(&r, e.guid, 16) || !br_u32le(&r, &e.offset) ||
                    !br_u32le(&r, &e.size)) {
                        /* A buffer that is all zero and shorter than one entry is the empty table
                         * the kernel hands out when the host supplies none. */
                        if (t.n_entries == 0 && memeqzero(buf, size)) {
                                terminated = true;
                                break;
                        }
                        return diag_set(d, -EBADMSG,
                                        "certificate table: entry %zu at 0x%zx is cut short and "
                                        "there is no terminator", t.n_entries,
                                        t.n_entries * SNP_CERT_ENTRY_SIZE);
                }
                if (memeqzero(e.guid, 16) && e.offset == 0 && e.size == 0) {
                        terminated = true;
                        break;
                }
                if (t.n_entries >= SNP_CERT_TABLE_MAX_ENTRIES)
                        return diag_set(d, -EBADMSG, "certificate table: more than %u entries",
                                        SNP_CERT_TABLE_MAX_ENTRIES);
                e.kind = kind_from_guid(e.guid);
                t.entries[t.n_entries++] = e;
        }
        if (!terminated)
                return diag_set(d, -EBADMSG, "certificate table: no terminator");
        header_end = (t.n_entries + 1) * SNP_CERT_ENTRY_SIZE;

        for (size_t i = 0; i < t.n_entries; i++) {
                SnpCertEntry *e = &t.entries[i];
                uint64_t end = (uint64_t) e->offset + e->size;

                if (e->size == 0)
                        return diag_set(d, -EBADMSG, "certificate table: entry %zu (%s) is empty",
                                        i, snp_cert_kind_to_string(e->kind));
                if (e->offset < header_end)
                        return diag_set(d, -EBADMSG,
                                        "certificate table: entry %zu (%s) offset 0x%x lies inside "
                                        "the %zu-byte header", i, snp_cert_kind_to_string(e->kind),
                                        e->offset, header_end);
                if (end > size)
                        return diag_set(d, -EBADMSG,
                                        "certificate table: entry %zu (%s) 0x%x+0x%x runs past the "
                                        "end of the %zu-byte table", i,
                                        snp_cert_kind_to_string(e->kind), e->offset, e->size, size);
                for (size_t j = 0; j < i; j++) {
                        const SnpCertEntry *o = &t.entries[j];

                        if (memcmp(o->guid, e->guid, 16) == 0)
                                return diag_set(d, -EBADMSG,
                                                "certificate table: entries %zu and %zu have the "
                                                "same GUID (%s)", j, i,
                                                snp_cert_kind_to_string(e->kind));
                        if (e->offset < (uint64_t) o->offset + o->size && o->offset < end)
                                return diag_set(d, -EBADMSG,
                                                "certificate table: entries %zu and %zu overlap",
                                                j, i);
                }
                e->data = buf + e->offset;
        }
        *ret = t;
        return 0;
}

const SnpCertEntry *snp_cert_table_find(const SnpCertTable *t, SnpCertKind kind) {
        for (size_t i = 0; i < t->n_entries; i++)
                if (t->entries[i].kind == kind)
                        return &t->entries[i];
        return NULL;
}

static void put_u32le(uint8_t *p, uint32_t v) {
        for (size_t i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

int snp_cert_table_build(size_t n, const SnpCertKind kinds[], const uint8_t *const blobs[],
                         const size_t sizes[], uint8_t **ret, size_t *ret_size) {
        size_t total, off;
        uint8_t *buf;

        if (n > SNP_CERT_TABLE_MAX_ENTRIES)
                return -E2BIG;
        total = (n + 1) * SNP_CERT_ENTRY_SIZE;
        for (size_t i = 0; i < n; i++)
                if (sizes[i] > SNP_CERT_TABLE_MAX_SIZE ||
                    __builtin_add_overflow(total, sizes[i], &total))
                        return -E2BIG;
        if (total > SNP_CERT_TABLE_MAX_SIZE)
                return -E2BIG;
        buf = calloc(1, total);
        if (!buf)
                return -ENOMEM;
        off = (n + 1) * SNP_CERT_ENTRY_SIZE;
        for (size_t i = 0; i < n; i++) {
                uint8_t *e = buf + i * SNP_CERT_ENTRY_SIZE;
                bool found = false;

                for (size_t g = 0; g < ELEMENTSOF(cert_guids); g++)
                        if (cert_guids[g].kind == kinds[i]) {
                                memcpy(e, cert_guids[g].guid, 16);
                                found = true;
                        }
                if (!found) {
                        free(buf);
                        return -EINVAL;
                }
                put_u32le(e + 16, (uint32_t) off);
                put_u32le(e + 20, (uint32_t) sizes[i]);
                memcpy(buf + off, blobs[i], sizes[i]);
                off += sizes[i];
        }
        *ret = buf;
        *ret_size = total;
        return 0;
}
