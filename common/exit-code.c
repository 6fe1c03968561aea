/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>

#include "common/exit-code.h"

int exit_code_from_errno(int r) {
        switch (r < 0 ? -r : r) {
        case 0:
                return EXIT_OK;
        case EINVAL:
                return EXIT_USAGE;
        case EBADMSG:
        case E2BIG:
        case EPROTONOSUPPORT:
        case EFBIG:
                return EXIT_MALFORMED;
        case EKEYREJECTED:
        case ENOKEY:
        case EKEYEXPIRED:
        case EKEYREVOKED:
        case ESTALE:
        case EXDEV:
                return EXIT_VERIFY;
        case EPERM:
        case EACCES:
                return EXIT_POLICY;
        case ENOENT:
        case ENODEV:
        case ENXIO:
        case ENOTTY:
        case EAGAIN:
        case EBUSY:
        case EIO:
        case ETIMEDOUT:
        case ECONNREFUSED:
        case EHOSTUNREACH:
        case ENETUNREACH:
        case EOPNOTSUPP:
        /* A server that could not be talked to: TLS (its certificate, the handshake) or the
         * transport failed after connecting (common/http.c). */
        case EPROTO:
                return EXIT_UNAVAILABLE;
        default:
                return EXIT_INTERNAL;
        }
}
