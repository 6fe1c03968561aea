/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/evp.h>

#include "tests/sim/sim-eventlog.h"
#include "common/byte-reader.h"
#include "common/macro.h"

#define SPEC_ID_SIGNATURE          "Spec ID Event03" /* with its NUL: 16 bytes */
#define STARTUP_LOCALITY_SIGNATURE "StartupLocality" /* with its NUL: 16 bytes */
#define SHA1_DIGEST_SIZE           20

/* The Spec ID event: TCG_EfiSpecIdEvent (tpm.md 3.1). */
static int parse_spec_id(ByteReader *ev, SimEventLog *l) {
        const uint8_t *sig;
        uint32_t platform_class, n;
        uint8_t minor, major, errata, uintn, vendor_size;

        if (!br_bytes(ev, &sig, 16))
                return -EBADMSG;
        if (memcmp(sig, SPEC_ID_SIGNATURE, 16) != 0)
                /* "Spec ID Event00" and others: a TPM 1.2 (SHA-1 only) log */
                return -EPROTONOSUPPORT;
        if (!br_u32le(ev, &platform_class) || !br_u8(ev, &minor) || !br_u8(ev, &major) ||
            !br_u8(ev, &errata) || !br_u8(ev, &uintn) || !br_u32le(ev, &n))
                return -EBADMSG;
        if (major != 2 || n == 0 || n > SIM_EVENTLOG_MAX_ALGS)
                return -EBADMSG;
        for (uint32_t i = 0; i < n; i++) {
                uint16_t alg, size;

                if (!br_u16le(ev, &alg) || !br_u16le(ev, &size))
                        return -EBADMSG;
                if (size == 0 || size > 64)
                        return -EBADMSG;
                for (uint32_t j = 0; j < i; j++)
                        if (l->algs[j].alg == alg)
                                return -EBADMSG;
                l->algs[i].alg = alg;
                l->algs[i].size = size;
        }
        l->n_algs = n;
        if (!br_u8(ev, &vendor_size) || !br_skip(ev, vendor_size))
                return -EBADMSG;
        return 0;
}

static int digest_size(const SimEventLog *l, uint16_t alg) {
        for (uint32_t i = 0; i < l->n_algs; i++)
                if (l->algs[i].alg == alg)
                        return l->algs[i].size;
        return -ENOENT;
}

/* One TCG_PCR_EVENT2 (tpm.md 3.2). */
static int parse_event2(ByteReader *r, const SimEventLog *l, SimEvent *ret) {
        ByteReader t = *r; /* advance r only when the whole record is good */
        SimEvent e = {};

        if (!br_u32le(&t, &e.pcr) || !br_u32le(&t, &e.type) || !br_u32le(&t, &e.n_digests))
                return -EBADMSG;
        if (e.n_digests > l->n_algs)
                return -EBADMSG;
        for (uint32_t i = 0; i < e.n_digests; i++) {
                uint16_t alg;
                int size;

                if (!br_u16le(&t, &alg))
                        return -EBADMSG;
                size = digest_size(l, alg);
                if (size < 0)
                        return -EBADMSG; /* as the kernel: an unknown algorithm ends parsing */
                for (uint32_t j = 0; j < i; j++)
                        if (e.digests[j].alg == alg)
                                return -EBADMSG;
                e.digests[i].alg = alg;
                e.digests[i].size = (uint16_t) size;
                if (!br_bytes(&t, &e.digests[i].digest, (size_t) size))
                        return -EBADMSG;
        }
        if (!br_u32le(&t, &e.data_size) || !br_bytes(&t, &e.data, e.data_size))
                return -EBADMSG;
        if (e.type != SIM_EV_NO_ACTION && e.pcr >= SIM_EVENTLOG_PCRS)
                return -EBADMSG;
        *r = t;
        *ret = e;
        return 0;
}

int sim_eventlog_parse(const uint8_t *buf, size_t size, SimEventLog *ret) {
        ByteReader r = br_init(buf, size), ev;
        SimEventLog l = {};
        uint32_t pcr, type, ev_size;
        size_t cap = 0;
        int e;

        if (size > SIM_EVENTLOG_MAX_SIZE)
                return -EFBIG;
        /* First event, SHA-1 format: pcrIndex, eventType EV_NO_ACTION, 20 zero bytes, Spec ID. */
        if (!br_u32le(&r, &pcr) || !br_u32le(&r, &type))
                return -EBADMSG;
        if (pcr != 0 || type != SIM_EV_NO_ACTION)
                return -EPROTONOSUPPORT; /* a SHA-1-format log starts with an extended event */
        if (!br_zero(&r, SHA1_DIGEST_SIZE) || !br_u32le(&r, &ev_size) || !br_sub(&r, ev_size, &ev))
                return -EBADMSG;
        e = parse_spec_id(&ev, &l);
        if (e < 0)
                return e;

        while (br_left(&r) > 0) {
                SimEvent x;

                /* trailing zero padding (the kernel stops at type 0 with size 0) */
                if (memeqzero(r.p, r.n))
                        break;
                if (l.n_events >= SIM_EVENTLOG_MAX_EVENTS) {
                        e = -E2BIG;
                        goto fail;
                }
                e = parse_event2(&r, &l, &x);
                if (e < 0)
                        goto fail;
                if (l.n_events == cap) {
                        size_t ncap = cap ? cap * 2 : 128;
                        SimEvent *n = reallocarray(l.events, ncap, sizeof(*n));

                        if (!n) {
                                e = -ENOMEM;
                                goto fail;
                        }
                        l.events = n;
                        cap = ncap;
                }
                /* TCG_EFI_STARTUP_LOCALITY_EVENT: "StartupLocality\0" then the locality byte */
                if (x.type == SIM_EV_NO_ACTION && x.pcr == 0 && x.data_size == 17 &&
                    memcmp(x.data, STARTUP_LOCALITY_SIGNATURE, 16) == 0) {
                        l.has_startup_locality = true;
                        l.startup_locality = x.data[16];
                }
                l.events[l.n_events++] = x;
        }
        *ret = l;
        return 0;
fail:
        free(l.events);
        return e;
}

void sim_eventlog_done(SimEventLog *l) {
        free(l->events);
        *l = (SimEventLog){};
}

int sim_eventlog_secure_boot(const SimEventLog *l) {
        /* EFI_GLOBAL_VARIABLE 8BE4DF61-93CA-11D2-AA0D-00E098032B8C in EFI byte order */
        static const uint8_t efi_global[16] = {0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
                                               0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c};
        static const char name[] = "SecureBoot";
        int value = -ENOENT;

        for (size_t i = 0; i < l->n_events; i++) {
                const SimEvent *e = &l->events[i];
                ByteReader r = br_init(e->data, e->data_size);
                const uint8_t *guid, *uname, *data;
                uint64_t name_len, data_len;
                bool match = true;

                if (e->type != SIM_EV_EFI_VARIABLE_DRIVER_CONFIG)
                        continue;
                /* UEFI_VARIABLE_DATA (tpm.md 3.5) */
                if (!br_bytes(&r, &guid, 16) || !br_u64le(&r, &name_len) ||
                    !br_u64le(&r, &data_len) || name_len != strlen(name) ||
                    !br_bytes(&r, &uname, 2 * strlen(name)) || data_len > br_left(&r) ||
                    !br_bytes(&r, &data, (size_t) data_len))
                        continue;
                if (memcmp(guid, efi_global, sizeof(efi_global)) != 0)
                        continue;
                for (size_t j = 0; j < strlen(name); j++)
                        if (uname[2 * j] != (uint8_t) name[j] || uname[2 * j + 1] != 0)
                                match = false;
                if (!match)
                        continue;
                /* an empty variable (seen on real machines) counts as off */
                value = data_len >= 1 && data[0] == 1;
        }
        return value;
}

static const EVP_MD *md_for_alg(uint16_t alg) {
        switch (alg) {
        case 0x0004:
                return EVP_sha1();
        case 0x000B:
                return EVP_sha256();
        case 0x000C:
                return EVP_sha384();
        case 0x000D:
                return EVP_sha512();
        default:
                return NULL;
        }
}

int sim_eventlog_replay(const SimEventLog *l, uint16_t alg, uint8_t ret[SIM_EVENTLOG_PCRS][64],
                        size_t *ret_size) {
        const EVP_MD *md = md_for_alg(alg);
        int size = digest_size(l, alg);

        if (size < 0)
                return -ENOENT;
        if (!md || EVP_MD_get_size(md) != size)
                return -EPROTONOSUPPORT;
        memset(ret, 0, SIM_EVENTLOG_PCRS * 64);
        if (l->has_startup_locality)
                ret[0][size - 1] = l->startup_locality;
        for (size_t i = 0; i < l->n_events; i++) {
                const SimEvent *e = &l->events[i];
                const uint8_t *d = NULL;
                unsigned out = 0;
                EVP_MD_CTX *ctx;
                bool ok;

                if (e->type == SIM_EV_NO_ACTION)
                        continue;
                for (uint32_t j = 0; j < e->n_digests; j++)
                        if (e->digests[j].alg == alg)
                                d = e->digests[j].digest;
                if (!d)
                        continue; /* the event has no digest for this bank: nothing extended */
                ctx = EVP_MD_CTX_new();
                if (!ctx)
                        return -ENOMEM;
                ok = EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
                     EVP_DigestUpdate(ctx, ret[e->pcr], (size_t) size) == 1 &&
                     EVP_DigestUpdate(ctx, d, (size_t) size) == 1 &&
                     EVP_DigestFinal_ex(ctx, ret[e->pcr], &out) == 1;
                EVP_MD_CTX_free(ctx);
                if (!ok || out != (unsigned) size)
                        return -EIO;
        }
        *ret_size = (size_t) size;
        return 0;
}
