/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct Diag;

/*
 * The extended-report certificate table (GHCB MSG_REPORT_REQ certificates, configfs-tsm auxblob):
 * 24-byte entries {GUID (RFC 4122 byte order), u32le offset, u32le length} ended by an all-zero
 * entry, then the blobs; offsets count from the start of the table.
 */
#define SNP_CERT_TABLE_MAX_SIZE (64u * 1024u)
#define SNP_CERT_TABLE_MAX_ENTRIES 32u
#define SNP_CERT_ENTRY_SIZE 24u

typedef enum SnpCertKind {
        SNP_CERT_UNKNOWN,
        SNP_CERT_VCEK,
        SNP_CERT_VLEK,
        SNP_CERT_ASK, /* also the ASVK */
        SNP_CERT_ARK,
        SNP_CERT_CRL,
        _SNP_CERT_KIND_MAX,
} SnpCertKind;

typedef struct SnpCertEntry {
        uint8_t guid[16];
        SnpCertKind kind;
        const uint8_t *data; /* points into the caller's buffer */
        uint32_t offset;
        uint32_t size;
} SnpCertEntry;

typedef struct SnpCertTable {
        SnpCertEntry entries[SNP_CERT_TABLE_MAX_ENTRIES];
        size_t n_entries;
} SnpCertTable;

/*
 * Parses a table without trusting any of it: every offset and length is checked against the
 * buffer before use. An empty buffer, or one that starts with the terminator, is an empty table.
 * Rejected with -EBADMSG and a Diag naming the entry: a missing terminator, an offset inside the
 * header, a blob past the end of the buffer (with overflow-checked arithmetic), a zero-length
 * blob, two blobs that overlap, two entries with the same GUID, more than
 * SNP_CERT_TABLE_MAX_ENTRIES entries; -E2BIG above SNP_CERT_TABLE_MAX_SIZE. Unknown GUIDs are
 * kept as SNP_CERT_UNKNOWN. Entries point into buf, which must outlive *ret. Pure.
 */
int snp_cert_table_parse(const uint8_t *buf, size_t size, SnpCertTable *ret, struct Diag *d);

/* The first entry of kind, or NULL. */
const SnpCertEntry *snp_cert_table_find(const SnpCertTable *t, SnpCertKind kind);

const char *snp_cert_kind_to_string(SnpCertKind k);

/*
 * Builds a table from blobs (kinds[i], blobs[i], sizes[i]) into a new buffer (free()).
 * For tests and the simulator's counterpart checks. Pure.
 */
int snp_cert_table_build(size_t n, const SnpCertKind kinds[], const uint8_t *const blobs[],
                         const size_t sizes[], uint8_t **ret, size_t *ret_size);
