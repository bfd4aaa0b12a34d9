/*
 * FLV tag inspection (Adobe FLV v10.1 annex E, Enhanced RTMP v1/v2), FLV
 * file reading and writing, and SPS picture size.
 */
#include "rtmpd/flv.h"

#include <string.h>

#include "rtmpd/bytes.h"
#include "rtmpd/error.h"

/* E-RTMP v2 packet types ("Enhanced Audio", "Enhanced Video"). */
enum {
    EX_SEQ_START = 0,
    EX_CODED = 1,
    EX_SEQ_END = 2,
    EX_CODED_X = 3,        /* video: CodedFrames with composition time 0 */
    EX_METADATA = 4,       /* video */
    EX_MULTICHANNEL = 4,   /* audio */
    EX_MPEG2TS_SEQ_START = 5, /* video */
    EX_A_MULTITRACK = 5,
    EX_V_MULTITRACK = 6,
    EX_MODEX = 7,
};

/* AvMultitrackType; NOT_MT marks a single-track packet. */
enum { MT_ONE = 0, MT_MANY = 1, MT_MANY_CODECS = 2, NOT_MT = -1 };

#define FOURCC_AVC1 RTMPD_FOURCC('a', 'v', 'c', '1')
#define FOURCC_HVC1 RTMPD_FOURCC('h', 'v', 'c', '1')

/* Largest FLV header DataOffset accepted (the spec's is always 9). */
#define FLV_MAX_DATA_OFFSET 65536u

/* A read position in a payload; `len` may be narrowed to one track. */
struct cursor {
    const uint8_t *p;
    size_t len;
    size_t off;
};

static int has(const struct cursor *c, size_t n)
{
    return c->len - c->off >= n;
}

static int32_t rd_si24(const uint8_t *p)
{
    return (int32_t)(rtmpd_rd_be24(p) ^ 0x800000u) - 0x800000;
}

/*
 * Skips E-RTMP ModEx blocks (UI8 size-1, UI16 size-1 when the UI8 is 255,
 * the data, then a byte of ModExType:4 | PacketType:4) and returns the
 * packet type that follows them, or a negative code.
 */
static int skip_modex(struct cursor *c, unsigned type)
{
    while (type == EX_MODEX) {
        size_t size;
        if (!has(c, 1))
            return RTMPD_E_FLV_TRUNCATED;
        size = (size_t)c->p[c->off++] + 1;
        if (size == 256) {
            if (!has(c, 2))
                return RTMPD_E_FLV_TRUNCATED;
            size = (size_t)rtmpd_rd_be16(c->p + c->off) + 1;
            c->off += 2;
        }
        if (!has(c, size + 1))
            return RTMPD_E_FLV_TRUNCATED;
        c->off += size;
        type = c->p[c->off++] & 0x0f;
    }
    return (int)type;
}

/*
 * After the packet type: reads the FourCC and, for a Multitrack packet, the
 * first track's prefix ([FourCC] TrackId [UI24 size]), narrowing the cursor
 * to that track when its size is given.
 */
static int read_codec(struct cursor *c, int mt, struct rtmpd_flv_media *out)
{
    if (mt != MT_MANY_CODECS) {
        if (!has(c, 4))
            return RTMPD_E_FLV_TRUNCATED;
        out->codec = rtmpd_rd_be32(c->p + c->off);
        c->off += 4;
    }
    if (mt == NOT_MT)
        return RTMPD_OK;
    out->multitrack = 1;
    if (mt == MT_MANY_CODECS) {
        if (!has(c, 4))
            return RTMPD_E_FLV_TRUNCATED;
        out->codec = rtmpd_rd_be32(c->p + c->off);
        c->off += 4;
    }
    if (!has(c, 1))
        return RTMPD_E_FLV_TRUNCATED;
    out->track_id = c->p[c->off++];
    if (mt != MT_ONE) {
        size_t size;
        if (!has(c, 3))
            return RTMPD_E_FLV_TRUNCATED;
        size = rtmpd_rd_be24(c->p + c->off);
        c->off += 3;
        if (!has(c, size))
            return RTMPD_E_FLV_TRUNCATED;
        c->len = c->off + size;
    }
    return RTMPD_OK;
}

/* Reads AvMultitrackType:4 | PacketType:4 and returns the packet type. The
 * callers reject an inner Multitrack or ModEx as they do any unknown type. */
static int read_multitrack(struct cursor *c, int *mt)
{
    unsigned b;
    if (!has(c, 1))
        return RTMPD_E_FLV_TRUNCATED;
    b = c->p[c->off++];
    *mt = (int)(b >> 4);
    if (*mt > MT_MANY_CODECS)
        return RTMPD_E_FLV_FORMAT;
    return (int)(b & 0x0f);
}

static void finish(struct rtmpd_flv_media *m, const struct cursor *c)
{
    m->header_len = (uint32_t)c->off;
    m->data_len = (uint32_t)(c->len - c->off);
    if (m->is_video) {
        int coded = m->packet == RTMPD_FLV_PKT_CODED_FRAMES || m->packet == RTMPD_FLV_PKT_OTHER;
        m->keyframe = coded && (m->frame_type == RTMPD_FLV_FRAME_KEY ||
                                m->frame_type == RTMPD_FLV_FRAME_GENERATED_KEY);
        m->disposable = coded && m->frame_type == RTMPD_FLV_FRAME_DISPOSABLE;
    }
}

static int inspect_audio(struct cursor *c, struct rtmpd_flv_media *out)
{
    unsigned b = c->p[c->off++];
    int type, mt = NOT_MT, rc;

    if (b >> 4 != RTMPD_FLV_AUDIO_EX_HEADER) {
        out->codec = b >> 4;
        out->sound_rate = (uint8_t)(b >> 2 & 3);
        out->sound_size = (uint8_t)(b >> 1 & 1);
        out->sound_type = (uint8_t)(b & 1);
        if (out->codec == RTMPD_FLV_AUDIO_AAC) {
            if (!has(c, 1))
                return RTMPD_E_FLV_TRUNCATED;
            switch (c->p[c->off++]) {
            case 0: out->packet = RTMPD_FLV_PKT_SEQ_START; out->seq_header = 1; break;
            case 1: out->packet = RTMPD_FLV_PKT_CODED_FRAMES; break;
            default: return RTMPD_E_FLV_FORMAT;
            }
        }
        finish(out, c);
        return RTMPD_OK;
    }

    out->enhanced = 1;
    type = skip_modex(c, b & 0x0f);
    if (type == EX_A_MULTITRACK)
        type = read_multitrack(c, &mt);
    if (type < 0)
        return type;
    switch (type) {
    case EX_SEQ_START: out->packet = RTMPD_FLV_PKT_SEQ_START; out->seq_header = 1; break;
    case EX_CODED: out->packet = RTMPD_FLV_PKT_CODED_FRAMES; break;
    case EX_SEQ_END: out->packet = RTMPD_FLV_PKT_SEQ_END; break;
    case EX_MULTICHANNEL:
        out->packet = RTMPD_FLV_PKT_MULTICHANNEL_CONFIG;
        out->seq_header = 1;
        break;
    default: return RTMPD_E_FLV_FORMAT;
    }
    if ((rc = read_codec(c, mt, out)) < 0)
        return rc;
    finish(out, c);
    return RTMPD_OK;
}

static int valid_frame_type(unsigned ft)
{
    return ft >= RTMPD_FLV_FRAME_KEY && ft <= RTMPD_FLV_FRAME_COMMAND;
}

static int inspect_video_ex(struct cursor *c, struct rtmpd_flv_media *out)
{
    int type, mt = NOT_MT, rc;

    out->enhanced = 1;
    type = skip_modex(c, c->p[0] & 0x0f);
    if (type < 0)
        return type;
    /* A command frame carries one command byte and no FourCC. */
    if (out->frame_type == RTMPD_FLV_FRAME_COMMAND && type != EX_METADATA) {
        if (!has(c, 1))
            return RTMPD_E_FLV_TRUNCATED;
        out->packet = RTMPD_FLV_PKT_COMMAND;
        finish(out, c);
        return RTMPD_OK;
    }
    if (type == EX_V_MULTITRACK && (type = read_multitrack(c, &mt)) < 0)
        return type;
    switch (type) {
    case EX_SEQ_START: out->packet = RTMPD_FLV_PKT_SEQ_START; out->seq_header = 1; break;
    case EX_CODED:
    case EX_CODED_X: out->packet = RTMPD_FLV_PKT_CODED_FRAMES; break;
    case EX_SEQ_END: out->packet = RTMPD_FLV_PKT_SEQ_END; break;
    case EX_METADATA: out->packet = RTMPD_FLV_PKT_METADATA; break;
    case EX_MPEG2TS_SEQ_START:
        out->packet = RTMPD_FLV_PKT_MPEG2TS_SEQ_START;
        out->seq_header = 1;
        break;
    default: return RTMPD_E_FLV_FORMAT;
    }
    /* The frame type is ignored for Metadata. */
    if (type != EX_METADATA && !valid_frame_type(out->frame_type))
        return RTMPD_E_FLV_FORMAT;
    if ((rc = read_codec(c, mt, out)) < 0)
        return rc;
    if (type == EX_CODED && (out->codec == FOURCC_AVC1 || out->codec == FOURCC_HVC1)) {
        if (!has(c, 3))
            return RTMPD_E_FLV_TRUNCATED;
        out->cts = rd_si24(c->p + c->off);
        c->off += 3;
    }
    finish(out, c);
    return RTMPD_OK;
}

static int inspect_video(struct cursor *c, struct rtmpd_flv_media *out)
{
    unsigned b = c->p[c->off++];

    out->is_video = 1;
    out->frame_type = (uint8_t)(b >> 4 & 7);
    if (b & 0x80)
        return inspect_video_ex(c, out);
    if (!valid_frame_type(out->frame_type))
        return RTMPD_E_FLV_FORMAT;
    out->codec = b & 0x0f;
    if (out->frame_type == RTMPD_FLV_FRAME_COMMAND) {
        if (!has(c, 1))
            return RTMPD_E_FLV_TRUNCATED;
        out->packet = RTMPD_FLV_PKT_COMMAND;
    } else if (out->codec == RTMPD_FLV_VIDEO_AVC || out->codec == RTMPD_FLV_VIDEO_HEVC) {
        /* AVCPacketType UI8, CompositionTime SI24 (0 unless NALU). */
        if (!has(c, 4))
            return RTMPD_E_FLV_TRUNCATED;
        switch (c->p[c->off]) {
        case 0: out->packet = RTMPD_FLV_PKT_SEQ_START; out->seq_header = 1; break;
        case 1:
            out->packet = RTMPD_FLV_PKT_CODED_FRAMES;
            out->cts = rd_si24(c->p + c->off + 1);
            break;
        case 2: out->packet = RTMPD_FLV_PKT_SEQ_END; break;
        default: return RTMPD_E_FLV_FORMAT;
        }
        c->off += 4;
    }
    finish(out, c);
    return RTMPD_OK;
}

int rtmpd_flv_inspect(uint8_t msg_type, const uint8_t *p, size_t len, struct rtmpd_flv_media *out)
{
    struct cursor c = { p, len, 0 };

    if (msg_type != RTMPD_FLV_TAG_AUDIO && msg_type != RTMPD_FLV_TAG_VIDEO)
        return RTMPD_E_INVAL;
    memset(out, 0, sizeof *out);
    if (len == 0)
        return RTMPD_E_FLV_TRUNCATED;
    if ((uint64_t)len > UINT32_MAX) /* header_len/data_len are 32-bit */
        return RTMPD_E_INVAL;
    return msg_type == RTMPD_FLV_TAG_AUDIO ? inspect_audio(&c, out) : inspect_video(&c, out);
}

/* --- FLV file writer and reader ---------------------------------------- */

void rtmpd_flv_write_file_header(uint8_t out[RTMPD_FLV_FILE_HEADER_LEN], int has_audio, int has_video)
{
    out[0] = 'F';
    out[1] = 'L';
    out[2] = 'V';
    out[3] = 1;
    out[4] = (uint8_t)((has_audio ? 0x04 : 0) | (has_video ? 0x01 : 0));
    rtmpd_wr_be32(out + 5, 9);
    rtmpd_wr_be32(out + 9, 0);
}

void rtmpd_flv_write_tag_header(uint8_t out[RTMPD_FLV_TAG_HEADER_LEN], uint8_t type,
                                uint32_t timestamp, uint32_t data_len)
{
    out[0] = type;
    rtmpd_wr_be24(out + 1, data_len);
    rtmpd_wr_be24(out + 4, timestamp);
    out[7] = (uint8_t)(timestamp >> 24);
    rtmpd_wr_be24(out + 8, 0);
}

void rtmpd_flv_write_tag_trailer(uint8_t out[RTMPD_FLV_TAG_TRAILER_LEN], uint32_t data_len)
{
    rtmpd_wr_be32(out, RTMPD_FLV_TAG_HEADER_LEN + data_len);
}

ssize_t rtmpd_flv_parse_file_header(const uint8_t *in, size_t len, int *has_audio, int *has_video)
{
    static const char sig[3] = { 'F', 'L', 'V' };
    uint32_t offset;

    for (size_t i = 0; i < len && i < sizeof sig; i++)
        if (in[i] != (uint8_t)sig[i])
            return RTMPD_E_FLV_FORMAT;
    if (len < 9)
        return RTMPD_AGAIN;
    offset = rtmpd_rd_be32(in + 5);
    if (offset < 9 || offset > FLV_MAX_DATA_OFFSET)
        return RTMPD_E_FLV_FORMAT;
    if (len < (size_t)offset + 4)
        return RTMPD_AGAIN;
    if (rtmpd_rd_be32(in + offset) != 0)
        return RTMPD_E_FLV_FORMAT;
    if (has_audio)
        *has_audio = !!(in[4] & 0x04);
    if (has_video)
        *has_video = !!(in[4] & 0x01);
    return (ssize_t)offset + 4;
}

ssize_t rtmpd_flv_parse_tag(const uint8_t *in, size_t len, struct rtmpd_flv_tag *tag)
{
    uint32_t size;
    size_t total;

    if (len >= 1) {
        unsigned type = in[0] & 0x1f;
        if ((in[0] & 0xc0) || (type != RTMPD_FLV_TAG_AUDIO && type != RTMPD_FLV_TAG_VIDEO &&
                               type != RTMPD_FLV_TAG_SCRIPT))
            return RTMPD_E_FLV_FORMAT;
    }
    if (len < RTMPD_FLV_TAG_HEADER_LEN)
        return RTMPD_AGAIN;
    size = rtmpd_rd_be24(in + 1);
    total = RTMPD_FLV_TAG_HEADER_LEN + (size_t)size + RTMPD_FLV_TAG_TRAILER_LEN;
    if (len < total)
        return RTMPD_AGAIN;
    if (rtmpd_rd_be32(in + RTMPD_FLV_TAG_HEADER_LEN + size) != RTMPD_FLV_TAG_HEADER_LEN + size)
        return RTMPD_E_FLV_FORMAT;
    tag->type = in[0] & 0x1f;
    tag->timestamp = rtmpd_rd_be24(in + 4) | (uint32_t)in[7] << 24;
    tag->length = size;
    tag->data = in + RTMPD_FLV_TAG_HEADER_LEN;
    return (ssize_t)total;
}

/* --- SPS picture size (ITU-T H.264 7.3.2.1.1, H.265 7.3.2.2) ------------ */

/* An RBSP bit reader over a NAL unit that drops emulation prevention bytes
 * (00 00 03) as it goes; reading past the end sets `err`. */
struct bits {
    const uint8_t *p;
    size_t len;
    size_t pos;
    unsigned zeros;
    unsigned cur;
    unsigned left;
    int err;
};

static uint32_t bits_u(struct bits *b, unsigned n)
{
    uint32_t v = 0;

    while (n--) {
        if (b->left == 0) {
            for (;;) {
                if (b->pos >= b->len) {
                    b->err = 1;
                    return 0;
                }
                b->cur = b->p[b->pos++];
                if (b->zeros >= 2 && b->cur == 3) {
                    b->zeros = 0;
                    continue;
                }
                b->zeros = b->cur == 0 ? b->zeros + 1 : 0;
                break;
            }
            b->left = 8;
        }
        b->left--;
        v = v << 1 | (b->cur >> b->left & 1);
    }
    return v;
}

static void bits_skip(struct bits *b, unsigned n)
{
    for (; n > 16; n -= 16)
        bits_u(b, 16);
    bits_u(b, n);
}

/* ue(v); 32 or more leading zeros is not a valid code. */
static uint32_t bits_ue(struct bits *b)
{
    unsigned lz = 0;

    while (bits_u(b, 1) == 0) {
        if (b->err || ++lz > 31) {
            b->err = 1;
            return 0;
        }
    }
    return (uint32_t)((1ull << lz) - 1 + bits_u(b, lz));
}

static int64_t bits_se(struct bits *b)
{
    uint32_t k = bits_ue(b);
    return k & 1 ? (int64_t)(k / 2) + 1 : -(int64_t)(k / 2);
}

/* Applies cropping in units of (cx, cy) and checks the result is sane. */
static int crop_size(uint64_t w, uint64_t h, uint64_t cx, uint64_t cy, const uint32_t crop[4],
                     uint32_t *width, uint32_t *height)
{
    uint64_t dw = cx * ((uint64_t)crop[0] + crop[1]);
    uint64_t dh = cy * ((uint64_t)crop[2] + crop[3]);

    if (dw >= w || dh >= h || w - dw > 65535 || h - dh > 65535)
        return RTMPD_E_FLV_FORMAT;
    *width = (uint32_t)(w - dw);
    *height = (uint32_t)(h - dh);
    return RTMPD_OK;
}

static int avc_sps_size(const uint8_t *nal, size_t len, uint32_t *width, uint32_t *height)
{
    struct bits b = { nal, len, 0, 0, 0, 0, 0 };
    uint32_t profile, chroma_idc = 1, poc, w_mbs, h_units, frame_mbs_only, crop[4] = { 0 };
    unsigned chroma = 1, sub_w, sub_h;   /* chroma: ChromaArrayType */

    if ((bits_u(&b, 8) & 0x1f) != 7)
        return b.err ? RTMPD_E_FLV_TRUNCATED : RTMPD_E_FLV_FORMAT;
    profile = bits_u(&b, 8);
    bits_skip(&b, 16);                     /* constraint flags, level_idc */
    bits_ue(&b);                           /* seq_parameter_set_id */
    if (profile == 100 || profile == 110 || profile == 122 || profile == 244 || profile == 44 ||
        profile == 83 || profile == 86 || profile == 118 || profile == 128 || profile == 138 ||
        profile == 139 || profile == 134 || profile == 135) {
        chroma_idc = bits_ue(&b);
        if (chroma_idc > 3)
            return RTMPD_E_FLV_FORMAT;
        chroma = chroma_idc;
        if (chroma_idc == 3 && bits_u(&b, 1)) /* separate_colour_plane_flag */
            chroma = 0;
        bits_ue(&b);                       /* bit_depth_luma_minus8 */
        bits_ue(&b);                       /* bit_depth_chroma_minus8 */
        bits_u(&b, 1);                     /* qpprime_y_zero_transform_bypass_flag */
        if (bits_u(&b, 1)) {               /* seq_scaling_matrix_present_flag */
            unsigned lists = chroma_idc == 3 ? 12 : 8;
            for (unsigned i = 0; i < lists && !b.err; i++) {
                if (!bits_u(&b, 1))
                    continue;
                int64_t last = 8, next = 8;
                for (unsigned j = 0; j < (i < 6 ? 16u : 64u) && !b.err; j++) {
                    if (next != 0)
                        next = ((last + bits_se(&b)) % 256 + 256) % 256;
                    last = next == 0 ? last : next;
                }
            }
        }
    }
    bits_ue(&b);                           /* log2_max_frame_num_minus4 */
    poc = bits_ue(&b);
    if (poc == 0) {
        bits_ue(&b);                       /* log2_max_pic_order_cnt_lsb_minus4 */
    } else if (poc == 1) {
        uint32_t n;
        bits_u(&b, 1);
        bits_se(&b);
        bits_se(&b);
        n = bits_ue(&b);
        if (n > 255)
            return RTMPD_E_FLV_FORMAT;
        for (uint32_t i = 0; i < n && !b.err; i++)
            bits_se(&b);
    } else if (poc > 2) {
        return RTMPD_E_FLV_FORMAT;
    }
    bits_ue(&b);                           /* max_num_ref_frames */
    bits_u(&b, 1);                         /* gaps_in_frame_num_value_allowed_flag */
    w_mbs = bits_ue(&b);
    h_units = bits_ue(&b);
    frame_mbs_only = bits_u(&b, 1);
    if (!frame_mbs_only)
        bits_u(&b, 1);                     /* mb_adaptive_frame_field_flag */
    bits_u(&b, 1);                         /* direct_8x8_inference_flag */
    if (bits_u(&b, 1))
        for (int i = 0; i < 4; i++)
            crop[i] = bits_ue(&b);
    if (b.err)
        return RTMPD_E_FLV_TRUNCATED;
    /* Table 6-1 SubWidthC/SubHeightC; ChromaArrayType 0 crops in luma units. */
    sub_w = chroma == 1 || chroma == 2 ? 2 : 1;
    sub_h = chroma == 1 ? 2 : 1;
    return crop_size(((uint64_t)w_mbs + 1) * 16, (2 - frame_mbs_only) * ((uint64_t)h_units + 1) * 16,
                     sub_w, (uint64_t)sub_h * (2 - frame_mbs_only), crop, width, height);
}

static int hevc_sps_size(const uint8_t *nal, size_t len, uint32_t *width, uint32_t *height)
{
    struct bits b = { nal, len, 0, 0, 0, 0, 0 };
    uint32_t sub_layers, chroma, w, h, crop[4] = { 0 };
    unsigned profile_present = 0, level_present = 0, sub_w, sub_h;   /* chroma: ChromaArrayType */

    if ((bits_u(&b, 16) >> 9 & 0x3f) != 33)
        return b.err ? RTMPD_E_FLV_TRUNCATED : RTMPD_E_FLV_FORMAT;
    bits_u(&b, 4);                         /* sps_video_parameter_set_id */
    sub_layers = bits_u(&b, 3);            /* sps_max_sub_layers_minus1 */
    bits_u(&b, 1);                         /* sps_temporal_id_nesting_flag */
    if (sub_layers > 6)
        return RTMPD_E_FLV_FORMAT;
    /* profile_tier_level(1, sps_max_sub_layers_minus1) */
    bits_skip(&b, 88 + 8);                 /* general profile, level_idc */
    for (unsigned i = 0; i < sub_layers; i++) {
        profile_present |= bits_u(&b, 1) << i;
        level_present |= bits_u(&b, 1) << i;
    }
    if (sub_layers > 0)
        bits_skip(&b, 2 * (8 - sub_layers)); /* reserved_zero_2bits */
    for (unsigned i = 0; i < sub_layers; i++) {
        if (profile_present >> i & 1)
            bits_skip(&b, 88);
        if (level_present >> i & 1)
            bits_skip(&b, 8);
    }
    bits_ue(&b);                           /* sps_seq_parameter_set_id */
    chroma = bits_ue(&b);
    if (chroma > 3)
        return RTMPD_E_FLV_FORMAT;
    if (chroma == 3 && bits_u(&b, 1))      /* separate_colour_plane_flag */
        chroma = 0;
    w = bits_ue(&b);
    h = bits_ue(&b);
    if (bits_u(&b, 1))                     /* conformance_window_flag */
        for (int i = 0; i < 4; i++)
            crop[i] = bits_ue(&b);
    if (b.err)
        return RTMPD_E_FLV_TRUNCATED;
    sub_w = chroma == 1 || chroma == 2 ? 2 : 1;
    sub_h = chroma == 1 ? 2 : 1;
    return crop_size(w, h, sub_w, sub_h, crop, width, height);
}

/* AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1): the first SPS. */
static int avc_config_size(const uint8_t *p, size_t len, uint32_t *width, uint32_t *height)
{
    size_t n;

    if (len < 6)
        return RTMPD_E_FLV_TRUNCATED;
    if (p[0] != 1 || (p[5] & 0x1f) == 0)
        return RTMPD_E_FLV_FORMAT;
    if (len < 8)
        return RTMPD_E_FLV_TRUNCATED;
    n = rtmpd_rd_be16(p + 6);
    if (len - 8 < n)
        return RTMPD_E_FLV_TRUNCATED;
    return avc_sps_size(p + 8, n, width, height);
}

/* HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1): the first SPS
 * (NAL type 33) of its arrays. */
static int hevc_config_size(const uint8_t *p, size_t len, uint32_t *width, uint32_t *height)
{
    size_t off = 23;
    unsigned arrays;

    if (len < 23)
        return RTMPD_E_FLV_TRUNCATED;
    arrays = p[22];
    for (unsigned a = 0; a < arrays; a++) {
        unsigned type, count;
        if (len - off < 3)
            return RTMPD_E_FLV_TRUNCATED;
        type = p[off] & 0x3f;
        count = rtmpd_rd_be16(p + off + 1);
        off += 3;
        for (unsigned i = 0; i < count; i++) {
            size_t n;
            if (len - off < 2)
                return RTMPD_E_FLV_TRUNCATED;
            n = rtmpd_rd_be16(p + off);
            off += 2;
            if (len - off < n)
                return RTMPD_E_FLV_TRUNCATED;
            if (type == 33)
                return hevc_sps_size(p + off, n, width, height);
            off += n;
        }
    }
    return RTMPD_E_FLV_FORMAT;
}

int rtmpd_flv_video_size(const struct rtmpd_flv_media *m, const uint8_t *p, size_t len,
                         uint32_t *width, uint32_t *height)
{
    const uint8_t *data;
    int avc, hevc;

    if (!m->is_video || m->packet != RTMPD_FLV_PKT_SEQ_START ||
        (size_t)m->header_len + m->data_len > len)
        return RTMPD_E_INVAL;
    data = p + m->header_len;
    avc = m->enhanced ? m->codec == FOURCC_AVC1 : m->codec == RTMPD_FLV_VIDEO_AVC;
    hevc = m->enhanced ? m->codec == FOURCC_HVC1 : m->codec == RTMPD_FLV_VIDEO_HEVC;
    if (avc)
        return avc_config_size(data, m->data_len, width, height);
    if (hevc)
        return hevc_config_size(data, m->data_len, width, height);
    return RTMPD_E_INVAL;
}
