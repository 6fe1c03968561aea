/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/byte-reader.h"
#include "common/codec.h"
#include "common/json-util.h"
#include "common/openssl-util.h"
#include "vtpm/efi-decode.h"

/* Entries listed per decoded signature database; the rest are only counted. */
#define SIGNATURE_ENTRIES_MAX 4096u
/* Bytes of vendor-defined device path data shown as hex. */
#define DEVICE_PATH_HEX_MAX 64u
/* Partition entries listed from a GPT event. */
#define GPT_PARTITIONS_MAX 256u
/* Handoff tables listed. */
#define HANDOFF_TABLES_MAX 256u

/* ---- TextBuf ---- */

static bool text_buf_reserve(TextBuf *t, size_t extra) {
        size_t need, cap;
        char *s;

        if (t->error < 0)
                return false;
        if (__builtin_add_overflow(t->len, extra, &need) || need >= TEXT_BUF_MAX) {
                t->error = -E2BIG;
                return false;
        }
        need++; /* NUL */
        if (need <= t->cap)
                return true;
        cap = MAX(t->cap * 2, (size_t) 64);
        while (cap < need)
                cap *= 2;
        cap = MIN(cap, (size_t) TEXT_BUF_MAX);
        s = realloc(t->s, cap);
        if (!s) {
                t->error = -ENOMEM;
                return false;
        }
        t->s = s;
        t->cap = cap;
        return true;
}

void text_buf_append(TextBuf *t, const char *s, size_t n) {
        if (!text_buf_reserve(t, n))
                return;
        memcpy(t->s + t->len, s, n);
        t->len += n;
        t->s[t->len] = '\0';
}

void text_buf_puts(TextBuf *t, const char *s) {
        text_buf_append(t, s, strlen(s));
}

void text_buf_printf(TextBuf *t, const char *fmt, ...) {
        va_list ap;
        char small[256];
        int k;

        va_start(ap, fmt);
        k = vsnprintf(small, sizeof(small), fmt, ap);
        va_end(ap);
        if (k < 0) {
                if (t->error == 0)
                        t->error = -EINVAL;
                return;
        }
        if ((size_t) k < sizeof(small)) {
                text_buf_append(t, small, (size_t) k);
                return;
        }
        if (!text_buf_reserve(t, (size_t) k))
                return;
        va_start(ap, fmt);
        (void) vsnprintf(t->s + t->len, (size_t) k + 1, fmt, ap);
        va_end(ap);
        t->len += (size_t) k;
}

static void text_buf_codepoint(TextBuf *t, uint32_t c) {
        char b[4];
        size_t n;

        if (c < 0x80) {
                b[0] = (char) c;
                n = 1;
        } else if (c < 0x800) {
                b[0] = (char) (0xC0 | (c >> 6));
                b[1] = (char) (0x80 | (c & 0x3F));
                n = 2;
        } else if (c < 0x10000) {
                b[0] = (char) (0xE0 | (c >> 12));
                b[1] = (char) (0x80 | ((c >> 6) & 0x3F));
                b[2] = (char) (0x80 | (c & 0x3F));
                n = 3;
        } else {
                b[0] = (char) (0xF0 | (c >> 18));
                b[1] = (char) (0x80 | ((c >> 12) & 0x3F));
                b[2] = (char) (0x80 | ((c >> 6) & 0x3F));
                b[3] = (char) (0x80 | (c & 0x3F));
                n = 4;
        }
        text_buf_append(t, b, n);
}

#define REPLACEMENT_CHAR 0xFFFDu

/* Decodes one UTF-8 sequence at p[0, n): its length, or 0 if invalid (overlong, surrogate, out
 * of range, truncated). */
static size_t utf8_decode(const uint8_t *p, size_t n, uint32_t *ret) {
        uint32_t c;
        size_t len;

        if (p[0] < 0x80) {
                *ret = p[0];
                return 1;
        }
        if (p[0] >= 0xC2 && p[0] <= 0xDF) {
                len = 2;
                c = p[0] & 0x1F;
        } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
                len = 3;
                c = p[0] & 0x0F;
        } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
                len = 4;
                c = p[0] & 0x07;
        } else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xC0) != 0x80)
                        return 0;
                c = (c << 6) | (p[i] & 0x3F);
        }
        if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
            (c >= 0xD800 && c <= 0xDFFF))
                return 0;
        *ret = c;
        return len;
}

void text_buf_utf8(TextBuf *t, const uint8_t *p, size_t n) {
        size_t i = 0;

        while (i < n) {
                uint32_t c;
                size_t k = utf8_decode(p + i, n - i, &c);

                if (k == 0 || c == 0) {
                        text_buf_codepoint(t, REPLACEMENT_CHAR);
                        i++;
                } else {
                        text_buf_append(t, (const char *) p + i, k);
                        i += k;
                }
        }
}

static uint16_t u16le_at(const uint8_t *p) {
        return (uint16_t) (p[0] | (p[1] << 8));
}

void text_buf_utf16le(TextBuf *t, const uint8_t *p, size_t n, bool stop_at_nul) {
        size_t units = n / 2;

        for (size_t i = 0; i < units; i++) {
                uint32_t c = u16le_at(p + 2 * i);

                if (c == 0 && stop_at_nul)
                        return;
                if (c >= 0xD800 && c <= 0xDBFF && i + 1 < units) {
                        uint32_t lo = u16le_at(p + 2 * (i + 1));
                        if (lo >= 0xDC00 && lo <= 0xDFFF) {
                                text_buf_codepoint(t, 0x10000 + ((c - 0xD800) << 10) +
                                                              (lo - 0xDC00));
                                i++;
                                continue;
                        }
                }
                if (c == 0 || (c >= 0xD800 && c <= 0xDFFF))
                        c = REPLACEMENT_CHAR;
                text_buf_codepoint(t, c);
        }
}

const char *text_buf_str(TextBuf *t) {
        return t->s && t->len > 0 ? t->s : "";
}

void text_buf_done(TextBuf *t) {
        free(t->s);
        *t = (TextBuf) {};
}

/* ---- text detection ---- */

static bool printable_codepoint(uint32_t c) {
        if (c == '\t' || c == '\n' || c == '\r')
                return true;
        return c >= 0x20 && !(c >= 0x7F && c <= 0x9F) && c != 0xFFFE && c != 0xFFFF;
}

bool efi_text_ascii(const uint8_t *p, size_t n) {
        while (n > 0 && p[n - 1] == 0)
                n--;
        if (n == 0)
                return false;
        for (size_t i = 0; i < n;) {
                uint32_t c;
                size_t k = utf8_decode(p + i, n - i, &c);

                if (k == 0 || !printable_codepoint(c))
                        return false;
                i += k;
        }
        return true;
}

bool efi_text_utf16le(const uint8_t *p, size_t n) {
        size_t units, ascii = 0;

        if (n % 2 == 1) {
                /* systemd-boot logs strlen*2+1 bytes: one byte of the NUL character. */
                if (p[n - 1] != 0)
                        return false;
                n--;
        }
        units = n / 2;
        while (units > 0 && u16le_at(p + 2 * (units - 1)) == 0)
                units--;
        if (units == 0)
                return false;
        for (size_t i = 0; i < units; i++) {
                uint32_t c = u16le_at(p + 2 * i);

                if (c >= 0xD800 && c <= 0xDBFF) {
                        if (i + 1 >= units)
                                return false;
                        uint32_t lo = u16le_at(p + 2 * (i + 1));
                        if (lo < 0xDC00 || lo > 0xDFFF)
                                return false;
                        i++;
                        continue;
                }
                if ((c >= 0xDC00 && c <= 0xDFFF) || !printable_codepoint(c))
                        return false;
                if (c < 0x80)
                        ascii++;
        }
        /* Real strings here are mostly ASCII; binary that happens to pair up is not. */
        return ascii * 2 >= units;
}

/* ---- GUIDs ---- */

void efi_guid_to_string(const uint8_t g[static 16], char out[static EFI_GUID_STRING_SIZE]) {
        (void) snprintf(out, EFI_GUID_STRING_SIZE,
                        "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                        g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11],
                        g[12], g[13], g[14], g[15]);
}

#define GUID_GLOBAL_VARIABLE "8be4df61-93ca-11d2-aa0d-00e098032b8c"
#define GUID_IMAGE_SECURITY_DATABASE "d719b2cb-3d3a-4596-a3bc-dad00e67656f"

static const struct {
        const char *guid;
        const char *name;
} guid_names[] = {
        { GUID_GLOBAL_VARIABLE, "EFI_GLOBAL_VARIABLE" },
        { GUID_IMAGE_SECURITY_DATABASE, "EFI_IMAGE_SECURITY_DATABASE_GUID" },
        { "605dab50-e046-4300-abb6-3dd810dd8b23", "SHIM_LOCK_GUID" },
        { "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f", "LOADER_GUID (systemd-boot)" },
        { "77fa9abd-0359-4d32-bd60-28f4e78f784b", "MICROSOFT_VENDOR_GUID" },
        { "a5c059a1-94e4-4aa7-87b5-ab155c2bf072", "EFI_CERT_X509_GUID" },
        { "c1c41626-504c-4092-aca9-41f936934328", "EFI_CERT_SHA256_GUID" },
        { "826ca512-cf10-4ac9-b187-be01496631bd", "EFI_CERT_SHA1_GUID" },
        { "0b6e5233-a65c-44c9-9407-d9ab83bfc8bd", "EFI_CERT_SHA224_GUID" },
        { "ff3e5307-9fd0-48c9-85f1-8ad56c701e01", "EFI_CERT_SHA384_GUID" },
        { "093e0fae-a6c4-4f50-9f1b-d41e2b89c19a", "EFI_CERT_SHA512_GUID" },
        { "3c5766e8-269c-4e34-aa14-ed776e85b3b6", "EFI_CERT_RSA2048_GUID" },
        { "e2b36190-879b-4a3d-ad8d-f2e7bba32784", "EFI_CERT_RSA2048_SHA256_GUID" },
        { "67f8444f-8743-48f1-a328-1eaab8736080", "EFI_CERT_RSA2048_SHA1_GUID" },
        { "3bd2a492-96c0-4079-b420-fcf98ef103ed", "EFI_CERT_X509_SHA256_GUID" },
        { "7076876e-80c2-4ee6-aad2-28b349a6865b", "EFI_CERT_X509_SHA384_GUID" },
        { "446dbf63-2502-4cda-bcfa-2465d2b0fe9d", "EFI_CERT_X509_SHA512_GUID" },
        { "4aafd29d-68df-49ee-8aa9-347d375665a7", "EFI_CERT_TYPE_PKCS7_GUID" },
        { "eb9d2d30-2d88-11d3-9a16-0090273fc14d", "ACPI_TABLE_GUID" },
        { "8868e871-e4f1-11d3-bc22-0080c73c8881", "EFI_ACPI_20_TABLE_GUID" },
        { "eb9d2d31-2d88-11d3-9a16-0090273fc14d", "SMBIOS_TABLE_GUID" },
        { "f2fd1544-9794-4a2c-992e-e5bbcf20e394", "SMBIOS3_TABLE_GUID" },
        { "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "EFI System Partition" },
        { "21686148-6449-6e6f-744e-656564454649", "BIOS boot partition" },
        { "0fc63daf-8483-4772-8e79-3d69d8477de4", "Linux filesystem" },
        { "4f68bce3-e8cd-4db1-96e7-fbcaf984b709", "Linux root (x86-64)" },
        { "e6d6d379-f507-44c2-a23c-238f2a3df928", "Linux LVM" },
        { "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f", "Linux swap" },
        { "bc13c2ff-59e6-4262-a352-b275fd6f7172", "Linux extended boot" },
        { "fe3a2a5d-4f32-41a7-b725-accc3285a309", "ChromeOS kernel" },
        { "3cb8e202-3b7e-47dd-8a3c-7ff2a13cfcec", "ChromeOS rootfs" },
        { "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7", "Microsoft basic data" },
        { "e3c9e316-0b5c-4db8-817d-f92df00215ae", "Microsoft reserved" },
        { "de94bba4-06d1-4d40-a16a-bfd50179d6ac", "Windows recovery" },
};

const char *efi_guid_name(const uint8_t g[static 16]) {
        char s[EFI_GUID_STRING_SIZE];

        efi_guid_to_string(g, s);
        for (size_t i = 0; i < ELEMENTSOF(guid_names); i++)
                if (streq(s, guid_names[i].guid))
                        return guid_names[i].name;
        return NULL;
}

const char *efi_secure_boot_variable_guid(const char *name) {
        static const char *const global[] = { "PK", "KEK" };
        static const char *const image_security[] = { "db", "dbx", "dbt", "dbr" };

        for (size_t i = 0; i < ELEMENTSOF(global); i++)
                if (streq(name, global[i]))
                        return GUID_GLOBAL_VARIABLE;
        for (size_t i = 0; i < ELEMENTSOF(image_security); i++)
                if (streq(name, image_security[i]))
                        return GUID_IMAGE_SECURITY_DATABASE;
        return NULL;
}

/* ---- JSON helpers ---- */

static int json_add_guid(json_object *o, const char *key, const uint8_t g[static 16]) {
        char s[EFI_GUID_STRING_SIZE];

        efi_guid_to_string(g, s);
        return json_add_string(o, key, s);
}

static int json_add_u64(json_object *o, const char *key, uint64_t v) {
        return json_add(o, key, json_object_new_uint64(v));
}

static int json_add_hexnum(json_object *o, const char *key, uint64_t v) {
        char s[24];

        (void) snprintf(s, sizeof(s), "0x%" PRIx64, v);
        return json_add_string(o, key, s);
}

/* Adds text (valid UTF-8 by construction) under key; -ENOMEM or the TextBuf's error. */
static int json_add_text(json_object *o, const char *key, TextBuf *t) {
        if (t->error < 0)
                return t->error;
        return json_add_string(o, key, text_buf_str(t));
}

static int json_add_utf8(json_object *o, const char *key, const uint8_t *p, size_t n) {
        TextBuf t = {};
        int r;

        while (n > 0 && p[n - 1] == 0)
                n--;
        text_buf_utf8(&t, p, n);
        r = json_add_text(o, key, &t);
        text_buf_done(&t);
        return r;
}

/* ---- device paths ---- */

static void text_buf_guid(TextBuf *t, const uint8_t g[static 16]) {
        char s[EFI_GUID_STRING_SIZE];

        efi_guid_to_string(g, s);
        text_buf_puts(t, s);
}

static void text_buf_hex(TextBuf *t, const uint8_t *p, size_t n, size_t max) {
        char h[3];

        for (size_t i = 0; i < MIN(n, max); i++) {
                (void) snprintf(h, sizeof(h), "%02x", p[i]);
                text_buf_append(t, h, 2);
        }
        if (n > max)
                text_buf_puts(t, "...");
}

/* Vendor-defined nodes: a GUID then vendor data. */
static bool node_vendor(TextBuf *t, const char *kind, ByteReader *b) {
        const uint8_t *g;

        if (!br_bytes(b, &g, 16))
                return false;
        text_buf_printf(t, "%s(", kind);
        text_buf_guid(t, g);
        if (br_left(b) > 0) {
                text_buf_puts(t, ",");
                text_buf_hex(t, b->p, br_left(b), DEVICE_PATH_HEX_MAX);
        }
        text_buf_puts(t, ")");
        return true;
}

/* One node's text; false if its body is too short for its type (shown as Path(...) then). */
static bool node_to_text(TextBuf *t, uint8_t type, uint8_t sub, ByteReader b) {
        uint8_t u8a, u8b;
        uint16_t u16a, u16b, u16c;
        uint32_t u32a, u32b;
        uint64_t u64a, u64b;
        const uint8_t *g;

        switch (type) {
        case 0x01: /* Hardware */
                switch (sub) {
                case 0x01: /* PCI: Function, Device */
                        if (!br_u8(&b, &u8a) || !br_u8(&b, &u8b))
                                return false;
                        text_buf_printf(t, "Pci(0x%x,0x%x)", u8b, u8a);
                        return true;
                case 0x02:
                        if (!br_u8(&b, &u8a))
                                return false;
                        text_buf_printf(t, "PcCard(0x%x)", u8a);
                        return true;
                case 0x03: /* Memory mapped: type, start, end */
                        if (!br_u32le(&b, &u32a) || !br_u64le(&b, &u64a) || !br_u64le(&b, &u64b))
                                return false;
                        text_buf_printf(t, "MemoryMapped(0x%x,0x%" PRIx64 ",0x%" PRIx64 ")", u32a,
                                        u64a, u64b);
                        return true;
                case 0x04:
                        return node_vendor(t, "VenHw", &b);
                case 0x05:
                        if (!br_u32le(&b, &u32a))
                                return false;
                        text_buf_printf(t, "Ctrl(0x%x)", u32a);
                        return true;
                }
                return false;
        case 0x02: /* ACPI */
                switch (sub) {
                case 0x01: /* _HID, _UID */
                        if (!br_u32le(&b, &u32a) || !br_u32le(&b, &u32b))
                                return false;
                        if (u32a == 0x0A0341D0)
                                text_buf_printf(t, "PciRoot(0x%x)", u32b);
                        else if (u32a == 0x0A0841D0)
                                text_buf_printf(t, "PcieRoot(0x%x)", u32b);
                        else if ((u32a & 0xFFFF) == 0x41D0)
                                text_buf_printf(t, "Acpi(PNP%04X,0x%x)", u32a >> 16, u32b);
                        else
                                text_buf_printf(t, "Acpi(0x%08x,0x%x)", u32a, u32b);
                        return true;
                case 0x03: /* _ADR */
                        if (!br_u32le(&b, &u32a))
                                return false;
                        text_buf_printf(t, "AcpiAdr(0x%x)", u32a);
                        return true;
                }
                return false;
        case 0x03: /* Messaging */
                switch (sub) {
                case 0x01: /* ATAPI */
                        if (!br_u8(&b, &u8a) || !br_u8(&b, &u8b) || !br_u16le(&b, &u16a))
                                return false;
                        text_buf_printf(t, "Ata(%u,%u,%u)", u8a, u8b, u16a);
                        return true;
                case 0x02: /* SCSI: target, LUN */
                        if (!br_u16le(&b, &u16a) || !br_u16le(&b, &u16b))
                                return false;
                        text_buf_printf(t, "Scsi(0x%x,0x%x)", u16a, u16b);
                        return true;
                case 0x05: /* USB: parent port, interface */
                        if (!br_u8(&b, &u8a) || !br_u8(&b, &u8b))
                                return false;
                        text_buf_printf(t, "USB(0x%x,0x%x)", u8a, u8b);
                        return true;
                case 0x0A:
                        return node_vendor(t, "VenMsg", &b);
                case 0x0B: /* MAC: 32-byte address, interface type */
                        if (!br_bytes(&b, &g, 32) || !br_u8(&b, &u8a))
                                return false;
                        text_buf_puts(t, "MAC(");
                        text_buf_hex(t, g, 6, 6);
                        text_buf_printf(t, ",0x%x)", u8a);
                        return true;
                case 0x0C: /* IPv4: local, remote, ... */
                        if (!br_bytes(&b, &g, 8))
                                return false;
                        text_buf_printf(t, "IPv4(%u.%u.%u.%u,%u.%u.%u.%u)", g[4], g[5], g[6],
                                        g[7], g[0], g[1], g[2], g[3]);
                        return true;
                case 0x12: /* SATA: HBA port, port multiplier port, LUN */
                        if (!br_u16le(&b, &u16a) || !br_u16le(&b, &u16b) || !br_u16le(&b, &u16c))
                                return false;
                        text_buf_printf(t, "Sata(0x%x,0x%x,0x%x)", u16a, u16b, u16c);
                        return true;
                case 0x17: /* NVMe: namespace id, EUI-64 */
                        if (!br_u32le(&b, &u32a) || !br_bytes(&b, &g, 8))
                                return false;
                        text_buf_printf(t, "NVMe(0x%x,%02X-%02X-%02X-%02X-%02X-%02X-%02X-%02X)",
                                        u32a, g[7], g[6], g[5], g[4], g[3], g[2], g[1], g[0]);
                        return true;
                case 0x18: /* URI */
                        text_buf_puts(t, "Uri(");
                        text_buf_utf8(t, b.p, br_left(&b));
                        text_buf_puts(t, ")");
                        return true;
                case 0x1A:
                case 0x1D:
                        if (!br_u8(&b, &u8a))
                                return false;
                        text_buf_printf(t, "%s(0x%x)", sub == 0x1A ? "SD" : "eMMC", u8a);
                        return true;
                }
                return false;
        case 0x04: /* Media */
                switch (sub) {
                case 0x01: { /* Hard drive */
                        uint32_t part;
                        uint8_t mbr_type, sig_type;

                        if (!br_u32le(&b, &part) || !br_u64le(&b, &u64a) || !br_u64le(&b, &u64b) ||
                            !br_bytes(&b, &g, 16) || !br_u8(&b, &mbr_type) || !br_u8(&b, &sig_type))
                                return false;
                        text_buf_printf(t, "HD(%u,", part);
                        if (sig_type == 0x02) {
                                text_buf_puts(t, "GPT,");
                                text_buf_guid(t, g);
                        } else if (sig_type == 0x01)
                                text_buf_printf(t, "MBR,0x%08x",
                                                (uint32_t) g[0] | (uint32_t) g[1] << 8 |
                                                        (uint32_t) g[2] << 16 |
                                                        (uint32_t) g[3] << 24);
                        else
                                text_buf_printf(t, "%u,0", sig_type);
                        text_buf_printf(t, ",0x%" PRIx64 ",0x%" PRIx64 ")", u64a, u64b);
                        return true;
                }
                case 0x02: /* CD-ROM */
                        if (!br_u32le(&b, &u32a) || !br_u64le(&b, &u64a) || !br_u64le(&b, &u64b))
                                return false;
                        text_buf_printf(t, "CDROM(0x%x,0x%" PRIx64 ",0x%" PRIx64 ")", u32a, u64a,
                                        u64b);
                        return true;
                case 0x03:
                        return node_vendor(t, "VenMedia", &b);
                case 0x04: /* File path, UTF-16 */
                        text_buf_puts(t, "File(");
                        text_buf_utf16le(t, b.p, br_left(&b), true);
                        text_buf_puts(t, ")");
                        return true;
                case 0x05:
                case 0x06:
                case 0x07:
                        if (!br_bytes(&b, &g, 16))
                                return false;
                        text_buf_puts(t, sub == 0x05 ? "Media(" : sub == 0x06 ? "FvFile(" : "Fv(");
                        text_buf_guid(t, g);
                        text_buf_puts(t, ")");
                        return true;
                case 0x08: /* Relative offset range: reserved, start, end */
                        if (!br_u32le(&b, &u32a) || !br_u64le(&b, &u64a) || !br_u64le(&b, &u64b))
                                return false;
                        text_buf_printf(t, "Offset(0x%" PRIx64 ",0x%" PRIx64 ")", u64a, u64b);
                        return true;
                case 0x09: /* RAM disk: start, end, type GUID, instance */
                        if (!br_u64le(&b, &u64a) || !br_u64le(&b, &u64b) || !br_bytes(&b, &g, 16) ||
                            !br_u16le(&b, &u16a))
                                return false;
                        text_buf_printf(t, "RamDisk(0x%" PRIx64 ",0x%" PRIx64 ",%u,", u64a, u64b,
                                        u16a);
                        text_buf_guid(t, g);
                        text_buf_puts(t, ")");
                        return true;
                }
                return false;
        case 0x05: /* BIOS boot specification */
                if (sub != 0x01 || !br_u16le(&b, &u16a) || !br_u16le(&b, &u16b))
                        return false;
                text_buf_printf(t, "BBS(0x%x,", u16a);
                {
                        size_t k = 0;
                        while (k < br_left(&b) && b.p[k] != 0)
                                k++;
                        text_buf_utf8(t, b.p, k);
                }
                text_buf_printf(t, ",0x%x)", u16b);
                return true;
        }
        return false;
}

int efi_device_path_to_text(const uint8_t *p, size_t n, TextBuf *t) {
        ByteReader r = br_init(p, n);
        bool first = true;

        while (br_left(&r) > 0) {
                uint8_t type, sub;
                uint16_t len;
                ByteReader body;

                if (!br_u8(&r, &type) || !br_u8(&r, &sub) || !br_u16le(&r, &len) || len < 4 ||
                    !br_sub(&r, len - 4u, &body)) {
                        text_buf_puts(t, first ? "<malformed>" : "/<malformed>");
                        return -EBADMSG;
                }
                if (type == 0x7F) {
                        /* End of this instance (","), or of the whole path. */
                        if (sub == 0x01 || br_left(&r) > 0)
                                text_buf_puts(t, ",");
                        first = true;
                        continue;
                }
                if (!first)
                        text_buf_puts(t, "/");
                first = false;
                {
                        size_t mark = t->len;
                        if (!node_to_text(t, type, sub, body)) {
                                /* Drop any partial text of this node. */
                                if (t->error == 0 && t->s) {
                                        t->len = mark;
                                        t->s[mark] = '\0';
                                }
                                text_buf_printf(t, "Path(%u,%u,", type, sub);
                                text_buf_hex(t, body.p, br_left(&body), DEVICE_PATH_HEX_MAX);
                                text_buf_puts(t, ")");
                        }
                }
        }
        return 0;
}

/* ---- X.509 ---- */

DEFINE_CLEANUP_FUNC(BIO *, BIO_free_all);

static int name_to_json(json_object *o, const char *key, const X509_NAME *name) {
        _cleanup_(BIO_free_allp) BIO *b = BIO_new(BIO_s_mem());
        char *s = NULL;
        long len;

        if (!b)
                return -ENOMEM;
        if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0)
                return -EBADMSG;
        len = BIO_get_mem_data(b, &s);
        if (len < 0)
                return -EBADMSG;
        {
                TextBuf t = {};
                int r;

                text_buf_utf8(&t, (const uint8_t *) s, (size_t) len);
                r = json_add_text(o, key, &t);
                text_buf_done(&t);
                return r;
        }
}

/* A DER certificate as {"subject", "issuer", "sha256"}; -EBADMSG if p is not exactly one. */
static int certificate_to_json(const uint8_t *p, size_t n, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        const unsigned char *q = p;
        uint8_t fp[32];
        int r;

        if (n == 0 || n > INT32_MAX || p[0] != 0x30)
                return -EBADMSG;
        x = d2i_X509(NULL, &q, (long) n);
        if (!x || q != p + n)
                return -EBADMSG;
        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        r = name_to_json(o, "subject", X509_get_subject_name(x));
        if (r < 0)
                return r;
        r = name_to_json(o, "issuer", X509_get_issuer_name(x));
        if (r < 0)
                return r;
        if (EVP_Digest(p, n, fp, NULL, EVP_sha256(), NULL) != 1)
                return -ENOMEM;
        r = json_add_hex(o, "sha256", fp, sizeof(fp));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

/* ---- EFI_SIGNATURE_LIST ---- */

static const char *signature_type_short(const uint8_t g[static 16], size_t *ret_hash_size) {
        static const struct {
                const char *guid;
                const char *name;
                size_t hash_size;
        } types[] = {
                { "a5c059a1-94e4-4aa7-87b5-ab155c2bf072", "x509", 0 },
                { "c1c41626-504c-4092-aca9-41f936934328", "sha256", 32 },
                { "826ca512-cf10-4ac9-b187-be01496631bd", "sha1", 20 },
                { "0b6e5233-a65c-44c9-9407-d9ab83bfc8bd", "sha224", 28 },
                { "ff3e5307-9fd0-48c9-85f1-8ad56c701e01", "sha384", 48 },
                { "093e0fae-a6c4-4f50-9f1b-d41e2b89c19a", "sha512", 64 },
                { "3c5766e8-269c-4e34-aa14-ed776e85b3b6", "rsa2048", 0 },
                { "3bd2a492-96c0-4079-b420-fcf98ef103ed", "x509_sha256", 0 },
                { "7076876e-80c2-4ee6-aad2-28b349a6865b", "x509_sha384", 0 },
                { "446dbf63-2502-4cda-bcfa-2465d2b0fe9d", "x509_sha512", 0 },
        };
        char s[EFI_GUID_STRING_SIZE];

        efi_guid_to_string(g, s);
        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                if (streq(s, types[i].guid)) {
                        *ret_hash_size = types[i].hash_size;
                        return types[i].name;
                }
        *ret_hash_size = 0;
        return NULL;
}

int efi_signature_lists_decode(const uint8_t *p, size_t n, json_object **ret, TextBuf *summary) {
        _cleanup_(json_object_putp) json_object *lists = json_object_new_array();
        ByteReader r = br_init(p, n);
        size_t n_certs = 0, n_hashes = 0, n_other = 0, listed = 0;
        TextBuf subjects = {};
        int k = 0;

        if (!lists)
                return -ENOMEM;
        while (br_left(&r) > 0) {
                const uint8_t *type;
                uint32_t list_size, header_size, sig_size;
                ByteReader body;
                json_object *l = NULL, *entries = NULL;
                const char *tname;
                size_t hash_size, count;

                if (!br_bytes(&r, &type, 16) || !br_u32le(&r, &list_size) ||
                    !br_u32le(&r, &header_size) || !br_u32le(&r, &sig_size) || list_size < 28 ||
                    !br_sub(&r, list_size - 28u, &body) || !br_skip(&body, header_size) ||
                    sig_size < 16 || br_left(&body) % sig_size != 0) {
                        k = -EBADMSG;
                        goto finish;
                }
                count = br_left(&body) / sig_size;
                tname = signature_type_short(type, &hash_size);
                l = json_object_new_object();
                if (json_array_append(lists, l) < 0 || json_add_guid(l, "type_guid", type) < 0 ||
                    (tname && json_add_string(l, "type", tname) < 0) ||
                    json_add_int(l, "count", (int64_t) count) < 0 ||
                    json_add_int(l, "signature_size", sig_size) < 0) {
                        k = -ENOMEM;
                        goto finish;
                }
                entries = json_object_new_array();
                if (json_add(l, "entries", entries) < 0) {
                        k = -ENOMEM;
                        goto finish;
                }
                for (size_t i = 0; i < count; i++) {
                        const uint8_t *owner, *sig;
                        json_object *e, *cert = NULL;
                        size_t sn = sig_size - 16u;

                        if (!br_bytes(&body, &owner, 16) || !br_bytes(&body, &sig, sn)) {
                                k = -EBADMSG;
                                goto finish;
                        }
                        if (tname && streq(tname, "x509"))
                                n_certs++;
                        else if (hash_size > 0 && sn == hash_size)
                                n_hashes++;
                        else
                                n_other++;
                        if (listed >= SIGNATURE_ENTRIES_MAX)
                                continue;
                        listed++;
                        e = json_object_new_object();
                        if (json_array_append(entries, e) < 0 || json_add_guid(e, "owner", owner) < 0) {
                                k = -ENOMEM;
                                goto finish;
                        }
                        if (tname && streq(tname, "x509")) {
                                int q = certificate_to_json(sig, sn, &cert);
                                if (q == -ENOMEM) {
                                        k = q;
                                        goto finish;
                                }
                                if (q >= 0) {
                                        const char *subj = json_object_get_string(
                                                json_object_object_get(cert, "subject"));
                                        if (json_add(e, "certificate", cert) < 0) {
                                                k = -ENOMEM;
                                                goto finish;
                                        }
                                        text_buf_printf(&subjects, "%s%s",
                                                        subjects.len > 0 ? " | " : "",
                                                        subj ? subj : "");
                                        continue;
                                }
                                if (json_add_string(e, "note", "not a DER certificate") < 0) {
                                        k = -ENOMEM;
                                        goto finish;
                                }
                        }
                        if (json_add_hex(e, hash_size > 0 && sn == hash_size ? "hash" : "data",
                                         sig, sn) < 0) {
                                k = -ENOMEM;
                                goto finish;
                        }
                }
        }
finish:
        if (k == -ENOMEM) {
                text_buf_done(&subjects);
                return k;
        }
        text_buf_printf(summary, "%zu certificate%s", n_certs, n_certs == 1 ? "" : "s");
        if (subjects.len > 0)
                text_buf_printf(summary, " (%s)", text_buf_str(&subjects));
        text_buf_printf(summary, ", %zu hash%s", n_hashes, n_hashes == 1 ? "" : "es");
        if (n_other > 0)
                text_buf_printf(summary, ", %zu other", n_other);
        if (k < 0)
                text_buf_puts(summary, " (malformed signature list)");
        text_buf_done(&subjects);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(lists);
        return 0;
}

/* ---- EFI_LOAD_OPTION ---- */

int efi_load_option_decode(const uint8_t *p, size_t n, json_object *o, TextBuf *summary) {
        ByteReader r = br_init(p, n);
        uint32_t attributes;
        uint16_t fp_len;
        size_t desc_units = 0;
        const uint8_t *desc, *fp;
        TextBuf t = {};
        int q;

        if (!br_u32le(&r, &attributes) || !br_u16le(&r, &fp_len))
                return -EBADMSG;
        /* Description: NUL-terminated UTF-16. */
        while (2 * desc_units + 1 < br_left(&r) && u16le_at(r.p + 2 * desc_units) != 0)
                desc_units++;
        if (2 * desc_units + 2 > br_left(&r))
                return -EBADMSG;
        if (!br_bytes(&r, &desc, 2 * desc_units + 2) || !br_bytes(&r, &fp, fp_len))
                return -EBADMSG;
        if (json_add_hexnum(o, "attributes", attributes) < 0 ||
            json_add_bool(o, "active", attributes & 1u) < 0)
                return -ENOMEM;
        text_buf_utf16le(&t, desc, 2 * desc_units, true);
        q = json_add_text(o, "description", &t);
        if (q >= 0)
                text_buf_printf(summary, "%s", text_buf_str(&t));
        text_buf_done(&t);
        if (q < 0)
                return q;
        q = efi_device_path_to_text(fp, fp_len, &t);
        if (t.error < 0) {
                q = t.error;
                text_buf_done(&t);
                return q;
        }
        if (json_add_text(o, "device_path", &t) < 0 ||
            (q < 0 && json_add_string(o, "device_path_error", "malformed device path") < 0) ||
            json_add_int(o, "optional_data_size", (int64_t) br_left(&r)) < 0) {
                text_buf_done(&t);
                return -ENOMEM;
        }
        text_buf_printf(summary, " %s", text_buf_str(&t));
        text_buf_done(&t);
        return 0;
}

/* ---- UEFI_VARIABLE_DATA ---- */

static bool is_hex4(const char *s) {
        for (size_t i = 0; i < 4; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F') ||
                      (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return s[4] == '\0';
}

static bool is_load_option_name(const char *name) {
        static const char *const prefixes[] = { "Boot", "Driver", "SysPrep", "PlatformRecovery" };

        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++) {
                size_t k = strlen(prefixes[i]);
                if (strncmp(name, prefixes[i], k) == 0 && is_hex4(name + k))
                        return true;
        }
        return false;
}

static bool name_in(const char *name, const char *const *list, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq(name, list[i]))
                        return true;
        return false;
}

static int variable_data_decode(const char *name, bool authority, const uint8_t *d, size_t dn,
                                json_object *o, TextBuf *summary) {
        static const char *const flags[] = { "SecureBoot", "SetupMode", "AuditMode",
                                             "DeployedMode", "MokSBState", "MokListTrusted" };
        static const char *const databases[] = { "PK", "KEK", "db", "dbx", "dbt", "dbr",
                                                 "MokList", "MokListX", "MokListRT" };
        json_object *v = NULL;
        int q;

        if (!authority && name_in(name, flags, ELEMENTSOF(flags))) {
                char note[96];

                if (dn == 1) {
                        if (json_add_bool(o, "enabled", d[0] != 0) < 0)
                                return -ENOMEM;
                        if (d[0] > 1 && json_add_int(o, "value", d[0]) < 0)
                                return -ENOMEM;
                        text_buf_printf(summary, ": %s", d[0] ? "enabled" : "disabled");
                        return 0;
                }
                /* go-tpm-tools: "SecureBoot data len is 0, expected 1" (arch-linux log). */
                (void) snprintf(note, sizeof(note), "%s data len is %zu, expected 1", name, dn);
                if (json_object_object_add(o, "enabled", NULL) < 0 ||
                    json_add_string(o, "note", note) < 0 || json_add_hex(o, "data", d, dn) < 0)
                        return -ENOMEM;
                text_buf_printf(summary, ": (%zu bytes of data, expected 1)", dn);
                return 0;
        }
        if (!authority && name_in(name, databases, ELEMENTSOF(databases))) {
                text_buf_puts(summary, ": ");
                q = efi_signature_lists_decode(d, dn, &v, summary);
                if (q == -ENOMEM)
                        return q;
                if (q >= 0)
                        return json_add(o, "signature_lists", v);
                if (json_add_string(o, "note", "malformed EFI_SIGNATURE_LIST") < 0 ||
                    json_add_hex(o, "data", d, dn) < 0)
                        return -ENOMEM;
                return 0;
        }
        if (streq(name, "BootOrder") && dn % 2 == 0) {
                json_object *a = json_object_new_array();

                if (json_add(o, "boot_order", a) < 0)
                        return -ENOMEM;
                text_buf_puts(summary, ":");
                for (size_t i = 0; i < dn / 2; i++) {
                        char s[16];
                        (void) snprintf(s, sizeof(s), "Boot%04X", u16le_at(d + 2 * i));
                        if (json_array_append(a, json_object_new_string(s)) < 0)
                                return -ENOMEM;
                        text_buf_printf(summary, "%s%04X", i ? "," : " ", u16le_at(d + 2 * i));
                }
                return 0;
        }
        if (is_load_option_name(name)) {
                json_object *lo = json_object_new_object();

                if (!lo)
                        return -ENOMEM;
                text_buf_puts(summary, ": ");
                q = efi_load_option_decode(d, dn, lo, summary);
                if (q >= 0)
                        return json_add(o, "load_option", lo);
                json_object_put(lo);
                if (q == -ENOMEM)
                        return q;
                if (json_add_string(o, "note", "malformed EFI_LOAD_OPTION") < 0 ||
                    json_add_hex(o, "data", d, dn) < 0)
                        return -ENOMEM;
                return 0;
        }
        if (authority) {
                /* The db entry that authorized an image: EFI_SIGNATURE_DATA (owner GUID then the
                 * certificate); shim logs its own certificates bare. */
                q = certificate_to_json(d, dn, &v);
                if (q == -ENOMEM)
                        return q;
                if (q < 0 && dn > 16) {
                        q = certificate_to_json(d + 16, dn - 16, &v);
                        if (q == -ENOMEM)
                                return q;
                        if (q >= 0 && json_add_guid(o, "owner", d) < 0) {
                                json_object_put(v);
                                return -ENOMEM;
                        }
                }
                if (q >= 0) {
                        const char *subj =
                                json_object_get_string(json_object_object_get(v, "subject"));
                        text_buf_printf(summary, ": %s", subj ? subj : "");
                        return json_add(o, "certificate", v);
                }
        }
        if (efi_text_ascii(d, dn)) {
                text_buf_puts(summary, ": ");
                {
                        size_t m = dn;
                        while (m > 0 && d[m - 1] == 0)
                                m--;
                        text_buf_utf8(summary, d, m);
                }
                return json_add_utf8(o, "text", d, dn);
        }
        if (dn > 0)
                text_buf_printf(summary, " (%zu bytes)", dn);
        return json_add_hex(o, "data", d, dn);
}

int efi_variable_decode(const uint8_t *p, size_t n, bool authority, json_object *o,
                        TextBuf *summary, const uint8_t **ret_var_data,
                        size_t *ret_var_data_size) {
        ByteReader r = br_init(p, n);
        const uint8_t *guid, *uname, *data;
        uint64_t name_len, data_len, name_bytes;
        TextBuf name = {};
        const char *gname;
        int q;

        if (!br_bytes(&r, &guid, 16) || !br_u64le(&r, &name_len) || !br_u64le(&r, &data_len) ||
            __builtin_mul_overflow(name_len, 2u, &name_bytes) ||
            !br_bytes(&r, &uname, name_bytes) ||
            !br_bytes(&r, &data, data_len))
                return -EBADMSG;
        text_buf_utf16le(&name, uname, name_bytes, true);
        if (name.error < 0) {
                q = name.error;
                text_buf_done(&name);
                return q;
        }
        gname = efi_guid_name(guid);
        if (json_add_guid(o, "variable_guid", guid) < 0 ||
            (gname && json_add_string(o, "variable_guid_name", gname) < 0) ||
            json_add_string(o, "name", text_buf_str(&name)) < 0 ||
            json_add_int(o, "data_size", (int64_t) data_len) < 0 ||
            (br_left(&r) > 0 && json_add_int(o, "trailing_bytes", (int64_t) br_left(&r)) < 0)) {
                text_buf_done(&name);
                return -ENOMEM;
        }
        text_buf_puts(summary, text_buf_str(&name));
        q = variable_data_decode(text_buf_str(&name), authority, data, data_len, o, summary);
        text_buf_done(&name);
        if (q < 0)
                return q;
        if (ret_var_data)
                *ret_var_data = data;
        if (ret_var_data_size)
                *ret_var_data_size = data_len;
        return 0;
}

/* ---- UEFI_IMAGE_LOAD_EVENT ---- */

int efi_image_load_decode(const uint8_t *p, size_t n, json_object *o, TextBuf *summary) {
        ByteReader r = br_init(p, n);
        uint64_t location, length, link, dp_len;
        const uint8_t *dp;
        TextBuf t = {};
        int q;

        if (!br_u64le(&r, &location) || !br_u64le(&r, &length) || !br_u64le(&r, &link) ||
            !br_u64le(&r, &dp_len) || !br_bytes(&r, &dp, dp_len))
                return -EBADMSG;
        if (json_add_hexnum(o, "image_location", location) < 0 ||
            json_add_u64(o, "image_length", length) < 0 ||
            json_add_hexnum(o, "image_link_time_address", link) < 0 ||
            json_add_int(o, "device_path_size", (int64_t) dp_len) < 0)
                return -ENOMEM;
        q = efi_device_path_to_text(dp, dp_len, &t);
        if (t.error < 0) {
                q = t.error;
                text_buf_done(&t);
                return q;
        }
        if (json_add_text(o, "device_path", &t) < 0 ||
            (q < 0 && json_add_string(o, "device_path_error", "malformed device path") < 0)) {
                text_buf_done(&t);
                return -ENOMEM;
        }
        if (t.len > 0)
                text_buf_puts(summary, text_buf_str(&t));
        else
                text_buf_printf(summary, "image at 0x%" PRIx64 ", %" PRIu64 " bytes", location,
                                length);
        text_buf_done(&t);
        return 0;
}

/* ---- UEFI_GPT_DATA ---- */

int efi_gpt_decode(const uint8_t *p, size_t n, json_object *o, TextBuf *summary) {
        ByteReader r = br_init(p, n);
        const uint8_t *sig, *disk_guid;
        uint32_t revision, header_size, header_crc, reserved, n_entries, entry_size, entries_crc;
        uint64_t my_lba, alt_lba, first_lba, last_lba, entry_lba, n_parts, need;
        json_object *parts;
        char s[9];

        if (!br_bytes(&r, &sig, 8) || !br_u32le(&r, &revision) || !br_u32le(&r, &header_size) ||
            !br_u32le(&r, &header_crc) || !br_u32le(&r, &reserved) || !br_u64le(&r, &my_lba) ||
            !br_u64le(&r, &alt_lba) || !br_u64le(&r, &first_lba) || !br_u64le(&r, &last_lba) ||
            !br_bytes(&r, &disk_guid, 16) || !br_u64le(&r, &entry_lba) ||
            !br_u32le(&r, &n_entries) || !br_u32le(&r, &entry_size) ||
            !br_u32le(&r, &entries_crc) || !br_u64le(&r, &n_parts))
                return -EBADMSG;
        /* A partition entry is at least 128 bytes (UEFI 2.10 §5.3.3). */
        if (entry_size < 128 || __builtin_mul_overflow(n_parts, (uint64_t) entry_size, &need) ||
            need > br_left(&r))
                return -EBADMSG;
        memcpy(s, sig, 8);
        s[8] = '\0';
        if (json_add_bool(o, "signature_ok", memcmp(sig, "EFI PART", 8) == 0) < 0 ||
            json_add_hexnum(o, "revision", revision) < 0 ||
            json_add_int(o, "header_size", header_size) < 0 ||
            json_add_u64(o, "my_lba", my_lba) < 0 ||
            json_add_u64(o, "alternate_lba", alt_lba) < 0 ||
            json_add_u64(o, "first_usable_lba", first_lba) < 0 ||
            json_add_u64(o, "last_usable_lba", last_lba) < 0 ||
            json_add_guid(o, "disk_guid", disk_guid) < 0 ||
            json_add_u64(o, "partition_entry_lba", entry_lba) < 0 ||
            json_add_int(o, "number_of_partition_entries", n_entries) < 0 ||
            json_add_int(o, "size_of_partition_entry", entry_size) < 0 ||
            json_add_u64(o, "number_of_partitions", n_parts) < 0)
                return -ENOMEM;
        parts = json_object_new_array();
        if (json_add(o, "partitions", parts) < 0)
                return -ENOMEM;
        for (uint64_t i = 0; i < n_parts && i < GPT_PARTITIONS_MAX; i++) {
                ByteReader e;
                const uint8_t *type, *uniq, *name;
                uint64_t start, end, attrs;
                const char *tn;
                json_object *po = json_object_new_object();
                TextBuf t = {};
                int q;

                if (json_array_append(parts, po) < 0)
                        return -ENOMEM;
                if (!br_sub(&r, entry_size, &e) || !br_bytes(&e, &type, 16) ||
                    !br_bytes(&e, &uniq, 16) || !br_u64le(&e, &start) || !br_u64le(&e, &end) ||
                    !br_u64le(&e, &attrs) || !br_bytes(&e, &name, 72))
                        return -EBADMSG;
                tn = efi_guid_name(type);
                text_buf_utf16le(&t, name, 72, true);
                q = json_add_guid(po, "type_guid", type);
                if (q >= 0 && tn)
                        q = json_add_string(po, "type", tn);
                if (q >= 0)
                        q = json_add_guid(po, "unique_guid", uniq);
                if (q >= 0)
                        q = json_add_u64(po, "starting_lba", start);
                if (q >= 0)
                        q = json_add_u64(po, "ending_lba", end);
                if (q >= 0)
                        q = json_add_hexnum(po, "attributes", attrs);
                if (q >= 0)
                        q = json_add_text(po, "name", &t);
                text_buf_done(&t);
                if (q < 0)
                        return q;
        }
        {
                char g[EFI_GUID_STRING_SIZE];
                efi_guid_to_string(disk_guid, g);
                text_buf_printf(summary, "GPT disk %s, %" PRIu64 " partition%s", g, n_parts,
                                n_parts == 1 ? "" : "s");
        }
        return 0;
}

/* ---- handoff tables, firmware blobs ---- */

int efi_handoff_tables_decode(const uint8_t *p, size_t n, bool v2, json_object *o,
                              TextBuf *summary) {
        ByteReader r = br_init(p, n);
        uint64_t count, need;
        json_object *tables;

        if (v2) {
                uint8_t dlen;
                const uint8_t *desc;

                if (!br_u8(&r, &dlen) || !br_bytes(&r, &desc, dlen))
                        return -EBADMSG;
                if (json_add_utf8(o, "description", desc, dlen) < 0)
                        return -ENOMEM;
        }
        if (!br_u64le(&r, &count) || __builtin_mul_overflow(count, (uint64_t) 24, &need) ||
            need > br_left(&r))
                return -EBADMSG;
        tables = json_object_new_array();
        if (json_add(o, "tables", tables) < 0)
                return -ENOMEM;
        text_buf_printf(summary, "%" PRIu64 " table%s", count, count == 1 ? "" : "s");
        for (uint64_t i = 0; i < count && i < HANDOFF_TABLES_MAX; i++) {
                const uint8_t *g;
                uint64_t addr;
                const char *gn;
                json_object *to = json_object_new_object();

                if (json_array_append(tables, to) < 0)
                        return -ENOMEM;
                if (!br_bytes(&r, &g, 16) || !br_u64le(&r, &addr))
                        return -EBADMSG;
                gn = efi_guid_name(g);
                if (json_add_guid(to, "vendor_guid", g) < 0 ||
                    (gn && json_add_string(to, "name", gn) < 0) ||
                    json_add_hexnum(to, "address", addr) < 0)
                        return -ENOMEM;
                if (gn)
                        text_buf_printf(summary, "%s%s", i == 0 ? ": " : ", ", gn);
        }
        return 0;
}

int efi_firmware_blob_decode(const uint8_t *p, size_t n, bool v2, json_object *o,
                             TextBuf *summary) {
        ByteReader r = br_init(p, n);
        uint64_t base, length;

        if (v2) {
                uint8_t dlen;
                const uint8_t *desc;

                if (!br_u8(&r, &dlen) || !br_bytes(&r, &desc, dlen))
                        return -EBADMSG;
                if (json_add_utf8(o, "description", desc, dlen) < 0)
                        return -ENOMEM;
                {
                        size_t m = dlen;
                        while (m > 0 && desc[m - 1] == 0)
                                m--;
                        text_buf_utf8(summary, desc, m);
                        text_buf_puts(summary, " ");
                }
        }
        if (!br_u64le(&r, &base) || !br_u64le(&r, &length) || br_left(&r) != 0)
                return -EBADMSG;
        if (json_add_hexnum(o, "blob_base", base) < 0 ||
            json_add_hexnum(o, "blob_length", length) < 0)
                return -ENOMEM;
        text_buf_printf(summary, "base 0x%" PRIx64 " length 0x%" PRIx64, base, length);
        return 0;
}
