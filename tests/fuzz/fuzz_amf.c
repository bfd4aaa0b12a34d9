/*
 * libFuzzer harness: AMF0 and AMF3 decoding, and encoding what decodes.
 *
 * Input: a 2-byte header, then AMF values back to back (like the body of a
 * command message: the decoder's reference tables persist across them).
 *   [0] bit 0 AMF3 (else AMF0); bits 1-2 limits: 0 default, 1 max_depth
 *       from [1] (1-32), 2 max_values from [1] (1-256), 3 max_depth beyond
 *       the cap (clamped); bits 3-7 which value gets the truncation check
 *   [1] limit parameter
 *
 * Checks:
 *  - each decode consumes 1..left bytes; the decoder's memory stays linear
 *    in the input; after a reset it is at most one arena block;
 *  - a value that decodes is prefix-free: the same decoder state fed any
 *    shorter prefix of it reports RTMPD_E_AMF_TRUNCATED, nothing else;
 *  - every value is encoded as AMF0 and as AMF3 (the values of one input
 *    into one buffer, so AMF0 references still point at earlier objects).
 *    An encoder may refuse a value (RTMPD_E_INVAL); what it encodes must
 *    decode again, consume exactly what was written, and be equal to the
 *    original up to the documented conversions (AMF0: integer -> number,
 *    AMF3 array with named members -> ECMA array keyed "0", "1", ...;
 *    AMF3: ECMA array -> array, typed object with no class name -> object).
 *    An AMF0 reference must decode exactly when the objects written before
 *    it make its index valid. Encoding the result again gives the same
 *    bytes (AMF0), or reaches a fixed point after one more round (AMF3).
 *  - rtmpd_amf_get() finds the first member of each name.
 */
#include <stdlib.h>

#include "fuzz_common.h"
#include "rtmpd/amf.h"
#include "rtmpd/bytes.h"
#include "rtmpd/error.h"

#define HDR 2
#define MAX_VALUES 4096

typedef struct rtmpd_amf_value value;

/* Bytes the decoder may hold per input byte, plus a constant (arena and
 * table growth included). A value costs ~56 bytes, a member 32 more. */
#define MEM_PER_BYTE 512u
#define MEM_CONST (64u * 1024)

static int is_container(const value *v)
{
    return v->type == RTMPD_AMF_OBJECT || v->type == RTMPD_AMF_TYPED_OBJECT ||
           v->type == RTMPD_AMF_ECMA_ARRAY || v->type == RTMPD_AMF_STRICT_ARRAY;
}

static void str_eq(const struct rtmpd_amf_str *a, const struct rtmpd_amf_str *b, const char *what)
{
    FUZZ_CHECK(a->len == b->len && memcmp(a->ptr, b->ptr, a->len) == 0,
               "%s differs (%u vs %u bytes)", what, a->len, b->len);
    FUZZ_CHECK(b->ptr[b->len] == '\0', "%s not NUL-terminated", what);
}

static void expect_eq(const value *a, const value *b, int amf3);

static void props_eq(const struct rtmpd_amf_prop *a, const struct rtmpd_amf_prop *b, uint32_t n,
                     int amf3)
{
    for (uint32_t i = 0; i < n; i++) {
        str_eq(&a[i].key, &b[i].key, "member name");
        expect_eq(a[i].value, b[i].value, amf3);
    }
}

/* `b` is what the encoding `amf3` made of `a`, decoded. */
static void expect_eq(const value *a, const value *b, int amf3)
{
    FUZZ_CHECK(a && b, "NULL value");
    switch (a->type) {
    case RTMPD_AMF_INTEGER:
        if (!amf3) {
            FUZZ_CHECK(b->type == RTMPD_AMF_NUMBER && b->u.number == (double)a->u.integer,
                       "integer %d came back as type %d", a->u.integer, b->type);
        } else {
            FUZZ_CHECK(b->type == RTMPD_AMF_INTEGER && b->u.integer == a->u.integer,
                       "integer %d came back as type %d", a->u.integer, b->type);
        }
        return;
    case RTMPD_AMF_NUMBER:
    case RTMPD_AMF_DATE:
        FUZZ_CHECK(b->type == a->type && memcmp(&a->u.number, &b->u.number, sizeof(double)) == 0,
                   "number/date (type %d) came back as type %d or another value", a->type,
                   b->type);
        return;
    case RTMPD_AMF_BOOLEAN:
        FUZZ_CHECK(b->type == RTMPD_AMF_BOOLEAN && !a->u.boolean == !b->u.boolean,
                   "boolean came back as type %d", b->type);
        return;
    case RTMPD_AMF_STRING:
    case RTMPD_AMF_XML:
    case RTMPD_AMF_BYTE_ARRAY:
        FUZZ_CHECK(b->type == a->type, "type %d came back as %d", a->type, b->type);
        str_eq(&a->u.str, &b->u.str, "string");
        return;
    case RTMPD_AMF_NULL:
    case RTMPD_AMF_UNDEFINED:
        FUZZ_CHECK(b->type == a->type, "type %d came back as %d", a->type, b->type);
        return;
    case RTMPD_AMF_REFERENCE:
        FUZZ_CHECK(!amf3, "AMF3 encoded a reference");
        FUZZ_CHECK(b->type == RTMPD_AMF_REFERENCE && b->u.ref == a->u.ref,
                   "reference %u came back as type %d", a->u.ref, b->type);
        return;
    case RTMPD_AMF_OBJECT:
        FUZZ_CHECK(b->type == RTMPD_AMF_OBJECT, "object came back as type %d", b->type);
        break;
    case RTMPD_AMF_TYPED_OBJECT:
        if (amf3 && a->u.obj.class_name.len == 0) {
            FUZZ_CHECK(b->type == RTMPD_AMF_OBJECT, "typed object without a class name came "
                       "back as type %d", b->type);
        } else {
            FUZZ_CHECK(b->type == RTMPD_AMF_TYPED_OBJECT, "typed object came back as type %d",
                       b->type);
            str_eq(&a->u.obj.class_name, &b->u.obj.class_name, "class name");
        }
        break;
    case RTMPD_AMF_ECMA_ARRAY:
        if (amf3) {
            FUZZ_CHECK(b->type == RTMPD_AMF_STRICT_ARRAY && b->u.obj.nitems == 0,
                       "ECMA array came back as type %d", b->type);
        } else {
            FUZZ_CHECK(b->type == RTMPD_AMF_ECMA_ARRAY, "ECMA array came back as type %d",
                       b->type);
        }
        break;
    case RTMPD_AMF_STRICT_ARRAY:
        if (!amf3 && a->u.obj.nprops) {
            /* An array with named members: an ECMA array, items keyed "0", "1"... */
            uint32_t n = a->u.obj.nitems;
            FUZZ_CHECK(b->type == RTMPD_AMF_ECMA_ARRAY && b->u.obj.nprops == n + a->u.obj.nprops,
                       "array with members came back as type %d with %u members", b->type,
                       b->u.obj.nprops);
            for (uint32_t i = 0; i < n; i++) {
                char num[16];
                int len = snprintf(num, sizeof num, "%u", i);
                struct rtmpd_amf_str k = { num, (uint32_t)len };
                str_eq(&k, &b->u.obj.props[i].key, "item key");
                expect_eq(a->u.obj.items[i], b->u.obj.props[i].value, amf3);
            }
            props_eq(a->u.obj.props, b->u.obj.props + n, a->u.obj.nprops, amf3);
            return;
        }
        FUZZ_CHECK(b->type == RTMPD_AMF_STRICT_ARRAY && b->u.obj.nitems == a->u.obj.nitems,
                   "array of %u came back as type %d", a->u.obj.nitems, b->type);
        for (uint32_t i = 0; i < a->u.obj.nitems; i++)
            expect_eq(a->u.obj.items[i], b->u.obj.items[i], amf3);
        break;
    default:
        FUZZ_CHECK(0, "decoder produced type %d", a->type);
    }
    FUZZ_CHECK(a->u.obj.nprops == b->u.obj.nprops, "%u members came back as %u",
               a->u.obj.nprops, b->u.obj.nprops);
    props_eq(a->u.obj.props, b->u.obj.props, a->u.obj.nprops, amf3);
}

/* Structure checks on a decoded tree, and the lookup helpers. */
static void check_tree(const value *v, uint32_t depth, uint32_t max_depth)
{
    double d;
    size_t len;

    FUZZ_CHECK(v != NULL, "NULL value in a tree");
    FUZZ_CHECK(v->type <= RTMPD_AMF_BYTE_ARRAY, "type %d", v->type);
    FUZZ_CHECK((rtmpd_amf_number(v, &d) == 0) ==
               (v->type == RTMPD_AMF_NUMBER || v->type == RTMPD_AMF_INTEGER), "amf_number");
    const char *s = rtmpd_amf_string(v, &len);
    FUZZ_CHECK((s != NULL) == (v->type == RTMPD_AMF_STRING), "amf_string");
    if (s)
        FUZZ_CHECK(len == v->u.str.len && s[len] == '\0', "amf_string length");
    (void)rtmpd_amf_bool(v, 2);
    if (!is_container(v)) {
        FUZZ_CHECK(rtmpd_amf_get(v, "") == NULL, "get on a non-container");
        return;
    }
    FUZZ_CHECK(depth < max_depth, "container at depth %u, limit %u", depth, max_depth);
    for (uint32_t i = 0; i < v->u.obj.nitems; i++)
        check_tree(v->u.obj.items[i], depth + 1, max_depth);
    for (uint32_t i = 0; i < v->u.obj.nprops; i++) {
        const struct rtmpd_amf_prop *p = &v->u.obj.props[i];
        check_tree(p->value, depth + 1, max_depth);
        if (i >= 32 || strlen(p->key.ptr) != p->key.len)
            continue;
        uint32_t first = 0;
        while (v->u.obj.props[first].key.len != p->key.len ||
               memcmp(v->u.obj.props[first].key.ptr, p->key.ptr, p->key.len) != 0)
            first++;
        FUZZ_CHECK(rtmpd_amf_get(v, p->key.ptr) == v->u.obj.props[first].value,
                   "amf_get(\"%s\") did not find member %u", p->key.ptr, first);
    }
}

/*
 * Walks a value as the AMF0 encoder writes it, counting the objects the
 * decoder will number; returns 0 if a reference points past them.
 */
static int refs_valid(const value *v, uint32_t *objects)
{
    if (v->type == RTMPD_AMF_REFERENCE)
        return v->u.ref < *objects;
    if (!is_container(v))
        return 1;
    ++*objects;
    for (uint32_t i = 0; i < v->u.obj.nitems; i++)
        if (!refs_valid(v->u.obj.items[i], objects))
            return 0;
    for (uint32_t i = 0; i < v->u.obj.nprops; i++)
        if (!refs_valid(v->u.obj.props[i].value, objects))
            return 0;
    return 1;
}

static ssize_t decode(struct rtmpd_amf_dec *d, int amf3, const uint8_t *p, size_t n, value **out)
{
    return amf3 ? rtmpd_amf3_decode(d, p, n, out) : rtmpd_amf0_decode(d, p, n, out);
}

static int encode(struct rtmpd_buf *b, int amf3, const value *v)
{
    return amf3 ? rtmpd_amf3_encode(b, v) : rtmpd_amf0_encode(b, v);
}

/* Encodes every value in `target` and decodes it again. */
static void round_trip(value **vals, size_t n, int target, const struct rtmpd_amf_limits *lim)
{
    struct rtmpd_buf b = { 0 }, again = { 0 }, third = { 0 };
    struct rtmpd_amf_dec d, d2;
    uint32_t objects = 0;

    rtmpd_amf_dec_init(&d, lim);
    rtmpd_amf_dec_init(&d2, lim);
    for (size_t i = 0; i < n; i++) {
        size_t start = b.len;
        int rc = encode(&b, target, vals[i]);
        FUZZ_CHECK(rc == RTMPD_OK || rc == RTMPD_E_INVAL, "encode: %d", rc);
        FUZZ_CHECK(!b.failed, "buffer");
        if (rc < 0) {
            FUZZ_CHECK(b.len == start, "a refused value left %zu bytes", b.len - start);
            continue;
        }
        FUZZ_CHECK(b.len > start, "encoded nothing");

        int valid = target || refs_valid(vals[i], &objects);
        value *w = NULL;
        ssize_t r = decode(&d, target, b.data + start, b.len - start, &w);
        if (!valid) {
            FUZZ_CHECK(r == RTMPD_E_AMF_REFERENCE, "dangling reference decoded: %zd", r);
            break;  /* the decoder must be reset after an error */
        }
        FUZZ_CHECK(r == (ssize_t)(b.len - start), "AMF%d re-decode of value %zu: %zd of %zu",
                   target ? 3 : 0, i, r, b.len - start);
        expect_eq(vals[i], w, target);

        /* Once more: AMF0 gives the same bytes; AMF3 a fixed point. */
        rtmpd_buf_reset(&again);
        rc = encode(&again, target, w);
        if (!target) {
            FUZZ_CHECK(rc == RTMPD_OK && again.len == b.len - start &&
                       memcmp(again.data, b.data + start, again.len) == 0,
                       "AMF0 encoding of value %zu is not stable", i);
            continue;
        }
        FUZZ_CHECK(rc == RTMPD_OK || rc == RTMPD_E_INVAL, "encode: %d", rc);
        if (rc < 0)
            continue;
        value *x = NULL;
        rtmpd_amf_dec_reset(&d2);
        r = decode(&d2, 1, again.data, again.len, &x);
        FUZZ_CHECK(r == (ssize_t)again.len, "AMF3 second re-decode: %zd of %zu", r, again.len);
        rtmpd_buf_reset(&third);
        rc = encode(&third, 1, x);
        FUZZ_CHECK(rc == RTMPD_OK && third.len == again.len &&
                   memcmp(third.data, again.data, again.len) == 0,
                   "AMF3 encoding of value %zu has no fixed point", i);
    }
    rtmpd_amf_dec_release(&d);
    rtmpd_amf_dec_release(&d2);
    rtmpd_buf_release(&b);
    rtmpd_buf_release(&again);
    rtmpd_buf_release(&third);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static value *vals[MAX_VALUES];
    static size_t ends[MAX_VALUES];
    if (size < HDR)
        return 0;

    int amf3 = data[0] & 1;
    struct rtmpd_amf_limits lim = { 0 };
    switch (data[0] >> 1 & 3) {
    case 1: lim.max_depth = 1 + data[1] % 32; break;
    case 2: lim.max_values = 1 + data[1]; break;
    case 3: lim.max_depth = RTMPD_AMF_MAX_DEPTH_CAP + 1 + data[1]; break;
    }
    uint32_t max_depth = lim.max_depth ? lim.max_depth : RTMPD_AMF_MAX_DEPTH_DEFAULT;
    if (max_depth > RTMPD_AMF_MAX_DEPTH_CAP)
        max_depth = RTMPD_AMF_MAX_DEPTH_CAP;

    const uint8_t *in = data + HDR;
    size_t len = size - HDR, off = 0, n = 0;
    struct rtmpd_amf_dec d;

    rtmpd_amf_dec_init(&d, &lim);
    while (off < len && n < MAX_VALUES) {
        value *v = NULL;
        ssize_t r = decode(&d, amf3, in + off, len - off, &v);
        FUZZ_CHECK(rtmpd_amf_dec_memory(&d) <= MEM_PER_BYTE * (off + (r > 0 ? (size_t)r : len - off))
                   + MEM_CONST, "memory %zu after %zu bytes", rtmpd_amf_dec_memory(&d), off);
        if (r < 0) {
            FUZZ_CHECK(r <= RTMPD_E_INVAL && r != RTMPD_E_NOMEM, "decode returned %zd", r);
            break;
        }
        FUZZ_CHECK(r > 0 && (size_t)r <= len - off, "consumed %zd of %zu", r, len - off);
        check_tree(v, 0, max_depth);
        vals[n] = v;
        off += (size_t)r;
        ends[n++] = off;
    }

    /* Prefix-freeness of one value, with the decoder state it was read in. */
    if (n) {
        size_t k = (data[0] >> 3) % n;
        size_t start = k ? ends[k - 1] : 0, vlen = ends[k] - start;
        struct rtmpd_amf_dec t;
        rtmpd_amf_dec_init(&t, &lim);
        size_t cuts[3] = { vlen - 1, vlen / 2, (data[1] * 31u) % vlen };
        for (int c = 0; c < 3; c++) {
            value *v;
            rtmpd_amf_dec_reset(&t);
            for (size_t j = 0; j < k; j++) {
                ssize_t r = decode(&t, amf3, in + (j ? ends[j - 1] : 0),
                                   ends[j] - (j ? ends[j - 1] : 0), &v);
                FUZZ_CHECK(r == (ssize_t)(ends[j] - (j ? ends[j - 1] : 0)),
                           "value %zu decodes differently alone: %zd", j, r);
            }
            /* An exact-size copy so that ASan sees any read past the end. */
            uint8_t *cut = malloc(cuts[c] ? cuts[c] : 1);
            FUZZ_CHECK(cut != NULL, "malloc");
            memcpy(cut, in + start, cuts[c]);
            ssize_t r = decode(&t, amf3, cut, cuts[c], &v);
            FUZZ_CHECK(r == RTMPD_E_AMF_TRUNCATED, "value %zu cut to %zu of %zu bytes: %zd", k,
                       cuts[c], vlen, r);
            free(cut);
        }
        rtmpd_amf_dec_release(&t);
    }

    round_trip(vals, n, 0, &lim);
    round_trip(vals, n, 1, &lim);

    rtmpd_amf_dec_reset(&d);
    FUZZ_CHECK(rtmpd_amf_dec_memory(&d) <= 4096 + 256, "memory %zu after reset",
               rtmpd_amf_dec_memory(&d));
    rtmpd_amf_dec_release(&d);
    return 0;
}
