/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

struct json_object;

/*
 * Decoders for the UEFI structures that TCG event log entries carry (UEFI 2.10 and the TCG PC
 * Client Platform Firmware Profile): GUIDs, UTF-16 strings, device paths, UEFI_VARIABLE_DATA and
 * what the well-known variables hold (Secure Boot flags, EFI_SIGNATURE_LISTs, load options),
 * UEFI_IMAGE_LOAD_EVENT and UEFI_GPT_DATA. Input is untrusted and read through a ByteReader; a
 * decoder that cannot make sense of its input returns -EBADMSG (and its caller shows the bytes
 * raw), -ENOMEM on allocation failure. Decoders fill a JSON object and a one-line summary for
 * people. Pure; never logs.
 */

/* A growable text buffer for summaries and device-path text, capped at TEXT_BUF_MAX bytes. Errors
 * are sticky: the first -ENOMEM or -E2BIG is kept in .error and later appends do nothing. */
#define TEXT_BUF_MAX (1024u * 1024u)

typedef struct TextBuf {
        char *s;
        size_t len;
        size_t cap;
        int error;
} TextBuf;

void text_buf_append(TextBuf *t, const char *s, size_t n);
void text_buf_puts(TextBuf *t, const char *s);
void text_buf_printf(TextBuf *t, const char *fmt, ...) _printf_(2, 3);
/* Appends n bytes as UTF-8, replacing invalid sequences and NUL bytes with U+FFFD. */
void text_buf_utf8(TextBuf *t, const uint8_t *p, size_t n);
/* Appends UTF-16LE (n bytes; an odd last byte is ignored) as UTF-8, stopping at a NUL character
 * when stop_at_nul; unpaired surrogates become U+FFFD. */
void text_buf_utf16le(TextBuf *t, const uint8_t *p, size_t n, bool stop_at_nul);
/* The text so far ("" when empty), NUL-terminated, valid until the next append. */
const char *text_buf_str(TextBuf *t);
void text_buf_done(TextBuf *t);

/* "8be4df61-93ca-11d2-aa0d-00e098032b8c" from an EFI_GUID in EFI byte order (first three fields
 * little-endian). */
#define EFI_GUID_STRING_SIZE 37
void efi_guid_to_string(const uint8_t guid[static 16], char out[static EFI_GUID_STRING_SIZE]);
/* A name for well-known GUIDs ("EFI_GLOBAL_VARIABLE", "EFI_CERT_X509_GUID", ...), or NULL. */
const char *efi_guid_name(const uint8_t guid[static 16]);

/* The vendor GUID under which the Secure Boot variable `name` lives, as efi_guid_to_string()
 * writes it: EFI_GLOBAL_VARIABLE for PK and KEK, EFI_IMAGE_SECURITY_DATABASE_GUID for db, dbx, dbt
 * and dbr; NULL for any other name. A variable of one of these names under another GUID is not
 * the Secure Boot one (and must not be judged as it). */
const char *efi_secure_boot_variable_guid(const char *name);

/* Is p[0, n) text? efi_text_ascii: UTF-8 without control characters (tab, CR, LF allowed),
 * ignoring trailing NULs; efi_text_utf16le: the same for UTF-16LE (an odd trailing NUL byte, as
 * systemd-boot logs, is tolerated). At least one character either way. */
bool efi_text_ascii(const uint8_t *p, size_t n);
bool efi_text_utf16le(const uint8_t *p, size_t n);

/* Appends a device path as text in the UEFI/efivar style: "PciRoot(0x0)/Pci(0x3,0x0)/
 * Scsi(0x0,0x1)/HD(15,GPT,<guid>,0x800,0x35000)/File(\EFI\BOOT\BOOTX64.EFI)"; unknown nodes as
 * "Path(type,subtype,hex)". -EBADMSG (with the text up to the bad node appended) for a
 * malformed node. */
int efi_device_path_to_text(const uint8_t *p, size_t n, TextBuf *t);

/*
 * UEFI_VARIABLE_DATA: fills o with "variable_guid", "variable_guid_name", "name", "data_size",
 * and for the variables we know: SecureBoot/SetupMode/AuditMode/DeployedMode ("enabled"),
 * PK/KEK/db/dbx/dbt/dbr/MokList* ("signature_lists"), BootOrder ("boot_order"), Boot####
 * ("load_option"), SbatLevel ("text"), and for EV_EFI_VARIABLE_AUTHORITY (authority) the
 * EFI_SIGNATURE_DATA or certificate that authorized an image. Variable data we cannot interpret
 * is "data" (hex) with a "note". *ret_var_data points at VariableData (for digest checks).
 * -EBADMSG if the structure itself does not fit.
 */
int efi_variable_decode(const uint8_t *p, size_t n, bool authority, struct json_object *o,
                        TextBuf *summary, const uint8_t **ret_var_data, size_t *ret_var_data_size);

/* EFI_SIGNATURE_LIST sequence (PK, KEK, db, dbx): a JSON array of lists with their type, entry
 * count, owners, X.509 subjects/issuers/SHA-256 fingerprints, hashes. Counts go to the summary. */
int efi_signature_lists_decode(const uint8_t *p, size_t n, struct json_object **ret,
                               TextBuf *summary);

/* UEFI_IMAGE_LOAD_EVENT (EV_EFI_BOOT_SERVICES_APPLICATION/DRIVER, RUNTIME_SERVICES_DRIVER). */
int efi_image_load_decode(const uint8_t *p, size_t n, struct json_object *o, TextBuf *summary);

/* UEFI_GPT_DATA (EV_EFI_GPT_EVENT): header fields and the partition entries. */
int efi_gpt_decode(const uint8_t *p, size_t n, struct json_object *o, TextBuf *summary);

/* EFI_LOAD_OPTION (Boot####): attributes, description, device path, optional data size. */
int efi_load_option_decode(const uint8_t *p, size_t n, struct json_object *o, TextBuf *summary);

/* UEFI_HANDOFF_TABLE_POINTERS (EV_EFI_HANDOFF_TABLES) and its ...2 form with a description. */
int efi_handoff_tables_decode(const uint8_t *p, size_t n, bool v2, struct json_object *o,
                              TextBuf *summary);

/* UEFI_PLATFORM_FIRMWARE_BLOB (16 bytes) and ..._BLOB2 (with a description). */
int efi_firmware_blob_decode(const uint8_t *p, size_t n, bool v2, struct json_object *o,
                             TextBuf *summary);
