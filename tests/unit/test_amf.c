#include "test_main.h"

#include <math.h>
#include <stdlib.h>

#include "rtmpd/amf.h"
#include "rtmpd/bytes.h"
#include "rtmpd/error.h"

/* ---- helpers ----------------------------------------------------------- */

/* Test-owned value trees: every node is calloc'ed and freed with the pool. */
struct pool {
    void *blk[512];
    size_t n;
};

static void *palloc(struct pool *p, size_t size)
{
    assert_true(p->n < sizeof p->blk / sizeof p->blk[0]);
    void *m = calloc(1, size ? size : 1);
    assert_non_null(m);
    p->blk[p->n++] = m;
    return m;
}

static void pool_free(struct pool *p)
{
    while (p->n)
        free(p->blk[--p->n]);
}

static struct rtmpd_amf_value *mk(struct pool *p, enum rtmpd_amf_type t)
{
    struct rtmpd_amf_value *v = palloc(p, sizeof *v);
    v->type = t;
    return v;
}

static struct rtmpd_amf_value *mk_num(struct pool *p, enum rtmpd_amf_type t, double x)
{
    struct rtmpd_amf_value *v = mk(p, t); /* NUMBER or DATE */
    v->u.number = x;
    return v;
}

static struct rtmpd_amf_value *mk_int(struct pool *p, int32_t x)
{
    struct rtmpd_amf_value *v = mk(p, RTMPD_AMF_INTEGER);
    v->u.integer = x;
    return v;
}

static struct rtmpd_amf_value *mk_bool(struct pool *p, int x)
{
    struct rtmpd_amf_value *v = mk(p, RTMPD_AMF_BOOLEAN);
    v->u.boolean = x;
    return v;
}

static struct rtmpd_amf_str mk_s(const char *s, size_t len)
{
    struct rtmpd_amf_str r = { s, (uint32_t)len };
    return r;
}

static struct rtmpd_amf_value *mk_str(struct pool *p, enum rtmpd_amf_type t, const char *s, size_t len)
{
    struct rtmpd_amf_value *v = mk(p, t); /* STRING, XML or BYTE_ARRAY */
    v->u.str = mk_s(s, len);
    return v;
}

static struct rtmpd_amf_value *mk_ref(struct pool *p, uint32_t idx)
{
    struct rtmpd_amf_value *v = mk(p, RTMPD_AMF_REFERENCE);
    v->u.ref = idx;
    return v;
}

/* Object-like value with nprops (const char *key, value *) pairs. */
static struct rtmpd_amf_value *mk_obj(struct pool *p, enum rtmpd_amf_type t, const char *class_name,
                                      uint32_t nprops, ...)
{
    struct rtmpd_amf_value *v = mk(p, t);
    va_list ap;

    v->u.obj.class_name = mk_s(class_name, strlen(class_name));
    v->u.obj.nprops = nprops;
    v->u.obj.props = palloc(p, nprops * sizeof *v->u.obj.props);
    va_start(ap, nprops);
    for (uint32_t i = 0; i < nprops; i++) {
        const char *key = va_arg(ap, const char *);
        v->u.obj.props[i].key = mk_s(key, strlen(key));
        v->u.obj.props[i].value = va_arg(ap, struct rtmpd_amf_value *);
    }
    va_end(ap);
    return v;
}

/* Dense array of nitems values. */
static struct rtmpd_amf_value *mk_arr(struct pool *p, uint32_t nitems, ...)
{
    struct rtmpd_amf_value *v = mk(p, RTMPD_AMF_STRICT_ARRAY);
    va_list ap;

    v->u.obj.class_name = mk_s("", 0);
    v->u.obj.nitems = nitems;
    v->u.obj.items = palloc(p, nitems * sizeof *v->u.obj.items);
    va_start(ap, nitems);
    for (uint32_t i = 0; i < nitems; i++)
        v->u.obj.items[i] = va_arg(ap, struct rtmpd_amf_value *);
    va_end(ap);
    return v;
}

static void assert_amf_str(const struct rtmpd_amf_str *got, const char *want, size_t len)
{
    assert_int_equal(got->len, len);
    assert_non_null(got->ptr);
    if (len)
        assert_memory_equal(got->ptr, want, len);
    assert_int_equal(got->ptr[len], '\0');
}

/* Structural equality; numbers compared bit for bit (NaN, -0.0). */
static void assert_value_equal(const struct rtmpd_amf_value *want, const struct rtmpd_amf_value *got)
{
    assert_non_null(got);
    assert_int_equal(got->type, want->type);
    switch (want->type) {
    case RTMPD_AMF_NUMBER:
    case RTMPD_AMF_DATE:
        assert_memory_equal(&got->u.number, &want->u.number, sizeof(double));
        break;
    case RTMPD_AMF_INTEGER:
        assert_int_equal(got->u.integer, want->u.integer);
        break;
    case RTMPD_AMF_BOOLEAN:
        assert_int_equal(!!got->u.boolean, !!want->u.boolean);
        break;
    case RTMPD_AMF_STRING:
    case RTMPD_AMF_XML:
    case RTMPD_AMF_BYTE_ARRAY:
        assert_amf_str(&got->u.str, want->u.str.ptr, want->u.str.len);
        break;
    case RTMPD_AMF_REFERENCE:
        assert_int_equal(got->u.ref, want->u.ref);
        break;
    case RTMPD_AMF_TYPED_OBJECT:
        assert_amf_str(&got->u.obj.class_name, want->u.obj.class_name.ptr,
                       want->u.obj.class_name.len);
        /* fall through */
    case RTMPD_AMF_OBJECT:
    case RTMPD_AMF_ECMA_ARRAY:
    case RTMPD_AMF_STRICT_ARRAY:
        assert_int_equal(got->u.obj.nprops, want->u.obj.nprops);
        for (uint32_t i = 0; i < want->u.obj.nprops; i++) {
            assert_amf_str(&got->u.obj.props[i].key, want->u.obj.props[i].key.ptr,
                           want->u.obj.props[i].key.len);
            assert_value_equal(want->u.obj.props[i].value, got->u.obj.props[i].value);
        }
        assert_int_equal(got->u.obj.nitems, want->u.obj.nitems);
        for (uint32_t i = 0; i < want->u.obj.nitems; i++)
            assert_value_equal(want->u.obj.items[i], got->u.obj.items[i]);
        break;
    default:
        break;
    }
}

static ssize_t dec(struct rtmpd_amf_dec *d, int amf3, const void *in, size_t len,
                   struct rtmpd_amf_value **out)
{
    return amf3 ? rtmpd_amf3_decode(d, in, len, out) : rtmpd_amf0_decode(d, in, len, out);
}

static int enc(struct rtmpd_buf *b, int amf3, const struct rtmpd_amf_value *v)
{
    return amf3 ? rtmpd_amf3_encode(b, v) : rtmpd_amf0_encode(b, v);
}

/* Decodes exactly n values that must fill msg; returns them in vals. */
static void decode_msg(struct rtmpd_amf_dec *d, int amf3, const uint8_t *msg, size_t len,
                       struct rtmpd_amf_value **vals, size_t n)
{
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        ssize_t r = dec(d, amf3, msg + pos, len - pos, &vals[i]);
        assert_true(r > 0);
        pos += (size_t)r;
    }
    assert_int_equal(pos, len);
}

/* Encodes want, decodes it back, compares; then checks that re-encoding the
 * decoded tree gives the very same bytes. */
static void round_trip(int amf3, const struct rtmpd_amf_value *want)
{
    struct rtmpd_buf b, b2;
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *got;

    rtmpd_buf_init(&b);
    rtmpd_buf_init(&b2);
    rtmpd_amf_dec_init(&d, NULL);
    assert_int_equal(enc(&b, amf3, want), RTMPD_OK);
    assert_int_equal(dec(&d, amf3, b.data, b.len, &got), (ssize_t)b.len);
    assert_value_equal(want, got);
    assert_int_equal(enc(&b2, amf3, got), RTMPD_OK);
    assert_int_equal(b2.len, b.len);
    assert_memory_equal(b2.data, b.data, b.len);
    rtmpd_amf_dec_release(&d);
    rtmpd_buf_release(&b);
    rtmpd_buf_release(&b2);
}

static const char *get_str(const struct rtmpd_amf_value *obj, const char *key)
{
    return rtmpd_amf_string(rtmpd_amf_get(obj, key), NULL);
}

static double get_num(const struct rtmpd_amf_value *obj, const char *key)
{
    double x = -12345;
    assert_int_equal(rtmpd_amf_number(rtmpd_amf_get(obj, key), &x), 0);
    return x;
}

/* ---- vectors ------------------------------------------------------------ */

/* A byte vector from a string literal (which may hold NULs). */
struct vec {
    const uint8_t *p;
    size_t n;
};
#define V(s) { (const uint8_t *)(s), sizeof(s) - 1 }

#define NUM_1 "\x00\x3f\xf0\x00\x00\x00\x00\x00\x00"
#define NUM_2 "\x00\x40\x00\x00\x00\x00\x00\x00\x00"
#define NUM_15 "\x00\x40\x2e\x00\x00\x00\x00\x00\x00"
#define NUM_252 "\x00\x40\x6f\x80\x00\x00\x00\x00\x00"
#define NUM_4071 "\x00\x40\xaf\xce\x00\x00\x00\x00\x00"
#define OBJ_END "\x00\x00\x09"

/* ffmpeg publishing (libavformat/rtmpproto.c gen_connect, !is_input). */
static const uint8_t connect_ffmpeg_publish[] =
    "\x02\x00\x07" "connect"
    NUM_1
    "\x03"
    "\x00\x03" "app" "\x02\x00\x04" "live"
    "\x00\x04" "type" "\x02\x00\x0a" "nonprivate"
    "\x00\x08" "flashVer" "\x02\x00\x23" "FMLE/3.0 (compatible; Lavf61.7.100)"
    "\x00\x05" "tcUrl" "\x02\x00\x1a" "rtmp://127.0.0.1:1935/live"
    OBJ_END;

/* ffmpeg playing (ffplay rtmp://...): no type, the capability fields. */
static const uint8_t connect_ffmpeg_play[] =
    "\x02\x00\x07" "connect"
    NUM_1
    "\x03"
    "\x00\x03" "app" "\x02\x00\x04" "live"
    "\x00\x08" "flashVer" "\x02\x00\x0d" "LNX 9,0,124,2"
    "\x00\x05" "tcUrl" "\x02\x00\x1a" "rtmp://127.0.0.1:1935/live"
    "\x00\x04" "fpad" "\x01\x00"
    "\x00\x0c" "capabilities" NUM_15
    "\x00\x0b" "audioCodecs" NUM_4071
    "\x00\x0b" "videoCodecs" NUM_252
    "\x00\x0d" "videoFunction" NUM_1
    OBJ_END;

/* OBS (librtmp SendConnectPacket with RTMP_FEATURE_WRITE). */
#define OBS_CONNECT_HEAD                                                            \
    "\x02\x00\x07" "connect"                                                        \
    NUM_1                                                                           \
    "\x03"                                                                          \
    "\x00\x03" "app" "\x02\x00\x04" "live"                                          \
    "\x00\x04" "type" "\x02\x00\x0a" "nonprivate"                                   \
    "\x00\x08" "flashVer" "\x02\x00\x1f" "FMLE/3.0 (compatible; FMSc/1.0)"          \
    "\x00\x06" "swfUrl" "\x02\x00\x15" "rtmp://127.0.0.1/live"                      \
    "\x00\x05" "tcUrl" "\x02\x00\x15" "rtmp://127.0.0.1/live"

static const uint8_t connect_obs[] = OBS_CONNECT_HEAD OBJ_END;

/* Enhanced RTMP: the client lists its FourCCs and extended capabilities. */
static const uint8_t connect_enhanced[] =
    OBS_CONNECT_HEAD
    "\x00\x0a" "fourCcList" "\x0a\x00\x00\x00\x03"
        "\x02\x00\x04" "av01" "\x02\x00\x04" "vp09" "\x02\x00\x04" "hvc1"
    "\x00\x06" "capsEx" NUM_2
    OBJ_END;

/* An AMF3 command message (type 17) body after its leading 0x00 byte: AMF0
 * name and transaction id, then the command object switched to AMF3. */
static const uint8_t connect_amf3[] =
    "\x02\x00\x07" "connect"
    NUM_1
    "\x11\x0a\x0b\x01"                                  /* anonymous dynamic object */
    "\x07" "app" "\x06\x09" "live"
    "\x0b" "tcUrl" "\x06\x2b" "rtmp://127.0.0.1/live"
    "\x1d" "objectEncoding" "\x04\x03"
    "\x09" "fpad" "\x02"
    "\x01";                                             /* end of dynamic members */

/* AMF3 reference tables: strings, traits and objects by index. */
static const uint8_t amf3_refs[] =
    "\x09\x0d\x01"                          /* array, 6 dense items, no assoc */
    "\x06\x07" "abc"                        /* [0] "abc" -> string 0 */
    "\x06\x00"                              /* [1] string ref 0 */
    "\x0a\x13\x05" "Pt" "\x03" "x" "\x04\x01"     /* [2] Pt{x:1}, traits 0, object 1 */
    "\x0a\x01" "\x04\x02"                   /* [3] traits ref 0: Pt{x:2}, object 2 */
    "\x0a\x02"                              /* [4] object ref 1 */
    "\x0a\x00";                             /* [5] object ref 0: the array itself */

static void connect_ffmpeg_publish_decodes(void **state)
{
    (void)state;
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v[3];
    double txn;

    assert_int_equal(sizeof connect_ffmpeg_publish - 1, 138);
    rtmpd_amf_dec_init(&d, NULL);
    decode_msg(&d, 0, connect_ffmpeg_publish, sizeof connect_ffmpeg_publish - 1, v, 3);
    assert_string_equal(rtmpd_amf_string(v[0], NULL), "connect");
    assert_int_equal(rtmpd_amf_number(v[1], &txn), 0);
    assert_true(txn == 1.0);
    assert_int_equal(v[2]->type, RTMPD_AMF_OBJECT);
    assert_int_equal(v[2]->u.obj.nprops, 4);
    assert_string_equal(get_str(v[2], "app"), "live");
    assert_string_equal(get_str(v[2], "type"), "nonprivate");
    assert_string_equal(get_str(v[2], "flashVer"), "FMLE/3.0 (compatible; Lavf61.7.100)");
    assert_string_equal(get_str(v[2], "tcUrl"), "rtmp://127.0.0.1:1935/live");
    assert_null(rtmpd_amf_get(v[2], "swfUrl"));
    assert_null(rtmpd_amf_get(v[2], "ap")); /* prefix is not a match */
    rtmpd_amf_dec_release(&d);
}

static void connect_ffmpeg_play_decodes(void **state)
{
    (void)state;
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v[3];

    assert_int_equal(sizeof connect_ffmpeg_play - 1, 196);
    rtmpd_amf_dec_init(&d, NULL);
    decode_msg(&d, 0, connect_ffmpeg_play, sizeof connect_ffmpeg_play - 1, v, 3);
    assert_string_equal(rtmpd_amf_string(v[0], NULL), "connect");
    assert_string_equal(get_str(v[2], "app"), "live");
    assert_string_equal(get_str(v[2], "flashVer"), "LNX 9,0,124,2");
    assert_null(rtmpd_amf_get(v[2], "type"));
    assert_int_equal(rtmpd_amf_get(v[2], "fpad")->type, RTMPD_AMF_BOOLEAN);
    assert_int_equal(rtmpd_amf_bool(rtmpd_amf_get(v[2], "fpad"), 1), 0);
    assert_true(get_num(v[2], "capabilities") == 15.0);
    assert_true(get_num(v[2], "audioCodecs") == 4071.0);
    assert_true(get_num(v[2], "videoCodecs") == 252.0);
    assert_true(get_num(v[2], "videoFunction") == 1.0);
    rtmpd_amf_dec_release(&d);
}

static void connect_obs_decodes(void **state)
{
    (void)state;
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v[3];
    double txn = 0;

    assert_int_equal(sizeof connect_obs - 1, 161);
    rtmpd_amf_dec_init(&d, NULL);
    decode_msg(&d, 0, connect_obs, sizeof connect_obs - 1, v, 3);
    assert_string_equal(rtmpd_amf_string(v[0], NULL), "connect");
    assert_int_equal(rtmpd_amf_number(v[1], &txn), 0);
    assert_true(txn == 1.0);
    assert_string_equal(get_str(v[2], "app"), "live");
    assert_string_equal(get_str(v[2], "type"), "nonprivate");
    assert_string_equal(get_str(v[2], "flashVer"), "FMLE/3.0 (compatible; FMSc/1.0)");
    assert_string_equal(get_str(v[2], "swfUrl"), "rtmp://127.0.0.1/live");
    assert_string_equal(get_str(v[2], "tcUrl"), "rtmp://127.0.0.1/live");
    rtmpd_amf_dec_release(&d);
}

static void connect_enhanced_rtmp_fourcc_list_decodes(void **state)
{
    (void)state;
    static const char *const want[] = { "av01", "vp09", "hvc1" };
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v[3];

    assert_int_equal(sizeof connect_enhanced - 1, 216);
    rtmpd_amf_dec_init(&d, NULL);
    decode_msg(&d, 0, connect_enhanced, sizeof connect_enhanced - 1, v, 3);
    assert_string_equal(get_str(v[2], "tcUrl"), "rtmp://127.0.0.1/live");
    const struct rtmpd_amf_value *list = rtmpd_amf_get(v[2], "fourCcList");
    assert_non_null(list);
    assert_int_equal(list->type, RTMPD_AMF_STRICT_ARRAY);
    assert_int_equal(list->u.obj.nitems, 3);
    for (int i = 0; i < 3; i++) {
        size_t len = 0;
        assert_string_equal(rtmpd_amf_string(list->u.obj.items[i], &len), want[i]);
        assert_int_equal(len, 4);
    }
    assert_true(get_num(v[2], "capsEx") == 2.0);
    rtmpd_amf_dec_release(&d);
}

static void connect_amf3_command_object_decodes(void **state)
{
    (void)state;
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v[3];

    rtmpd_amf_dec_init(&d, NULL);
    decode_msg(&d, 0, connect_amf3, sizeof connect_amf3 - 1, v, 3);
    assert_string_equal(rtmpd_amf_string(v[0], NULL), "connect");
    assert_int_equal(v[2]->type, RTMPD_AMF_OBJECT);
    assert_string_equal(get_str(v[2], "app"), "live");
    assert_string_equal(get_str(v[2], "tcUrl"), "rtmp://127.0.0.1/live");
    assert_int_equal(rtmpd_amf_get(v[2], "objectEncoding")->type, RTMPD_AMF_INTEGER);
    assert_true(get_num(v[2], "objectEncoding") == 3.0);
    assert_int_equal(rtmpd_amf_bool(rtmpd_amf_get(v[2], "fpad"), 1), 0);
    rtmpd_amf_dec_release(&d);
}

/* ---- round trips --------------------------------------------------------- */

static void amf0_round_trip_every_type(void **state)
{
    (void)state;
    struct pool p = { .n = 0 };
    char *big = palloc(&p, 70000);
    memset(big, 'x', 70000);

    struct rtmpd_amf_value *tree = mk_obj(&p, RTMPD_AMF_OBJECT, "", 20,
        "num", mk_num(&p, RTMPD_AMF_NUMBER, 1.5),
        "negzero", mk_num(&p, RTMPD_AMF_NUMBER, -0.0),
        "inf", mk_num(&p, RTMPD_AMF_NUMBER, -INFINITY),
        "nan", mk_num(&p, RTMPD_AMF_NUMBER, NAN),
        "yes", mk_bool(&p, 1),
        "no", mk_bool(&p, 0),
        "str", mk_str(&p, RTMPD_AMF_STRING, "h\xc3\xa9llo", 6),
        "empty", mk_str(&p, RTMPD_AMF_STRING, "", 0),
        "long", mk_str(&p, RTMPD_AMF_STRING, big, 70000),
        "nul", mk(&p, RTMPD_AMF_NULL),
        "undef", mk(&p, RTMPD_AMF_UNDEFINED),
        "ecma", mk_obj(&p, RTMPD_AMF_ECMA_ARRAY, "", 2,
                       "a", mk_num(&p, RTMPD_AMF_NUMBER, 1), "b", mk_str(&p, RTMPD_AMF_STRING, "two", 3)),
        "strict", mk_arr(&p, 3, mk_num(&p, RTMPD_AMF_NUMBER, 1), mk_str(&p, RTMPD_AMF_STRING, "x", 1),
                         mk(&p, RTMPD_AMF_NULL)),
        "emptyarr", mk_arr(&p, 0),
        "typed", mk_obj(&p, RTMPD_AMF_TYPED_OBJECT, "com.example.Point", 2,
                        "x", mk_num(&p, RTMPD_AMF_NUMBER, 1), "y", mk_num(&p, RTMPD_AMF_NUMBER, 2)),
        "date", mk_num(&p, RTMPD_AMF_DATE, 1700000000123.0),
        "xml", mk_str(&p, RTMPD_AMF_XML, "<a b=\"c\"/>", 10),
        "bytes", mk_str(&p, RTMPD_AMF_BYTE_ARRAY, "\x00\x01\xff", 3),
        "self", mk_ref(&p, 0),
        "nested", mk_obj(&p, RTMPD_AMF_OBJECT, "", 1, "inner",
                         mk_arr(&p, 1, mk_obj(&p, RTMPD_AMF_OBJECT, "", 1, "deep", mk_bool(&p, 1)))));
    round_trip(0, tree);

    /* Top-level scalars, each alone. */
    round_trip(0, mk_num(&p, RTMPD_AMF_NUMBER, -2.5e300));
    round_trip(0, mk(&p, RTMPD_AMF_UNDEFINED));
    round_trip(0, mk_str(&p, RTMPD_AMF_STRING, "a", 1));
    pool_free(&p);
}

static void amf3_round_trip_every_type(void **state)
{
    (void)state;
    struct pool p = { .n = 0 };

    struct rtmpd_amf_value *arr = mk_arr(&p, 2, mk_int(&p, 1), mk_str(&p, RTMPD_AMF_STRING, "a", 1));
    arr->u.obj.nprops = 1; /* associative part */
    arr->u.obj.props = palloc(&p, sizeof *arr->u.obj.props);
    arr->u.obj.props[0].key = mk_s("k", 1);
    arr->u.obj.props[0].value = mk_str(&p, RTMPD_AMF_STRING, "v", 1);

    struct rtmpd_amf_value *tree = mk_obj(&p, RTMPD_AMF_OBJECT, "", 19,
        "undef", mk(&p, RTMPD_AMF_UNDEFINED),
        "nul", mk(&p, RTMPD_AMF_NULL),
        "no", mk_bool(&p, 0),
        "yes", mk_bool(&p, 1),
        "int", mk_int(&p, 42),
        "neg", mk_int(&p, -5),
        "max", mk_int(&p, (1 << 28) - 1),
        "min", mk_int(&p, -(1 << 28)),
        "dbl", mk_num(&p, RTMPD_AMF_NUMBER, 3.25),
        "nan", mk_num(&p, RTMPD_AMF_NUMBER, NAN),
        "str", mk_str(&p, RTMPD_AMF_STRING, "hello", 5),
        "empty", mk_str(&p, RTMPD_AMF_STRING, "", 0),
        "xml", mk_str(&p, RTMPD_AMF_XML, "<x/>", 4),
        "date", mk_num(&p, RTMPD_AMF_DATE, -86400000.0),
        "arr", arr,
        "emptyarr", mk_arr(&p, 0),
        "typed", mk_obj(&p, RTMPD_AMF_TYPED_OBJECT, "flex.Point", 2,
                        "x", mk_int(&p, 1), "y", mk_num(&p, RTMPD_AMF_NUMBER, 2.5)),
        "bytes", mk_str(&p, RTMPD_AMF_BYTE_ARRAY, "\x00\xfe\x00", 3),
        "nested", mk_obj(&p, RTMPD_AMF_OBJECT, "", 1, "o", mk_obj(&p, RTMPD_AMF_OBJECT, "", 0)));
    round_trip(1, tree);
    round_trip(1, mk_bool(&p, 1));
    round_trip(1, mk_int(&p, 0));
    pool_free(&p);
}

/* Shapes one encoding lacks map onto the nearest the other has. */
static void encode_maps_types_across_encodings(void **state)
{
    (void)state;
    struct pool p = { .n = 0 };
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *got;
    struct rtmpd_buf b;

    rtmpd_buf_init(&b);
    rtmpd_amf_dec_init(&d, NULL);

    /* AMF0 has no integer: a number. */
    assert_int_equal(rtmpd_amf0_encode(&b, mk_int(&p, 7)), RTMPD_OK);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.data, "\x00\x40\x1c\x00\x00\x00\x00\x00\x00", 9);

    /* An AMF3 array with named members becomes an ECMA array keyed "0".. */
    struct rtmpd_amf_value *arr = mk_arr(&p, 2, mk_bool(&p, 1), mk(&p, RTMPD_AMF_NULL));
    arr->u.obj.nprops = 1;
    arr->u.obj.props = palloc(&p, sizeof *arr->u.obj.props);
    arr->u.obj.props[0].key = mk_s("k", 1);
    arr->u.obj.props[0].value = mk(&p, RTMPD_AMF_UNDEFINED);
    rtmpd_buf_reset(&b);
    assert_int_equal(rtmpd_amf0_encode(&b, arr), RTMPD_OK);
    static const uint8_t ecma[] = "\x08\x00\x00\x00\x03"
                                  "\x00\x01" "0" "\x01\x01"
                                  "\x00\x01" "1" "\x05"
                                  "\x00\x01" "k" "\x06"
                                  "\x00\x00\x09";
    assert_int_equal(b.len, sizeof ecma - 1);
    assert_memory_equal(b.data, ecma, sizeof ecma - 1);

    /* An ECMA array in AMF3 is an array with an associative part only. */
    struct rtmpd_amf_value *e = mk_obj(&p, RTMPD_AMF_ECMA_ARRAY, "", 1, "a", mk_int(&p, 1));
    rtmpd_buf_reset(&b);
    assert_int_equal(rtmpd_amf3_encode(&b, e), RTMPD_OK);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data, "\x09\x01\x03" "a" "\x04\x01" "\x01", 7);
    assert_int_equal(rtmpd_amf3_decode(&d, b.data, b.len, &got), 7);
    assert_int_equal(got->type, RTMPD_AMF_STRICT_ARRAY);
    assert_int_equal(got->u.obj.nitems, 0);
    assert_true(get_num(got, "a") == 1.0);

    /* A ByteArray in AMF0 goes through the avmplus switch. */
    rtmpd_buf_reset(&b);
    assert_int_equal(rtmpd_amf0_encode(&b, mk_str(&p, RTMPD_AMF_BYTE_ARRAY, "\x01\x02", 2)), RTMPD_OK);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "\x11\x0c\x05\x01\x02", 5);

    rtmpd_amf_dec_release(&d);
    rtmpd_buf_release(&b);
    pool_free(&p);
}

/* ---- exact encodings --------------------------------------------------- */

static void amf0_decodes_spec_encodings(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        enum rtmpd_amf_type type;
    } cases[] = {
        { "\x00\x3f\xf8\x00\x00\x00\x00\x00\x00", 9, RTMPD_AMF_NUMBER },
        { "\x01\x01", 2, RTMPD_AMF_BOOLEAN },
        { "\x02\x00\x02" "hi", 5, RTMPD_AMF_STRING },
        { "\x03\x00\x00\x09", 4, RTMPD_AMF_OBJECT },
        { "\x05", 1, RTMPD_AMF_NULL },
        { "\x06", 1, RTMPD_AMF_UNDEFINED },
        { "\x08\x00\x00\x00\x00\x00\x00\x09", 8, RTMPD_AMF_ECMA_ARRAY },
        { "\x0a\x00\x00\x00\x00", 5, RTMPD_AMF_STRICT_ARRAY },
        { "\x0b\x42\x78\xbc\xfe\x56\x80\x00\x00\x00\x00", 11, RTMPD_AMF_DATE },
        { "\x0c\x00\x00\x00\x02" "hi", 7, RTMPD_AMF_STRING },
        { "\x0f\x00\x00\x00\x04" "<a/>", 9, RTMPD_AMF_XML },
        { "\x10\x00\x01" "C" "\x00\x01" "a" "\x05" "\x00\x00\x09", 11, RTMPD_AMF_TYPED_OBJECT },
        { "\x11\x04\x7f", 3, RTMPD_AMF_INTEGER },
    };
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v;

    rtmpd_amf_dec_init(&d, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(rtmpd_amf0_decode(&d, (const uint8_t *)cases[i].in, cases[i].len, &v),
                         (ssize_t)cases[i].len);
        assert_int_equal(v->type, cases[i].type);
    }
    rtmpd_amf0_decode(&d, (const uint8_t *)cases[0].in, cases[0].len, &v);
    assert_true(v->u.number == 1.5);
    rtmpd_amf0_decode(&d, (const uint8_t *)cases[11].in, cases[11].len, &v);
    assert_string_equal(v->u.obj.class_name.ptr, "C");
    assert_int_equal(rtmpd_amf_get(v, "a")->type, RTMPD_AMF_NULL);
    rtmpd_amf_dec_release(&d);
}

static void avmplus_marker_switches_for_one_value(void **state)
{
    (void)state;
    /* 0x11 + AMF3 int 5, then 0x05: AMF0 null again (AMF3 0x05 is a double). */
    static const uint8_t in[] = "\x11\x04\x05" "\x05";
    /* AMF3 inside an AMF0 object member. */
    static const uint8_t obj[] = "\x03\x00\x01" "a" "\x11\x06\x05" "hi" "\x00\x00\x09";
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v;

    rtmpd_amf_dec_init(&d, NULL);
    assert_int_equal(rtmpd_amf0_decode(&d, in, 4, &v), 3);
    assert_int_equal(v->type, RTMPD_AMF_INTEGER);
    assert_int_equal(v->u.integer, 5);
    assert_int_equal(rtmpd_amf0_decode(&d, in + 3, 1, &v), 1);
    assert_int_equal(v->type, RTMPD_AMF_NULL);
    assert_int_equal(rtmpd_amf3_decode(&d, in + 3, 1, &v), RTMPD_E_AMF_TRUNCATED);

    assert_int_equal(rtmpd_amf0_decode(&d, obj, sizeof obj - 1, &v), (ssize_t)sizeof obj - 1);
    assert_string_equal(get_str(v, "a"), "hi");
    rtmpd_amf_dec_release(&d);
}

static void unsupported_markers_rejected_with_type(void **state)
{
    (void)state;
    static const struct vec amf0[] = {
        V("\x04"), V("\x0d"), V("\x0e"), V("\x09"), V("\x12"), V("\xff"),
        V("\x03\x00\x01" "a" "\x09"),       /* object end after a real name */
        V("\x03\x00\x01" "a" "\x04"),       /* movieclip as a member */
        V("\x11\x0d\x01\x00"),               /* AMF3 vector via avmplus */
    };
    static const struct vec amf3[] = {
        V("\x0d\x01\x00"), V("\x0e\x01\x00"), V("\x0f\x01\x00"), V("\x10\x01\x00"),
        V("\x11\x01\x00"), V("\x12"), V("\xff"),
        V("\x0a\x07\x03" "X"),              /* externalizable traits */
        V("\x09\x03\x01\x0d\x01\x00"),      /* vector inside an array */
    };
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v;

    rtmpd_amf_dec_init(&d, NULL);
    for (size_t i = 0; i < sizeof amf0 / sizeof amf0[0]; i++)
        assert_int_equal(rtmpd_amf0_decode(&d, amf0[i].p, amf0[i].n, &v), RTMPD_E_AMF_TYPE);
    for (size_t i = 0; i < sizeof amf3 / sizeof amf3[0]; i++)
        assert_int_equal(rtmpd_amf3_decode(&d, amf3[i].p, amf3[i].n, &v), RTMPD_E_AMF_TYPE);
    rtmpd_amf_dec_release(&d);
}

static void u29_boundary_values_encode_and_decode(void **state)
{
    (void)state;
    static const struct {
        int32_t v;
        const char *bytes;
        size_t n;
    } cases[] = {
        { 0, "\x00", 1 },
        { 0x7f, "\x7f", 1 },
        { 0x80, "\x81\x00", 2 },
        { 0x3fff, "\xff\x7f", 2 },
        { 0x4000, "\x81\x80\x00", 3 },
        { 0x1fffff, "\xff\xff\x7f", 3 },
        { 0x200000, "\x80\xc0\x80\x00", 4 },
        { 0x0fffffff, "\xbf\xff\xff\xff", 4 },
        { -1, "\xff\xff\xff\xff", 4 },
        { -(1 << 28), "\xc0\x80\x80\x00", 4 },
    };
    struct rtmpd_amf_value in = { .type = RTMPD_AMF_INTEGER };
    struct rtmpd_amf_value *out;
    struct rtmpd_amf_dec d;
    struct rtmpd_buf b;

    rtmpd_buf_init(&b);
    rtmpd_amf_dec_init(&d, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        in.u.integer = cases[i].v;
        rtmpd_buf_reset(&b);
        assert_int_equal(rtmpd_amf3_encode(&b, &in), RTMPD_OK);
        assert_int_equal(b.len, 1 + cases[i].n);
        assert_int_equal(b.data[0], 0x04);
        assert_memory_equal(b.data + 1, cases[i].bytes, cases[i].n);
        assert_int_equal(rtmpd_amf3_decode(&d, b.data, b.len, &out), (ssize_t)b.len);
        assert_int_equal(out->type, RTMPD_AMF_INTEGER);
        assert_int_equal(out->u.integer, cases[i].v);
        /* Truncating the U29 anywhere is an error. */
        for (size_t cut = 1; cut < b.len; cut++)
            assert_int_equal(rtmpd_amf3_decode(&d, b.data, cut, &out), RTMPD_E_AMF_TRUNCATED);
    }
    /* Non-minimal encodings are still read correctly. */
    assert_int_equal(rtmpd_amf3_decode(&d, (const uint8_t *)"\x04\x80\x80\x80\x00", 5, &out), 5);
    assert_int_equal(out->u.integer, 0);
    rtmpd_amf_dec_release(&d);
    rtmpd_buf_release(&b);
}

static void u29_out_of_range_integer_written_as_double(void **state)
{
    (void)state;
    static const int32_t vals[] = { 1 << 28, -(1 << 28) - 1, INT32_MAX, INT32_MIN };
    struct rtmpd_amf_value in = { .type = RTMPD_AMF_INTEGER };
    struct rtmpd_amf_value *out;
    struct rtmpd_amf_dec d;
    struct rtmpd_buf b;

    rtmpd_buf_init(&b);
    rtmpd_amf_dec_init(&d, NULL);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        in.u.integer = vals[i];
        rtmpd_buf_reset(&b);
        assert_int_equal(rtmpd_amf3_encode(&b, &in), RTMPD_OK);
        assert_int_equal(b.len, 9);
        assert_int_equal(b.data[0], 0x05);
        assert_true(rtmpd_rd_double(b.data + 1) == (double)vals[i]);
        assert_int_equal(rtmpd_amf3_decode(&d, b.data, b.len, &out), 9);
        assert_int_equal(out->type, RTMPD_AMF_NUMBER);
        assert_true(out->u.number == (double)vals[i]);
    }
    rtmpd_amf_dec_release(&d);
    rtmpd_buf_release(&b);
}

static void amf0_long_string_round_trip(void **state)
{
    (void)state;
    static const size_t lens[] = { 65535, 65536, 200000 };
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v;
    struct rtmpd_buf b;

    rtmpd_buf_init(&b);
    rtmpd_amf_dec_init(&d, NULL);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        char *s = malloc(lens[i]);
        assert_non_null(s);
        for (size_t j = 0; j < lens[i]; j++)
            s[j] = (char)('a' + j % 26);
        rtmpd_buf_reset(&b);
        rtmpd_amf0_put_string(&b, s, lens[i]);
        assert_false(b.failed);
        if (lens[i] <= 65535) {
            assert_int_equal(b.data[0], 0x02);
            assert_int_equal(rtmpd_rd_be16(b.data + 1), lens[i]);
            assert_int_equal(b.len, 3 + lens[i]);
        } else {
            assert_int_equal(b.data[0], 0x0c);
            assert_int_equal(rtmpd_rd_be32(b.data + 1), lens[i]);
            assert_int_equal(b.len, 5 + lens[i]);
        }
        assert_int_equal(rtmpd_amf0_decode(&d, b.data, b.len, &v), (ssize_t)b.len);
        assert_int_equal(v->type, RTMPD_AMF_STRING);
        assert_amf_str(&v->u.str, s, lens[i]);
        /* the long form cut short by one byte */
        assert_int_equal(rtmpd_amf0_decode(&d, b.data, b.len - 1, &v), RTMPD_E_AMF_TRUNCATED);
        free(s);
        rtmpd_amf_dec_reset(&d);
    }
    rtmpd_amf_dec_release(&d);
    rtmpd_buf_release(&b);
}

static void date_round_trip_amf0_and_amf3(void **state)
{
    (void)state;
    /* 2023-11-14T22:13:20.123Z; AMF0 time zone -60 (ignored, written as 0). */
    static const uint8_t amf0_tz[] = "\x0b\x42\x78\xbc\xfe\x56\x87\xb0\x00\xff\xc4";
    static const uint8_t amf0[] = "\x0b\x42\x78\xbc\xfe\x56\x87\xb0\x00\x00\x00";
    static const uint8_t amf3[] = "\x08\x01\x42\x78\xbc\xfe\x56\x87\xb0\x00";
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v;
    struct rtmpd_buf b;

    rtmpd_buf_init(&b);
    rtmpd_amf_dec_init(&d, NULL);
    assert_int_equal(rtmpd_amf0_decode(&d, amf0_tz, 11, &v), 11);
    assert_int_equal(v->type, RTMPD_AMF_DATE);
    assert_true(v->u.number == 1700000000123.0);
    assert_int_equal(rtmpd_amf0_encode(&b, v), RTMPD_OK);
    assert_int_equal(b.len, 11);
    assert_memory_equal(b.data, amf0, 11);

    rtmpd_buf_reset(&b);
    assert_int_equal(rtmpd_amf3_encode(&b, v), RTMPD_OK);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, amf3, 10);
    assert_int_equal(rtmpd_amf3_decode(&d, amf3, 10, &v), 10);
    assert_int_equal(v->type, RTMPD_AMF_DATE);
    assert_true(v->u.number == 1700000000123.0);
    rtmpd_amf_dec_release(&d);
    rtmpd_buf_release(&b);
}

/* ---- references -------------------------------------------------------- */

static void amf3_string_traits_object_references_resolve(void **state)
{
    (void)state;
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v;

    rtmpd_amf_dec_init(&d, NULL);
    assert_int_equal(rtmpd_amf3_decode(&d, amf3_refs, sizeof amf3_refs - 1, &v),
                     (ssize_t)sizeof amf3_refs - 1);
    assert_int_equal(v->u.obj.nitems, 6);
    struct rtmpd_amf_value **it = v->u.obj.items;

    /* string reference: the same arena string, not a copy */
    assert_string_equal(rtmpd_amf_string(it[0], NULL), "abc");
    assert_string_equal(rtmpd_amf_string(it[1], NULL), "abc");
    assert_ptr_equal(it[0]->u.str.ptr, it[1]->u.str.ptr);

    /* traits reference: same class and member names, own values */
    for (int i = 2; i <= 3; i++) {
        assert_int_equal(it[i]->type, RTMPD_AMF_TYPED_OBJECT);
        assert_string_equal(it[i]->u.obj.class_name.ptr, "Pt");
        assert_int_equal(it[i]->u.obj.nprops, 1);
        assert_true(get_num(it[i], "x") == (double)(i - 1));
    }
    assert_ptr_equal(it[2]->u.obj.props[0].key.ptr, it[3]->u.obj.props[0].key.ptr);

    /* object references stay references: no shared nodes, no cycle */
    assert_int_equal(it[4]->type, RTMPD_AMF_REFERENCE);
    assert_int_equal(it[4]->u.ref, 1);
    assert_int_equal(it[5]->type, RTMPD_AMF_REFERENCE);
    assert_int_equal(it[5]->u.ref, 0);

    /* Member names and class names share the string table with values. */
    rtmpd_amf_dec_reset(&d);
    static const uint8_t keys[] = "\x0a\x0b\x01" "\x03" "k" "\x06\x00" "\x01";
    assert_int_equal(rtmpd_amf3_decode(&d, keys, sizeof keys - 1, &v), (ssize_t)sizeof keys - 1);
    assert_string_equal(get_str(v, "k"), "k");

    /* A reference to a traits of a dynamic class carries the dynamic flag. */
    rtmpd_amf_dec_reset(&d);
    static const uint8_t dyn[] = "\x09\x05\x01"
                                 "\x0a\x0b\x01" "\x03" "a" "\x04\x01" "\x01"
                                 "\x0a\x01" "\x03" "b" "\x04\x02" "\x01";
    assert_int_equal(rtmpd_amf3_decode(&d, dyn, sizeof dyn - 1, &v), (ssize_t)sizeof dyn - 1);
    assert_true(get_num(v->u.obj.items[0], "a") == 1.0);
    assert_true(get_num(v->u.obj.items[1], "b") == 2.0);
    assert_int_equal(v->u.obj.items[1]->type, RTMPD_AMF_OBJECT);

    /* Dates, XML and byte arrays take object indices too. */
    rtmpd_amf_dec_reset(&d);
    static const uint8_t others[] = "\x09\x09\x01"
                                    "\x08\x01\x00\x00\x00\x00\x00\x00\x00\x00"
                                    "\x0c\x03\xaa"
                                    "\x0c\x02"       /* object 1: the date */
                                    "\x08\x04";      /* object 2: the byte array */
    assert_int_equal(rtmpd_amf3_decode(&d, others, sizeof others - 1, &v), (ssize_t)sizeof others - 1);
    assert_int_equal(v->u.obj.items[2]->type, RTMPD_AMF_REFERENCE);
    assert_int_equal(v->u.obj.items[2]->u.ref, 1);
    assert_int_equal(v->u.obj.items[3]->type, RTMPD_AMF_REFERENCE);
    assert_int_equal(v->u.obj.items[3]->u.ref, 2);
    rtmpd_amf_dec_release(&d);
}

static void amf3_unknown_reference_index_rejected(void **state)
{
    (void)state;
    static const struct vec bad[] = {
        V("\x06\x00"),                              /* string 0, table empty */
        V("\x09\x05\x01\x06\x01\x06\x00"),          /* "" is never added to the table */
        V("\x09\x05\x01\x06\x03" "a" "\x06\x02"),   /* string 1 of 1 */
        V("\x0a\x01"),                              /* traits 0, none */
        V("\x09\x05\x01\x0a\x0b\x01\x01\x0a\x05"),  /* traits 1 of 1 */
        V("\x0a\x00"),                              /* object 0, none */
        V("\x09\x03\x01\x0a\x02"),                  /* object 1: only the array exists */
        V("\x08\x00"), V("\x07\x00"), V("\x0b\x00"), V("\x0c\x00"), V("\x09\x00"),
    };
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v;

    rtmpd_amf_dec_init(&d, NULL);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rtmpd_amf_dec_reset(&d);
        assert_int_equal(rtmpd_amf3_decode(&d, bad[i].p, bad[i].n, &v), RTMPD_E_AMF_REFERENCE);
    }
    rtmpd_amf_dec_release(&d);
}

static void amf0_reference_index_checked(void **state)
{
    (void)state;
    /* [ {}, ref 1 -> the inner object, ref 0 -> the array itself ] */
    static const uint8_t ok[] = "\x0a\x00\x00\x00\x03" "\x03\x00\x00\x09" "\x07\x00\x01" "\x07\x00\x00";
    static const uint8_t bad[] = "\x0a\x00\x00\x00\x02" "\x03\x00\x00\x09" "\x07\x00\x02";
    static const uint8_t none[] = "\x07\x00\x00";
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v;

    rtmpd_amf_dec_init(&d, NULL);
    assert_int_equal(rtmpd_amf0_decode(&d, ok, sizeof ok - 1, &v), (ssize_t)sizeof ok - 1);
    assert_int_equal(v->u.obj.items[1]->type, RTMPD_AMF_REFERENCE);
    assert_int_equal(v->u.obj.items[1]->u.ref, 1);
    assert_int_equal(v->u.obj.items[2]->u.ref, 0);
    rtmpd_amf_dec_reset(&d);
    assert_int_equal(rtmpd_amf0_decode(&d, bad, sizeof bad - 1, &v), RTMPD_E_AMF_REFERENCE);
    rtmpd_amf_dec_reset(&d);
    assert_int_equal(rtmpd_amf0_decode(&d, none, 3, &v), RTMPD_E_AMF_REFERENCE);
    rtmpd_amf_dec_release(&d);
}

/* ---- limits ------------------------------------------------------------- */

enum nest_kind {
    NEST_AMF0_OBJECT,
    NEST_AMF0_TYPED,
    NEST_AMF0_ECMA,
    NEST_AMF0_STRICT,
    NEST_AMF3_ARRAY,
    NEST_AMF3_ASSOC,
    NEST_AMF3_OBJECT,
    NEST_AMF3_SEALED,
    NEST_KINDS
};

/* A well-formed value nested n containers deep, closed properly. */
static void nest(struct rtmpd_buf *b, enum nest_kind k, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        switch (k) {
        case NEST_AMF0_OBJECT: rtmpd_buf_append(b, "\x03\x00\x01" "a", 4); break;
        case NEST_AMF0_TYPED: rtmpd_buf_append(b, "\x10\x00\x01" "T" "\x00\x01" "a", 7); break;
        case NEST_AMF0_ECMA: rtmpd_buf_append(b, "\x08\x00\x00\x00\x01\x00\x01" "a", 8); break;
        case NEST_AMF0_STRICT: rtmpd_buf_append(b, "\x0a\x00\x00\x00\x01", 5); break;
        case NEST_AMF3_ARRAY: rtmpd_buf_append(b, "\x09\x03\x01", 3); break;
        case NEST_AMF3_ASSOC: rtmpd_buf_append(b, "\x09\x01\x03" "a", 4); break;
        case NEST_AMF3_OBJECT: rtmpd_buf_append(b, "\x0a\x0b\x01\x03" "a", 5); break;
        case NEST_AMF3_SEALED: rtmpd_buf_append(b, "\x0a\x13\x03" "T" "\x03" "a", 6); break;
        default: fail();
        }
    }
    rtmpd_buf_put_u8(b, k <= NEST_AMF0_STRICT ? 0x05 : 0x01); /* null */
    for (uint32_t i = 0; i < n; i++) {
        if (k == NEST_AMF0_OBJECT || k == NEST_AMF0_TYPED || k == NEST_AMF0_ECMA)
            rtmpd_buf_append(b, "\x00\x00\x09", 3);
        else if (k == NEST_AMF3_ASSOC || k == NEST_AMF3_OBJECT)
            rtmpd_buf_put_u8(b, 0x01);
    }
    assert_false(b->failed);
}

static ssize_t decode_nested(const struct rtmpd_amf_limits *lim, enum nest_kind k, uint32_t n)
{
    struct rtmpd_amf_limits l = *lim;
    struct rtmpd_amf_value *v;
    struct rtmpd_amf_dec d;
    struct rtmpd_buf b;

    rtmpd_buf_init(&b);
    nest(&b, k, n);
    l.max_values = 1000000;
    rtmpd_amf_dec_init(&d, &l);
    ssize_t r = dec(&d, k > NEST_AMF0_STRICT, b.data, b.len, &v);
    if (r >= 0)
        assert_int_equal(r, (ssize_t)b.len);
    rtmpd_amf_dec_release(&d);
    rtmpd_buf_release(&b);
    return r;
}

static void nesting_70000_deep_rejected_with_depth(void **state)
{
    (void)state;
    const struct rtmpd_amf_limits def = { 0, 0 };
    const struct rtmpd_amf_limits huge = { UINT32_MAX, 0 };

    for (int k = 0; k < NEST_KINDS; k++) {
        assert_true(decode_nested(&def, k, 64) > 0);
        assert_int_equal(decode_nested(&def, k, 65), RTMPD_E_AMF_DEPTH);
        assert_int_equal(decode_nested(&def, k, 70000), RTMPD_E_AMF_DEPTH);
        /* A configured limit above the cap is clamped, not trusted. */
        assert_true(decode_nested(&huge, k, RTMPD_AMF_MAX_DEPTH_CAP) > 0);
        assert_int_equal(decode_nested(&huge, k, RTMPD_AMF_MAX_DEPTH_CAP + 1), RTMPD_E_AMF_DEPTH);
        assert_int_equal(decode_nested(&huge, k, 70000), RTMPD_E_AMF_DEPTH);
    }
}

static void depth_counts_across_avmplus_switch(void **state)
{
    (void)state;
    struct rtmpd_amf_limits lim = { 3, 0 };
    struct rtmpd_amf_value *v;
    struct rtmpd_amf_dec d;
    struct rtmpd_buf b;

    /* {a: AMF3 [[null]]}: three levels */
    static const uint8_t three[] = "\x03\x00\x01" "a" "\x11\x09\x03\x01\x09\x03\x01\x01" "\x00\x00\x09";
    static const uint8_t four[] = "\x03\x00\x01" "a" "\x11\x09\x03\x01\x09\x03\x01\x09\x01\x01" "\x00\x00\x09";
    rtmpd_amf_dec_init(&d, &lim);
    assert_int_equal(d.lim.max_depth, 3);
    assert_int_equal(rtmpd_amf0_decode(&d, three, sizeof three - 1, &v), (ssize_t)sizeof three - 1);
    assert_int_equal(rtmpd_amf0_decode(&d, four, sizeof four - 1, &v), RTMPD_E_AMF_DEPTH);
    rtmpd_amf_dec_release(&d);

    /* 40 AMF0 objects around 40 AMF3 arrays exceed the default 64. */
    rtmpd_buf_init(&b);
    for (int i = 0; i < 40; i++)
        rtmpd_buf_append(&b, "\x03\x00\x01" "a", 4);
    rtmpd_buf_put_u8(&b, 0x11);
    nest(&b, NEST_AMF3_ARRAY, 40);
    for (int i = 0; i < 40; i++)
        rtmpd_buf_append(&b, "\x00\x00\x09", 3);
    rtmpd_amf_dec_init(&d, NULL);
    assert_int_equal(rtmpd_amf0_decode(&d, b.data, b.len, &v), RTMPD_E_AMF_DEPTH);
    rtmpd_amf_dec_release(&d);
    rtmpd_buf_release(&b);
}

/* Every proper prefix of a message, in an exactly sized heap copy so ASan
 * catches any over-read, must fail with TRUNCATED. */
static void check_every_prefix(int amf3, const uint8_t *msg, size_t len, size_t nvalues)
{
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v;

    rtmpd_amf_dec_init(&d, NULL);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        assert_non_null(copy);
        memcpy(copy, msg, cut);
        size_t pos = 0, i;
        ssize_t r = 0;
        for (i = 0; i < nvalues; i++) {
            r = dec(&d, amf3, copy + pos, cut - pos, &v);
            if (r < 0)
                break;
            assert_true(pos + (size_t)r <= cut);
            pos += (size_t)r;
        }
        if (r != RTMPD_E_AMF_TRUNCATED)
            fail_msg("prefix %zu of %zu: value %zu gave %zd", cut, len, i, r);
        free(copy);
        rtmpd_amf_dec_reset(&d);
    }
    rtmpd_amf_dec_release(&d);
}

static void truncated_input_at_every_offset_fails(void **state)
{
    (void)state;
    struct pool p = { .n = 0 };
    struct rtmpd_buf b;

    check_every_prefix(0, connect_ffmpeg_publish, sizeof connect_ffmpeg_publish - 1, 3);
    check_every_prefix(0, connect_ffmpeg_play, sizeof connect_ffmpeg_play - 1, 3);
    check_every_prefix(0, connect_obs, sizeof connect_obs - 1, 3);
    check_every_prefix(0, connect_enhanced, sizeof connect_enhanced - 1, 3);
    check_every_prefix(0, connect_amf3, sizeof connect_amf3 - 1, 3);
    check_every_prefix(1, amf3_refs, sizeof amf3_refs - 1, 1);

    /* Every type, in each encoding. */
    struct rtmpd_amf_value *arr = mk_arr(&p, 2, mk_int(&p, 300), mk_num(&p, RTMPD_AMF_DATE, 5));
    struct rtmpd_amf_value *tree = mk_obj(&p, RTMPD_AMF_OBJECT, "", 11,
        "n", mk_num(&p, RTMPD_AMF_NUMBER, 2), "b", mk_bool(&p, 1),
        "s", mk_str(&p, RTMPD_AMF_STRING, "str", 3), "z", mk(&p, RTMPD_AMF_NULL),
        "u", mk(&p, RTMPD_AMF_UNDEFINED),
        "e", mk_obj(&p, RTMPD_AMF_ECMA_ARRAY, "", 1, "k", mk_bool(&p, 0)),
        "a", arr,
        "t", mk_obj(&p, RTMPD_AMF_TYPED_OBJECT, "T", 1, "m", mk_int(&p, -1)),
        "x", mk_str(&p, RTMPD_AMF_XML, "<x/>", 4),
        "y", mk_str(&p, RTMPD_AMF_BYTE_ARRAY, "\x01", 1),
        "d", mk_num(&p, RTMPD_AMF_DATE, 1e12));
    for (int amf3 = 0; amf3 <= 1; amf3++) {
        rtmpd_buf_init(&b);
        assert_int_equal(enc(&b, amf3, tree), RTMPD_OK);
        check_every_prefix(amf3, b.data, b.len, 1);
        rtmpd_buf_release(&b);
    }
    pool_free(&p);
}

/* Declared sizes far beyond the input fail at once, with nothing sized by them. */
static void huge_declared_lengths_rejected_without_allocation(void **state)
{
    (void)state;
    static const struct {
        int amf3;
        const char *head;
        size_t headlen;
    } cases[] = {
        { 0, "\x02\xff\xff", 3 },                           /* string 65535 */
        { 0, "\x0c\xff\xff\xff\xff", 5 },                   /* long string 4 GiB */
        { 0, "\x0f\xff\xff\xff\xff", 5 },                   /* XML 4 GiB */
        { 0, "\x0a\xff\xff\xff\xff", 5 },                   /* strict array 2^32-1 */
        { 0, "\x08\xff\xff\xff\xff\x00\x01" "a" "\x05", 9 }, /* ECMA array 2^32-1 */
        { 0, "\x10\xff\xff", 3 },                           /* class name 65535 */
        { 0, "\x03\xff\xff", 3 },                           /* member name 65535 */
        { 0, "\x11\x09\xff\xff\xff\xff\x01", 7 },           /* AMF3 array via avmplus */
        { 1, "\x06\xff\xff\xff\xff", 5 },                   /* string 2^28-1 */
        { 1, "\x0c\xff\xff\xff\xff", 5 },                   /* byte array */
        { 1, "\x0b\xff\xff\xff\xff", 5 },                   /* XML */
        { 1, "\x07\xff\xff\xff\xff", 5 },                   /* XMLDocument */
        { 1, "\x09\xff\xff\xff\xff\x01", 6 },               /* array, 2^28-1 dense */
        { 1, "\x0a\xff\xff\xff\xf3\x01", 6 },               /* 2^25-1 sealed members */
    };
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v;

    rtmpd_amf_dec_init(&d, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *msg = malloc(20); /* a 20-byte message */
        assert_non_null(msg);
        memset(msg, cases[i].amf3 ? 0x01 : 0x05, 20); /* nulls after the header */
        memcpy(msg, cases[i].head, cases[i].headlen);
        assert_int_equal(dec(&d, cases[i].amf3, msg, 20, &v), RTMPD_E_AMF_TRUNCATED);
        assert_true(rtmpd_amf_dec_memory(&d) <= 8192);
        free(msg);
        rtmpd_amf_dec_reset(&d);
    }
    rtmpd_amf_dec_release(&d);
    assert_int_equal(rtmpd_amf_dec_memory(&d), 0);
}

static void ecma_array_count_is_only_a_hint(void **state)
{
    (void)state;
    static const uint8_t under[] = "\x08\x00\x00\x00\x00"       /* says 0, has 2 */
                                   "\x00\x01" "a" "\x05" "\x00\x01" "b" "\x01\x01" "\x00\x00\x09";
    static const uint8_t over[] = "\x08\x00\x00\x00\x64"        /* says 100, has 1 */
                                  "\x00\x01" "a" "\x05" "\x00\x00\x09" "\x05";
    static const uint8_t open[] = "\x08\x00\x00\x00\x01"        /* says 1, never ends */
                                  "\x00\x01" "a" "\x05";
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v;

    rtmpd_amf_dec_init(&d, NULL);
    assert_int_equal(rtmpd_amf0_decode(&d, under, sizeof under - 1, &v), (ssize_t)sizeof under - 1);
    assert_int_equal(v->type, RTMPD_AMF_ECMA_ARRAY);
    assert_int_equal(v->u.obj.nprops, 2);
    assert_int_equal(rtmpd_amf_bool(rtmpd_amf_get(v, "b"), 0), 1);
    /* stops at the end marker; the trailing null is the next value */
    assert_int_equal(rtmpd_amf0_decode(&d, over, sizeof over - 1, &v), (ssize_t)sizeof over - 2);
    assert_int_equal(v->u.obj.nprops, 1);
    assert_int_equal(rtmpd_amf0_decode(&d, open, sizeof open - 1, &v), RTMPD_E_AMF_TRUNCATED);
    rtmpd_amf_dec_release(&d);
}

static void value_limit_per_decoder_until_reset(void **state)
{
    (void)state;
    struct rtmpd_amf_limits lim = { 0, 8 };
    static const uint8_t arr10[] = "\x0a\x00\x00\x00\x0a" "\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05";
    static const uint8_t obj[] = "\x03" "\x00\x01" "a\x05" "\x00\x01" "b\x05" "\x00\x01" "c\x05"
                                 "\x00\x01" "d\x05" "\x00\x01" "e\x05" "\x00\x01" "f\x05"
                                 "\x00\x01" "g\x05" "\x00\x01" "h\x05" "\x00\x00\x09";
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v;

    rtmpd_amf_dec_init(&d, &lim);
    assert_int_equal(d.lim.max_depth, RTMPD_AMF_MAX_DEPTH_DEFAULT);
    /* count 10 fits the input but not the budget: refused before allocation */
    assert_int_equal(rtmpd_amf0_decode(&d, arr10, sizeof arr10 - 1, &v), RTMPD_E_AMF_LIMIT);
    rtmpd_amf_dec_reset(&d);
    assert_int_equal(rtmpd_amf0_decode(&d, obj, sizeof obj - 1, &v), RTMPD_E_AMF_LIMIT);
    rtmpd_amf_dec_reset(&d);
    /* the budget spans calls until reset */
    for (int i = 0; i < 8; i++)
        assert_int_equal(rtmpd_amf0_decode(&d, (const uint8_t *)"\x05", 1, &v), 1);
    assert_int_equal(rtmpd_amf0_decode(&d, (const uint8_t *)"\x05", 1, &v), RTMPD_E_AMF_LIMIT);
    rtmpd_amf_dec_reset(&d);
    assert_int_equal(rtmpd_amf0_decode(&d, (const uint8_t *)"\x05", 1, &v), 1);
    rtmpd_amf_dec_release(&d);

    rtmpd_amf_dec_init(&d, NULL);
    assert_int_equal(d.lim.max_values, RTMPD_AMF_MAX_VALUES_DEFAULT);
    rtmpd_amf_dec_release(&d);
}

/* ---- memory, strings, reset -------------------------------------------- */

static void strings_are_nul_terminated_copies(void **state)
{
    (void)state;
    static const uint8_t src[] = "\x03\x00\x03" "k\x00y" "\x02\x00\x03" "a\x00" "b" "\x00\x00\x09";
    uint8_t *in = malloc(sizeof src - 1);
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v;
    size_t len = 0;

    assert_non_null(in);
    memcpy(in, src, sizeof src - 1);
    rtmpd_amf_dec_init(&d, NULL);
    assert_int_equal(rtmpd_amf0_decode(&d, in, sizeof src - 1, &v), (ssize_t)sizeof src - 1);
    memset(in, 0xee, sizeof src - 1); /* the tree must not point into the input */
    free(in);
    assert_int_equal(v->u.obj.nprops, 1);
    assert_amf_str(&v->u.obj.props[0].key, "k\0y", 3);
    const char *s = rtmpd_amf_string(v->u.obj.props[0].value, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 4); /* including the terminating NUL */
    assert_null(rtmpd_amf_get(v, "k")); /* "k" is not "k\0y" */
    rtmpd_amf_dec_release(&d);
}

static void reset_frees_values_and_tables(void **state)
{
    (void)state;
    struct rtmpd_amf_dec d;
    struct rtmpd_amf_value *v;
    struct rtmpd_buf b;

    rtmpd_buf_init(&b);
    rtmpd_amf_dec_init(&d, NULL);
    assert_int_equal(rtmpd_amf_dec_memory(&d), 0);
    assert_int_equal(rtmpd_amf3_decode(&d, (const uint8_t *)"\x06\x07" "abc", 5, &v), 5);
    assert_int_equal(rtmpd_amf3_decode(&d, (const uint8_t *)"\x06\x00", 2, &v), 2);
    assert_string_equal(rtmpd_amf_string(v, NULL), "abc");

    /* many values: the arena grows past one block */
    rtmpd_amf0_put_ecma_start(&b, 0);
    for (int i = 0; i < 2000; i++)
        rtmpd_amf0_put_prop_number(&b, "n", i);
    rtmpd_amf0_put_object_end(&b);
    assert_int_equal(rtmpd_amf0_decode(&d, b.data, b.len, &v), (ssize_t)b.len);
    assert_int_equal(v->u.obj.nprops, 2000);
    size_t peak = rtmpd_amf_dec_memory(&d);
    assert_true(peak > 2000 * sizeof(struct rtmpd_amf_value));

    rtmpd_amf_dec_reset(&d);
    assert_true(rtmpd_amf_dec_memory(&d) <= 8192);
    /* the string table is gone with the values */
    assert_int_equal(rtmpd_amf3_decode(&d, (const uint8_t *)"\x06\x00", 2, &v), RTMPD_E_AMF_REFERENCE);
    /* and the decoder works again */
    assert_int_equal(rtmpd_amf0_decode(&d, b.data, b.len, &v), (ssize_t)b.len);
    rtmpd_amf_dec_release(&d);
    assert_int_equal(rtmpd_amf_dec_memory(&d), 0);
    rtmpd_buf_release(&b);
}

/* ---- encoding helpers and errors ---------------------------------------- */

static void put_helpers_write_exact_bytes(void **state)
{
    (void)state;
    static const uint8_t want[] =
        "\x02\x00\x07" "_result" NUM_1
        "\x03"
        "\x00\x06" "fmsVer" "\x02\x00\x0d" "FMS/3,0,1,123"
        "\x00\x0c" "capabilities" "\x00\x40\x3f\x00\x00\x00\x00\x00\x00"
        "\x00\x00\x09"
        "\x08\x00\x00\x00\x02"
        "\x00\x04" "live" "\x01\x01"
        "\x00\x03" "bin" "\x02\x00\x03" "a\x00" "b"
        "\x00\x00\x09"
        "\x05\x06\x05"
        "\x00\x00" "\x01\x00"
        "\x0a\x00\x00\x00\x02" "\x02\x00\x04" "av01" "\x02\x00\x04" "hvc1";
    struct rtmpd_buf b;

    rtmpd_buf_init(&b);
    rtmpd_amf0_put_cstr(&b, "_result");
    rtmpd_amf0_put_number(&b, 1);
    rtmpd_amf0_put_object_start(&b);
    rtmpd_amf0_put_prop_cstr(&b, "fmsVer", "FMS/3,0,1,123");
    rtmpd_amf0_put_prop_number(&b, "capabilities", 31);
    rtmpd_amf0_put_object_end(&b);
    rtmpd_amf0_put_ecma_start(&b, 2);
    rtmpd_amf0_put_key(&b, "live");
    rtmpd_amf0_put_bool(&b, 7);
    rtmpd_amf0_put_prop_string(&b, "bin", "a\0b", 3);
    rtmpd_amf0_put_object_end(&b);
    rtmpd_amf0_put_null(&b);
    rtmpd_amf0_put_undefined(&b);
    rtmpd_amf0_put_cstr(&b, NULL);
    rtmpd_amf0_put_prop_bool(&b, "", 0);
    rtmpd_amf0_put_strict_array_start(&b, 2);
    rtmpd_amf0_put_cstr(&b, "av01");
    rtmpd_amf0_put_cstr(&b, "hvc1");
    assert_false(b.failed);
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, sizeof want - 1);

    /* an over-long name fails the buffer */
    char *key = malloc(70000);
    assert_non_null(key);
    memset(key, 'k', 69999);
    key[69999] = '\0';
    rtmpd_buf_reset(&b);
    rtmpd_amf0_put_key(&b, key);
    assert_true(b.failed);
    free(key);
    rtmpd_buf_release(&b);
}

static void encode_rejects_unrepresentable_values(void **state)
{
    (void)state;
    struct pool p = { .n = 0 };
    struct rtmpd_buf b;

    rtmpd_buf_init(&b);
    rtmpd_buf_append(&b, "xyz", 3);

    /* a reference cannot be written in AMF3 (no references are written) */
    struct rtmpd_amf_value *refobj = mk_obj(&p, RTMPD_AMF_OBJECT, "", 2,
        "ok", mk_num(&p, RTMPD_AMF_NUMBER, 1), "r", mk_ref(&p, 0));
    assert_int_equal(rtmpd_amf3_encode(&b, refobj), RTMPD_E_INVAL);
    assert_int_equal(b.len, 3); /* partial output rolled back */
    assert_int_equal(rtmpd_amf0_encode(&b, refobj), RTMPD_OK);

    b.len = 3;
    assert_int_equal(rtmpd_amf0_encode(&b, mk(&p, RTMPD_AMF_UNSUPPORTED)), RTMPD_E_INVAL);
    assert_int_equal(rtmpd_amf3_encode(&b, mk(&p, RTMPD_AMF_UNSUPPORTED)), RTMPD_E_INVAL);
    assert_int_equal(rtmpd_amf0_encode(&b, NULL), RTMPD_E_INVAL);
    assert_int_equal(rtmpd_amf0_encode(&b, mk_ref(&p, 65536)), RTMPD_E_INVAL);
    /* an empty dynamic member name would read as the AMF3 terminator */
    assert_int_equal(rtmpd_amf3_encode(&b, mk_obj(&p, RTMPD_AMF_OBJECT, "", 1, "", mk_bool(&p, 1))),
                     RTMPD_E_INVAL);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "xyz", 3);

    /* names longer than the AMF0 16-bit length */
    char *key = palloc(&p, 70001);
    memset(key, 'k', 70000);
    assert_int_equal(rtmpd_amf0_encode(&b, mk_obj(&p, RTMPD_AMF_OBJECT, "", 1, key, mk_bool(&p, 1))),
                     RTMPD_E_INVAL);
    assert_int_equal(rtmpd_amf0_encode(&b, mk_obj(&p, RTMPD_AMF_TYPED_OBJECT, key, 0)), RTMPD_E_INVAL);
    assert_int_equal(b.len, 3);

    /* a tree deeper than the cap (or a cycle) is refused, not recursed into */
    uint32_t n = RTMPD_AMF_MAX_DEPTH_CAP + 1;
    struct rtmpd_amf_value *chain = calloc(n, sizeof *chain);
    struct rtmpd_amf_value **items = calloc(n, sizeof *items);
    assert_non_null(chain);
    assert_non_null(items);
    for (uint32_t i = 0; i < n; i++) {
        chain[i].type = RTMPD_AMF_STRICT_ARRAY;
        items[i] = i + 1 < n ? &chain[i + 1] : &chain[0]; /* the last closes a cycle */
        chain[i].u.obj.items = &items[i];
        chain[i].u.obj.nitems = 1;
    }
    assert_int_equal(rtmpd_amf0_encode(&b, chain), RTMPD_E_INVAL);
    assert_int_equal(rtmpd_amf3_encode(&b, chain), RTMPD_E_INVAL);
    assert_int_equal(b.len, 3);
    free(chain);
    free(items);

    /* a failed buffer reports NOMEM */
    b.failed = 1;
    assert_int_equal(rtmpd_amf0_encode(&b, mk(&p, RTMPD_AMF_NULL)), RTMPD_E_NOMEM);
    rtmpd_buf_release(&b);
    pool_free(&p);
}

static void lookup_helpers_handle_null_and_type_mismatch(void **state)
{
    (void)state;
    struct pool p = { .n = 0 };
    struct rtmpd_amf_value *s = mk_str(&p, RTMPD_AMF_STRING, "x", 1);
    struct rtmpd_amf_value *o = mk_obj(&p, RTMPD_AMF_OBJECT, "", 2, "s", s, "n", mk_int(&p, -7));
    double x = 99;
    size_t len = 0;

    assert_null(rtmpd_amf_get(NULL, "s"));
    assert_null(rtmpd_amf_get(o, NULL));
    assert_null(rtmpd_amf_get(s, "s"));
    assert_ptr_equal(rtmpd_amf_get(o, "s"), s);
    assert_int_equal(rtmpd_amf_number(NULL, &x), -1);
    assert_int_equal(rtmpd_amf_number(s, &x), -1);
    assert_true(x == 99);
    assert_int_equal(rtmpd_amf_number(rtmpd_amf_get(o, "n"), &x), 0);
    assert_true(x == -7);
    assert_null(rtmpd_amf_string(NULL, &len));
    assert_null(rtmpd_amf_string(rtmpd_amf_get(o, "n"), &len));
    assert_string_equal(rtmpd_amf_string(s, NULL), "x");
    assert_string_equal(rtmpd_amf_string(s, &len), "x");
    assert_int_equal(len, 1);

    assert_int_equal(rtmpd_amf_bool(NULL, 5), 5);
    assert_int_equal(rtmpd_amf_bool(s, 5), 5);
    assert_int_equal(rtmpd_amf_bool(mk(&p, RTMPD_AMF_NULL), 1), 1);
    assert_int_equal(rtmpd_amf_bool(mk_bool(&p, 1), 0), 1);
    assert_int_equal(rtmpd_amf_bool(mk_num(&p, RTMPD_AMF_NUMBER, 0), 1), 0);
    assert_int_equal(rtmpd_amf_bool(mk_num(&p, RTMPD_AMF_NUMBER, NAN), 1), 0);
    assert_int_equal(rtmpd_amf_bool(mk_num(&p, RTMPD_AMF_NUMBER, 0.5), 0), 1);
    assert_int_equal(rtmpd_amf_bool(mk_int(&p, 3), 0), 1);
    pool_free(&p);
}

int main(int argc, char **argv);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(connect_ffmpeg_publish_decodes),
    cmocka_unit_test(connect_ffmpeg_play_decodes),
    cmocka_unit_test(connect_obs_decodes),
    cmocka_unit_test(connect_enhanced_rtmp_fourcc_list_decodes),
    cmocka_unit_test(connect_amf3_command_object_decodes),
    cmocka_unit_test(amf0_round_trip_every_type),
    cmocka_unit_test(amf3_round_trip_every_type),
    cmocka_unit_test(encode_maps_types_across_encodings),
    cmocka_unit_test(amf0_decodes_spec_encodings),
    cmocka_unit_test(avmplus_marker_switches_for_one_value),
    cmocka_unit_test(unsupported_markers_rejected_with_type),
    cmocka_unit_test(u29_boundary_values_encode_and_decode),
    cmocka_unit_test(u29_out_of_range_integer_written_as_double),
    cmocka_unit_test(amf0_long_string_round_trip),
    cmocka_unit_test(date_round_trip_amf0_and_amf3),
    cmocka_unit_test(amf3_string_traits_object_references_resolve),
    cmocka_unit_test(amf3_unknown_reference_index_rejected),
    cmocka_unit_test(amf0_reference_index_checked),
    cmocka_unit_test(nesting_70000_deep_rejected_with_depth),
    cmocka_unit_test(depth_counts_across_avmplus_switch),
    cmocka_unit_test(truncated_input_at_every_offset_fails),
    cmocka_unit_test(huge_declared_lengths_rejected_without_allocation),
    cmocka_unit_test(ecma_array_count_is_only_a_hint),
    cmocka_unit_test(value_limit_per_decoder_until_reset),
    cmocka_unit_test(strings_are_nul_terminated_copies),
    cmocka_unit_test(reset_frees_values_and_tables),
    cmocka_unit_test(put_helpers_write_exact_bytes),
    cmocka_unit_test(encode_rejects_unrepresentable_values),
    cmocka_unit_test(lookup_helpers_handle_null_and_type_mismatch),
};
RTMPD_TEST_MAIN(tests)
