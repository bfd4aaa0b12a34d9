#include "rtmpd/handshake.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "rtmpd/bytes.h"
#include "rtmpd/error.h"

/*
 * Layout of C1/S1 (1536 bytes): time (4), version (4), then two 764-byte
 * blocks, key and digest. Schema 0 puts the key block first (digest block at
 * 772), schema 1 the digest block first (at 8). A digest block starts with
 * four offset bytes; the 32-byte digest sits at (sum of them % 728) + 4 into
 * the block, 728 = 764 - 4 - 32.
 */
#define HS_PKT RTMPD_HS_PACKET
#define HS_DIG RTMPD_HS_DIGEST_LEN
#define HS_SIG_OFF (HS_PKT - HS_DIG)    /* C2/S2 signature: the last 32 bytes */
#define HS_BLOCK_SCHEMA0 772
#define HS_BLOCK_SCHEMA1 8

#define HS_SERVER_VERSION 0x0d0e0a0du  /* as nginx-rtmp; FMS sends 4.5.0.1 */
#define HS_CLIENT_VERSION 0x0c000d0eu

enum {
    HS_READ_C0C1,   /* server */
    HS_READ_C2,     /* server: counted, not kept */
    HS_READ_S0S1S2, /* client */
    HS_DONE,
    HS_FAILED,
};

/* The 32 constant bytes that complete both keys. */
#define HS_KEY_TAIL                                                     \
    0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1, \
    0x02, 0x9e, 0x7e, 0x57, 0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, \
    0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae

/* "Genuine Adobe Flash Player 001" (30) + tail: C1 digest and C2 key. */
static const uint8_t hs_fp_key[62] = {
    'G', 'e', 'n', 'u', 'i', 'n', 'e', ' ', 'A', 'd', 'o', 'b', 'e', ' ',
    'F', 'l', 'a', 's', 'h', ' ', 'P', 'l', 'a', 'y', 'e', 'r', ' ',
    '0', '0', '1', HS_KEY_TAIL
};
#define HS_FP_PARTIAL 30

/* "Genuine Adobe Flash Media Server 001" (36) + tail: S1 digest and S2 key. */
static const uint8_t hs_fms_key[68] = {
    'G', 'e', 'n', 'u', 'i', 'n', 'e', ' ', 'A', 'd', 'o', 'b', 'e', ' ',
    'F', 'l', 'a', 's', 'h', ' ', 'M', 'e', 'd', 'i', 'a', ' ',
    'S', 'e', 'r', 'v', 'e', 'r', ' ', '0', '0', '1', HS_KEY_TAIL
};
#define HS_FMS_PARTIAL 36

static int hs_hmac(const uint8_t *key, size_t key_len, const uint8_t *data,
                   size_t len, uint8_t out[HS_DIG])
{
    unsigned int n = 0;
    if (!HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n) || n != HS_DIG)
        return RTMPD_E_NOMEM;
    return RTMPD_OK;
}

static size_t hs_block(enum rtmpd_hs_form schema)
{
    return schema == RTMPD_HS_DIGEST_SCHEMA0 ? HS_BLOCK_SCHEMA0 : HS_BLOCK_SCHEMA1;
}

/* Position of the digest in a C1/S1 of the given schema. */
static size_t hs_digest_pos(const uint8_t *pkt, enum rtmpd_hs_form schema)
{
    size_t b = hs_block(schema);
    unsigned sum = (unsigned)pkt[b] + pkt[b + 1] + pkt[b + 2] + pkt[b + 3];
    return b + 4 + sum % 728;
}

/* HMAC over the 1536-byte packet without the 32 digest bytes at `pos`. */
static int hs_packet_digest(const uint8_t *pkt, size_t pos, const uint8_t *key,
                            size_t key_len, uint8_t out[HS_DIG])
{
    uint8_t buf[HS_PKT - HS_DIG];
    memcpy(buf, pkt, pos);
    memcpy(buf + pos, pkt + pos + HS_DIG, HS_PKT - HS_DIG - pos);
    return hs_hmac(key, key_len, buf, sizeof buf, out);
}

/* Writes the digest into `pkt` at its schema position; copies it to `out`. */
static int hs_write_digest(uint8_t *pkt, enum rtmpd_hs_form schema,
                           const uint8_t *key, size_t key_len, uint8_t out[HS_DIG])
{
    size_t pos = hs_digest_pos(pkt, schema);
    int rc = hs_packet_digest(pkt, pos, key, key_len, out);
    if (rc == RTMPD_OK)
        memcpy(pkt + pos, out, HS_DIG);
    return rc;
}

/*
 * Looks for a valid digest in a peer's C1/S1, schema `first` tried first.
 * Returns the schema found (its digest copied to `digest`), RTMPD_HS_SIMPLE
 * when none validates, or a negative error.
 */
static int hs_find_digest(const uint8_t *pkt, enum rtmpd_hs_form first,
                          const uint8_t *key, size_t key_len, uint8_t digest[HS_DIG])
{
    enum rtmpd_hs_form other = first == RTMPD_HS_DIGEST_SCHEMA0
                               ? RTMPD_HS_DIGEST_SCHEMA1 : RTMPD_HS_DIGEST_SCHEMA0;
    const enum rtmpd_hs_form order[2] = { first, other };

    for (int i = 0; i < 2; i++) {
        uint8_t calc[HS_DIG];
        size_t pos = hs_digest_pos(pkt, order[i]);
        int rc = hs_packet_digest(pkt, pos, key, key_len, calc);
        if (rc != RTMPD_OK)
            return rc;
        if (CRYPTO_memcmp(calc, pkt + pos, HS_DIG) == 0) {
            memcpy(digest, calc, HS_DIG);
            return order[i];
        }
    }
    return RTMPD_HS_SIMPLE;
}

/* C2/S2 signature: HMAC(key = HMAC(full_key, peer digest), pkt[0..1504]). */
static int hs_signature(const uint8_t *pkt, const uint8_t *full_key, size_t key_len,
                        const uint8_t peer_digest[HS_DIG], uint8_t out[HS_DIG])
{
    uint8_t k[HS_DIG];
    int rc = hs_hmac(full_key, key_len, peer_digest, HS_DIG, k);
    if (rc == RTMPD_OK)
        rc = hs_hmac(k, HS_DIG, pkt, HS_SIG_OFF, out);
    return rc;
}

/*
 * Simple-form C2/S2: an exact echo of the peer's C1/S1. The spec puts our
 * time in bytes 4..7 (time2), but librtmp clients (rtmpdump, OBS) compare
 * all 1536 bytes and warn on any difference; nginx-rtmp and librtmp's own
 * server echo exactly, and so do we.
 */
static void hs_echo(uint8_t *dst, const uint8_t *peer)
{
    memcpy(dst, peer, HS_PKT);
}

/* C1 complete: build S0+S1+S2 in out (the random fill is already there). */
static int hs_server_reply(struct rtmpd_hs *hs)
{
    const uint8_t *c1 = hs->in + 1;
    uint8_t *s1 = hs->out + 1, *s2 = hs->out + 1 + HS_PKT;
    uint8_t c1_digest[HS_DIG];
    int rc = RTMPD_HS_SIMPLE;

    if (rtmpd_rd_be32(c1 + 4) != 0)
        rc = hs_find_digest(c1, RTMPD_HS_DIGEST_SCHEMA0, hs_fp_key, HS_FP_PARTIAL,
                            c1_digest);
    if (rc < 0)
        return rc;
    hs->form = (uint8_t)rc;
    hs->peer_verified = rc != RTMPD_HS_SIMPLE;

    hs->out[0] = RTMPD_HS_VERSION;
    rtmpd_wr_be32(s1, hs->epoch);
    if (hs->form == RTMPD_HS_SIMPLE) {
        rtmpd_wr_be32(s1 + 4, 0);
        hs_echo(s2, c1);
    } else {
        rtmpd_wr_be32(s1 + 4, HS_SERVER_VERSION);
        rc = hs_write_digest(s1, hs->form, hs_fms_key, HS_FMS_PARTIAL, hs->own_digest);
        if (rc == RTMPD_OK)
            rc = hs_signature(s2, hs_fms_key, sizeof hs_fms_key, c1_digest,
                              s2 + HS_SIG_OFF);
        if (rc < 0)
            return rc;
    }
    hs->out_len = 1 + 2 * HS_PKT;
    return RTMPD_OK;
}

/* S0+S1+S2 complete: check S1 and S2, append C2 after C0+C1 in out. */
static int hs_client_reply(struct rtmpd_hs *hs)
{
    const uint8_t *c1 = hs->out + 1, *s1 = hs->in + 1, *s2 = hs->in + 1 + HS_PKT;
    uint8_t *c2 = hs->out + 1 + HS_PKT;
    uint8_t s1_digest[HS_DIG], sig[HS_DIG];
    int rc = RTMPD_HS_SIMPLE;

    /* A zero S1 version is a server declining the digest form (librtmp). */
    if (hs->form != RTMPD_HS_SIMPLE && rtmpd_rd_be32(s1 + 4) != 0)
        rc = hs_find_digest(s1, hs->form, hs_fms_key, HS_FMS_PARTIAL, s1_digest);
    if (rc < 0)
        return rc;

    if (rc == RTMPD_HS_SIMPLE) {
        hs->peer_verified = memcmp(s2 + 8, c1 + 8, HS_PKT - 8) == 0;
        hs_echo(c2, s1);
    } else {
        rc = hs_signature(s2, hs_fms_key, sizeof hs_fms_key, hs->own_digest, sig);
        if (rc < 0)
            return rc;
        hs->peer_verified = CRYPTO_memcmp(sig, s2 + HS_SIG_OFF, HS_DIG) == 0;
        rc = hs_signature(c2, hs_fp_key, sizeof hs_fp_key, s1_digest, c2 + HS_SIG_OFF);
        if (rc < 0)
            return rc;
    }
    hs->out_len = 1 + 2 * HS_PKT;
    return RTMPD_OK;
}

static int hs_client_hello(struct rtmpd_hs *hs)
{
    uint8_t *c1 = hs->out + 1;

    hs->out[0] = RTMPD_HS_VERSION;
    rtmpd_wr_be32(c1, hs->epoch);
    rtmpd_wr_be32(c1 + 4, hs->form == RTMPD_HS_SIMPLE ? 0 : HS_CLIENT_VERSION);
    hs->out_len = 1 + HS_PKT;
    if (hs->form == RTMPD_HS_SIMPLE)
        return RTMPD_OK;
    return hs_write_digest(c1, hs->form, hs_fp_key, HS_FP_PARTIAL, hs->own_digest);
}

/*
 * Initialises `hs` for `role`. `opts` may be NULL (defaults: epoch 0, simple
 * client C1, random from OpenSSL). The whole random fill (C1/S1 then C2/S2)
 * is laid into the output buffer here, so the rest is deterministic. Returns
 * RTMPD_OK, or RTMPD_E_INVAL / RTMPD_E_NOMEM (randomness, HMAC).
 */
int rtmpd_hs_init(struct rtmpd_hs *hs, enum rtmpd_hs_role role,
                  const struct rtmpd_hs_opts *opts)
{
    static const struct rtmpd_hs_opts defaults;

    if (!hs || (role != RTMPD_HS_SERVER && role != RTMPD_HS_CLIENT))
        return RTMPD_E_INVAL;
    if (!opts)
        opts = &defaults;
    if (opts->client_schema != RTMPD_HS_SIMPLE &&
        opts->client_schema != RTMPD_HS_DIGEST_SCHEMA0 &&
        opts->client_schema != RTMPD_HS_DIGEST_SCHEMA1)
        return RTMPD_E_INVAL;

    memset(hs, 0, sizeof *hs);
    hs->role = (uint8_t)role;
    hs->epoch = opts->epoch;
    if (opts->random)
        memcpy(hs->out + 1, opts->random, 2 * HS_PKT);
    else if (RAND_bytes(hs->out + 1, 2 * HS_PKT) != 1)
        goto fail;

    if (role == RTMPD_HS_SERVER) {
        hs->state = HS_READ_C0C1;
        return RTMPD_OK;
    }
    hs->state = HS_READ_S0S1S2;
    if (opts->client_digest)
        hs->form = opts->client_schema == RTMPD_HS_DIGEST_SCHEMA0
                   ? RTMPD_HS_DIGEST_SCHEMA0 : RTMPD_HS_DIGEST_SCHEMA1;
    if (hs_client_hello(hs) == RTMPD_OK)
        return RTMPD_OK;
fail:
    hs->state = HS_FAILED;
    return RTMPD_E_NOMEM;
}

/*
 * Feeds received bytes. Consumes at most the handshake's own bytes: 1537
 * then 1536 (server), 3073 (client); the rest belongs to the chunk stream.
 * Returns the count consumed, RTMPD_E_HS_VERSION on a C0/S0 other than 3
 * (checked on its own byte), RTMPD_E_HS_STATE after done or after an error,
 * RTMPD_E_NOMEM if HMAC fails. Errors are final.
 */
ssize_t rtmpd_hs_feed(struct rtmpd_hs *hs, const uint8_t *in, size_t len)
{
    size_t used = 0;
    int rc = RTMPD_OK;

    if (hs->state == HS_DONE || hs->state == HS_FAILED)
        return RTMPD_E_HS_STATE;
    if (!in && len)
        return RTMPD_E_INVAL;

    while (used < len && hs->state != HS_DONE) {
        size_t unit = hs->state == HS_READ_C0C1 ? 1 + HS_PKT
                    : hs->state == HS_READ_C2   ? HS_PKT
                    : 1 + 2 * HS_PKT;
        size_t n = unit - hs->in_len;
        if (n > len - used)
            n = len - used;

        if (hs->state != HS_READ_C2) {
            if (hs->in_len == 0 && in[used] != RTMPD_HS_VERSION) {
                rc = RTMPD_E_HS_VERSION;
                goto fail;
            }
            memcpy(hs->in + hs->in_len, in + used, n);
        }
        hs->in_len += n;
        used += n;
        if (hs->in_len < unit)
            break;

        hs->in_len = 0;
        if (hs->state == HS_READ_C0C1) {
            rc = hs_server_reply(hs);
            hs->state = HS_READ_C2;
        } else {
            if (hs->state == HS_READ_S0S1S2)
                rc = hs_client_reply(hs);
            hs->state = HS_DONE;
        }
        if (rc < 0)
            goto fail;
    }
    return (ssize_t)used;

fail:
    hs->state = HS_FAILED;
    return rc;
}

/* Pending output; never NULL. */
const uint8_t *rtmpd_hs_output(const struct rtmpd_hs *hs, size_t *len)
{
    *len = hs->out_len - hs->out_off;
    return hs->out + hs->out_off;
}

/* Marks `n` bytes of pending output as sent; more than pending is clamped. */
void rtmpd_hs_output_taken(struct rtmpd_hs *hs, size_t n)
{
    size_t pending = hs->out_len - hs->out_off;
    hs->out_off += n < pending ? n : pending;
}

/* Non-zero once the handshake is complete. */
int rtmpd_hs_done(const struct rtmpd_hs *hs)
{
    return hs->state == HS_DONE;
}

/* The form in use (server: what C1 carried; client: what it sent). */
enum rtmpd_hs_form rtmpd_hs_form(const struct rtmpd_hs *hs)
{
    return (enum rtmpd_hs_form)hs->form;
}

/* Non-zero when the peer's digest, signature or echo validated. */
int rtmpd_hs_peer_verified(const struct rtmpd_hs *hs)
{
    return hs->peer_verified;
}
