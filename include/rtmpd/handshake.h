/*
 * rtmpd — RTMP handshake, server and client side.
 *
 * Pure state machine over caller-owned state: bytes in, bytes out. No
 * sockets, no logging, no global state.
 *
 *   server: feed C0+C1  -> output S0+S1+S2;  feed C2 -> done
 *   client: init        -> output C0+C1;     feed S0+S1+S2 -> output C2, done
 *
 * Forms: the simple handshake (C1 version field zero, or no digest found)
 * and the digest handshake (HMAC-SHA256 digest in C1 at the schema 0 or
 * schema 1 position, keyed with the Flash Player key; S1 carries a digest
 * keyed with the Flash Media Server key and S2 a signature keyed with
 * HMAC(FMS full key, C1 digest)). A server falls back to the simple form when
 * no digest in C1 validates.
 */
#ifndef RTMPD_HANDSHAKE_H
#define RTMPD_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RTMPD_HS_VERSION 3
#define RTMPD_HS_PACKET 1536
#define RTMPD_HS_DIGEST_LEN 32

enum rtmpd_hs_role {
    RTMPD_HS_SERVER = 0,
    RTMPD_HS_CLIENT = 1,
};

enum rtmpd_hs_form {
    RTMPD_HS_SIMPLE = 0,
    RTMPD_HS_DIGEST_SCHEMA0 = 1, /* key block first, digest block second */
    RTMPD_HS_DIGEST_SCHEMA1 = 2, /* digest block first, key block second */
};

struct rtmpd_hs_opts {
    /* Timestamp put in our C1/S1 (ms, arbitrary epoch); also the time2
     * field (bytes 4..7) of a simple-form S2/C2 echo. */
    uint32_t epoch;
    /* Client only: send a digest C1 (schema 1 by default, like Flash Player
     * and librtmp) instead of a simple one. */
    int client_digest;
    /* Client only: which schema to use for a digest C1 (0 = schema 1). */
    enum rtmpd_hs_form client_schema;
    /* RTMPD_HS_PACKET * 2 bytes used as the random fill of C1/S1 and C2/S2.
     * NULL: drawn from OpenSSL's RAND_bytes. Tests pass fixed bytes. */
    const uint8_t *random;
};

/* Private: fields may change; use the functions below. */
struct rtmpd_hs {
    uint8_t role;
    uint8_t state;
    uint8_t form;             /* enum rtmpd_hs_form actually in use */
    uint8_t peer_verified;    /* the peer's digest/echo validated */
    uint32_t epoch;
    size_t in_len;            /* bytes of the current input unit held */
    size_t out_len;           /* end of the output produced so far */
    size_t out_off;           /* bytes of output already taken */
    uint8_t own_digest[RTMPD_HS_DIGEST_LEN]; /* digest of our C1/S1 */
    uint8_t in[1 + RTMPD_HS_PACKET * 2];     /* C0C1 (server) / S0S1S2 (client) */
    /* S0S1S2 (server) / C0C1C2 (client), random-filled at init. Never
     * compacted: out[1..1536] stays our C1/S1 until the handshake ends. */
    uint8_t out[1 + RTMPD_HS_PACKET * 2];
};

/*
 * Initialises `hs` for `role`. `opts` may be NULL (defaults: epoch 0, simple
 * client C1, random from OpenSSL). For a client, C0+C1 is ready as output at
 * once. Returns RTMPD_OK, or RTMPD_E_INVAL / RTMPD_E_NOMEM (randomness).
 */
int rtmpd_hs_init(struct rtmpd_hs *hs, enum rtmpd_hs_role role,
                  const struct rtmpd_hs_opts *opts);

/*
 * Feeds received bytes. Consumes at most the bytes that belong to the
 * handshake: anything after C2 (server) or S2 (client) is left to the chunk
 * decoder. Returns the number of bytes consumed (>= 0), or a negative error:
 * RTMPD_E_HS_VERSION when C0/S0 is not 3 (checked as soon as that byte
 * arrives), RTMPD_E_HS_STATE when called after the handshake is done or has
 * failed, RTMPD_E_NOMEM when HMAC fails. Errors are final. Output produced
 * along the way is read with rtmpd_hs_output(). Fed one byte at a time it
 * produces the same output and consumes the same total.
 */
ssize_t rtmpd_hs_feed(struct rtmpd_hs *hs, const uint8_t *in, size_t len);

/*
 * Returns a pointer to pending output bytes and stores their count in *len
 * (0 when there is none). The bytes stay valid until rtmpd_hs_output_taken()
 * or the next rtmpd_hs_feed().
 */
const uint8_t *rtmpd_hs_output(const struct rtmpd_hs *hs, size_t *len);

/* Marks `n` bytes of the pending output as sent. */
void rtmpd_hs_output_taken(struct rtmpd_hs *hs, size_t n);

/* Non-zero once the handshake is complete (output may still be pending). */
int rtmpd_hs_done(const struct rtmpd_hs *hs);

/* The form the handshake took (server: what C1 carried; client: what it sent). */
enum rtmpd_hs_form rtmpd_hs_form(const struct rtmpd_hs *hs);

/*
 * Non-zero when the peer proved itself: for a server, C1's digest validated
 * (digest form); for a client, S1's digest and S2's signature validated
 * (digest form) or S2 echoed C1 (simple form). Servers do not require it:
 * real clients send C2 that echo nothing.
 */
int rtmpd_hs_peer_verified(const struct rtmpd_hs *hs);

#endif
