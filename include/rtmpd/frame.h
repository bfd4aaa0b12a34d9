/*
 * rtmpd — frames and write-queue entries.
 *
 * A frame is one media or data message as the publisher sent it: refcounted
 * and immutable once published. Every subscriber's write queue holds
 * references to the same frame; nothing copies its payload again.
 *
 * A write-queue entry (struct rtmpd_out) describes how one frame (or one
 * block of private bytes) goes on the wire for one connection: a small
 * per-connection header (the RTMP fmt 0 chunk header with that player's
 * timestamp and stream id, or an FLV tag header), the shared payload split
 * into segments of the chunk size with a small separator (the fmt 3 chunk
 * header) between them, and an optional trailer (FLV PreviousTagSize).
 * Writing is gather I/O straight from the shared payload: the chunk-encoded
 * form of a frame is never materialised, so one frame costs one copy in
 * memory however many layouts the subscribers use.
 */
#ifndef RTMPD_FRAME_H
#define RTMPD_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "rtmpd/chunk.h"

enum rtmpd_frame_flags {
    RTMPD_FRAME_KEY = 1 << 0,        /* video keyframe with coded data */
    RTMPD_FRAME_SEQ = 1 << 1,        /* decoder configuration (sequence header) */
    RTMPD_FRAME_DISPOSABLE = 1 << 2, /* droppable without breaking decoding */
    RTMPD_FRAME_META = 1 << 3,       /* onMetaData */
};

struct rtmpd_frame {
    uint32_t refs;
    uint8_t type;        /* RTMPD_MSG_AUDIO, _VIDEO or _DATA_AMF0 */
    uint8_t flags;       /* enum rtmpd_frame_flags */
    uint32_t timestamp;  /* stream timeline, ms */
    uint32_t len;
    uint64_t recv_us;    /* monotonic time the message was complete */
    uint8_t *payload;    /* owned; len bytes */
};

/*
 * Creates a frame that takes ownership of `payload` (malloc'd, may be NULL
 * when len is 0), with one reference. Returns NULL on allocation failure, in
 * which case payload has been freed.
 */
struct rtmpd_frame *rtmpd_frame_new(uint8_t type, uint32_t timestamp, uint8_t *payload,
                                    uint32_t len, uint8_t flags, uint64_t recv_us);

/* Creates a frame holding a copy of `len` bytes. NULL on allocation failure. */
struct rtmpd_frame *rtmpd_frame_copy(uint8_t type, uint32_t timestamp, const uint8_t *data,
                                     uint32_t len, uint8_t flags, uint64_t recv_us);

static inline struct rtmpd_frame *rtmpd_frame_ref(struct rtmpd_frame *f)
{
    f->refs++;
    return f;
}

/* Drops one reference; frees the frame with the last one. Accepts NULL. */
void rtmpd_frame_unref(struct rtmpd_frame *f);

/* One entry of a connection's write queue. */
struct rtmpd_out {
    struct rtmpd_frame *frame;  /* reference held; NULL for private bytes */
    uint8_t *raw;               /* private bytes (malloc'd) when frame is NULL */
    uint64_t enq_us;            /* when it was queued (queue delay) */
    uint32_t size;              /* bytes this entry puts on the wire */
    uint32_t done;              /* bytes of it already written */
    uint32_t seg;               /* payload bytes between separators; 0: one piece */
    uint8_t hdr_len;
    uint8_t sep_len;
    uint8_t trl_len;
    uint8_t hdr[RTMPD_CHUNK_HEADER_MAX];
    uint8_t sep[7];
    uint8_t trl[4];
};

/*
 * Fills `o` to send frame `f` as one RTMP message on chunk stream `csid` and
 * message stream `stream_id`, with timestamp `ts` (this connection's
 * timeline), in chunks of `chunk_size`. Takes a new reference on f.
 */
void rtmpd_out_rtmp(struct rtmpd_out *o, struct rtmpd_frame *f, uint32_t csid,
                    uint32_t stream_id, uint32_t ts, uint32_t chunk_size);

/* Fills `o` to send frame `f` as one FLV tag with timestamp `ts`. Takes a reference. */
void rtmpd_out_flv(struct rtmpd_out *o, struct rtmpd_frame *f, uint32_t ts);

/* Fills `o` with private bytes `raw` (ownership taken) of `len` bytes. */
void rtmpd_out_raw(struct rtmpd_out *o, uint8_t *raw, uint32_t len);

/* Releases what `o` holds (frame reference or private bytes). */
void rtmpd_out_release(struct rtmpd_out *o);

/*
 * Appends iovecs for the unwritten bytes of `o` (from o->done) to iov, at
 * most `max`. Returns the number of iovecs written; a partial description
 * is fine, the next call continues from o->done.
 */
int rtmpd_out_iov(const struct rtmpd_out *o, struct iovec *iov, int max);

#endif
