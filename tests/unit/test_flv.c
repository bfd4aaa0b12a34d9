#include "test_main.h"

#include <stdlib.h>

#include "rtmpd/bytes.h"
#include "rtmpd/error.h"
#include "rtmpd/flv.h"

/*
 * Vectors. Real ones come from ffmpeg 5.1 (libx264, libx265, aac) output;
 * E-RTMP ones are built by hand from the layouts of enhanced-rtmp-v2.
 */

/* Legacy AVC sequence header, libx264 High 320x240 (as muxed by ffmpeg). */
static const uint8_t avc_seq[] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00,
    0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03,
    0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd,
    0xf8, 0xf8, 0x00,
};
/* Keyframe NALU with composition time +67 ms (first frame of that file). */
static const uint8_t avc_key[] = { 0x17, 0x01, 0x00, 0x00, 0x43, 0x00, 0x00, 0x00, 0x02, 0x65, 0x88 };
/* Inter frame NALU with composition time -10 ms. */
static const uint8_t avc_inter_neg[] = { 0x27, 0x01, 0xff, 0xff, 0xf6, 0x00, 0x00, 0x00, 0x01, 0x41 };
/* Most negative SI24. */
static const uint8_t avc_inter_min[] = { 0x27, 0x01, 0x80, 0x00, 0x00 };
static const uint8_t avc_eos[] = { 0x17, 0x02, 0x00, 0x00, 0x00 };
/* De-facto legacy HEVC (codec id 12), keyframe NALU, cts 33. */
static const uint8_t hevc12_key[] = { 0x1c, 0x01, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x02, 0x26, 0x01 };
/* Sorenson H.263 disposable inter frame; VP6 keyframe. */
static const uint8_t h263_disposable[] = { 0x32, 0x00, 0x00, 0x84, 0x00 };
static const uint8_t vp6_key[] = { 0x14, 0x00, 0x46, 0x00 };
/* AVC command frame: frame type 5, command 0 (start of seek). */
static const uint8_t avc_command[] = { 0x57, 0x00 };

/* AAC sequence header (AudioSpecificConfig, ffmpeg aac 44.1 kHz) and raw. */
static const uint8_t aac_seq[] = { 0xaf, 0x00, 0x12, 0x08, 0x56, 0xe5, 0x00 };
static const uint8_t aac_raw[] = { 0xaf, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c };
/* MP3 44 kHz 16-bit stereo; MP3 22 kHz 8-bit mono; Speex. */
static const uint8_t mp3_stereo[] = { 0x2f, 0xff, 0xfb, 0x90, 0x64 };
static const uint8_t mp3_mono[] = { 0x28, 0xff, 0xf3 };
static const uint8_t speex[] = { 0xb6, 0x1e };

/* E-RTMP video. */
#define HVC1 'h', 'v', 'c', '1'
#define AVC1 'a', 'v', 'c', '1'
#define AV01 'a', 'v', '0', '1'
#define VP09 'v', 'p', '0', '9'
static const uint8_t hvc1_seq_start[] = {
    0x90, HVC1,
    /* HEVCDecoderConfigurationRecord, libx265 Main 352x288 (VPS and SPS arrays) */
    0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x3c, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x02, 0xa0,
    0x00, 0x01, 0x00, 0x18, 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60,
    0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00,
    0x3c, 0x95, 0x98, 0x09, 0xa1, 0x00, 0x01, 0x00, 0x29, 0x42, 0x01, 0x01,
    0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x03, 0x00, 0x3c, 0xa0, 0x0b, 0x08, 0x04, 0x85, 0x96, 0x56, 0x69, 0x24,
    0xca, 0xf0, 0x16, 0x80, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00,
    0x0f, 0x04,
};
static const uint8_t hvc1_coded_key[] = { 0x91, HVC1, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x02, 0x26, 0x01 };
static const uint8_t hvc1_coded_neg[] = { 0xa1, HVC1, 0xff, 0xff, 0xdf, 0x00, 0x00, 0x00, 0x02, 0x02, 0x01 };
static const uint8_t hvc1_coded_x[] = { 0xa3, HVC1, 0x00, 0x00, 0x00, 0x02, 0x02, 0x01 };
static const uint8_t hvc1_seq_end[] = { 0x92, HVC1 };
static const uint8_t avc1_coded[] = { 0x91, AVC1, 0x00, 0x00, 0x43, 0x00, 0x00, 0x00, 0x01, 0x65 };
/* AV1 keyframe: temporal unit starting with a temporal delimiter OBU. */
static const uint8_t av01_key[] = { 0x91, AV01, 0x12, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00 };
static const uint8_t av01_seq_start[] = { 0x90, AV01, 0x81, 0x04, 0x0c, 0x00 };
static const uint8_t av01_mpeg2ts_seq[] = { 0x95, AV01, 0x80, 0x04, 0x81, 0x04, 0x0c, 0x00 };
static const uint8_t vp09_inter[] = { 0xa1, VP09, 0x86, 0x00, 0x40, 0x92 };
/* Metadata with frame type 0: the frame type is ignored for Metadata. */
static const uint8_t hvc1_metadata[] = { 0x84, HVC1, 0x02, 0x00, 0x09, 'c', 'o', 'l', 'o', 'r', 'I', 'n', 'f', 'o' };
/* Command frame: frame type 5, VideoPacketType 0, command 1; no FourCC. */
static const uint8_t ex_command[] = { 0xd0, 0x01 };
/* ModEx (TimestampOffsetNano, 3 bytes) then CodedFrames avc1, cts 10. */
static const uint8_t avc1_modex[] = { 0x97, 0x02, 0x00, 0x01, 0xf4, 0x01, AVC1, 0x00, 0x00, 0x0a, 0x65 };
/* ModEx with a 16-bit size (0x0100 + 1 = 257 bytes) then CodedFramesX hvc1. */
static const uint8_t hvc1_modex16[267] = { 0x97, 0xff, 0x01, 0x00, [261] = 0x03, HVC1, 0x26 };
/* Multitrack OneTrack: CodedFrames avc1, track 0, cts 33. */
static const uint8_t mt_one_avc1[] = { 0x96, 0x01, AVC1, 0x00, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x01, 0x65 };
/* Multitrack ManyTracks: SequenceStart hvc1, track 0 (3 bytes), track 1 (2 bytes). */
static const uint8_t mt_many_hvc1[] = {
    0x96, 0x10, HVC1, 0x00, 0x00, 0x00, 0x03, 0x01, 0x02, 0x03, 0x01, 0x00, 0x00, 0x02, 0x04, 0x05,
};
/* Multitrack ManyTracks: CodedFrames hvc1 whose cts is inside track 0. */
static const uint8_t mt_many_hvc1_coded[] = {
    0x96, 0x11, HVC1, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x21, 0xaa, 0xbb,
    0x01, 0x00, 0x00, 0x05, 0x00, 0x00, 0x21, 0xcc, 0xdd,
};
/* Multitrack ManyTracksManyCodecs: inter CodedFrames, av01 track 2 then vp09 track 3. */
static const uint8_t mt_codecs[] = {
    0xa6, 0x21, AV01, 0x02, 0x00, 0x00, 0x02, 0x32, 0x10, VP09, 0x03, 0x00, 0x00, 0x01, 0x86,
};

/* E-RTMP audio. */
#define OPUS 'O', 'p', 'u', 's'
#define MP4A 'm', 'p', '4', 'a'
static const uint8_t opus_seq_start[] = {
    0x90, OPUS, 'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 0x01, 0x02, 0x38, 0x01, 0x80, 0xbb, 0x00, 0x00,
    0x00, 0x00, 0x00,
};
static const uint8_t mp4a_coded[] = { 0x91, MP4A, 0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c };
static const uint8_t flac_seq_start[] = { 0x90, 'f', 'L', 'a', 'C', 0x10, 0x00, 0x10, 0x00 };
static const uint8_t ac3_coded[] = { 0x91, 'a', 'c', '-', '3', 0x0b, 0x77 };
static const uint8_t eac3_coded[] = { 0x91, 'e', 'c', '-', '3', 0x0b, 0x77 };
static const uint8_t mp3_fourcc_coded[] = { 0x91, '.', 'm', 'p', '3', 0xff, 0xfb };
static const uint8_t opus_seq_end[] = { 0x92, OPUS };
/* MultichannelConfig: Native order, 2 channels, FrontLeft | FrontRight. */
static const uint8_t opus_multichannel[] = { 0x94, OPUS, 0x01, 0x02, 0x00, 0x00, 0x00, 0x03 };
static const uint8_t opus_modex[] = { 0x97, 0x00, 0xaa, 0x01, OPUS, 0xfc };
/* Multitrack OneTrack CodedFrames Opus, track 0. */
static const uint8_t mt_one_opus[] = { 0x95, 0x01, OPUS, 0x00, 0xfc, 0xff };
/* Multitrack ManyTracksManyCodecs SequenceStart: mp4a track 0, Opus track 1. */
static const uint8_t mt_audio_codecs[] = {
    0x95, 0x20, MP4A, 0x00, 0x00, 0x00, 0x02, 0x12, 0x10, OPUS, 0x01, 0x00, 0x00, 0x01, 0x4f,
};

struct vec {
    const char *name;
    uint8_t type;
    const uint8_t *p;
    size_t n;
    size_t need; /* shortest prefix that inspects OK */
};

#define VEC(t, v, need) { #v, t, v, sizeof(v), need }
static const struct vec vectors[] = {
    VEC(9, avc_seq, 5), VEC(9, avc_key, 5), VEC(9, avc_inter_neg, 5), VEC(9, avc_inter_min, 5),
    VEC(9, avc_eos, 5), VEC(9, hevc12_key, 5), VEC(9, h263_disposable, 1), VEC(9, vp6_key, 1),
    VEC(9, avc_command, 2),
    VEC(8, aac_seq, 2), VEC(8, aac_raw, 2), VEC(8, mp3_stereo, 1), VEC(8, mp3_mono, 1), VEC(8, speex, 1),
    VEC(9, hvc1_seq_start, 5), VEC(9, hvc1_coded_key, 8), VEC(9, hvc1_coded_neg, 8),
    VEC(9, hvc1_coded_x, 5), VEC(9, hvc1_seq_end, 5), VEC(9, avc1_coded, 8), VEC(9, av01_key, 5),
    VEC(9, av01_seq_start, 5), VEC(9, av01_mpeg2ts_seq, 5), VEC(9, vp09_inter, 5),
    VEC(9, hvc1_metadata, 5), VEC(9, ex_command, 2), VEC(9, avc1_modex, 13),
    VEC(9, hvc1_modex16, 266), VEC(9, mt_one_avc1, 10), VEC(9, mt_many_hvc1, 13),
    VEC(9, mt_many_hvc1_coded, 15), VEC(9, mt_codecs, 12),
    VEC(8, opus_seq_start, 5), VEC(8, mp4a_coded, 5), VEC(8, flac_seq_start, 5), VEC(8, ac3_coded, 5),
    VEC(8, eac3_coded, 5), VEC(8, mp3_fourcc_coded, 5), VEC(8, opus_seq_end, 5),
    VEC(8, opus_multichannel, 5), VEC(8, opus_modex, 8), VEC(8, mt_one_opus, 7),
    VEC(8, mt_audio_codecs, 12),
};

/* Inspects an exact-size heap copy of the first `len` bytes of `v`, so that
 * AddressSanitizer reports any read past `len`. */
static int inspect_n(uint8_t type, const uint8_t *v, size_t len, struct rtmpd_flv_media *m)
{
    uint8_t *copy = len ? malloc(len) : NULL;
    int rc;

    if (len)
        memcpy(copy, v, len);
    rc = rtmpd_flv_inspect(type, copy, len, m);
    free(copy);
    return rc;
}

static struct rtmpd_flv_media inspect_ok(uint8_t type, const uint8_t *v, size_t len)
{
    struct rtmpd_flv_media m;
    assert_int_equal(inspect_n(type, v, len, &m), RTMPD_OK);
    assert_true((size_t)m.header_len + m.data_len <= len);
    return m;
}

static void assert_same_media(const struct rtmpd_flv_media *a, const struct rtmpd_flv_media *b)
{
    assert_int_equal(a->is_video, b->is_video);
    assert_int_equal(a->enhanced, b->enhanced);
    assert_int_equal(a->multitrack, b->multitrack);
    assert_int_equal(a->frame_type, b->frame_type);
    assert_int_equal(a->packet, b->packet);
    assert_int_equal(a->keyframe, b->keyframe);
    assert_int_equal(a->seq_header, b->seq_header);
    assert_int_equal(a->disposable, b->disposable);
    assert_int_equal(a->codec, b->codec);
    assert_int_equal(a->cts, b->cts);
    assert_int_equal(a->sound_rate, b->sound_rate);
    assert_int_equal(a->sound_size, b->sound_size);
    assert_int_equal(a->sound_type, b->sound_type);
    assert_int_equal(a->header_len, b->header_len);
    assert_int_equal(a->track_id, b->track_id);
}

#define INSPECT(t, v) inspect_ok(t, v, sizeof(v))

static void avc_keyframe_nalu_carries_signed_composition_time(void **state)
{
    (void)state;
    struct rtmpd_flv_media m = INSPECT(9, avc_key);
    assert_true(m.is_video);
    assert_false(m.enhanced);
    assert_int_equal(m.codec, RTMPD_FLV_VIDEO_AVC);
    assert_int_equal(m.frame_type, RTMPD_FLV_FRAME_KEY);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_CODED_FRAMES);
    assert_true(m.keyframe);
    assert_false(m.seq_header);
    assert_false(m.disposable);
    assert_int_equal(m.cts, 67);
    assert_int_equal(m.header_len, 5);
    assert_int_equal(m.data_len, 6);

    m = INSPECT(9, avc_inter_neg);
    assert_int_equal(m.frame_type, RTMPD_FLV_FRAME_INTER);
    assert_false(m.keyframe);
    assert_int_equal(m.cts, -10);
    m = INSPECT(9, avc_inter_min);
    assert_int_equal(m.cts, -8388608);

    /* Codec id 12 (CDN-Union HEVC) has the same header. */
    m = INSPECT(9, hevc12_key);
    assert_int_equal(m.codec, RTMPD_FLV_VIDEO_HEVC);
    assert_true(m.keyframe);
    assert_int_equal(m.cts, 33);
}

static void avc_sequence_header_and_end_of_sequence_are_not_keyframes(void **state)
{
    (void)state;
    struct rtmpd_flv_media m = INSPECT(9, avc_seq);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_SEQ_START);
    assert_true(m.seq_header);
    assert_false(m.keyframe);
    assert_int_equal(m.frame_type, RTMPD_FLV_FRAME_KEY);
    assert_int_equal(m.cts, 0);
    assert_int_equal(m.header_len, 5);
    assert_int_equal(m.data_len, sizeof avc_seq - 5);

    m = INSPECT(9, avc_eos);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_SEQ_END);
    assert_false(m.seq_header);
    assert_false(m.keyframe);
    assert_int_equal(m.data_len, 0);
}

static void aac_sequence_header_and_raw_frame(void **state)
{
    (void)state;
    struct rtmpd_flv_media m = INSPECT(8, aac_seq);
    assert_false(m.is_video);
    assert_int_equal(m.codec, RTMPD_FLV_AUDIO_AAC);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_SEQ_START);
    assert_true(m.seq_header);
    assert_false(m.keyframe);
    assert_false(m.disposable);
    assert_int_equal(m.sound_rate, 3);
    assert_int_equal(m.sound_size, 1);
    assert_int_equal(m.sound_type, 1);
    assert_int_equal(m.header_len, 2);
    assert_int_equal(m.data_len, 5);

    m = INSPECT(8, aac_raw);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_CODED_FRAMES);
    assert_false(m.seq_header);
    assert_int_equal(m.header_len, 2);
}

static void mp3_and_other_legacy_audio_have_a_one_byte_header(void **state)
{
    (void)state;
    struct rtmpd_flv_media m = INSPECT(8, mp3_stereo);
    assert_int_equal(m.codec, RTMPD_FLV_AUDIO_MP3);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_OTHER);
    assert_false(m.seq_header);
    assert_int_equal(m.header_len, 1);
    assert_int_equal(m.sound_rate, 3);
    assert_int_equal(m.sound_size, 1);
    assert_int_equal(m.sound_type, 1);

    m = INSPECT(8, mp3_mono);
    assert_int_equal(m.codec, RTMPD_FLV_AUDIO_MP3);
    assert_int_equal(m.sound_rate, 2);
    assert_int_equal(m.sound_size, 0);
    assert_int_equal(m.sound_type, 0);

    m = INSPECT(8, speex);
    assert_int_equal(m.codec, RTMPD_FLV_AUDIO_SPEEX);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_OTHER);
}

static void disposable_inter_frame_is_flagged_and_legacy_keyframes_without_packet_types(void **state)
{
    (void)state;
    struct rtmpd_flv_media m = INSPECT(9, h263_disposable);
    assert_int_equal(m.codec, RTMPD_FLV_VIDEO_H263);
    assert_int_equal(m.frame_type, RTMPD_FLV_FRAME_DISPOSABLE);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_OTHER);
    assert_true(m.disposable);
    assert_false(m.keyframe);
    assert_int_equal(m.header_len, 1);

    m = INSPECT(9, vp6_key);
    assert_int_equal(m.codec, RTMPD_FLV_VIDEO_VP6);
    assert_true(m.keyframe);
    assert_false(m.disposable);
    assert_false(m.seq_header);
}

static void command_frame_is_a_command_not_a_keyframe(void **state)
{
    (void)state;
    struct rtmpd_flv_media m = INSPECT(9, avc_command);
    assert_int_equal(m.frame_type, RTMPD_FLV_FRAME_COMMAND);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_COMMAND);
    assert_false(m.keyframe);
    assert_false(m.seq_header);
    assert_false(m.disposable);
    assert_int_equal(m.header_len, 1); /* the command byte follows */

    /* E-RTMP: a command frame has no FourCC, only the command byte. */
    m = INSPECT(9, ex_command);
    assert_true(m.enhanced);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_COMMAND);
    assert_int_equal(m.codec, 0);
    assert_false(m.keyframe);
    assert_int_equal(m.header_len, 1);
    assert_int_equal(m.data_len, 1);
}

static void ertmp_hvc1_sequence_start_coded_frames_and_coded_frames_x(void **state)
{
    (void)state;
    struct rtmpd_flv_media m = INSPECT(9, hvc1_seq_start);
    assert_true(m.enhanced);
    assert_int_equal(m.codec, RTMPD_FOURCC('h', 'v', 'c', '1'));
    assert_int_equal(m.packet, RTMPD_FLV_PKT_SEQ_START);
    assert_true(m.seq_header);
    assert_false(m.keyframe);
    assert_int_equal(m.header_len, 5);

    m = INSPECT(9, hvc1_coded_key);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_CODED_FRAMES);
    assert_int_equal(m.frame_type, RTMPD_FLV_FRAME_KEY);
    assert_true(m.keyframe);
    assert_false(m.seq_header);
    assert_int_equal(m.cts, 33);
    assert_int_equal(m.header_len, 8);

    m = INSPECT(9, hvc1_coded_neg);
    assert_false(m.keyframe);
    assert_int_equal(m.cts, -33);

    /* CodedFramesX: no composition time on the wire, implied 0. */
    m = INSPECT(9, hvc1_coded_x);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_CODED_FRAMES);
    assert_int_equal(m.frame_type, RTMPD_FLV_FRAME_INTER);
    assert_int_equal(m.cts, 0);
    assert_int_equal(m.header_len, 5);

    m = INSPECT(9, hvc1_seq_end);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_SEQ_END);
    assert_false(m.seq_header);
    assert_false(m.keyframe);

    m = INSPECT(9, avc1_coded);
    assert_int_equal(m.codec, RTMPD_FOURCC('a', 'v', 'c', '1'));
    assert_int_equal(m.cts, 67);
    assert_int_equal(m.header_len, 8);
}

static void ertmp_av01_keyframe_and_vp09_inter_frame_have_no_composition_time(void **state)
{
    (void)state;
    struct rtmpd_flv_media m = INSPECT(9, av01_key);
    assert_int_equal(m.codec, RTMPD_FOURCC('a', 'v', '0', '1'));
    assert_int_equal(m.packet, RTMPD_FLV_PKT_CODED_FRAMES);
    assert_true(m.keyframe);
    assert_int_equal(m.cts, 0);
    assert_int_equal(m.header_len, 5); /* the OBUs start right after the FourCC */

    m = INSPECT(9, vp09_inter);
    assert_int_equal(m.codec, RTMPD_FOURCC('v', 'p', '0', '9'));
    assert_int_equal(m.frame_type, RTMPD_FLV_FRAME_INTER);
    assert_false(m.keyframe);
    assert_false(m.disposable);
    assert_int_equal(m.header_len, 5);

    m = INSPECT(9, av01_seq_start);
    assert_true(m.seq_header);
    assert_false(m.keyframe);
    m = INSPECT(9, av01_mpeg2ts_seq);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_MPEG2TS_SEQ_START);
    assert_true(m.seq_header);

    /* Metadata ignores the frame type (0 here) and is not decoder config. */
    m = INSPECT(9, hvc1_metadata);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_METADATA);
    assert_false(m.seq_header);
    assert_false(m.keyframe);
    assert_int_equal(m.header_len, 5);
}

static void ertmp_audio_fourcc_packets(void **state)
{
    (void)state;
    struct rtmpd_flv_media m = INSPECT(8, opus_seq_start);
    assert_true(m.enhanced);
    assert_false(m.is_video);
    assert_int_equal(m.codec, RTMPD_FOURCC('O', 'p', 'u', 's'));
    assert_int_equal(m.packet, RTMPD_FLV_PKT_SEQ_START);
    assert_true(m.seq_header);
    assert_int_equal(m.header_len, 5);
    assert_int_equal(m.sound_rate, 0); /* not present in the ExHeader form */

    m = INSPECT(8, mp4a_coded);
    assert_int_equal(m.codec, RTMPD_FOURCC('m', 'p', '4', 'a'));
    assert_int_equal(m.packet, RTMPD_FLV_PKT_CODED_FRAMES);
    assert_false(m.seq_header);
    assert_int_equal(m.header_len, 5);
    assert_int_equal(m.data_len, 6);

    m = INSPECT(8, opus_multichannel);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_MULTICHANNEL_CONFIG);
    assert_true(m.seq_header);
    assert_int_equal(m.header_len, 5);

    m = INSPECT(8, opus_seq_end);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_SEQ_END);
    assert_false(m.seq_header);

    assert_int_equal(INSPECT(8, flac_seq_start).codec, RTMPD_FOURCC('f', 'L', 'a', 'C'));
    assert_int_equal(INSPECT(8, ac3_coded).codec, RTMPD_FOURCC('a', 'c', '-', '3'));
    assert_int_equal(INSPECT(8, eac3_coded).codec, RTMPD_FOURCC('e', 'c', '-', '3'));
    assert_int_equal(INSPECT(8, mp3_fourcc_coded).codec, RTMPD_FOURCC('.', 'm', 'p', '3'));
}

static void ertmp_multitrack_reports_the_first_track(void **state)
{
    (void)state;
    struct rtmpd_flv_media m = INSPECT(9, mt_one_avc1);
    assert_true(m.multitrack);
    assert_int_equal(m.codec, RTMPD_FOURCC('a', 'v', 'c', '1'));
    assert_int_equal(m.packet, RTMPD_FLV_PKT_CODED_FRAMES);
    assert_true(m.keyframe);
    assert_int_equal(m.track_id, 0);
    assert_int_equal(m.cts, 33);
    assert_int_equal(m.header_len, 10);
    assert_int_equal(m.data_len, 5);

    m = INSPECT(9, mt_many_hvc1);
    assert_true(m.multitrack);
    assert_int_equal(m.codec, RTMPD_FOURCC('h', 'v', 'c', '1'));
    assert_true(m.seq_header);
    assert_false(m.keyframe);
    assert_int_equal(m.header_len, 10);
    assert_int_equal(m.data_len, 3); /* the first track only */

    m = INSPECT(9, mt_many_hvc1_coded);
    assert_int_equal(m.cts, 33);
    assert_int_equal(m.header_len, 13);
    assert_int_equal(m.data_len, 2);

    m = INSPECT(9, mt_codecs);
    assert_int_equal(m.codec, RTMPD_FOURCC('a', 'v', '0', '1'));
    assert_int_equal(m.track_id, 2);
    assert_false(m.keyframe);
    assert_int_equal(m.header_len, 10);
    assert_int_equal(m.data_len, 2);

    m = INSPECT(8, mt_one_opus);
    assert_true(m.multitrack);
    assert_int_equal(m.codec, RTMPD_FOURCC('O', 'p', 'u', 's'));
    assert_int_equal(m.packet, RTMPD_FLV_PKT_CODED_FRAMES);
    assert_int_equal(m.header_len, 7);

    m = INSPECT(8, mt_audio_codecs);
    assert_int_equal(m.codec, RTMPD_FOURCC('m', 'p', '4', 'a'));
    assert_true(m.seq_header);
    assert_int_equal(m.track_id, 0);
    assert_int_equal(m.header_len, 10);
    assert_int_equal(m.data_len, 2);
}

static void ertmp_modex_is_skipped_to_the_real_packet_type(void **state)
{
    (void)state;
    struct rtmpd_flv_media m = INSPECT(9, avc1_modex);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_CODED_FRAMES);
    assert_int_equal(m.codec, RTMPD_FOURCC('a', 'v', 'c', '1'));
    assert_true(m.keyframe);
    assert_int_equal(m.cts, 10);
    assert_int_equal(m.header_len, 13);

    m = INSPECT(9, hvc1_modex16);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_CODED_FRAMES);
    assert_int_equal(m.codec, RTMPD_FOURCC('h', 'v', 'c', '1'));
    assert_int_equal(m.cts, 0);
    assert_int_equal(m.header_len, 266);

    m = INSPECT(8, opus_modex);
    assert_int_equal(m.packet, RTMPD_FLV_PKT_CODED_FRAMES);
    assert_int_equal(m.codec, RTMPD_FOURCC('O', 'p', 'u', 's'));
    assert_int_equal(m.header_len, 8);
}

static void every_prefix_shorter_than_the_header_is_truncated(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const struct vec *v = &vectors[i];
        struct rtmpd_flv_media whole, part;
        whole = inspect_ok(v->type, v->p, v->n);
        for (size_t len = 0; len < v->n; len++) {
            int rc = inspect_n(v->type, v->p, len, &part);
            int want = len < v->need ? RTMPD_E_FLV_TRUNCATED : RTMPD_OK;
            if (rc != want)
                print_message("%s cut to %zu bytes\n", v->name, len);
            assert_int_equal(rc, want);
            /* Past the header only the amount of codec data changes. */
            if (rc == RTMPD_OK)
                assert_same_media(&part, &whole);
        }
    }
}

static void reserved_values_and_other_message_types_are_rejected(void **state)
{
    (void)state;
    static const struct {
        uint8_t type;
        uint8_t b[16];
        size_t n;
        int rc;
    } bad[] = {
        { 18, { 0x17, 0x00, 0x00, 0x00, 0x00 }, 5, RTMPD_E_INVAL },     /* not audio/video */
        { 20, { 0x02 }, 1, RTMPD_E_INVAL },
        { 8, { 0 }, 0, RTMPD_E_FLV_TRUNCATED },                         /* empty audio */
        { 9, { 0 }, 0, RTMPD_E_FLV_TRUNCATED },                         /* empty video */
        { 9, { 0x07, 0x01, 0x00, 0x00, 0x00 }, 5, RTMPD_E_FLV_FORMAT }, /* frame type 0 */
        { 9, { 0x67, 0x01, 0x00, 0x00, 0x00 }, 5, RTMPD_E_FLV_FORMAT }, /* frame type 6 */
        { 9, { 0x17, 0x03, 0x00, 0x00, 0x00 }, 5, RTMPD_E_FLV_FORMAT }, /* AVCPacketType 3 */
        { 8, { 0xaf, 0x02, 0x00 }, 3, RTMPD_E_FLV_FORMAT },             /* AACPacketType 2 */
        { 9, { 0x98, HVC1 }, 5, RTMPD_E_FLV_FORMAT },                   /* VideoPacketType 8 */
        { 9, { 0x81, HVC1, 0x00, 0x00, 0x00 }, 8, RTMPD_E_FLV_FORMAT }, /* E-RTMP frame type 0 */
        { 9, { 0xf1, HVC1, 0x00, 0x00, 0x00 }, 8, RTMPD_E_FLV_FORMAT }, /* E-RTMP frame type 7 */
        { 9, { 0x96, 0x31, HVC1, 0x00 }, 7, RTMPD_E_FLV_FORMAT },       /* AvMultitrackType 3 */
        { 9, { 0x96, 0x06, HVC1, 0x00 }, 7, RTMPD_E_FLV_FORMAT },       /* nested Multitrack */
        { 9, { 0x96, 0x07, HVC1, 0x00 }, 7, RTMPD_E_FLV_FORMAT },       /* ModEx in Multitrack */
        { 8, { 0x93, OPUS }, 5, RTMPD_E_FLV_FORMAT },                   /* AudioPacketType 3 */
        { 8, { 0x96, OPUS }, 5, RTMPD_E_FLV_FORMAT },                   /* AudioPacketType 6 */
        { 8, { 0x95, 0x05, OPUS, 0x00 }, 7, RTMPD_E_FLV_FORMAT },       /* nested Multitrack */
        /* first track longer than the payload */
        { 9, { 0x96, 0x11, HVC1, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00 }, 12, RTMPD_E_FLV_TRUNCATED },
        /* first track too short for the composition time it must carry */
        { 9, { 0x96, 0x11, HVC1, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01 }, 12, RTMPD_E_FLV_TRUNCATED },
    };
    struct rtmpd_flv_media m;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = inspect_n(bad[i].type, bad[i].b, bad[i].n, &m);
        if (rc != bad[i].rc)
            print_message("bad[%zu]\n", i);
        assert_int_equal(rc, bad[i].rc);
    }
}

/* --- FLV file ------------------------------------------------------------ */

static const uint8_t script_data[] = {
    0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 0x03, 0x00, 0x00, 0x09,
};

static void put_tag(struct rtmpd_buf *b, uint8_t type, uint32_t ts, const uint8_t *data, uint32_t n)
{
    uint8_t *h = rtmpd_buf_reserve(b, RTMPD_FLV_TAG_HEADER_LEN);
    rtmpd_flv_write_tag_header(h, type, ts, n);
    rtmpd_buf_commit(b, RTMPD_FLV_TAG_HEADER_LEN);
    rtmpd_buf_append(b, data, n);
    h = rtmpd_buf_reserve(b, RTMPD_FLV_TAG_TRAILER_LEN);
    rtmpd_flv_write_tag_trailer(h, n);
    rtmpd_buf_commit(b, RTMPD_FLV_TAG_TRAILER_LEN);
}

static const struct {
    uint8_t type;
    uint32_t ts;
    const uint8_t *data;
    uint32_t n;
} file_tags[] = {
    { RTMPD_FLV_TAG_SCRIPT, 0, script_data, sizeof script_data },
    { RTMPD_FLV_TAG_VIDEO, 0, avc_seq, sizeof avc_seq },
    { RTMPD_FLV_TAG_AUDIO, 0, aac_seq, sizeof aac_seq },
    { RTMPD_FLV_TAG_VIDEO, 0x00abcdef, avc_key, sizeof avc_key },
    { RTMPD_FLV_TAG_AUDIO, 0x01020304, aac_raw, sizeof aac_raw },       /* > 2^24 */
    { RTMPD_FLV_TAG_VIDEO, 0xfffffffe, hvc1_coded_x, sizeof hvc1_coded_x },
    { RTMPD_FLV_TAG_VIDEO, 0xffffffff, avc_eos, sizeof avc_eos },
};
#define FILE_TAGS (sizeof file_tags / sizeof file_tags[0])

static void build_file(struct rtmpd_buf *b)
{
    uint8_t *h;
    rtmpd_buf_init(b);
    h = rtmpd_buf_reserve(b, RTMPD_FLV_FILE_HEADER_LEN);
    rtmpd_flv_write_file_header(h, 1, 1);
    rtmpd_buf_commit(b, RTMPD_FLV_FILE_HEADER_LEN);
    for (size_t i = 0; i < FILE_TAGS; i++)
        put_tag(b, file_tags[i].type, file_tags[i].ts, file_tags[i].data, file_tags[i].n);
    assert_false(b->failed);
}

static void flv_write_then_parse_round_trips_with_extended_timestamps(void **state)
{
    (void)state;
    struct rtmpd_buf b;
    struct rtmpd_flv_tag tag;
    int has_audio = 0, has_video = 0;
    size_t off;
    ssize_t r;

    build_file(&b);
    assert_memory_equal(b.data, "FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00", 13);
    /* Tag with timestamp 0x01020304: lower 24 bits, then the upper 8. */
    off = 13;
    for (size_t i = 0; i < 4; i++)
        off += RTMPD_FLV_TAG_HEADER_LEN + file_tags[i].n + RTMPD_FLV_TAG_TRAILER_LEN;
    assert_memory_equal(b.data + off, "\x08\x00\x00\x08\x02\x03\x04\x01\x00\x00\x00", 11);
    assert_int_equal(rtmpd_rd_be32(b.data + off + 11 + 8), 11 + 8);

    r = rtmpd_flv_parse_file_header(b.data, b.len, &has_audio, &has_video);
    assert_int_equal(r, 13);
    assert_true(has_audio);
    assert_true(has_video);
    off = (size_t)r;
    for (size_t i = 0; i < FILE_TAGS; i++) {
        r = rtmpd_flv_parse_tag(b.data + off, b.len - off, &tag);
        assert_int_equal(r, 11 + file_tags[i].n + 4);
        assert_int_equal(tag.type, file_tags[i].type);
        assert_int_equal(tag.timestamp, file_tags[i].ts);
        assert_int_equal(tag.length, file_tags[i].n);
        assert_ptr_equal(tag.data, b.data + off + 11);
        assert_memory_equal(tag.data, file_tags[i].data, file_tags[i].n);
        off += (size_t)r;
    }
    assert_int_equal(off, b.len);
    assert_int_equal(rtmpd_flv_parse_tag(b.data + off, 0, &tag), RTMPD_AGAIN);

    /* Header flags for each combination. */
    for (int a = 0; a < 2; a++) {
        for (int v = 0; v < 2; v++) {
            uint8_t h[RTMPD_FLV_FILE_HEADER_LEN];
            rtmpd_flv_write_file_header(h, a, v);
            assert_int_equal(rtmpd_flv_parse_file_header(h, sizeof h, &has_audio, &has_video), 13);
            assert_int_equal(has_audio, a);
            assert_int_equal(has_video, v);
        }
    }
    rtmpd_buf_release(&b);
}

/* Parses an exact-size heap copy of `len` bytes. */
static ssize_t parse_tag_n(const uint8_t *in, size_t len, struct rtmpd_flv_tag *tag)
{
    uint8_t *copy = len ? malloc(len) : NULL;
    ssize_t r;

    if (len)
        memcpy(copy, in, len);
    r = rtmpd_flv_parse_tag(copy, len, tag);
    free(copy);
    return r;
}

static ssize_t parse_header_n(const uint8_t *in, size_t len)
{
    uint8_t *copy = len ? malloc(len) : NULL;
    int a, v;
    ssize_t r;

    if (len)
        memcpy(copy, in, len);
    r = rtmpd_flv_parse_file_header(copy, len, &a, &v);
    free(copy);
    return r;
}

static void flv_parse_byte_by_byte_is_again_until_complete(void **state)
{
    (void)state;
    struct rtmpd_buf b;
    struct rtmpd_flv_tag tag;
    size_t off = 13;

    build_file(&b);
    for (size_t len = 0; len < 13; len++)
        assert_int_equal(parse_header_n(b.data, len), RTMPD_AGAIN);
    assert_int_equal(parse_header_n(b.data, 13), 13);
    for (size_t i = 0; i < FILE_TAGS; i++) {
        size_t total = 11 + file_tags[i].n + 4;
        for (size_t len = 0; len < total; len++)
            assert_int_equal(parse_tag_n(b.data + off, len, &tag), RTMPD_AGAIN);
        assert_int_equal(parse_tag_n(b.data + off, total, &tag), (ssize_t)total);
        assert_int_equal(tag.timestamp, file_tags[i].ts);
        off += total;
    }
    rtmpd_buf_release(&b);
}

static void flv_reader_rejects_bad_signature_tag_type_and_previous_tag_size(void **state)
{
    (void)state;
    uint8_t h[32] = "FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00";
    uint8_t t[] = { 0x09, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                    0x17, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10 };
    struct rtmpd_flv_tag tag;

    assert_int_equal(parse_header_n((const uint8_t *)"X", 1), RTMPD_E_FLV_FORMAT); /* early */
    assert_int_equal(parse_header_n((const uint8_t *)"FLW\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00", 13),
                     RTMPD_E_FLV_FORMAT);
    h[8] = 8; /* DataOffset below 9 */
    assert_int_equal(parse_header_n(h, 13), RTMPD_E_FLV_FORMAT);
    h[5] = 0x10; /* absurd DataOffset */
    assert_int_equal(parse_header_n(h, 13), RTMPD_E_FLV_FORMAT);
    h[5] = 0;
    h[8] = 12; /* a larger DataOffset is skipped: 12 + PreviousTagSize0 */
    memset(h + 9, 0xee, 3);
    memset(h + 12, 0, 4);
    assert_int_equal(parse_header_n(h, 15), RTMPD_AGAIN);
    assert_int_equal(parse_header_n(h, 16), 16);
    h[15] = 1; /* PreviousTagSize0 must be 0 */
    assert_int_equal(parse_header_n(h, 16), RTMPD_E_FLV_FORMAT);

    assert_int_equal(parse_tag_n(t, sizeof t, &tag), (ssize_t)sizeof t);
    assert_int_equal(tag.type, 9);
    t[8] = 0x01; /* non-zero StreamID is tolerated */
    assert_int_equal(parse_tag_n(t, sizeof t, &tag), (ssize_t)sizeof t);
    t[0] = 0x29; /* filter (encrypted) bit is stripped from the type */
    assert_int_equal(parse_tag_n(t, sizeof t, &tag), (ssize_t)sizeof t);
    assert_int_equal(tag.type, 9);
    t[0] = 0x07; /* unknown tag type, detected from the first byte */
    assert_int_equal(parse_tag_n(t, 1, &tag), RTMPD_E_FLV_FORMAT);
    t[0] = 0x49; /* reserved bits set */
    assert_int_equal(parse_tag_n(t, 1, &tag), RTMPD_E_FLV_FORMAT);
    t[0] = 0x09;
    t[19] = 0x05; /* PreviousTagSize = data size, without the 11-byte header */
    assert_int_equal(parse_tag_n(t, sizeof t, &tag), RTMPD_E_FLV_FORMAT);
}

/* --- picture size from the decoder configuration ------------------------- */

/* Legacy AVC sequence headers from libx264, and their size as ffprobe reports it. */
static const uint8_t avc_1080_baseline[] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x42, 0xc0, 0x28, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x42, 0xc0,
    0x28, 0xda, 0x01, 0xe0, 0x08, 0x9f, 0x97, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00,
    0x03, 0x03, 0xc0, 0xf1, 0x83, 0x2a, 0x01, 0x00, 0x04, 0x68, 0xce, 0x0f, 0xc8,
};
static const uint8_t avc_1080_interlaced[] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x4d, 0x40, 0x28, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x4d, 0x40,
    0x28, 0xf4, 0x03, 0xc0, 0x22, 0x7e, 0xf0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03,
    0x00, 0x32, 0x1f, 0x16, 0x2e, 0xa0, 0x01, 0x00, 0x04, 0x68, 0xde, 0x0f, 0xc8,
};
static const uint8_t avc_gray_200x120[] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x0c, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00,
    0x0c, 0xf2, 0xd0, 0x68, 0x8f, 0x13, 0x13, 0x80, 0xb6, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00,
    0x00, 0x0f, 0x03, 0xc5, 0x0a, 0xa8, 0x01, 0x00, 0x04, 0x68, 0xce, 0x0f, 0xc8, 0xfc, 0xf8, 0xf8,
    0x00,
};
static const uint8_t avc_444_100x50[] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0xf4, 0x00, 0x0a, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0xf4, 0x00,
    0x0a, 0x91, 0x96, 0x87, 0x27, 0x8d, 0x8f, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00,
    0x03, 0x00, 0xf0, 0x3c, 0x48, 0x9a, 0x80, 0x01, 0x00, 0x05, 0x68, 0xce, 0x0f, 0x19, 0x20, 0xff,
    0xf8, 0xf8, 0x00,
};
static const uint8_t avc_422_330x250[] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x7a, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x7a, 0x00,
    0x0d, 0xbc, 0xb4, 0x0a, 0x84, 0x3c, 0x93, 0xe0, 0x22, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00,
    0x03, 0x00, 0x78, 0x1e, 0x28, 0x55, 0x40, 0x01, 0x00, 0x04, 0x68, 0xce, 0x0f, 0xc8, 0xfe, 0xf8,
    0xf8, 0x00,
};
/*
 * `avc1` SequenceStart around a hand-made High SPS that ffmpeg's
 * trace_headers parses as 864x480 MBs cropped left 1, right 4 (=854x480),
 * with SPS scaling lists (one explicit 4x4, one "use default", one 8x8 that
 * stops early), pic_order_cnt_type 1, and an emulation prevention byte.
 */
static const uint8_t avc1_crafted_854x480[] = {
    0x90, AVC1, 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x60,
    0x67, 0x64, 0x00, 0x1f, 0xad, 0xa2, 0x98, 0x50, 0xf2, 0x62, 0x1a, 0x47, 0x24, 0x64, 0x22, 0x10,
    0xb8, 0x81, 0xa1, 0x06, 0x15, 0x10, 0x2c, 0x29, 0x09, 0x8a, 0x12, 0x14, 0x41, 0x11, 0x87, 0x0b,
    0x10, 0x78, 0xe2, 0x85, 0xcc, 0x34, 0x20, 0xc2, 0xa2, 0x05, 0x84, 0xa1, 0x31, 0x42, 0x42, 0x88,
    0x22, 0x30, 0xe1, 0x62, 0x0f, 0x1c, 0x50, 0xb9, 0x86, 0x84, 0x18, 0x54, 0x40, 0xb0, 0x94, 0x26,
    0x28, 0x48, 0x51, 0x04, 0x46, 0x1c, 0x54, 0x00, 0x00, 0x0f, 0x42, 0x40, 0x80, 0x00, 0x00, 0x10,
    0x00, 0x00, 0x03, 0x01, 0x80, 0x00, 0x03, 0xd0, 0x90, 0x11, 0x44, 0x03, 0x60, 0xf7, 0x45, 0xd0,
    0x00,
};
/*
 * Hand-made High 4:4:4 SPS (ffmpeg trace_headers: 640x368 MBs, crop bottom 8
 * = 640x360) whose scaling matrix has 12 lists, 4 of them present.
 */
static const uint8_t avc_444_crafted_640x360[] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0xf4, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x7b,
    0x67, 0xf4, 0x00, 0x1e, 0x44, 0x36, 0xcc, 0xc8, 0x54, 0x66, 0x42, 0xa3, 0x32, 0x15, 0x18, 0x13,
    0x32, 0x15, 0x19, 0x90, 0xa8, 0xcc, 0x85, 0x46, 0x64, 0x2a, 0x33, 0x21, 0x51, 0x99, 0x0a, 0x8c,
    0xc8, 0x54, 0x66, 0x42, 0xa3, 0x32, 0x15, 0x19, 0x90, 0xa8, 0xcc, 0x85, 0x46, 0x64, 0x2a, 0x33,
    0x21, 0x49, 0x99, 0x0a, 0x8c, 0xc8, 0x54, 0x66, 0x42, 0xa3, 0x32, 0x15, 0x19, 0x90, 0xa8, 0xcc,
    0x85, 0x46, 0x64, 0x2a, 0x33, 0x21, 0x51, 0x99, 0x0a, 0x8c, 0xc8, 0x54, 0x66, 0x42, 0xa3, 0x32,
    0x15, 0x19, 0x90, 0xa9, 0x99, 0x0a, 0x8c, 0xc8, 0x54, 0x66, 0x42, 0xa3, 0x32, 0x15, 0x19, 0x90,
    0xa8, 0xcc, 0x85, 0x46, 0x64, 0x2a, 0x33, 0x21, 0x51, 0x99, 0x0a, 0x8c, 0xc8, 0x54, 0x66, 0x42,
    0xa3, 0x32, 0x15, 0x19, 0x90, 0xb6, 0x80, 0xa0, 0x2f, 0xf8, 0x94, 0x00,
};
/* `hvc1` SequenceStart records (VPS + SPS arrays) from libx265. */
static const uint8_t hvc1_1920x1080[] = {
    0x90, HVC1,
    0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x78, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x02, 0xa0,
    0x00, 0x01, 0x00, 0x18, 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60,
    0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00,
    0x78, 0x95, 0x94, 0x09, 0xa1, 0x00, 0x01, 0x00, 0x2b, 0x42, 0x01, 0x01,
    0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x03, 0x00, 0x78, 0xa0, 0x03, 0xc0, 0x80, 0x11, 0x07, 0xcb, 0x96, 0x56,
    0x54, 0xa4, 0xc2, 0xf0, 0x16, 0x80, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80,
    0x00, 0x00, 0x0f, 0x04,
};
/* Rext 4:2:2 10-bit, conformance window in chroma units (2 across, 1 down). */
static const uint8_t hvc1_422_330x250[] = {
    0x90, HVC1,
    0x01, 0x04, 0x08, 0x00, 0x00, 0x00, 0x9d, 0x08, 0x00, 0x00, 0x00, 0x00,
    0x3c, 0xf0, 0x00, 0xfc, 0xfe, 0xfa, 0xfa, 0x00, 0x00, 0x0f, 0x02, 0xa0,
    0x00, 0x01, 0x00, 0x17, 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x04, 0x08,
    0x00, 0x00, 0x03, 0x00, 0x9d, 0x08, 0x00, 0x00, 0x03, 0x00, 0x00, 0x3c,
    0x95, 0x94, 0x09, 0xa1, 0x00, 0x01, 0x00, 0x2a, 0x42, 0x01, 0x01, 0x04,
    0x08, 0x00, 0x00, 0x03, 0x00, 0x9d, 0x08, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x3c, 0xb0, 0x0a, 0x88, 0x04, 0x07, 0x24, 0xed, 0x96, 0x56, 0x54, 0xa4,
    0xc2, 0xf0, 0x16, 0x80, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00,
    0x0f, 0x04,
};
/* Two temporal sub-layers (sps_max_sub_layers_minus1 = 1), 640x360. */
static const uint8_t hvc1_sublayers_640x360[] = {
    0x90, HVC1,
    0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x3f, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x13, 0x02, 0xa0,
    0x00, 0x01, 0x00, 0x1c, 0x40, 0x01, 0x0c, 0x02, 0xff, 0xff, 0x01, 0x60,
    0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00,
    0x3f, 0x00, 0x00, 0x95, 0x94, 0xac, 0xa0, 0x48, 0xa1, 0x00, 0x01, 0x00,
    0x2f, 0x42, 0x01, 0x02, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00,
    0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3f, 0x00, 0x00, 0xa0, 0x05, 0x02,
    0x01, 0x71, 0xf2, 0xe5, 0x95, 0x94, 0xac, 0xa9, 0x49, 0x85, 0xe0, 0x2d,
    0x01, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x1e, 0x08,
};

static const struct {
    const char *name;
    const uint8_t *p;
    size_t n;
    uint32_t width, height;
    size_t sps_end; /* payload bytes the SPS needs */
} sized[] = {
#define SIZED(v, w, h, end) { #v, v, sizeof(v), w, h, end }
    SIZED(avc_seq, 320, 240, 13 + 0x19),
    SIZED(avc_1080_baseline, 1920, 1080, 13 + 0x19),
    SIZED(avc_1080_interlaced, 1920, 1080, 13 + 0x19),
    SIZED(avc_gray_200x120, 200, 120, 13 + 0x19),
    SIZED(avc_444_100x50, 100, 50, 13 + 0x1a),
    SIZED(avc_422_330x250, 330, 250, 13 + 0x1a),
    SIZED(avc1_crafted_854x480, 854, 480, 13 + 0x60),
    SIZED(avc_444_crafted_640x360, 640, 360, 13 + 0x7b),
    SIZED(hvc1_seq_start, 352, 288, 5 + 23 + 3 + 2 + 0x18 + 3 + 2 + 0x29),
    SIZED(hvc1_1920x1080, 1920, 1080, 5 + 23 + 3 + 2 + 0x18 + 3 + 2 + 0x2b),
    SIZED(hvc1_422_330x250, 330, 250, 5 + 23 + 3 + 2 + 0x17 + 3 + 2 + 0x2a),
    SIZED(hvc1_sublayers_640x360, 640, 360, 5 + 23 + 3 + 2 + 0x1c + 3 + 2 + 0x2f),
#undef SIZED
};

static int video_size_n(const uint8_t *p, size_t len, uint32_t *w, uint32_t *h)
{
    uint8_t *copy = malloc(len);
    struct rtmpd_flv_media m;
    int rc;

    memcpy(copy, p, len);
    rc = rtmpd_flv_inspect(9, copy, len, &m);
    if (rc == RTMPD_OK)
        rc = rtmpd_flv_video_size(&m, copy, len, w, h);
    free(copy);
    return rc;
}

static void video_size_from_avc_and_hevc_configs_matches_ffprobe(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof sized / sizeof sized[0]; i++) {
        uint32_t w = 0, h = 0;
        int rc = video_size_n(sized[i].p, sized[i].n, &w, &h);
        if (rc != RTMPD_OK || w != sized[i].width || h != sized[i].height)
            print_message("%s: %d %ux%u\n", sized[i].name, rc, w, h);
        assert_int_equal(rc, RTMPD_OK);
        assert_int_equal(w, sized[i].width);
        assert_int_equal(h, sized[i].height);
        /* Cut anywhere before the end of the SPS: an error, never a size. */
        for (size_t len = 5; len < sized[i].n; len++) {
            int want = len < sized[i].sps_end ? RTMPD_E_FLV_TRUNCATED : RTMPD_OK;
            rc = video_size_n(sized[i].p, len, &w, &h);
            if (rc != want)
                print_message("%s cut to %zu bytes\n", sized[i].name, len);
            assert_int_equal(rc, want);
        }
    }
}

static void video_size_of_codec_12_and_errors(void **state)
{
    (void)state;
    uint8_t p[sizeof hvc1_seq_start];
    struct rtmpd_flv_media m;
    uint32_t w = 0, h = 0;

    /* Legacy codec 12 sequence header carrying the same record. */
    p[0] = 0x1c;
    p[1] = 0x00;
    p[2] = p[3] = p[4] = 0x00;
    memcpy(p + 5, hvc1_seq_start + 5, sizeof p - 5);
    assert_int_equal(video_size_n(p, sizeof p, &w, &h), RTMPD_OK);
    assert_int_equal(w, 352);
    assert_int_equal(h, 288);

    /* Not a sequence header, not AVC/HEVC, or audio: RTMPD_E_INVAL. */
    assert_int_equal(video_size_n(avc_key, sizeof avc_key, &w, &h), RTMPD_E_INVAL);
    assert_int_equal(video_size_n(av01_seq_start, sizeof av01_seq_start, &w, &h), RTMPD_E_INVAL);
    assert_int_equal(rtmpd_flv_inspect(8, aac_seq, sizeof aac_seq, &m), RTMPD_OK);
    assert_int_equal(rtmpd_flv_video_size(&m, aac_seq, sizeof aac_seq, &w, &h), RTMPD_E_INVAL);

    /* avcC without SPS; hvcC whose arrays hold no SPS; SPS NAL of the wrong type. */
    static const uint8_t no_sps[] = { 0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x0d, 0xff, 0xe0, 0x00 };
    assert_int_equal(video_size_n(no_sps, sizeof no_sps, &w, &h), RTMPD_E_FLV_FORMAT);
    memcpy(p, hvc1_seq_start, sizeof p);
    p[5 + 22] = 1; /* keep the VPS array only */
    assert_int_equal(video_size_n(p, sizeof p, &w, &h), RTMPD_E_FLV_FORMAT);
    uint8_t q[sizeof avc_seq];
    memcpy(q, avc_seq, sizeof q);
    q[13] = 0x68; /* a PPS where the SPS should be */
    assert_int_equal(video_size_n(q, sizeof q, &w, &h), RTMPD_E_FLV_FORMAT);
    /* Baseline SPS of one macroblock cropped by 16 columns: nothing left. */
    static const uint8_t over_cropped[] = {
        0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x42, 0xc0, 0x0a, 0xff, 0xe1, 0x00, 0x08,
        0x67, 0x42, 0xc0, 0x0a, 0xf4, 0xfc, 0x4e, 0x80, 0x00,
    };
    assert_int_equal(video_size_n(over_cropped, sizeof over_cropped, &w, &h), RTMPD_E_FLV_FORMAT);
}

int main(int argc, char **argv);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(avc_keyframe_nalu_carries_signed_composition_time),
    cmocka_unit_test(avc_sequence_header_and_end_of_sequence_are_not_keyframes),
    cmocka_unit_test(aac_sequence_header_and_raw_frame),
    cmocka_unit_test(mp3_and_other_legacy_audio_have_a_one_byte_header),
    cmocka_unit_test(disposable_inter_frame_is_flagged_and_legacy_keyframes_without_packet_types),
    cmocka_unit_test(command_frame_is_a_command_not_a_keyframe),
    cmocka_unit_test(ertmp_hvc1_sequence_start_coded_frames_and_coded_frames_x),
    cmocka_unit_test(ertmp_av01_keyframe_and_vp09_inter_frame_have_no_composition_time),
    cmocka_unit_test(ertmp_audio_fourcc_packets),
    cmocka_unit_test(ertmp_multitrack_reports_the_first_track),
    cmocka_unit_test(ertmp_modex_is_skipped_to_the_real_packet_type),
    cmocka_unit_test(every_prefix_shorter_than_the_header_is_truncated),
    cmocka_unit_test(reserved_values_and_other_message_types_are_rejected),
    cmocka_unit_test(flv_write_then_parse_round_trips_with_extended_timestamps),
    cmocka_unit_test(flv_parse_byte_by_byte_is_again_until_complete),
    cmocka_unit_test(flv_reader_rejects_bad_signature_tag_type_and_previous_tag_size),
    cmocka_unit_test(video_size_from_avc_and_hevc_configs_matches_ffprobe),
    cmocka_unit_test(video_size_of_codec_12_and_errors),
};
RTMPD_TEST_MAIN(tests)
