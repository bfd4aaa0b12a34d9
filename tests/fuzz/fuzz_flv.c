/*
 * libFuzzer harness: FLV tag inspection, SPS picture size, FLV file reader.
 *
 * Input: either an FLV file (starts with 'F') or [type byte][tag body].
 *
 * Tag bodies: rtmpd_flv_inspect() with the given message type (anything but
 * 8 and 9 must give RTMPD_E_INVAL) and with both 8 and 9, on an exact-size
 * copy so that ASan catches any read past `len`. On success: header_len and
 * data_len stay within the payload, the flags agree with the packet kind,
 * and inspecting just the header bytes (plus the command byte of a command
 * frame) gives the same result, with data_len 0, unless a Multitrack size
 * narrowed the data. Every shorter prefix must fail, with truncated when
 * the inspector needed more bytes. Sequence headers go through
 * rtmpd_flv_video_size(); a size it returns is a sane one.
 *
 * Files: rtmpd_flv_parse_file_header() then rtmpd_flv_parse_tag() over the
 * input; every result stays inside the input, a prefix of a header or tag
 * that parsed whole gives RTMPD_AGAIN, and each tag body is inspected as
 * above. The tags read are written again with the FLV writer and must read
 * back the same. Tag bodies are also parsed as a tag stream without a file
 * header.
 */
#include <stdlib.h>

#include "fuzz_common.h"
#include "rtmpd/error.h"
#include "rtmpd/flv.h"

/* Inspects an exact-size copy of p[0..len). */
static int inspect_copy(uint8_t type, const uint8_t *p, size_t len, struct rtmpd_flv_media *m)
{
    uint8_t *copy = malloc(len ? len : 1);
    FUZZ_CHECK(copy != NULL, "malloc");
    memcpy(copy, p, len);
    memset(m, 0xa5, sizeof *m);
    int rc = rtmpd_flv_inspect(type, copy, len, m);
    if (rc == RTMPD_OK && m->is_video && m->packet == RTMPD_FLV_PKT_SEQ_START) {
        uint32_t w = 0, h = 0;
        int r = rtmpd_flv_video_size(m, copy, len, &w, &h);
        FUZZ_CHECK(r == RTMPD_OK || r == RTMPD_E_INVAL || r == RTMPD_E_FLV_TRUNCATED ||
                   r == RTMPD_E_FLV_FORMAT, "video_size returned %d", r);
        if (r == RTMPD_OK)
            FUZZ_CHECK(w >= 1 && h >= 1 && w <= 65535 && h <= 65535, "picture %ux%u", w, h);
    }
    free(copy);
    return rc;
}

static void inspect(uint8_t type, const uint8_t *p, size_t len)
{
    struct rtmpd_flv_media m, h;
    int rc = inspect_copy(type, p, len, &m);

    if (type != RTMPD_FLV_TAG_AUDIO && type != RTMPD_FLV_TAG_VIDEO) {
        FUZZ_CHECK(rc == RTMPD_E_INVAL, "type %u gave %d", type, rc);
        return;
    }
    if (len == 0) {
        FUZZ_CHECK(rc == RTMPD_E_FLV_TRUNCATED, "empty payload gave %d", rc);
        return;
    }
    FUZZ_CHECK(rc == RTMPD_OK || rc == RTMPD_E_FLV_TRUNCATED || rc == RTMPD_E_FLV_FORMAT,
               "inspect returned %d", rc);
    if (rc != RTMPD_OK) {
        /* Cutting more cannot help: a shorter payload fails too. */
        if (len > 1)
            FUZZ_CHECK(inspect_copy(type, p, len / 2, &h) != RTMPD_OK,
                       "half of a failing payload inspects fine");
        return;
    }

    FUZZ_CHECK(m.is_video == (type == RTMPD_FLV_TAG_VIDEO), "is_video %u", m.is_video);
    FUZZ_CHECK(m.header_len >= 1 && m.header_len <= len, "header_len %u of %zu", m.header_len,
               len);
    FUZZ_CHECK((size_t)m.header_len + m.data_len <= len, "header %u + data %u > %zu",
               m.header_len, m.data_len, len);
    if (!m.multitrack)
        FUZZ_CHECK((size_t)m.header_len + m.data_len == len, "header %u + data %u != %zu",
                   m.header_len, m.data_len, len);
    FUZZ_CHECK(m.packet <= RTMPD_FLV_PKT_COMMAND, "packet %u", m.packet);
    FUZZ_CHECK(m.enhanced <= 1 && m.multitrack <= 1 && m.keyframe <= 1 && m.seq_header <= 1 &&
               m.disposable <= 1, "flags are not 0/1");
    FUZZ_CHECK(!m.multitrack || m.enhanced, "multitrack without the enhanced header");
    FUZZ_CHECK(m.seq_header == (m.packet == RTMPD_FLV_PKT_SEQ_START ||
                                m.packet == RTMPD_FLV_PKT_MPEG2TS_SEQ_START ||
                                m.packet == RTMPD_FLV_PKT_MULTICHANNEL_CONFIG),
               "seq_header %u for packet %u", m.seq_header, m.packet);
    if (m.is_video) {
        int coded = m.packet == RTMPD_FLV_PKT_CODED_FRAMES || m.packet == RTMPD_FLV_PKT_OTHER;
        FUZZ_CHECK(m.keyframe == (coded && (m.frame_type == RTMPD_FLV_FRAME_KEY ||
                                            m.frame_type == RTMPD_FLV_FRAME_GENERATED_KEY)),
                   "keyframe %u, frame type %u, packet %u", m.keyframe, m.frame_type, m.packet);
        FUZZ_CHECK(m.disposable == (coded && m.frame_type == RTMPD_FLV_FRAME_DISPOSABLE),
                   "disposable %u", m.disposable);
        FUZZ_CHECK(m.packet == RTMPD_FLV_PKT_METADATA ||
                   (m.frame_type >= RTMPD_FLV_FRAME_KEY &&
                    m.frame_type <= RTMPD_FLV_FRAME_COMMAND),
                   "frame type %u accepted", m.frame_type);
        FUZZ_CHECK((m.packet == RTMPD_FLV_PKT_COMMAND) ==
                   (m.frame_type == RTMPD_FLV_FRAME_COMMAND && m.packet != RTMPD_FLV_PKT_METADATA),
                   "command packet %u with frame type %u", m.packet, m.frame_type);
        FUZZ_CHECK(m.sound_rate == 0 && m.sound_size == 0 && m.sound_type == 0,
                   "audio fields on video");
    } else {
        FUZZ_CHECK(!m.keyframe && !m.disposable && m.frame_type == 0, "video flags on audio");
        FUZZ_CHECK(m.packet != RTMPD_FLV_PKT_COMMAND && m.packet != RTMPD_FLV_PKT_METADATA &&
                   m.packet != RTMPD_FLV_PKT_MPEG2TS_SEQ_START, "video packet %u on audio",
                   m.packet);
    }
    if (!m.enhanced && !m.is_video)
        FUZZ_CHECK(m.codec < 16, "legacy audio codec %u", m.codec);
    if (!m.enhanced && m.is_video)
        FUZZ_CHECK(m.codec < 16, "legacy video codec %u", m.codec);

    /* Only the header is read: the header bytes alone inspect the same. */
    if (!m.multitrack) {
        size_t hl = m.header_len + (m.packet == RTMPD_FLV_PKT_COMMAND);
        if (hl <= len) {
            rc = inspect_copy(type, p, hl, &h);
            FUZZ_CHECK(rc == RTMPD_OK, "header alone (%zu bytes) gave %d", hl, rc);
            FUZZ_CHECK(h.header_len == m.header_len && h.data_len == hl - m.header_len &&
                       h.packet == m.packet && h.codec == m.codec && h.cts == m.cts &&
                       h.keyframe == m.keyframe && h.seq_header == m.seq_header &&
                       h.disposable == m.disposable && h.frame_type == m.frame_type &&
                       h.enhanced == m.enhanced && h.sound_rate == m.sound_rate &&
                       h.sound_size == m.sound_size && h.sound_type == m.sound_type,
                       "header alone inspects differently");
        }
        /* Shorter than the header: truncated. */
        if (hl > 1) {
            rc = inspect_copy(type, p, hl - 1, &h);
            FUZZ_CHECK(rc == RTMPD_E_FLV_TRUNCATED, "header cut to %zu gave %d", hl - 1, rc);
        }
    }
}

/* Parses the tags at `in`; returns how many (their headers in tags[]). */
static size_t parse_tags(const uint8_t *in, size_t len, int whole_file, struct rtmpd_flv_tag *tags,
                         size_t max)
{
    struct rtmpd_flv_tag tag;
    size_t n_tags = 0;

    for (size_t off = 0; off < len;) {
        memset(&tag, 0, sizeof tag);
        ssize_t n = rtmpd_flv_parse_tag(in + off, len - off, &tag);
        if (n == RTMPD_AGAIN || n == RTMPD_E_FLV_FORMAT)
            break;
        FUZZ_CHECK(n > 0 && (size_t)n <= len - off, "parse_tag returned %zd of %zu", n,
                   len - off);
        FUZZ_CHECK((size_t)n == RTMPD_FLV_TAG_HEADER_LEN + tag.length + RTMPD_FLV_TAG_TRAILER_LEN,
                   "tag of %u bytes spans %zd", tag.length, n);
        FUZZ_CHECK(tag.data == in + off + RTMPD_FLV_TAG_HEADER_LEN, "tag data pointer");
        FUZZ_CHECK(tag.type == 8 || tag.type == 9 || tag.type == 18, "tag type %u", tag.type);
        /* Every prefix of a whole tag asks for more (a few are tried). */
        size_t cuts[3] = { 0, RTMPD_FLV_TAG_HEADER_LEN, (size_t)n - 1 };
        for (int c = 0; c < 3; c++) {
            struct rtmpd_flv_tag t2;
            ssize_t r = rtmpd_flv_parse_tag(in + off, cuts[c], &t2);
            FUZZ_CHECK(r == RTMPD_AGAIN, "tag cut to %zu of %zd gave %zd", cuts[c], n, r);
        }
        if (whole_file && tag.type != 18)
            inspect(tag.type, tag.data, tag.length);
        if (n_tags < max)
            tags[n_tags++] = tag;
        off += (size_t)n;
    }
    return n_tags;
}

/* Writes the tags again with the FLV writer; the reader must get them back. */
static void rewrite(int has_audio, int has_video, const struct rtmpd_flv_tag *tags, size_t n)
{
    size_t total = RTMPD_FLV_FILE_HEADER_LEN;
    for (size_t i = 0; i < n; i++)
        total += RTMPD_FLV_TAG_HEADER_LEN + tags[i].length + RTMPD_FLV_TAG_TRAILER_LEN;
    uint8_t *buf = malloc(total), *p = buf;
    FUZZ_CHECK(buf != NULL, "malloc");

    rtmpd_flv_write_file_header(p, has_audio, has_video);
    p += RTMPD_FLV_FILE_HEADER_LEN;
    for (size_t i = 0; i < n; i++) {
        rtmpd_flv_write_tag_header(p, tags[i].type, tags[i].timestamp, tags[i].length);
        p += RTMPD_FLV_TAG_HEADER_LEN;
        memcpy(p, tags[i].data, tags[i].length);
        p += tags[i].length;
        rtmpd_flv_write_tag_trailer(p, tags[i].length);
        p += RTMPD_FLV_TAG_TRAILER_LEN;
    }

    int a = -1, v = -1;
    ssize_t off = rtmpd_flv_parse_file_header(buf, total, &a, &v);
    FUZZ_CHECK(off == RTMPD_FLV_FILE_HEADER_LEN && a == has_audio && v == has_video,
               "written file header parsed as %zd (audio %d, video %d)", off, a, v);
    for (size_t i = 0; i < n; i++) {
        struct rtmpd_flv_tag t;
        ssize_t r = rtmpd_flv_parse_tag(buf + off, total - (size_t)off, &t);
        FUZZ_CHECK(r == (ssize_t)(RTMPD_FLV_TAG_HEADER_LEN + tags[i].length +
                                  RTMPD_FLV_TAG_TRAILER_LEN), "written tag %zu parsed as %zd",
                   i, r);
        FUZZ_CHECK(t.type == tags[i].type && t.timestamp == tags[i].timestamp &&
                   t.length == tags[i].length && memcmp(t.data, tags[i].data, t.length) == 0,
                   "written tag %zu reads back differently", i);
        off += r;
    }
    FUZZ_CHECK((size_t)off == total, "written file has %zu bytes left", total - (size_t)off);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;

    if (data[0] == 'F') {
        int a = -1, v = -1;
        ssize_t n = rtmpd_flv_parse_file_header(data, size, &a, &v);
        if (n == RTMPD_AGAIN) {
            FUZZ_CHECK(size < 9 || size < (size_t)fuzz_rd_be32(data + 5) + 4,
                       "AGAIN on %zu bytes", size);
            return 0;
        }
        if (n == RTMPD_E_FLV_FORMAT)
            return 0;
        FUZZ_CHECK(n >= (ssize_t)RTMPD_FLV_FILE_HEADER_LEN && (size_t)n <= size,
                   "file header of %zd in %zu bytes", n, size);
        FUZZ_CHECK(a == !!(data[4] & 4) && v == !!(data[4] & 1), "audio/video flags");
        FUZZ_CHECK(rtmpd_flv_parse_file_header(data, (size_t)n - 1, NULL, NULL) == RTMPD_AGAIN,
                   "file header cut short is not AGAIN");
        FUZZ_CHECK(rtmpd_flv_parse_file_header(data, (size_t)n, NULL, NULL) == n,
                   "file header without flags pointers differs");
        struct rtmpd_flv_tag tags[64];
        size_t n_tags = parse_tags(data + n, size - (size_t)n, 1, tags, 64);
        rewrite(a, v, tags, n_tags);
        return 0;
    }

    inspect(data[0], data + 1, size - 1);
    if (data[0] != RTMPD_FLV_TAG_AUDIO)
        inspect(RTMPD_FLV_TAG_AUDIO, data + 1, size - 1);
    if (data[0] != RTMPD_FLV_TAG_VIDEO)
        inspect(RTMPD_FLV_TAG_VIDEO, data + 1, size - 1);
    struct rtmpd_flv_tag tags[1];
    parse_tags(data, size, 0, tags, 0);
    return 0;
}
