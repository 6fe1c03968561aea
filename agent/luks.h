/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/diag.h"

struct LuksToken;
struct Secret;

/*
 * [io] The LUKS2 side of `cvm-agent enroll` and `unlock`, through libcryptsetup: add a keyslot
 * for a released key with its "cvm-agent" token (agent/luks-token.h), find those tokens, open a
 * volume (or only check a key) with one, remove one. DEVICE is a block device or an image file.
 *
 * Nothing here logs above debug: libcryptsetup's messages go to log_debug() (the last error
 * among them also ends up in the Diag), and every failure returns -errno with a Diag naming the
 * step ("enroll: adding the keyslot: ..."). Errors common to all: -ENOENT no such device,
 * -EACCES/-EPERM not allowed to open it, -EMEDIUMTYPE not LUKS2 (LUKS1, plain, nothing),
 * -ENOMEM, and what libcryptsetup returns otherwise.
 *
 * No key or passphrase is copied: libcryptsetup gets the Secret's bytes and wipes its own
 * copies; the volume key that enroll needs is held in a Secret and wiped.
 */

/*
 * The PBKDF of the keyslots enroll adds: PBKDF2-SHA256 at libcryptsetup's minimum iteration
 * count (1000, NIST SP 800-132 §5.2), without benchmarking. The passphrase is a released key
 * with full entropy (at least 128 bits), so stretching it buys nothing and would cost every
 * unlock memory and time; a keyslot of ours opens in well under a millisecond of PBKDF.
 */
#define LUKS_PBKDF_HASH        "sha256"
#define LUKS_PBKDF2_ITERATIONS 1000u
/* A released key shorter than this has too little entropy for that PBKDF: refused. */
#define LUKS_KEY_MIN 16u

typedef struct LuksEnrollResult {
        int keyslot;      /* the keyslot added */
        int token;        /* the token id */
        int auth_keyslot; /* the existing keyslot the passphrase opened */
} LuksEnrollResult;

/*
 * enroll: adds a keyslot whose passphrase is key (binary is fine, at least LUKS_KEY_MIN bytes)
 * to the LUKS2 volume on device, and a "cvm-agent" token for it built from token (its keyslot
 * member is ignored: the new keyslot's number goes in). In order:
 *  1. loads the header; LUKS2 only (-EMEDIUMTYPE otherwise);
 *  2. checks the token can be built (-EINVAL, Diag);
 *  3. opens an existing keyslot with passphrase to get the volume key (-EKEYREJECTED when no
 *     keyslot takes it; nothing has been written yet, so the header is byte-identical);
 *  4. backs the header up to backup_path (libcryptsetup's header backup: the binary headers,
 *     JSON areas and keyslot areas), refusing an existing file (-EEXIST) and removing a
 *     partial one; up to here nothing on the device has changed;
 *  5. adds a keyslot for the volume key with key as its passphrase, PBKDF as above, in the
 *     lowest free slot (-ENOSPC when all 32 are used); no other keyslot is touched;
 *  6. writes the token, naming that keyslot, in the lowest free token id (-ENOSPC when the
 *     JSON area or the token ids are full).
 * If 6 fails, the keyslot of 5 is destroyed again (the header then holds the same keyslots and
 * tokens as before; the binary header's sequence number and the backup tell what happened).
 * On success *ret says what was added. Pass the same backup path twice and the second enroll
 * stops at step 4.
 *
 * Several "cvm-agent" tokens may coexist (different key release services, say); enroll never
 * removes one. Re-enrolling (a new key for the same volume) is enroll, then luks_remove_token()
 * on the old token: the volume is never without a working keyslot of ours in between.
 */
int luks_enroll(const char *device, const char *backup_path, const struct Secret *passphrase,
                const struct Secret *key, const struct LuksToken *token, LuksEnrollResult *ret,
                Diag *d);

/* One "cvm-agent" token of a device, usable or not. */
typedef struct LuksTokenEntry {
        int id;                  /* token id in the header */
        struct LuksToken *token; /* parsed; NULL when skipped */
        int error;               /* 0, or why it was skipped (-errno) */
        Diag diag;               /* why it was skipped */
} LuksTokenEntry;

typedef struct LuksTokenList {
        LuksTokenEntry *entries; /* in token id order */
        size_t n;
        size_t n_usable;
} LuksTokenList;

void luks_token_list_done(LuksTokenList *l);

/*
 * find tokens: lists the tokens of type "cvm-agent" in device's LUKS2 header. A token that does
 * not parse (luks_token_parse()) or whose keyslot is not in use is kept in the list with
 * token NULL, its error and a Diag, and never makes the others fail; d gets the note of the
 * first one skipped. Returns the number of usable tokens (0 when there are none) and fills *ret
 * (luks_token_list_done()); -errno only when the header cannot be read (then *ret untouched).
 */
int luks_find_tokens(const char *device, LuksTokenList *ret, Diag *d);

/*
 * open with key: reads token token_id of device (it must be a usable "cvm-agent" token, as
 * above) and tries key on its keyslot, and only that keyslot:
 *  - name NULL: checks only, activating nothing (what `unlock --check` and a kernel without
 *    device-mapper use);
 *  - name set: activates the volume as /dev/mapper/NAME with activate_flags (CRYPT_ACTIVATE_*).
 * Returns the keyslot on success. -EKEYREJECTED (Diag) when the key does not open the keyslot,
 * -ENODEV (Diag) when a name is asked and the kernel has no usable device-mapper, so the caller
 * can check the key without a name instead and say so, -EEXIST when NAME is already active,
 * -EMEDIUMTYPE for a token of another type, -ENOENT for an empty token id, -EBADMSG (and the
 * other errors of luks_token_parse()) for a token that does not parse. The header is not written.
 */
int luks_open_with_key(const char *device, int token_id, const char *name, const struct Secret *key,
                       uint32_t activate_flags, Diag *d);

/*
 * Removes token token_id (a "cvm-agent" token, parsed or not: -EMEDIUMTYPE for another type)
 * and the keyslot it names, unless another token also names that keyslot or the token does not
 * parse (then the keyslot stays). -EBUSY, before anything is written, when that keyslot is the
 * last one in use: a volume is never left without a way in. backup_path, when not NULL, gets a
 * header backup first as in luks_enroll() step 4. On success *ret_keyslot is the keyslot
 * destroyed, or -1 when it stayed. Not for the unlock path: this writes the header.
 */
int luks_remove_token(const char *device, int token_id, const char *backup_path, int *ret_keyslot,
                      Diag *d);

/* A device found by luks_scan_devices(). */
typedef struct LuksDevice {
        char *path; /* /dev/NAME */
        LuksTokenList tokens;
} LuksDevice;

void luks_device_list_free(LuksDevice *devices, size_t n);

/*
 * For `unlock --all`: the block devices of /sys/class/block (disks, partitions, loop and
 * device-mapper devices; not empty ones, RAM disks, zram, floppies or optical drives) whose
 * LUKS2 header has at least one "cvm-agent" token, usable or not, each as /dev/NAME with its
 * token list. No blkid, no udev: every candidate's header is read with libcryptsetup, so this
 * needs the right to open the devices (root). Devices that cannot be opened or are not LUKS2
 * are passed over silently (at debug level). On success *ret is an array of *ret_n devices in
 * name order (luks_device_list_free()); -errno when /sys/class/block cannot be read.
 */
int luks_scan_devices(LuksDevice **ret, size_t *ret_n, Diag *d);
