/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <tss2/tss2_mu.h>

#include "tests/sim/sim-tpm.h"
#include "common/byte-reader.h"
#include "tests/sim/sim-util.h"

#define IO_TIMEOUT_SEC 30 /* a TPM command on swtpm takes at most ~1 s (RSA key generation) */
#define HEADER_SIZE    10

/* ---- command building ---- */

typedef struct Cmd {
        uint8_t buf[SIM_TPM_BUF_MAX];
        size_t n;
        bool overflow;
} Cmd;

static void put(Cmd *c, const void *p, size_t n) {
        if (c->overflow || n > sizeof(c->buf) - c->n) {
                c->overflow = true;
                return;
        }
        memcpy(c->buf + c->n, p, n);
        c->n += n;
}

static void put_u8(Cmd *c, uint8_t v) {
        put(c, &v, 1);
}

static void put_u16(Cmd *c, uint16_t v) {
        uint8_t b[2] = {(uint8_t) (v >> 8), (uint8_t) v};

        put(c, b, sizeof(b));
}

static void put_u32(Cmd *c, uint32_t v) {
        uint8_t b[4] = {(uint8_t) (v >> 24), (uint8_t) (v >> 16), (uint8_t) (v >> 8), (uint8_t) v};

        put(c, b, sizeof(b));
}

static void put_tpm2b(Cmd *c, const uint8_t *p, size_t n) {
        if (n > UINT16_MAX) {
                c->overflow = true;
                return;
        }
        put_u16(c, (uint16_t) n);
        if (n > 0)
                put(c, p, n);
}

/* tag, size (patched by finish), command code */
static void cmd_begin(Cmd *c, TPM2_ST tag, TPM2_CC cc) {
        c->n = 0;
        c->overflow = false;
        put_u16(c, tag);
        put_u32(c, 0);
        put_u32(c, cc);
}

/* The authorization area with one password session (TPM_RS_PW). */
static void cmd_pw_session(Cmd *c, const uint8_t *auth, size_t auth_size) {
        put_u32(c, (uint32_t) (4 + 2 + 1 + 2 + auth_size)); /* authorizationSize */
        put_u32(c, TPM2_RS_PW);                             /* sessionHandle */
        put_u16(c, 0);                                      /* nonceCaller: empty */
        put_u8(c, 0);                                       /* sessionAttributes */
        put_tpm2b(c, auth, auth_size);                      /* hmac: the password */
}

/* A structure marshalled by tss2-mu straight into the buffer. */
#define PUT_MU(c, type, value)                                                              \
        do {                                                                                \
                size_t _off = (c)->n;                                                       \
                if (!(c)->overflow &&                                                       \
                    Tss2_MU_##type##_Marshal((value), (c)->buf, sizeof((c)->buf), &_off) == \
                            TSS2_RC_SUCCESS)                                                \
                        (c)->n = _off;                                                      \
                else                                                                        \
                        (c)->overflow = true;                                               \
        } while (0)

static int cmd_finish(Cmd *c) {
        if (c->overflow || c->n > UINT32_MAX)
                return -ENOBUFS;
        c->buf[2] = (uint8_t) (c->n >> 24);
        c->buf[3] = (uint8_t) (c->n >> 16);
        c->buf[4] = (uint8_t) (c->n >> 8);
        c->buf[5] = (uint8_t) c->n;
        return 0;
}

static TPM2_CC cmd_code(const Cmd *c) {
        return (uint32_t) c->buf[6] << 24 | (uint32_t) c->buf[7] << 16 | (uint32_t) c->buf[8] << 8 |
               c->buf[9];
}

/* ---- transport ---- */

static void set_timeouts(int fd) {
        const struct timeval tv = {.tv_sec = IO_TIMEOUT_SEC};
        const int one = 1;

        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int sim_tpm_connect(uint16_t port, int *ret_fd) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_port = htons(port),
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        set_timeouts(fd);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

int sim_tpm_read_packet(int fd, uint8_t *buf, size_t max, size_t *ret_size) {
        uint32_t size;
        ssize_t n;
        int r;

        if (max < HEADER_SIZE)
                return -ENOBUFS;
        /* the first byte separately: EOF here is a clean end of the conversation */
        do
                n = read(fd, buf, 1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (n == 0)
                return -EPIPE;
        r = sim_read_full(fd, buf + 1, HEADER_SIZE - 1);
        if (r < 0)
                return r == -EPIPE ? -EBADMSG : r;
        size = (uint32_t) buf[2] << 24 | (uint32_t) buf[3] << 16 | (uint32_t) buf[4] << 8 | buf[5];
        if (size < HEADER_SIZE || size > max)
                return -EBADMSG;
        r = sim_read_full(fd, buf + HEADER_SIZE, size - HEADER_SIZE);
        if (r < 0)
                return r == -EPIPE ? -EBADMSG : r;
        *ret_size = size;
        return 0;
}

int sim_tpm_transact(int fd, const uint8_t *cmd, size_t cmd_size, uint8_t *resp, size_t resp_max,
                     size_t *ret_size) {
        int r;

        r = sim_write_full(fd, cmd, cmd_size);
        if (r < 0)
                return r;
        r = sim_tpm_read_packet(fd, resp, resp_max, ret_size);
        return r == -EPIPE ? -ECONNRESET : r;
}

int sim_swtpm_ctrl(uint16_t ctrl_port, uint32_t cmd, const void *payload, size_t payload_size) {
        _cleanup_(closep) int fd = -EBADF;
        uint8_t req[64], res[4];
        int r;

        if (payload_size > sizeof(req) - 4)
                return -EINVAL;
        r = sim_tpm_connect(ctrl_port, &fd);
        if (r < 0)
                return r;
        /* control commands and their results are big-endian u32s (swtpm's tpm_ioctl.h) */
        req[0] = (uint8_t) (cmd >> 24);
        req[1] = (uint8_t) (cmd >> 16);
        req[2] = (uint8_t) (cmd >> 8);
        req[3] = (uint8_t) cmd;
        if (payload_size > 0)
                memcpy(req + 4, payload, payload_size);
        r = sim_write_full(fd, req, 4 + payload_size);
        if (r < 0)
                return r;
        r = sim_read_full(fd, res, sizeof(res));
        if (r < 0)
                return r;
        if (res[0] | res[1] | res[2] | res[3])
                return sim_log_errno(-EREMOTEIO, "swtpm control command 0x%02x failed: 0x%02x%02x",
                                     cmd, res[2], res[3]);
        return 0;
}

/*
 * Runs a command and checks the response: tag, size, response code. On success *ret_params is
 * the parameter area (after nhandles response handles, stored in ret_handles, and, for session
 * responses, after parameterSize, with the session area cut off).
 */
static int run(int fd, Cmd *c, const char *what, size_t nhandles, TPM2_HANDLE *ret_handles,
               uint8_t *resp, ByteReader *ret_params) {
        ByteReader r, params;
        uint16_t tag;
        uint32_t size, rc, psize;
        size_t n;
        int e;

        e = cmd_finish(c);
        if (e < 0)
                return sim_log_errno(e, "%s: command too large", what);
        for (int attempt = 0;; attempt++) {
                e = sim_tpm_transact(fd, c->buf, c->n, resp, SIM_TPM_BUF_MAX, &n);
                if (e < 0)
                        return sim_log_errno(e, "%s: TPM connection failed", what);
                r = br_init(resp, n);
                if (!br_u16be(&r, &tag) || !br_u32be(&r, &size) || !br_u32be(&r, &rc))
                        return -EBADMSG;
                /* Warnings that ask for the same command again, as ESAPI retries them: libtpms
                 * answers RETRY to the first DA-protected authorization after TPM2_Startup,
                 * while it leaves its orderly state. */
                if ((rc != TPM2_RC_RETRY && rc != TPM2_RC_YIELDED && rc != TPM2_RC_TESTING) ||
                    attempt >= 10)
                        break;
                (void) usleep(1000U << MIN(attempt, 6));
        }
        if (rc != TPM2_RC_SUCCESS) {
                /* format-1 codes carry the handle/parameter/session number in bits 8..11 */
                uint32_t base = (rc & TPM2_RC_FMT1) ? (rc & 0xBF) : rc;

                if (base == TPM2_RC_HANDLE)
                        return -ENOENT;
                if (rc == TPM2_RC_NV_DEFINED)
                        return -EEXIST;
                if (rc == TPM2_RC_INITIALIZE && cmd_code(c) == TPM2_CC_Startup)
                        return -EALREADY;
                return sim_log_errno(-EREMOTEIO, "%s failed: TPM response code 0x%03x", what, rc);
        }
        for (size_t i = 0; i < nhandles; i++)
                if (!br_u32be(&r, &ret_handles[i]))
                        return -EBADMSG;
        if (tag == TPM2_ST_SESSIONS) {
                if (!br_u32be(&r, &psize) || !br_sub(&r, psize, &params))
                        return -EBADMSG;
        } else if (tag == TPM2_ST_NO_SESSIONS)
                params = r;
        else
                return -EBADMSG;
        if (ret_params)
                *ret_params = params;
        return 0;
}

/* ---- commands ---- */

int sim_tpm_startup(int fd, TPM2_SU su) {
        uint8_t resp[SIM_TPM_BUF_MAX];
        Cmd c;

        cmd_begin(&c, TPM2_ST_NO_SESSIONS, TPM2_CC_Startup);
        put_u16(&c, su);
        return run(fd, &c, "TPM2_Startup", 0, NULL, resp, NULL);
}

int sim_tpm_nv_read_public(int fd, TPM2_HANDLE index, TPMS_NV_PUBLIC *ret) {
        uint8_t resp[SIM_TPM_BUF_MAX];
        TPM2B_NV_PUBLIC pub = {};
        ByteReader p;
        size_t off = 0;
        Cmd c;
        int r;

        cmd_begin(&c, TPM2_ST_NO_SESSIONS, TPM2_CC_NV_ReadPublic);
        put_u32(&c, index);
        r = run(fd, &c, "TPM2_NV_ReadPublic", 0, NULL, resp, &p);
        if (r < 0)
                return r;
        if (Tss2_MU_TPM2B_NV_PUBLIC_Unmarshal(p.p, p.n, &off, &pub) != TSS2_RC_SUCCESS)
                return -EBADMSG;
        *ret = pub.nvPublic;
        return 0;
}

int sim_tpm_nv_define(int fd, TPM2_HANDLE auth_handle, const uint8_t *index_auth,
                      size_t index_auth_size, TPM2_HANDLE index, TPMA_NV attributes,
                      uint16_t size) {
        uint8_t resp[SIM_TPM_BUF_MAX];
        TPM2B_NV_PUBLIC pub = {
                .nvPublic.nvIndex = index,
                .nvPublic.nameAlg = TPM2_ALG_SHA256,
                .nvPublic.attributes = attributes,
                .nvPublic.dataSize = size,
        };
        Cmd c;

        cmd_begin(&c, TPM2_ST_SESSIONS, TPM2_CC_NV_DefineSpace);
        put_u32(&c, auth_handle);
        cmd_pw_session(&c, NULL, 0);
        put_tpm2b(&c, index_auth, index_auth_size);
        PUT_MU(&c, TPM2B_NV_PUBLIC, &pub);
        return run(fd, &c, "TPM2_NV_DefineSpace", 0, NULL, resp, NULL);
}

int sim_tpm_nv_undefine(int fd, TPM2_HANDLE auth_handle, TPM2_HANDLE index) {
        uint8_t resp[SIM_TPM_BUF_MAX];
        Cmd c;

        cmd_begin(&c, TPM2_ST_SESSIONS, TPM2_CC_NV_UndefineSpace);
        put_u32(&c, auth_handle);
        put_u32(&c, index);
        cmd_pw_session(&c, NULL, 0);
        return run(fd, &c, "TPM2_NV_UndefineSpace", 0, NULL, resp, NULL);
}

int sim_tpm_nv_write(int fd, TPM2_HANDLE auth_handle, const uint8_t *auth, size_t auth_size,
                     TPM2_HANDLE index, const uint8_t *data, size_t size) {
        uint8_t resp[SIM_TPM_BUF_MAX];

        if (size > UINT16_MAX)
                return -EFBIG;
        for (size_t off = 0; off < size; off += SIM_TPM_NV_CHUNK) {
                size_t n = MIN((size_t) SIM_TPM_NV_CHUNK, size - off);
                Cmd c;
                int r;

                cmd_begin(&c, TPM2_ST_SESSIONS, TPM2_CC_NV_Write);
                put_u32(&c, auth_handle);
                put_u32(&c, index);
                cmd_pw_session(&c, auth, auth_size);
                put_tpm2b(&c, data + off, n);
                put_u16(&c, (uint16_t) off);
                r = run(fd, &c, "TPM2_NV_Write", 0, NULL, resp, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

int sim_tpm_nv_read(int fd, TPM2_HANDLE auth_handle, const uint8_t *auth, size_t auth_size,
                    TPM2_HANDLE index, uint8_t *buf, size_t size) {
        uint8_t resp[SIM_TPM_BUF_MAX];

        if (size > UINT16_MAX)
                return -EFBIG;
        for (size_t off = 0; off < size; off += SIM_TPM_NV_CHUNK) {
                size_t n = MIN((size_t) SIM_TPM_NV_CHUNK, size - off);
                uint16_t got;
                ByteReader p;
                Cmd c;
                int r;

                cmd_begin(&c, TPM2_ST_SESSIONS, TPM2_CC_NV_Read);
                put_u32(&c, auth_handle);
                put_u32(&c, index);
                cmd_pw_session(&c, auth, auth_size);
                put_u16(&c, (uint16_t) n);
                put_u16(&c, (uint16_t) off);
                r = run(fd, &c, "TPM2_NV_Read", 0, NULL, resp, &p);
                if (r < 0)
                        return r;
                if (!br_u16be(&p, &got) || got != n || !br_copy(&p, buf + off, n))
                        return -EBADMSG;
        }
        return 0;
}

int sim_tpm_read_public(int fd, TPM2_HANDLE handle, TPM2B_PUBLIC *ret) {
        uint8_t resp[SIM_TPM_BUF_MAX];
        TPM2B_PUBLIC pub = {};
        ByteReader p;
        size_t off = 0;
        Cmd c;
        int r;

        cmd_begin(&c, TPM2_ST_NO_SESSIONS, TPM2_CC_ReadPublic);
        put_u32(&c, handle);
        r = run(fd, &c, "TPM2_ReadPublic", 0, NULL, resp, &p);
        if (r < 0)
                return r;
        if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(p.p, p.n, &off, &pub) != TSS2_RC_SUCCESS)
                return -EBADMSG;
        *ret = pub;
        return 0;
}

int sim_tpm_create_primary(int fd, TPM2_HANDLE hierarchy, const TPM2B_PUBLIC *in_public,
                           TPM2_HANDLE *ret_handle, TPM2B_PUBLIC *ret_public) {
        uint8_t resp[SIM_TPM_BUF_MAX];
        const TPML_PCR_SELECTION no_pcrs = {};
        TPM2B_PUBLIC pub = {};
        TPM2_HANDLE h;
        ByteReader p;
        size_t off = 0;
        Cmd c;
        int r;

        cmd_begin(&c, TPM2_ST_SESSIONS, TPM2_CC_CreatePrimary);
        put_u32(&c, hierarchy);
        cmd_pw_session(&c, NULL, 0);
        put_u16(&c, 4); /* TPM2B_SENSITIVE_CREATE: userAuth and data, both empty */
        put_u16(&c, 0);
        put_u16(&c, 0);
        PUT_MU(&c, TPM2B_PUBLIC, in_public);
        put_u16(&c, 0); /* outsideInfo */
        PUT_MU(&c, TPML_PCR_SELECTION, &no_pcrs);
        r = run(fd, &c, "TPM2_CreatePrimary", 1, &h, resp, &p);
        if (r < 0)
                return r;
        if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(p.p, p.n, &off, &pub) != TSS2_RC_SUCCESS) {
                (void) sim_tpm_flush(fd, h);
                return -EBADMSG;
        }
        *ret_handle = h;
        if (ret_public)
                *ret_public = pub;
        return 0;
}

int sim_tpm_evict_control(int fd, TPM2_HANDLE object, TPM2_HANDLE persistent) {
        uint8_t resp[SIM_TPM_BUF_MAX];
        Cmd c;

        cmd_begin(&c, TPM2_ST_SESSIONS, TPM2_CC_EvictControl);
        put_u32(&c, TPM2_RH_OWNER);
        put_u32(&c, object);
        cmd_pw_session(&c, NULL, 0);
        put_u32(&c, persistent);
        return run(fd, &c, "TPM2_EvictControl", 0, NULL, resp, NULL);
}

int sim_tpm_flush(int fd, TPM2_HANDLE handle) {
        uint8_t resp[SIM_TPM_BUF_MAX];
        Cmd c;

        cmd_begin(&c, TPM2_ST_NO_SESSIONS, TPM2_CC_FlushContext);
        put_u32(&c, handle);
        return run(fd, &c, "TPM2_FlushContext", 0, NULL, resp, NULL);
}

int sim_tpm_pcr_extend(int fd, uint32_t pcr, const TPML_DIGEST_VALUES *digests) {
        uint8_t resp[SIM_TPM_BUF_MAX];
        Cmd c;

        cmd_begin(&c, TPM2_ST_SESSIONS, TPM2_CC_PCR_Extend);
        put_u32(&c, pcr);
        cmd_pw_session(&c, NULL, 0);
        PUT_MU(&c, TPML_DIGEST_VALUES, digests);
        return run(fd, &c, "TPM2_PCR_Extend", 0, NULL, resp, NULL);
}

int sim_tpm_pcr_read(int fd, TPM2_ALG_ID bank, uint32_t pcr, uint8_t ret[static 64],
                     size_t *ret_size) {
        uint8_t resp[SIM_TPM_BUF_MAX];
        TPML_PCR_SELECTION sel = {.count = 1}, out_sel = {};
        TPML_DIGEST values = {};
        uint32_t update_counter;
        ByteReader p;
        size_t off = 0;
        Cmd c;
        int r;

        if (pcr >= 24)
                return -EINVAL;
        sel.pcrSelections[0].hash = bank;
        sel.pcrSelections[0].sizeofSelect = 3;
        sel.pcrSelections[0].pcrSelect[pcr / 8] = (uint8_t) (1U << (pcr % 8));
        cmd_begin(&c, TPM2_ST_NO_SESSIONS, TPM2_CC_PCR_Read);
        PUT_MU(&c, TPML_PCR_SELECTION, &sel);
        r = run(fd, &c, "TPM2_PCR_Read", 0, NULL, resp, &p);
        if (r < 0)
                return r;
        if (!br_u32be(&p, &update_counter) ||
            Tss2_MU_TPML_PCR_SELECTION_Unmarshal(p.p, p.n, &off, &out_sel) != TSS2_RC_SUCCESS ||
            Tss2_MU_TPML_DIGEST_Unmarshal(p.p, p.n, &off, &values) != TSS2_RC_SUCCESS)
                return -EBADMSG;
        /* an unallocated bank comes back as an empty selection */
        if (values.count == 0)
                return -ENOENT;
        if (values.count != 1 || values.digests[0].size > 64)
                return -EBADMSG;
        memcpy(ret, values.digests[0].buffer, values.digests[0].size);
        *ret_size = values.digests[0].size;
        return 0;
}
