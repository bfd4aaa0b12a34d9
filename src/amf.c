/*
 * rtmpd — AMF0 and AMF3 decoding and encoding.
 *
 * Decoding is recursive descent over a bounded reader. Recursion happens only
 * when entering an object or array, and the depth is checked first against
 * lim.max_depth (itself capped at RTMPD_AMF_MAX_DEPTH_CAP), so the stack is
 * bounded whatever the input. Every length and count is compared with the
 * bytes left before anything is allocated; counts that allocate are also
 * compared with the remaining value budget (lim.max_values).
 *
 * Members of an object are collected on a scratch stack shared by all
 * nesting levels and copied into the arena, exactly sized, when the object
 * ends: AMF0 objects and ECMA arrays have no trustworthy count up front.
 *
 * Specifications: Adobe "Action Message Format -- AMF 0" (2006) and
 * "AMF 3 Specification" (January 2013).
 */
#include "rtmpd/amf.h"

#include <limits.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "rtmpd/error.h"

enum {
    AMF0_NUMBER = 0x00,
    AMF0_BOOLEAN = 0x01,
    AMF0_STRING = 0x02,
    AMF0_OBJECT = 0x03,
    AMF0_NULL = 0x05,
    AMF0_UNDEFINED = 0x06,
    AMF0_REFERENCE = 0x07,
    AMF0_ECMA_ARRAY = 0x08,
    AMF0_OBJECT_END = 0x09,
    AMF0_STRICT_ARRAY = 0x0a,
    AMF0_DATE = 0x0b,
    AMF0_LONG_STRING = 0x0c,
    AMF0_XML_DOC = 0x0f,
    AMF0_TYPED_OBJECT = 0x10,
    AMF0_AVMPLUS = 0x11,
    /* 0x04 movieclip, 0x0d unsupported, 0x0e recordset: rejected */
};

enum {
    AMF3_UNDEFINED = 0x00,
    AMF3_NULL = 0x01,
    AMF3_FALSE = 0x02,
    AMF3_TRUE = 0x03,
    AMF3_INTEGER = 0x04,
    AMF3_DOUBLE = 0x05,
    AMF3_STRING = 0x06,
    AMF3_XML_DOC = 0x07,
    AMF3_DATE = 0x08,
    AMF3_ARRAY = 0x09,
    AMF3_OBJECT = 0x0a,
    AMF3_XML = 0x0b,
    AMF3_BYTE_ARRAY = 0x0c,
    /* 0x0d-0x10 vectors, 0x11 dictionary: rejected */
};

#define AMF3_INT_MIN (-(1 << 28))
#define AMF3_INT_MAX ((1 << 28) - 1)
#define AMF3_LEN_MAX 0x0fffffffu    /* U29 with one flag bit */
#define AMF3_SEALED_MAX 0x01ffffffu /* U29 with four flag bits */

#define ARENA_BLOCK 4096u

union arena_align {
    double d;
    void *p;
    uint64_t u;
};

#define ARENA_ALIGN alignof(union arena_align)

struct rtmpd_amf_arena_block {
    struct rtmpd_amf_arena_block *next;
    size_t size, used;
    union arena_align data[];
};

/* An AMF3 class description, kept for traits references. */
struct rtmpd_amf_traits {
    struct rtmpd_amf_str class_name;
    struct rtmpd_amf_str *names; /* sealed member names */
    uint32_t nsealed;
    int dynamic;
};

struct amf_rd {
    const uint8_t *p, *end;
};

#define LEFT(r) ((size_t)((r)->end - (r)->p))

/* ---- arena and tables ---------------------------------------------- */

static void *arena_alloc(struct rtmpd_amf_dec *d, size_t n)
{
    struct rtmpd_amf_arena_block *b = d->blocks;

    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
    if (b && b->size - b->used >= n) {
        void *p = (char *)b->data + b->used;
        b->used += n;
        return p;
    }

    /* Large requests get a block of their own, behind the current one. */
    size_t size = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
    struct rtmpd_amf_arena_block *nb = malloc(sizeof *nb + size);
    if (!nb)
        return NULL;
    nb->size = size;
    nb->used = n;
    if (b && size == n) {
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        d->blocks = nb;
    }
    d->mem += sizeof *nb + size;
    return nb->data;
}

/* Grows a table of `size`-byte entries so that one more fits. */
static int table_grow(struct rtmpd_amf_dec *d, void **tab, uint32_t n, uint32_t *cap, size_t size)
{
    if (n < *cap)
        return 0;
    if (*cap > UINT32_MAX / 2)
        return RTMPD_E_NOMEM;
    uint32_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*tab, (size_t)ncap * size);
    if (!p)
        return RTMPD_E_NOMEM;
    d->mem += (size_t)(ncap - *cap) * size;
    *tab = p;
    *cap = ncap;
    return 0;
}

static void tables_free(struct rtmpd_amf_dec *d)
{
    d->mem -= (size_t)d->cap_strings * sizeof *d->strings
            + (size_t)d->cap_traits * sizeof *d->traits
            + (size_t)d->cap_scratch * sizeof *d->scratch;
    free(d->strings);
    free(d->traits);
    free(d->scratch);
    d->strings = NULL;
    d->traits = NULL;
    d->scratch = NULL;
    d->nstrings = d->cap_strings = 0;
    d->ntraits = d->cap_traits = 0;
    d->nscratch = d->cap_scratch = 0;
}

void rtmpd_amf_dec_init(struct rtmpd_amf_dec *d, const struct rtmpd_amf_limits *lim)
{
    memset(d, 0, sizeof *d);
    d->lim.max_depth = lim && lim->max_depth ? lim->max_depth : RTMPD_AMF_MAX_DEPTH_DEFAULT;
    if (d->lim.max_depth > RTMPD_AMF_MAX_DEPTH_CAP)
        d->lim.max_depth = RTMPD_AMF_MAX_DEPTH_CAP;
    d->lim.max_values = lim && lim->max_values ? lim->max_values : RTMPD_AMF_MAX_VALUES_DEFAULT;
}

/* Keeps one standard block for the next message; frees the rest. */
void rtmpd_amf_dec_reset(struct rtmpd_amf_dec *d)
{
    struct rtmpd_amf_arena_block *b, *next, *keep = NULL;

    for (b = d->blocks; b; b = next) {
        next = b->next;
        if (!keep && b->size == ARENA_BLOCK) {
            keep = b;
            continue;
        }
        d->mem -= sizeof *b + b->size;
        free(b);
    }
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
    }
    d->blocks = keep;
    tables_free(d);
    d->nvalues = 0;
    d->amf0_objects = 0;
    d->amf3_objects = 0;
}

void rtmpd_amf_dec_release(struct rtmpd_amf_dec *d)
{
    rtmpd_amf_dec_reset(d);
    free(d->blocks);
    d->blocks = NULL;
    d->mem = 0;
}

size_t rtmpd_amf_dec_memory(const struct rtmpd_amf_dec *d)
{
    return d->mem;
}

static int value_new(struct rtmpd_amf_dec *d, enum rtmpd_amf_type type,
                     struct rtmpd_amf_value **out)
{
    if (d->nvalues >= d->lim.max_values)
        return RTMPD_E_AMF_LIMIT;
    struct rtmpd_amf_value *v = arena_alloc(d, sizeof *v);
    if (!v)
        return RTMPD_E_NOMEM;
    memset(v, 0, sizeof *v);
    v->type = type;
    d->nvalues++;
    *out = v;
    return 0;
}

/* Copies n bytes (already known to be in the input) as a NUL-terminated string. */
static int str_copy(struct rtmpd_amf_dec *d, const uint8_t *p, size_t n, struct rtmpd_amf_str *s)
{
    if (n == 0) {
        s->ptr = "";
        s->len = 0;
        return 0;
    }
    char *dst = arena_alloc(d, n + 1);
    if (!dst)
        return RTMPD_E_NOMEM;
    memcpy(dst, p, n);
    dst[n] = '\0';
    s->ptr = dst;
    s->len = (uint32_t)n;
    return 0;
}

/* Rejects a count that cannot fit the input (one byte per element at least)
 * or the value budget, before anything is sized by it. */
static int count_check(const struct rtmpd_amf_dec *d, const struct amf_rd *r, uint32_t n)
{
    if (n > LEFT(r))
        return RTMPD_E_AMF_TRUNCATED;
    if (n > d->lim.max_values - d->nvalues)
        return RTMPD_E_AMF_LIMIT;
    return 0;
}

static int items_alloc(struct rtmpd_amf_dec *d, struct rtmpd_amf_value *v, uint32_t n)
{
    v->u.obj.nitems = n;
    if (n == 0)
        return 0;
    if ((uint64_t)n * sizeof *v->u.obj.items > SIZE_MAX / 2)
        return RTMPD_E_NOMEM;
    v->u.obj.items = arena_alloc(d, (size_t)n * sizeof *v->u.obj.items);
    return v->u.obj.items ? 0 : RTMPD_E_NOMEM;
}

static int scratch_push(struct rtmpd_amf_dec *d, struct rtmpd_amf_str key,
                        struct rtmpd_amf_value *value)
{
    void *tab = d->scratch;
    if (table_grow(d, &tab, d->nscratch, &d->cap_scratch, sizeof *d->scratch) < 0)
        return RTMPD_E_NOMEM;
    d->scratch = tab;
    d->scratch[d->nscratch].key = key;
    d->scratch[d->nscratch].value = value;
    d->nscratch++;
    return 0;
}

/* Moves the members pushed since `base` into v's props. */
static int scratch_take(struct rtmpd_amf_dec *d, uint32_t base, struct rtmpd_amf_value *v)
{
    uint32_t n = d->nscratch - base;

    v->u.obj.nprops = n;
    if (n) {
        v->u.obj.props = arena_alloc(d, (size_t)n * sizeof *v->u.obj.props);
        if (!v->u.obj.props)
            return RTMPD_E_NOMEM;
        memcpy(v->u.obj.props, d->scratch + base, (size_t)n * sizeof *v->u.obj.props);
    }
    d->nscratch = base;
    return 0;
}

/* ---- AMF3 decoding --------------------------------------------------- */

static int amf3_value(struct rtmpd_amf_dec *d, struct amf_rd *r, uint32_t depth,
                      struct rtmpd_amf_value **out);

static int amf3_u29(struct amf_rd *r, uint32_t *out)
{
    uint32_t v = 0;

    for (int i = 0; i < 3; i++) {
        if (r->p == r->end)
            return RTMPD_E_AMF_TRUNCATED;
        uint8_t b = *r->p++;
        if (!(b & 0x80)) {
            *out = v << 7 | b;
            return 0;
        }
        v = v << 7 | (b & 0x7f);
    }
    if (r->p == r->end)
        return RTMPD_E_AMF_TRUNCATED;
    *out = v << 8 | *r->p++;
    return 0;
}

/* A string, inline (added to the table unless empty) or by reference. */
static int amf3_string(struct rtmpd_amf_dec *d, struct amf_rd *r, struct rtmpd_amf_str *s)
{
    uint32_t h;
    int rc = amf3_u29(r, &h);
    if (rc < 0)
        return rc;
    if (!(h & 1)) {
        if (h >> 1 >= d->nstrings)
            return RTMPD_E_AMF_REFERENCE;
        *s = d->strings[h >> 1];
        return 0;
    }
    if (h >> 1 > LEFT(r))
        return RTMPD_E_AMF_TRUNCATED;
    if ((rc = str_copy(d, r->p, h >> 1, s)) < 0)
        return rc;
    r->p += h >> 1;
    if (s->len == 0)
        return 0;
    void *tab = d->strings;
    if (table_grow(d, &tab, d->nstrings, &d->cap_strings, sizeof *d->strings) < 0)
        return RTMPD_E_NOMEM;
    d->strings = tab;
    d->strings[d->nstrings++] = *s;
    return 0;
}

/* An object reference: kept as a REFERENCE value, never resolved. */
static int amf3_objref(struct rtmpd_amf_dec *d, uint32_t idx, struct rtmpd_amf_value **out)
{
    if (idx >= d->amf3_objects)
        return RTMPD_E_AMF_REFERENCE;
    int rc = value_new(d, RTMPD_AMF_REFERENCE, out);
    if (rc == 0)
        (*out)->u.ref = idx;
    return rc;
}

/* XMLDocument, XML and ByteArray: U29 length-or-reference, then bytes. */
static int amf3_bytes(struct rtmpd_amf_dec *d, struct amf_rd *r, enum rtmpd_amf_type type,
                      struct rtmpd_amf_value **out)
{
    uint32_t h;
    int rc = amf3_u29(r, &h);
    if (rc < 0)
        return rc;
    if (!(h & 1))
        return amf3_objref(d, h >> 1, out);
    if (h >> 1 > LEFT(r))
        return RTMPD_E_AMF_TRUNCATED;
    if ((rc = value_new(d, type, out)) < 0 || (rc = str_copy(d, r->p, h >> 1, &(*out)->u.str)) < 0)
        return rc;
    r->p += h >> 1;
    d->amf3_objects++;
    return 0;
}

/* Dynamic members / associative part: (name, value) until the empty name. */
static int amf3_members(struct rtmpd_amf_dec *d, struct amf_rd *r, uint32_t depth)
{
    for (;;) {
        struct rtmpd_amf_str key;
        struct rtmpd_amf_value *child;
        int rc = amf3_string(d, r, &key);
        if (rc < 0)
            return rc;
        if (key.len == 0)
            return 0;
        if ((rc = amf3_value(d, r, depth, &child)) < 0 || (rc = scratch_push(d, key, child)) < 0)
            return rc;
    }
}

static int amf3_array(struct rtmpd_amf_dec *d, struct amf_rd *r, uint32_t depth,
                      struct rtmpd_amf_value **out)
{
    uint32_t h, base = d->nscratch;
    struct rtmpd_amf_value *v;
    int rc = amf3_u29(r, &h);

    if (rc < 0)
        return rc;
    if (!(h & 1))
        return amf3_objref(d, h >> 1, out);
    if (depth >= d->lim.max_depth)
        return RTMPD_E_AMF_DEPTH;
    if ((rc = value_new(d, RTMPD_AMF_STRICT_ARRAY, &v)) < 0)
        return rc;
    d->amf3_objects++;
    if ((rc = amf3_members(d, r, depth + 1)) < 0 || (rc = scratch_take(d, base, v)) < 0)
        return rc;
    if ((rc = count_check(d, r, h >> 1)) < 0 || (rc = items_alloc(d, v, h >> 1)) < 0)
        return rc;
    for (uint32_t i = 0; i < v->u.obj.nitems; i++)
        if ((rc = amf3_value(d, r, depth + 1, &v->u.obj.items[i])) < 0)
            return rc;
    *out = v;
    return 0;
}

/* Inline traits (h has bits 0 and 1 set): class name and sealed names. */
static int amf3_traits(struct rtmpd_amf_dec *d, struct amf_rd *r, uint32_t h,
                       struct rtmpd_amf_traits *t)
{
    int rc;

    if (h & 4)
        return RTMPD_E_AMF_TYPE; /* externalizable: opaque, class-specific */
    t->dynamic = (h & 8) != 0;
    t->nsealed = h >> 4;
    t->names = NULL;
    if ((rc = amf3_string(d, r, &t->class_name)) < 0 || (rc = count_check(d, r, t->nsealed)) < 0)
        return rc;
    if (t->nsealed) {
        t->names = arena_alloc(d, (size_t)t->nsealed * sizeof *t->names);
        if (!t->names)
            return RTMPD_E_NOMEM;
    }
    for (uint32_t i = 0; i < t->nsealed; i++)
        if ((rc = amf3_string(d, r, &t->names[i])) < 0)
            return rc;
    void *tab = d->traits;
    if (table_grow(d, &tab, d->ntraits, &d->cap_traits, sizeof *d->traits) < 0)
        return RTMPD_E_NOMEM;
    d->traits = tab;
    d->traits[d->ntraits++] = *t;
    return 0;
}

static int amf3_object(struct rtmpd_amf_dec *d, struct amf_rd *r, uint32_t depth,
                       struct rtmpd_amf_value **out)
{
    struct rtmpd_amf_traits t; /* a copy: the table may move while members decode */
    struct rtmpd_amf_value *v;
    uint32_t h, base = d->nscratch;
    int rc = amf3_u29(r, &h);

    if (rc < 0)
        return rc;
    if (!(h & 1))
        return amf3_objref(d, h >> 1, out);
    if (depth >= d->lim.max_depth)
        return RTMPD_E_AMF_DEPTH;
    if (!(h & 2)) {
        if (h >> 2 >= d->ntraits)
            return RTMPD_E_AMF_REFERENCE;
        t = d->traits[h >> 2];
    } else if ((rc = amf3_traits(d, r, h, &t)) < 0) {
        return rc;
    }
    rc = value_new(d, t.class_name.len ? RTMPD_AMF_TYPED_OBJECT : RTMPD_AMF_OBJECT, &v);
    if (rc < 0)
        return rc;
    v->u.obj.class_name = t.class_name;
    d->amf3_objects++;
    for (uint32_t i = 0; i < t.nsealed; i++) {
        struct rtmpd_amf_value *child;
        if ((rc = amf3_value(d, r, depth + 1, &child)) < 0 ||
            (rc = scratch_push(d, t.names[i], child)) < 0)
            return rc;
    }
    if (t.dynamic && (rc = amf3_members(d, r, depth + 1)) < 0)
        return rc;
    if ((rc = scratch_take(d, base, v)) < 0)
        return rc;
    *out = v;
    return 0;
}

/* `depth` counts the objects and arrays enclosing the value. */
static int amf3_value(struct rtmpd_amf_dec *d, struct amf_rd *r, uint32_t depth,
                      struct rtmpd_amf_value **out)
{
    uint8_t marker;
    uint32_t h;
    int rc;

    if (r->p == r->end)
        return RTMPD_E_AMF_TRUNCATED;
    switch (marker = *r->p++) {
    case AMF3_UNDEFINED:
        return value_new(d, RTMPD_AMF_UNDEFINED, out);
    case AMF3_NULL:
        return value_new(d, RTMPD_AMF_NULL, out);
    case AMF3_FALSE:
    case AMF3_TRUE:
        if ((rc = value_new(d, RTMPD_AMF_BOOLEAN, out)) == 0)
            (*out)->u.boolean = marker == AMF3_TRUE;
        return rc;
    case AMF3_INTEGER:
        if ((rc = amf3_u29(r, &h)) < 0 || (rc = value_new(d, RTMPD_AMF_INTEGER, out)) < 0)
            return rc;
        /* sign-extend bit 28 */
        (*out)->u.integer = (int32_t)(h ^ 0x10000000u) - 0x10000000;
        return 0;
    case AMF3_DOUBLE:
        if (LEFT(r) < 8)
            return RTMPD_E_AMF_TRUNCATED;
        if ((rc = value_new(d, RTMPD_AMF_NUMBER, out)) < 0)
            return rc;
        (*out)->u.number = rtmpd_rd_double(r->p);
        r->p += 8;
        return 0;
    case AMF3_STRING: {
        struct rtmpd_amf_str s;
        if ((rc = amf3_string(d, r, &s)) < 0 || (rc = value_new(d, RTMPD_AMF_STRING, out)) < 0)
            return rc;
        (*out)->u.str = s;
        return 0;
    }
    case AMF3_XML_DOC:
    case AMF3_XML:
        return amf3_bytes(d, r, RTMPD_AMF_XML, out);
    case AMF3_BYTE_ARRAY:
        return amf3_bytes(d, r, RTMPD_AMF_BYTE_ARRAY, out);
    case AMF3_DATE:
        if ((rc = amf3_u29(r, &h)) < 0)
            return rc;
        if (!(h & 1))
            return amf3_objref(d, h >> 1, out);
        if (LEFT(r) < 8)
            return RTMPD_E_AMF_TRUNCATED;
        if ((rc = value_new(d, RTMPD_AMF_DATE, out)) < 0)
            return rc;
        (*out)->u.number = rtmpd_rd_double(r->p);
        r->p += 8;
        d->amf3_objects++;
        return 0;
    case AMF3_ARRAY:
        return amf3_array(d, r, depth, out);
    case AMF3_OBJECT:
        return amf3_object(d, r, depth, out);
    default:
        return RTMPD_E_AMF_TYPE;
    }
}

/* ---- AMF0 decoding --------------------------------------------------- */

static int amf0_value(struct rtmpd_amf_dec *d, struct amf_rd *r, uint32_t depth,
                      struct rtmpd_amf_value **out);

/* UTF-8 with a 16- or 32-bit big-endian length. */
static int amf0_utf8(struct rtmpd_amf_dec *d, struct amf_rd *r, size_t lenbytes,
                     struct rtmpd_amf_str *s)
{
    if (LEFT(r) < lenbytes)
        return RTMPD_E_AMF_TRUNCATED;
    size_t n = lenbytes == 2 ? rtmpd_rd_be16(r->p) : rtmpd_rd_be32(r->p);
    r->p += lenbytes;
    if (n > LEFT(r))
        return RTMPD_E_AMF_TRUNCATED;
    int rc = str_copy(d, r->p, n, s);
    r->p += n;
    return rc;
}

/* Members of an object, typed object or ECMA array, up to 00 00 09. An empty
 * name not followed by the end marker is taken as a member named "". */
static int amf0_members(struct rtmpd_amf_dec *d, struct amf_rd *r, uint32_t depth,
                        struct rtmpd_amf_value *v)
{
    uint32_t base = d->nscratch;
    int rc;

    for (;;) {
        struct rtmpd_amf_str key;
        struct rtmpd_amf_value *child;
        if (LEFT(r) >= 3 && r->p[0] == 0 && r->p[1] == 0 && r->p[2] == AMF0_OBJECT_END) {
            r->p += 3;
            return scratch_take(d, base, v);
        }
        if ((rc = amf0_utf8(d, r, 2, &key)) < 0 || (rc = amf0_value(d, r, depth, &child)) < 0 ||
            (rc = scratch_push(d, key, child)) < 0)
            return rc;
    }
}

static int amf0_container(struct rtmpd_amf_dec *d, struct amf_rd *r, uint32_t depth,
                          uint8_t marker, struct rtmpd_amf_value **out)
{
    static const enum rtmpd_amf_type types[] = {
        [AMF0_OBJECT] = RTMPD_AMF_OBJECT,
        [AMF0_ECMA_ARRAY] = RTMPD_AMF_ECMA_ARRAY,
        [AMF0_STRICT_ARRAY] = RTMPD_AMF_STRICT_ARRAY,
        [AMF0_TYPED_OBJECT] = RTMPD_AMF_TYPED_OBJECT,
    };
    struct rtmpd_amf_str class_name = { "", 0 };
    struct rtmpd_amf_value *v;
    uint32_t n = 0;
    int rc;

    if (depth >= d->lim.max_depth)
        return RTMPD_E_AMF_DEPTH;
    if (marker == AMF0_TYPED_OBJECT && (rc = amf0_utf8(d, r, 2, &class_name)) < 0)
        return rc;
    if (marker == AMF0_ECMA_ARRAY || marker == AMF0_STRICT_ARRAY) {
        if (LEFT(r) < 4)
            return RTMPD_E_AMF_TRUNCATED;
        n = rtmpd_rd_be32(r->p); /* ECMA: a hint only, never trusted */
        r->p += 4;
    }
    if ((rc = value_new(d, types[marker], &v)) < 0)
        return rc;
    v->u.obj.class_name = class_name;
    d->amf0_objects++;
    if (marker != AMF0_STRICT_ARRAY) {
        rc = amf0_members(d, r, depth + 1, v);
    } else if ((rc = count_check(d, r, n)) == 0 && (rc = items_alloc(d, v, n)) == 0) {
        for (uint32_t i = 0; i < n && rc == 0; i++)
            rc = amf0_value(d, r, depth + 1, &v->u.obj.items[i]);
    }
    if (rc == 0)
        *out = v;
    return rc;
}

static int amf0_value(struct rtmpd_amf_dec *d, struct amf_rd *r, uint32_t depth,
                      struct rtmpd_amf_value **out)
{
    uint8_t marker;
    int rc;

    if (r->p == r->end)
        return RTMPD_E_AMF_TRUNCATED;
    switch (marker = *r->p++) {
    case AMF0_NUMBER:
        if (LEFT(r) < 8)
            return RTMPD_E_AMF_TRUNCATED;
        if ((rc = value_new(d, RTMPD_AMF_NUMBER, out)) < 0)
            return rc;
        (*out)->u.number = rtmpd_rd_double(r->p);
        r->p += 8;
        return 0;
    case AMF0_BOOLEAN:
        if (LEFT(r) < 1)
            return RTMPD_E_AMF_TRUNCATED;
        if ((rc = value_new(d, RTMPD_AMF_BOOLEAN, out)) < 0)
            return rc;
        (*out)->u.boolean = *r->p++ != 0;
        return 0;
    case AMF0_STRING:
    case AMF0_LONG_STRING:
    case AMF0_XML_DOC: {
        struct rtmpd_amf_str s;
        if ((rc = amf0_utf8(d, r, marker == AMF0_STRING ? 2 : 4, &s)) < 0 ||
            (rc = value_new(d, marker == AMF0_XML_DOC ? RTMPD_AMF_XML : RTMPD_AMF_STRING, out)) < 0)
            return rc;
        (*out)->u.str = s;
        return 0;
    }
    case AMF0_NULL:
        return value_new(d, RTMPD_AMF_NULL, out);
    case AMF0_UNDEFINED:
        return value_new(d, RTMPD_AMF_UNDEFINED, out);
    case AMF0_REFERENCE:
        if (LEFT(r) < 2)
            return RTMPD_E_AMF_TRUNCATED;
        if (rtmpd_rd_be16(r->p) >= d->amf0_objects)
            return RTMPD_E_AMF_REFERENCE;
        if ((rc = value_new(d, RTMPD_AMF_REFERENCE, out)) < 0)
            return rc;
        (*out)->u.ref = rtmpd_rd_be16(r->p);
        r->p += 2;
        return 0;
    case AMF0_DATE:
        if (LEFT(r) < 10)
            return RTMPD_E_AMF_TRUNCATED;
        if ((rc = value_new(d, RTMPD_AMF_DATE, out)) < 0)
            return rc;
        (*out)->u.number = rtmpd_rd_double(r->p);
        r->p += 10; /* the time zone is reserved and ignored */
        return 0;
    case AMF0_OBJECT:
    case AMF0_ECMA_ARRAY:
    case AMF0_STRICT_ARRAY:
    case AMF0_TYPED_OBJECT:
        return amf0_container(d, r, depth, marker, out);
    case AMF0_AVMPLUS:
        return amf3_value(d, r, depth, out);
    default:
        return RTMPD_E_AMF_TYPE;
    }
}

static ssize_t amf_decode(struct rtmpd_amf_dec *d, const uint8_t *in, size_t len,
                          struct rtmpd_amf_value **out, int amf3)
{
    struct rtmpd_amf_value *v = NULL;
    struct amf_rd r;
    int rc;

    if (!d || !out || (!in && len) || len > SSIZE_MAX)
        return RTMPD_E_INVAL;
    if (len == 0)
        return RTMPD_E_AMF_TRUNCATED;
    r.p = in;
    r.end = in + len;
    rc = amf3 ? amf3_value(d, &r, 0, &v) : amf0_value(d, &r, 0, &v);
    d->nscratch = 0; /* an error leaves members of unfinished objects */
    if (rc < 0)
        return rc;
    *out = v;
    return r.p - in;
}

ssize_t rtmpd_amf0_decode(struct rtmpd_amf_dec *d, const uint8_t *in, size_t len,
                          struct rtmpd_amf_value **out)
{
    return amf_decode(d, in, len, out, 0);
}

ssize_t rtmpd_amf3_decode(struct rtmpd_amf_dec *d, const uint8_t *in, size_t len,
                          struct rtmpd_amf_value **out)
{
    return amf_decode(d, in, len, out, 1);
}

/* ---- lookup ----------------------------------------------------------- */

const struct rtmpd_amf_value *rtmpd_amf_get(const struct rtmpd_amf_value *obj, const char *key)
{
    if (!obj || !key)
        return NULL;
    switch (obj->type) {
    case RTMPD_AMF_OBJECT:
    case RTMPD_AMF_TYPED_OBJECT:
    case RTMPD_AMF_ECMA_ARRAY:
    case RTMPD_AMF_STRICT_ARRAY:
        break;
    default:
        return NULL;
    }
    size_t n = strlen(key);
    for (uint32_t i = 0; i < obj->u.obj.nprops; i++) {
        const struct rtmpd_amf_prop *p = &obj->u.obj.props[i];
        if (p->key.len == n && memcmp(p->key.ptr, key, n) == 0)
            return p->value;
    }
    return NULL;
}

int rtmpd_amf_number(const struct rtmpd_amf_value *v, double *out)
{
    if (!v)
        return -1;
    if (v->type == RTMPD_AMF_NUMBER)
        *out = v->u.number;
    else if (v->type == RTMPD_AMF_INTEGER)
        *out = v->u.integer;
    else
        return -1;
    return 0;
}

const char *rtmpd_amf_string(const struct rtmpd_amf_value *v, size_t *len)
{
    if (!v || v->type != RTMPD_AMF_STRING)
        return NULL;
    if (len)
        *len = v->u.str.len;
    return v->u.str.ptr;
}

int rtmpd_amf_bool(const struct rtmpd_amf_value *v, int def)
{
    if (!v)
        return def;
    switch (v->type) {
    case RTMPD_AMF_BOOLEAN:
        return v->u.boolean != 0;
    case RTMPD_AMF_NUMBER:
        return v->u.number != 0 && v->u.number == v->u.number; /* NaN is false */
    case RTMPD_AMF_INTEGER:
        return v->u.integer != 0;
    default:
        return def;
    }
}

/* ---- AMF0 put helpers ------------------------------------------------- */

void rtmpd_amf0_put_number(struct rtmpd_buf *b, double v)
{
    rtmpd_buf_put_u8(b, AMF0_NUMBER);
    rtmpd_buf_put_double(b, v);
}

void rtmpd_amf0_put_bool(struct rtmpd_buf *b, int v)
{
    rtmpd_buf_put_u8(b, AMF0_BOOLEAN);
    rtmpd_buf_put_u8(b, v != 0);
}

void rtmpd_amf0_put_string(struct rtmpd_buf *b, const char *s, size_t len)
{
    if (len <= UINT16_MAX) {
        rtmpd_buf_put_u8(b, AMF0_STRING);
        rtmpd_buf_put_be16(b, (uint16_t)len);
    } else if (len <= UINT32_MAX) {
        rtmpd_buf_put_u8(b, AMF0_LONG_STRING);
        rtmpd_buf_put_be32(b, (uint32_t)len);
    } else {
        b->failed = 1;
        return;
    }
    rtmpd_buf_append(b, s, len);
}

void rtmpd_amf0_put_cstr(struct rtmpd_buf *b, const char *s)
{
    if (s)
        rtmpd_amf0_put_string(b, s, strlen(s));
    else
        rtmpd_amf0_put_null(b);
}

void rtmpd_amf0_put_null(struct rtmpd_buf *b)
{
    rtmpd_buf_put_u8(b, AMF0_NULL);
}

void rtmpd_amf0_put_undefined(struct rtmpd_buf *b)
{
    rtmpd_buf_put_u8(b, AMF0_UNDEFINED);
}

void rtmpd_amf0_put_object_start(struct rtmpd_buf *b)
{
    rtmpd_buf_put_u8(b, AMF0_OBJECT);
}

void rtmpd_amf0_put_ecma_start(struct rtmpd_buf *b, uint32_t count)
{
    rtmpd_buf_put_u8(b, AMF0_ECMA_ARRAY);
    rtmpd_buf_put_be32(b, count);
}

void rtmpd_amf0_put_strict_array_start(struct rtmpd_buf *b, uint32_t count)
{
    rtmpd_buf_put_u8(b, AMF0_STRICT_ARRAY);
    rtmpd_buf_put_be32(b, count);
}

static void amf0_put_name(struct rtmpd_buf *b, const char *s, size_t len)
{
    if (len > UINT16_MAX) {
        b->failed = 1;
        return;
    }
    rtmpd_buf_put_be16(b, (uint16_t)len);
    rtmpd_buf_append(b, s, len);
}

void rtmpd_amf0_put_key(struct rtmpd_buf *b, const char *key)
{
    amf0_put_name(b, key, strlen(key));
}

void rtmpd_amf0_put_object_end(struct rtmpd_buf *b)
{
    static const uint8_t end[3] = { 0, 0, AMF0_OBJECT_END };
    rtmpd_buf_append(b, end, sizeof end);
}

void rtmpd_amf0_put_prop_number(struct rtmpd_buf *b, const char *key, double v)
{
    rtmpd_amf0_put_key(b, key);
    rtmpd_amf0_put_number(b, v);
}

void rtmpd_amf0_put_prop_bool(struct rtmpd_buf *b, const char *key, int v)
{
    rtmpd_amf0_put_key(b, key);
    rtmpd_amf0_put_bool(b, v);
}

void rtmpd_amf0_put_prop_cstr(struct rtmpd_buf *b, const char *key, const char *s)
{
    rtmpd_amf0_put_key(b, key);
    rtmpd_amf0_put_cstr(b, s);
}

void rtmpd_amf0_put_prop_string(struct rtmpd_buf *b, const char *key, const char *s, size_t len)
{
    rtmpd_amf0_put_key(b, key);
    rtmpd_amf0_put_string(b, s, len);
}

/* ---- tree encoding ---------------------------------------------------- */

static void amf3_put_u29(struct rtmpd_buf *b, uint32_t v)
{
    uint8_t t[4];
    size_t n;

    if (v < 0x80) {
        t[0] = (uint8_t)v;
        n = 1;
    } else if (v < 0x4000) {
        t[0] = (uint8_t)(v >> 7 | 0x80);
        t[1] = (uint8_t)(v & 0x7f);
        n = 2;
    } else if (v < 0x200000) {
        t[0] = (uint8_t)(v >> 14 | 0x80);
        t[1] = (uint8_t)((v >> 7 & 0x7f) | 0x80);
        t[2] = (uint8_t)(v & 0x7f);
        n = 3;
    } else {
        t[0] = (uint8_t)((v >> 22 & 0x7f) | 0x80);
        t[1] = (uint8_t)((v >> 15 & 0x7f) | 0x80);
        t[2] = (uint8_t)((v >> 8 & 0x7f) | 0x80);
        t[3] = (uint8_t)v;
        n = 4;
    }
    rtmpd_buf_append(b, t, n);
}

/* U29 length with the inline flag, then the bytes (strings, XML, ByteArray). */
static int amf3_put_bytes(struct rtmpd_buf *b, const struct rtmpd_amf_str *s)
{
    if (s->len > AMF3_LEN_MAX)
        return RTMPD_E_INVAL;
    amf3_put_u29(b, s->len << 1 | 1);
    rtmpd_buf_append(b, s->ptr, s->len);
    return 0;
}

static int amf3_enc(struct rtmpd_buf *b, const struct rtmpd_amf_value *v, uint32_t depth);

/* Dynamic members or associative part, then the empty-name terminator. */
static int amf3_enc_members(struct rtmpd_buf *b, const struct rtmpd_amf_value *v, uint32_t depth)
{
    int rc;

    for (uint32_t i = 0; i < v->u.obj.nprops; i++) {
        const struct rtmpd_amf_prop *p = &v->u.obj.props[i];
        if (p->key.len == 0) /* would read as the terminator */
            return RTMPD_E_INVAL;
        if ((rc = amf3_put_bytes(b, &p->key)) < 0 || (rc = amf3_enc(b, p->value, depth)) < 0)
            return rc;
    }
    rtmpd_buf_put_u8(b, 0x01);
    return 0;
}

static int amf3_enc(struct rtmpd_buf *b, const struct rtmpd_amf_value *v, uint32_t depth)
{
    int rc;

    if (!v)
        return RTMPD_E_INVAL;
    switch (v->type) {
    case RTMPD_AMF_UNDEFINED:
        rtmpd_buf_put_u8(b, AMF3_UNDEFINED);
        return 0;
    case RTMPD_AMF_NULL:
        rtmpd_buf_put_u8(b, AMF3_NULL);
        return 0;
    case RTMPD_AMF_BOOLEAN:
        rtmpd_buf_put_u8(b, v->u.boolean ? AMF3_TRUE : AMF3_FALSE);
        return 0;
    case RTMPD_AMF_INTEGER:
        if (v->u.integer >= AMF3_INT_MIN && v->u.integer <= AMF3_INT_MAX) {
            rtmpd_buf_put_u8(b, AMF3_INTEGER);
            amf3_put_u29(b, (uint32_t)v->u.integer & 0x1fffffffu);
        } else {
            rtmpd_buf_put_u8(b, AMF3_DOUBLE);
            rtmpd_buf_put_double(b, v->u.integer);
        }
        return 0;
    case RTMPD_AMF_NUMBER:
        rtmpd_buf_put_u8(b, AMF3_DOUBLE);
        rtmpd_buf_put_double(b, v->u.number);
        return 0;
    case RTMPD_AMF_STRING:
        rtmpd_buf_put_u8(b, AMF3_STRING);
        return amf3_put_bytes(b, &v->u.str);
    case RTMPD_AMF_XML:
        rtmpd_buf_put_u8(b, AMF3_XML_DOC);
        return amf3_put_bytes(b, &v->u.str);
    case RTMPD_AMF_BYTE_ARRAY:
        rtmpd_buf_put_u8(b, AMF3_BYTE_ARRAY);
        return amf3_put_bytes(b, &v->u.str);
    case RTMPD_AMF_DATE:
        rtmpd_buf_put_u8(b, AMF3_DATE);
        rtmpd_buf_put_u8(b, 0x01);
        rtmpd_buf_put_double(b, v->u.number);
        return 0;
    default:
        break;
    }

    if (depth >= RTMPD_AMF_MAX_DEPTH_CAP)
        return RTMPD_E_INVAL;
    switch (v->type) {
    case RTMPD_AMF_STRICT_ARRAY:
    case RTMPD_AMF_ECMA_ARRAY: {
        uint32_t n = v->type == RTMPD_AMF_STRICT_ARRAY ? v->u.obj.nitems : 0;
        if (n > AMF3_LEN_MAX)
            return RTMPD_E_INVAL;
        rtmpd_buf_put_u8(b, AMF3_ARRAY);
        amf3_put_u29(b, n << 1 | 1);
        if ((rc = amf3_enc_members(b, v, depth + 1)) < 0)
            return rc;
        for (uint32_t i = 0; i < n; i++)
            if ((rc = amf3_enc(b, v->u.obj.items[i], depth + 1)) < 0)
                return rc;
        return 0;
    }
    case RTMPD_AMF_OBJECT:
        /* inline object, inline traits, dynamic, no sealed members, class "" */
        rtmpd_buf_append(b, "\x0a\x0b\x01", 3);
        return amf3_enc_members(b, v, depth + 1);
    case RTMPD_AMF_TYPED_OBJECT:
        /* sealed traits: the class name, every member by name, then values */
        if (v->u.obj.nprops > AMF3_SEALED_MAX)
            return RTMPD_E_INVAL;
        rtmpd_buf_put_u8(b, AMF3_OBJECT);
        amf3_put_u29(b, v->u.obj.nprops << 4 | 0x03);
        if ((rc = amf3_put_bytes(b, &v->u.obj.class_name)) < 0)
            return rc;
        for (uint32_t i = 0; i < v->u.obj.nprops; i++)
            if ((rc = amf3_put_bytes(b, &v->u.obj.props[i].key)) < 0)
                return rc;
        for (uint32_t i = 0; i < v->u.obj.nprops; i++)
            if ((rc = amf3_enc(b, v->u.obj.props[i].value, depth + 1)) < 0)
                return rc;
        return 0;
    default:
        return RTMPD_E_INVAL; /* REFERENCE, UNSUPPORTED */
    }
}

static int amf0_enc(struct rtmpd_buf *b, const struct rtmpd_amf_value *v, uint32_t depth);

static int amf0_enc_prop(struct rtmpd_buf *b, const struct rtmpd_amf_str *key,
                         const struct rtmpd_amf_value *value, uint32_t depth)
{
    if (key->len > UINT16_MAX)
        return RTMPD_E_INVAL;
    amf0_put_name(b, key->ptr, key->len);
    return amf0_enc(b, value, depth);
}

/* Members and the end marker; a STRICT_ARRAY's items first, keyed "0", "1"... */
static int amf0_enc_members(struct rtmpd_buf *b, const struct rtmpd_amf_value *v, uint32_t depth,
                            uint32_t nitems)
{
    int rc;

    for (uint32_t i = 0; i < nitems; i++) {
        char num[11], *p = num + sizeof num;
        uint32_t x = i;
        do
            *--p = (char)('0' + x % 10);
        while (x /= 10);
        struct rtmpd_amf_str key = { p, (uint32_t)(num + sizeof num - p) };
        if ((rc = amf0_enc_prop(b, &key, v->u.obj.items[i], depth)) < 0)
            return rc;
    }
    for (uint32_t i = 0; i < v->u.obj.nprops; i++)
        if ((rc = amf0_enc_prop(b, &v->u.obj.props[i].key, v->u.obj.props[i].value, depth)) < 0)
            return rc;
    rtmpd_amf0_put_object_end(b);
    return 0;
}

static int amf0_enc(struct rtmpd_buf *b, const struct rtmpd_amf_value *v, uint32_t depth)
{
    int rc;

    if (!v)
        return RTMPD_E_INVAL;
    switch (v->type) {
    case RTMPD_AMF_NUMBER:
        rtmpd_amf0_put_number(b, v->u.number);
        return 0;
    case RTMPD_AMF_INTEGER:
        rtmpd_amf0_put_number(b, v->u.integer);
        return 0;
    case RTMPD_AMF_BOOLEAN:
        rtmpd_amf0_put_bool(b, v->u.boolean);
        return 0;
    case RTMPD_AMF_STRING:
        rtmpd_amf0_put_string(b, v->u.str.ptr, v->u.str.len);
        return 0;
    case RTMPD_AMF_NULL:
        rtmpd_amf0_put_null(b);
        return 0;
    case RTMPD_AMF_UNDEFINED:
        rtmpd_amf0_put_undefined(b);
        return 0;
    case RTMPD_AMF_REFERENCE:
        if (v->u.ref > UINT16_MAX)
            return RTMPD_E_INVAL;
        rtmpd_buf_put_u8(b, AMF0_REFERENCE);
        rtmpd_buf_put_be16(b, (uint16_t)v->u.ref);
        return 0;
    case RTMPD_AMF_DATE:
        rtmpd_buf_put_u8(b, AMF0_DATE);
        rtmpd_buf_put_double(b, v->u.number);
        rtmpd_buf_put_be16(b, 0); /* time zone: reserved, 0 */
        return 0;
    case RTMPD_AMF_XML:
        rtmpd_buf_put_u8(b, AMF0_XML_DOC);
        rtmpd_buf_put_be32(b, v->u.str.len);
        rtmpd_buf_append(b, v->u.str.ptr, v->u.str.len);
        return 0;
    case RTMPD_AMF_BYTE_ARRAY: /* AMF0 has none: switch to AMF3 for it */
        rtmpd_buf_put_u8(b, AMF0_AVMPLUS);
        return amf3_enc(b, v, depth);
    default:
        break;
    }

    if (depth >= RTMPD_AMF_MAX_DEPTH_CAP)
        return RTMPD_E_INVAL;
    switch (v->type) {
    case RTMPD_AMF_OBJECT:
        rtmpd_amf0_put_object_start(b);
        return amf0_enc_members(b, v, depth + 1, 0);
    case RTMPD_AMF_TYPED_OBJECT:
        if (v->u.obj.class_name.len > UINT16_MAX)
            return RTMPD_E_INVAL;
        rtmpd_buf_put_u8(b, AMF0_TYPED_OBJECT);
        amf0_put_name(b, v->u.obj.class_name.ptr, v->u.obj.class_name.len);
        return amf0_enc_members(b, v, depth + 1, 0);
    case RTMPD_AMF_ECMA_ARRAY:
        rtmpd_amf0_put_ecma_start(b, v->u.obj.nprops);
        return amf0_enc_members(b, v, depth + 1, 0);
    case RTMPD_AMF_STRICT_ARRAY:
        if (v->u.obj.nprops) {
            /* an AMF3 array with named members: an ECMA array, as Flash does */
            if (v->u.obj.nitems > UINT32_MAX - v->u.obj.nprops)
                return RTMPD_E_INVAL;
            rtmpd_amf0_put_ecma_start(b, v->u.obj.nitems + v->u.obj.nprops);
            return amf0_enc_members(b, v, depth + 1, v->u.obj.nitems);
        }
        rtmpd_amf0_put_strict_array_start(b, v->u.obj.nitems);
        for (uint32_t i = 0; i < v->u.obj.nitems; i++)
            if ((rc = amf0_enc(b, v->u.obj.items[i], depth + 1)) < 0)
                return rc;
        return 0;
    default:
        return RTMPD_E_INVAL; /* UNSUPPORTED */
    }
}

/* Runs an encoder; on RTMPD_E_INVAL the buffer is put back as it was. */
static int amf_encode(struct rtmpd_buf *b, const struct rtmpd_amf_value *v,
                      int (*enc)(struct rtmpd_buf *, const struct rtmpd_amf_value *, uint32_t))
{
    if (!b)
        return RTMPD_E_INVAL;
    if (b->failed)
        return RTMPD_E_NOMEM;
    size_t start = b->len;
    int rc = enc(b, v, 0);
    if (b->failed)
        return RTMPD_E_NOMEM;
    if (rc < 0)
        b->len = start;
    return rc;
}

int rtmpd_amf0_encode(struct rtmpd_buf *b, const struct rtmpd_amf_value *v)
{
    return amf_encode(b, v, amf0_enc);
}

int rtmpd_amf3_encode(struct rtmpd_buf *b, const struct rtmpd_amf_value *v)
{
    return amf_encode(b, v, amf3_enc);
}
