/*
 * The HTTP request path without sockets: http-parser callbacks, limits,
 * routing, the JSON API, /metrics, HTTP-FLV lookups. Byte 0 seeds the
 * piece sizes; the rest is what a client sends (any number of pipelined
 * requests). A second connection plays the part of an RTMP publisher when
 * byte 1 is odd, so stream routes find a stream.
 */
#include "fuzz_server.h"

/* A minimal publisher: the simple handshake, connect, createStream,
 * publish "live/x", then an AAC sequence header and an AVC keyframe. */
static const uint8_t *publisher_bytes(size_t *len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct fuzz_rng rng = { data[0] };
    int with_publisher = data[1] & 1;
    data += 2;
    size -= 2;

    struct rtmpd_conn *c[2];
    int n = 0;
    if (with_publisher) {
        size_t plen;
        const uint8_t *p = publisher_bytes(&plen);
        c[n] = fuzz_conn(0);
        fuzz_feed(c[n++], p, plen, &rng);
    }
    c[n] = fuzz_conn(1);
    fuzz_feed(c[n++], data, size, &rng);
    fuzz_finish(c, n);
    return 0;
}

#include "rtmpd/amf.h"
#include "rtmpd/bytes.h"
#include "rtmpd/chunk.h"
#include "rtmpd/handshake.h"

static void put_msg(struct rtmpd_buf *b, uint32_t csid, uint8_t type, uint32_t msid,
                    const uint8_t *p, size_t len)
{
    struct rtmpd_msg m = { .csid = csid, .type = type, .stream_id = msid, .timestamp = 0,
                           .length = (uint32_t)len, .payload = (uint8_t *)p };
    FUZZ_CHECK(rtmpd_chunk_encode(b, 128, &m, NULL) == 0, "encode");
}

static void put_command(struct rtmpd_buf *b, uint32_t msid, const char *name, double txn,
                        const char *arg)
{
    struct rtmpd_buf a;
    rtmpd_buf_init(&a);
    rtmpd_amf0_put_cstr(&a, name);
    rtmpd_amf0_put_number(&a, txn);
    if (strcmp(name, "connect") == 0) {
        rtmpd_amf0_put_object_start(&a);
        rtmpd_amf0_put_prop_cstr(&a, "app", "live");
        rtmpd_amf0_put_object_end(&a);
    } else {
        rtmpd_amf0_put_null(&a);
    }
    if (arg)
        rtmpd_amf0_put_cstr(&a, arg);
    put_msg(b, 3, RTMPD_MSG_COMMAND_AMF0, msid, a.data, a.len);
    rtmpd_buf_release(&a);
}

static const uint8_t *publisher_bytes(size_t *len)
{
    static struct rtmpd_buf b;
    if (!b.len) {
        uint8_t c0c1[1 + RTMPD_HS_PACKET] = { 3 };
        rtmpd_buf_append(&b, c0c1, sizeof c0c1);
        rtmpd_buf_append(&b, c0c1 + 1, RTMPD_HS_PACKET); /* C2 */
        put_command(&b, 0, "connect", 1, NULL);
        put_command(&b, 0, "createStream", 2, NULL);
        put_command(&b, 1, "publish", 0, "x");
        static const uint8_t aac_seq[] = { 0xaf, 0x00, 0x12, 0x10 };
        static const uint8_t avc_seq[] = { 0x17, 0x00, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0,
                                           4, 0x67, 0x64, 0, 0x1f, 1, 0, 1, 0x68 };
        static const uint8_t avc_key[] = { 0x17, 0x01, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88 };
        put_msg(&b, 6, RTMPD_MSG_AUDIO, 1, aac_seq, sizeof aac_seq);
        put_msg(&b, 7, RTMPD_MSG_VIDEO, 1, avc_seq, sizeof avc_seq);
        put_msg(&b, 7, RTMPD_MSG_VIDEO, 1, avc_key, sizeof avc_key);
        FUZZ_CHECK(!b.failed, "publisher bytes");
    }
    *len = b.len;
    return b.data;
}
