/*
 * rtmpd — FLV tag inspection (legacy and Enhanced RTMP), FLV file/stream
 * reading and writing.
 *
 * An RTMP audio (type 8) or video (type 9) message payload is exactly the
 * body of an FLV tag of the same type, so the same inspection serves both.
 * Pure functions: no I/O, no allocation, no global state.
 */
#ifndef RTMPD_FLV_H
#define RTMPD_FLV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RTMPD_FOURCC(a, b, c, d) \
    ((uint32_t)(uint8_t)(a) << 24 | (uint32_t)(uint8_t)(b) << 16 | \
     (uint32_t)(uint8_t)(c) << 8 | (uint32_t)(uint8_t)(d))

/* Legacy video codec ids (FLV VideoTagHeader CodecID). */
enum rtmpd_flv_video_codec {
    RTMPD_FLV_VIDEO_H263 = 2,
    RTMPD_FLV_VIDEO_SCREEN = 3,
    RTMPD_FLV_VIDEO_VP6 = 4,
    RTMPD_FLV_VIDEO_VP6A = 5,
    RTMPD_FLV_VIDEO_SCREEN2 = 6,
    RTMPD_FLV_VIDEO_AVC = 7,
    RTMPD_FLV_VIDEO_HEVC = 12,       /* de-facto (CDN-Union): AVC-style header, HEVC data */
};

/* Legacy audio formats (FLV AudioTagHeader SoundFormat). */
enum rtmpd_flv_audio_codec {
    RTMPD_FLV_AUDIO_PCM = 0,
    RTMPD_FLV_AUDIO_ADPCM = 1,
    RTMPD_FLV_AUDIO_MP3 = 2,
    RTMPD_FLV_AUDIO_PCM_LE = 3,
    RTMPD_FLV_AUDIO_NELLY16 = 4,
    RTMPD_FLV_AUDIO_NELLY8 = 5,
    RTMPD_FLV_AUDIO_NELLY = 6,
    RTMPD_FLV_AUDIO_G711A = 7,
    RTMPD_FLV_AUDIO_G711U = 8,
    RTMPD_FLV_AUDIO_EX_HEADER = 9,   /* Enhanced RTMP: FourCC follows */
    RTMPD_FLV_AUDIO_AAC = 10,
    RTMPD_FLV_AUDIO_SPEEX = 11,
    RTMPD_FLV_AUDIO_MP3_8K = 14,
    RTMPD_FLV_AUDIO_DEVICE = 15,
};

/* Video frame types (4 bits in legacy and enhanced headers; 3 bits in enhanced). */
enum rtmpd_flv_frame_type {
    RTMPD_FLV_FRAME_KEY = 1,
    RTMPD_FLV_FRAME_INTER = 2,
    RTMPD_FLV_FRAME_DISPOSABLE = 3,
    RTMPD_FLV_FRAME_GENERATED_KEY = 4,
    RTMPD_FLV_FRAME_COMMAND = 5,     /* video info / command frame */
};

/* Normalised packet kind, legacy and enhanced alike. */
enum rtmpd_flv_packet {
    RTMPD_FLV_PKT_OTHER = 0,         /* legacy codec without packet types (MP3, VP6 ...) */
    RTMPD_FLV_PKT_SEQ_START,         /* AVC/AAC sequence header, E-RTMP SequenceStart */
    RTMPD_FLV_PKT_CODED_FRAMES,      /* AVC NALU / AAC raw / CodedFrames(X) */
    RTMPD_FLV_PKT_SEQ_END,           /* AVC end of sequence / SequenceEnd */
    RTMPD_FLV_PKT_METADATA,          /* E-RTMP video Metadata (HDR) */
    RTMPD_FLV_PKT_MPEG2TS_SEQ_START, /* E-RTMP MPEG2TSSequenceStart */
    RTMPD_FLV_PKT_MULTICHANNEL_CONFIG, /* E-RTMP audio MultichannelConfig */
    RTMPD_FLV_PKT_COMMAND,           /* video command frame (frame type 5) */
};

struct rtmpd_flv_media {
    uint8_t is_video;
    uint8_t enhanced;        /* E-RTMP ExHeader form */
    uint8_t multitrack;      /* E-RTMP Multitrack packet (codec is the first track's) */
    uint8_t frame_type;      /* video only: enum rtmpd_flv_frame_type */
    uint8_t packet;          /* enum rtmpd_flv_packet */
    uint8_t keyframe;        /* video keyframe (key or generated key) with coded data */
    uint8_t seq_header;      /* decoder configuration: must be kept for late joiners */
    uint8_t disposable;      /* may be dropped without breaking decoding */
    uint32_t codec;          /* legacy codec id, or FourCC when `enhanced` */
    int32_t cts;             /* composition time offset (AVC/HEVC), ms */
    /* audio only, legacy header fields */
    uint8_t sound_rate;
    uint8_t sound_size;
    uint8_t sound_type;
    /* bytes of tag/packet header before the codec data */
    uint32_t header_len;
    /* bytes of codec data from header_len: to the end of the payload, or of
     * the first track for a Multitrack packet that gives track sizes */
    uint32_t data_len;
    uint8_t track_id;        /* Multitrack: the first track's id */
};

/*
 * Inspects the payload of an audio (8) or video (9) message. Returns
 * RTMPD_OK and fills *out, RTMPD_E_FLV_TRUNCATED when the payload is shorter
 * than its header needs (an empty payload included), RTMPD_E_FLV_FORMAT for
 * reserved values that make the header meaningless, RTMPD_E_INVAL for any
 * other message type. Only headers are read, never past `len`; see
 * docs/protocol.md ("FLV and Enhanced RTMP tags") for what is recognised
 * and how the flags are set.
 * For a Multitrack packet the codec, cts, track_id, header_len and
 * data_len describe the first track; flags hold for the whole message.
 */
int rtmpd_flv_inspect(uint8_t msg_type, const uint8_t *p, size_t len, struct rtmpd_flv_media *out);

/*
 * Reads the picture size (cropping applied) from the first SPS of the
 * decoder configuration record carried by a video sequence header: an
 * AVCDecoderConfigurationRecord for legacy AVC and `avc1`, an
 * HEVCDecoderConfigurationRecord for legacy codec 12 and `hvc1`. `m` is the
 * result of rtmpd_flv_inspect on the same `p`/`len`. Returns RTMPD_OK,
 * RTMPD_E_INVAL when `m` is not such a sequence header,
 * RTMPD_E_FLV_TRUNCATED when the record or SPS ends early, or
 * RTMPD_E_FLV_FORMAT when it has no SPS or the SPS is malformed.
 */
int rtmpd_flv_video_size(const struct rtmpd_flv_media *m, const uint8_t *p, size_t len,
                         uint32_t *width, uint32_t *height);

/* FLV file/stream writer. */
#define RTMPD_FLV_FILE_HEADER_LEN 13u /* 9-byte header + PreviousTagSize0 */
#define RTMPD_FLV_TAG_HEADER_LEN 11u
#define RTMPD_FLV_TAG_TRAILER_LEN 4u

enum rtmpd_flv_tag_type {
    RTMPD_FLV_TAG_AUDIO = 8,
    RTMPD_FLV_TAG_VIDEO = 9,
    RTMPD_FLV_TAG_SCRIPT = 18,
};

/* Writes the 9-byte FLV header and a zero PreviousTagSize0 (13 bytes). */
void rtmpd_flv_write_file_header(uint8_t out[RTMPD_FLV_FILE_HEADER_LEN], int has_audio, int has_video);

/* Writes an 11-byte tag header (type, 24-bit length, 24+8-bit timestamp, stream id 0).
 * data_len must be below 2^24. */
void rtmpd_flv_write_tag_header(uint8_t out[RTMPD_FLV_TAG_HEADER_LEN], uint8_t type,
                                uint32_t timestamp, uint32_t data_len);

/* Writes the 4-byte PreviousTagSize that follows a tag with `data_len` bytes of data. */
void rtmpd_flv_write_tag_trailer(uint8_t out[RTMPD_FLV_TAG_TRAILER_LEN], uint32_t data_len);

/* FLV file/stream reader (over bytes the caller holds). */
struct rtmpd_flv_tag {
    uint8_t type;           /* 8, 9, 18 (filter/encrypted bit stripped) */
    uint32_t timestamp;     /* 32-bit, extended byte applied */
    uint32_t length;
    const uint8_t *data;    /* points into the caller's input */
};

/*
 * Parses the FLV file header at `in` (plus PreviousTagSize0). Returns the
 * bytes to skip (>= 13: the header may declare a larger data offset),
 * RTMPD_AGAIN when more bytes are needed, or RTMPD_E_FLV_FORMAT (signature
 * not "FLV", checked on the bytes already there; DataOffset below 9 or above
 * 65536; PreviousTagSize0 not 0). The version byte is not checked.
 * has_audio/has_video may be NULL.
 */
ssize_t rtmpd_flv_parse_file_header(const uint8_t *in, size_t len, int *has_audio, int *has_video);

/*
 * Parses one tag at `in` (header, data and the PreviousTagSize after it).
 * Returns the bytes it spans (> 0) and fills *tag, RTMPD_AGAIN when the
 * whole tag is not there yet, or RTMPD_E_FLV_FORMAT: a type other than 8, 9
 * or 18 or reserved bits set in the first byte (checked as soon as it is
 * there), or a PreviousTagSize other than 11 + DataSize. StreamID is ignored.
 * A tag may span up to 11 + 0xffffff + 4 bytes: cap what you buffer.
 */
ssize_t rtmpd_flv_parse_tag(const uint8_t *in, size_t len, struct rtmpd_flv_tag *tag);

#endif
