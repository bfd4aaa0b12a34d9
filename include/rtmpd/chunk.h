/*
 * rtmpd — RTMP chunk stream: decoder and encoder.
 *
 * Pure functions over caller-owned state; no sockets, no logging, no global
 * state. The decoder turns received bytes into whole RTMP messages; the
 * encoder turns a message into chunks.
 */
#ifndef RTMPD_CHUNK_H
#define RTMPD_CHUNK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rtmpd/bytes.h"

/* RTMP message types. */
enum rtmpd_msg_type {
    RTMPD_MSG_SET_CHUNK_SIZE = 1,
    RTMPD_MSG_ABORT = 2,
    RTMPD_MSG_ACK = 3,
    RTMPD_MSG_USER_CONTROL = 4,
    RTMPD_MSG_WINDOW_ACK_SIZE = 5,
    RTMPD_MSG_SET_PEER_BW = 6,
    RTMPD_MSG_AUDIO = 8,
    RTMPD_MSG_VIDEO = 9,
    RTMPD_MSG_DATA_AMF3 = 15,
    RTMPD_MSG_SHARED_OBJECT_AMF3 = 16,
    RTMPD_MSG_COMMAND_AMF3 = 17,
    RTMPD_MSG_DATA_AMF0 = 18,
    RTMPD_MSG_SHARED_OBJECT_AMF0 = 19,
    RTMPD_MSG_COMMAND_AMF0 = 20,
    RTMPD_MSG_AGGREGATE = 22,
};

#define RTMPD_CHUNK_SIZE_DEFAULT 128u
#define RTMPD_CHUNK_SIZE_MAX 0x7fffffffu
#define RTMPD_CSID_MIN 2u
#define RTMPD_CSID_MAX 65599u
#define RTMPD_EXT_TS 0xffffffu
/* Largest possible chunk header: 3-byte basic + 11-byte fmt 0 + 4 ext ts. */
#define RTMPD_CHUNK_HEADER_MAX 18u

/* One whole RTMP message. */
struct rtmpd_msg {
    uint32_t csid;
    uint8_t type;
    uint32_t stream_id;  /* message stream id (little-endian on the wire) */
    uint32_t timestamp;  /* absolute, after deltas are applied */
    uint32_t length;
    uint8_t *payload;    /* `length` bytes */
};

struct rtmpd_chunk_limits {
    /* Largest message length accepted (header's declared length). */
    uint32_t max_message_bytes;
    /* Most chunk streams whose state the decoder keeps at once. */
    uint32_t max_streams;
    /* Most bytes held in incomplete messages over all chunk streams. */
    size_t max_pending_bytes;
};

#define RTMPD_CHUNK_MAX_MESSAGE_DEFAULT (8u * 1024 * 1024)
#define RTMPD_CHUNK_MAX_STREAMS_DEFAULT 64u
#define RTMPD_CHUNK_MAX_PENDING_DEFAULT (16u * 1024 * 1024)

struct rtmpd_chunk_cs; /* per chunk stream state, private */

/* Decoder state. Private fields; use the functions below. */
struct rtmpd_chunk_dec {
    struct rtmpd_chunk_limits lim;
    uint32_t chunk_size;          /* peer's current chunk size */
    size_t pending_bytes;         /* bytes held in incomplete messages */
    struct rtmpd_chunk_cs *streams; /* sorted by csid, binary searched */
    uint32_t nstreams;
    uint32_t cap_streams;
    struct rtmpd_chunk_cs *cur;   /* chunk stream of the chunk being read */
    uint8_t state;
    uint8_t hdr[RTMPD_CHUNK_HEADER_MAX];
    uint8_t hdr_have;
    uint8_t hdr_need;
    uint8_t fmt;
    uint8_t ext3;                 /* does the peer repeat ext ts on fmt 3? */
    uint32_t chunk_left;          /* payload bytes left in the current chunk */
    int error;                    /* sticky: the error already returned */
    size_t buf_bytes;             /* heap held by partial message buffers */
    uint8_t *done_payload;        /* last message returned, freed on next call */
    size_t done_bytes;            /* its allocation size */
};

/*
 * Initialises a decoder. `lim` may be NULL for the defaults above; a zero
 * field also means its default. The peer chunk size starts at 128.
 */
void rtmpd_chunk_dec_init(struct rtmpd_chunk_dec *d, const struct rtmpd_chunk_limits *lim);

/* Frees everything the decoder holds, including the last returned payload. */
void rtmpd_chunk_dec_release(struct rtmpd_chunk_dec *d);

/*
 * Feeds received bytes. Stops right after the chunk that completes a message.
 *
 * Returns:
 *   n > 0        n bytes were consumed and *msg holds a whole message. Its
 *                payload stays valid until the next call on this decoder
 *                (or the caller takes it with rtmpd_chunk_take_payload()).
 *   RTMPD_AGAIN  all `len` bytes were consumed (kept in the decoder's state)
 *                and no message is complete; feed more.
 *   < 0          a protocol error (RTMPD_E_CHUNK_*) or RTMPD_E_NOMEM; the
 *                decoder must not be fed again.
 *
 * Set Chunk Size (type 1) and Abort (type 2) are applied by the decoder
 * itself before it returns them, so the caller only observes them. Fed one
 * byte at a time it returns the same messages.
 *
 * Errors: RTMPD_E_CHUNK_MSG_SIZE, _STREAMS and _PENDING (the limits in
 * `lim`), _FRESH_FMT (fmt 2/3 opening a chunk stream), _SIZE and _CONTROL
 * (bad Set Chunk Size / Abort). A new header on a chunk stream whose message
 * is unfinished drops that message and is not an error. What is accepted and
 * why: docs/protocol.md ("Chunk stream").
 */
ssize_t rtmpd_chunk_decode(struct rtmpd_chunk_dec *d, const uint8_t *in, size_t len,
                           struct rtmpd_msg *msg);

/*
 * Takes ownership of the payload of the message last returned: the caller
 * must free() it. Returns NULL when there is none (zero-length message).
 */
uint8_t *rtmpd_chunk_take_payload(struct rtmpd_chunk_dec *d);

/* The peer's current chunk size. */
uint32_t rtmpd_chunk_dec_chunk_size(const struct rtmpd_chunk_dec *d);

/* Heap bytes the decoder holds now (state and partial messages). */
size_t rtmpd_chunk_dec_memory(const struct rtmpd_chunk_dec *d);

/*
 * Encoder. The previous header sent on a chunk stream decides how much of
 * the next header can be omitted (fmt 1, 2 or 3). Keep one `prev` per chunk
 * stream id, zero-initialised. Pass NULL as `prev` to force a self-contained
 * fmt 0 first chunk (used for frames encoded once and shared by many
 * connections).
 */
struct rtmpd_chunk_prev {
    uint8_t valid;
    uint8_t type;
    uint8_t delta_sent;  /* `delta` was sent in a fmt 1/2 header (not fmt 0) */
    uint32_t stream_id;
    uint32_t timestamp;
    uint32_t delta;
    uint32_t length;
};

/*
 * Appends the chunks of one message to `out`. The first chunk has fmt 0 when
 * `prev` is NULL or not valid, the stream id differs or the timestamp goes
 * backwards; else fmt 1 when type or length differ; else fmt 3 when the
 * timestamp delta repeats one sent in a fmt 1/2 header (never one implied by
 * fmt 0, which receivers disagree on), is below 0xffffff and the message is
 * not empty; else fmt 2. Then fmt 3 continuation chunks, the extended
 * timestamp repeated on each of them when the timestamp field is 0xffffff.
 * Updates *prev when given.
 * Returns RTMPD_OK, RTMPD_E_INVAL (csid out of range, chunk size 0, length
 * over 2^24-1, NULL payload with a length) or RTMPD_E_NOMEM (buffer failed);
 * on error nothing is appended and *prev is unchanged.
 */
int rtmpd_chunk_encode(struct rtmpd_buf *out, uint32_t chunk_size, const struct rtmpd_msg *msg,
                       struct rtmpd_chunk_prev *prev);

/*
 * Writes one chunk header at `p` (room for RTMPD_CHUNK_HEADER_MAX bytes):
 * the basic header for `csid`, the fmt `fmt` message header, then the
 * extended timestamp when `timestamp` (absolute for fmt 0, a delta for fmt 1
 * and 2) is 0xffffff or more. For fmt 3 that is the basic header plus, when
 * `timestamp` is 0xffffff or more, the repeated extended timestamp: the
 * separator between the chunks of a message whose first header used it (at
 * most 7 bytes). `length` (below 2^24), `type` and `stream_id` are written
 * only where `fmt` has them. rtmpd_chunk_encode() is built on it, so a fmt 0
 * header, payload cut every chunk_size bytes and fmt 3 separators give the
 * same bytes as rtmpd_chunk_encode() with prev == NULL.
 * Returns the bytes written, or 0 (nothing written) when fmt > 3 or csid is
 * out of range.
 */
size_t rtmpd_chunk_header_write(uint8_t *p, unsigned fmt, uint32_t csid, uint32_t timestamp,
                                uint32_t length, uint8_t type, uint32_t stream_id);

/*
 * Exact number of bytes rtmpd_chunk_encode() appends with prev == NULL;
 * 0 for arguments it rejects.
 */
size_t rtmpd_chunk_encoded_size(uint32_t chunk_size, uint32_t csid, uint32_t timestamp,
                                uint32_t length);

#endif
