/*
 * rtmpd — AMF0 and AMF3 values: decoding with limits, encoding.
 *
 * Decoded values live in an arena owned by the decoder; one call to
 * rtmpd_amf_dec_reset() frees all of them. Pure: no I/O, no global state.
 *
 * AMF0 and AMF3 decode into the same value tree so that command handlers do
 * not care which encoding the peer used. References (AMF0 0x07, AMF3 object
 * references) are kept as RTMPD_AMF_REFERENCE values with their index, never
 * resolved into shared nodes, so a decoded tree has no cycles. AMF3 string
 * and traits references are resolved (they carry no structure).
 */
#ifndef RTMPD_AMF_H
#define RTMPD_AMF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rtmpd/bytes.h"

enum rtmpd_amf_type {
    RTMPD_AMF_NUMBER,       /* AMF0 number, AMF3 double */
    RTMPD_AMF_INTEGER,      /* AMF3 integer (29-bit signed) */
    RTMPD_AMF_BOOLEAN,
    RTMPD_AMF_STRING,       /* AMF0 string / long string, AMF3 string */
    RTMPD_AMF_OBJECT,       /* anonymous object */
    RTMPD_AMF_TYPED_OBJECT, /* object with a class name (AMF0 0x10, AMF3 sealed/named) */
    RTMPD_AMF_ECMA_ARRAY,   /* associative array (AMF0 0x08) */
    RTMPD_AMF_STRICT_ARRAY, /* dense array (AMF0 0x0a); AMF3 array (dense items + assoc props) */
    RTMPD_AMF_NULL,
    RTMPD_AMF_UNDEFINED,
    RTMPD_AMF_REFERENCE,    /* AMF0 reference / AMF3 object reference, by index */
    RTMPD_AMF_DATE,         /* ms since epoch (+ AMF0 time zone, ignored) */
    RTMPD_AMF_XML,          /* AMF0 XML document, AMF3 XML / XMLDocument */
    RTMPD_AMF_BYTE_ARRAY,   /* AMF3 ByteArray */
    RTMPD_AMF_UNSUPPORTED,  /* AMF0 movieclip/recordset, AMF3 vector/dictionary: never produced by decode */
};

/* A byte string inside the decoder's arena; always followed by a NUL. */
struct rtmpd_amf_str {
    const char *ptr;
    uint32_t len;
};

struct rtmpd_amf_value;

struct rtmpd_amf_prop {
    struct rtmpd_amf_str key;
    struct rtmpd_amf_value *value;
};

struct rtmpd_amf_value {
    enum rtmpd_amf_type type;
    union {
        double number;                /* NUMBER, DATE */
        int32_t integer;              /* INTEGER */
        int boolean;                  /* BOOLEAN */
        struct rtmpd_amf_str str;     /* STRING, XML, BYTE_ARRAY */
        uint32_t ref;                 /* REFERENCE */
        struct {
            struct rtmpd_amf_str class_name; /* TYPED_OBJECT */
            struct rtmpd_amf_prop *props;     /* OBJECT, TYPED_OBJECT, ECMA_ARRAY, AMF3 array assoc part */
            uint32_t nprops;
            struct rtmpd_amf_value **items;   /* STRICT_ARRAY */
            uint32_t nitems;
        } obj;
    } u;
};

struct rtmpd_amf_limits {
    uint32_t max_depth;   /* nesting of objects/arrays; default 64, at most RTMPD_AMF_MAX_DEPTH_CAP */
    uint32_t max_values;  /* values per decoder between resets; default 65536 */
};

#define RTMPD_AMF_MAX_DEPTH_DEFAULT 64u
#define RTMPD_AMF_MAX_VALUES_DEFAULT 65536u
/*
 * Hard ceiling on max_depth (larger settings are clamped to it). Decoding
 * and encoding recurse once per nesting level, so this bounds stack use
 * whatever the configuration says.
 */
#define RTMPD_AMF_MAX_DEPTH_CAP 1024u

struct rtmpd_amf_arena_block;
struct rtmpd_amf_traits;

/* Decoder state: arena and reference tables. Private fields. */
struct rtmpd_amf_dec {
    struct rtmpd_amf_limits lim;
    struct rtmpd_amf_arena_block *blocks;
    size_t mem;           /* bytes held: arena blocks and tables */
    uint32_t nvalues;
    /* AMF0 complex-object table (for 0x07 references): only its size */
    uint32_t amf0_objects;
    /* AMF3 tables; objects only counted, strings and traits kept */
    struct rtmpd_amf_str *strings;
    uint32_t nstrings, cap_strings;
    uint32_t amf3_objects;
    struct rtmpd_amf_traits *traits;
    uint32_t ntraits, cap_traits;
    /* members of the objects being decoded, innermost last */
    struct rtmpd_amf_prop *scratch;
    uint32_t nscratch, cap_scratch;
};

/* Initialises a decoder; `lim` may be NULL or have zero fields for defaults. */
void rtmpd_amf_dec_init(struct rtmpd_amf_dec *d, const struct rtmpd_amf_limits *lim);

/* Frees every value decoded so far and clears the reference tables. */
void rtmpd_amf_dec_reset(struct rtmpd_amf_dec *d);

/* Frees everything; the decoder may be initialised again. */
void rtmpd_amf_dec_release(struct rtmpd_amf_dec *d);

/* Bytes currently held by the decoder (arena and reference tables). */
size_t rtmpd_amf_dec_memory(const struct rtmpd_amf_dec *d);

/*
 * Decodes one AMF0 value (an AMF0 0x11 "avmplus" marker switches to AMF3 for
 * that value). Returns the number of bytes consumed (> 0) and stores the
 * value in *out, or a negative error: RTMPD_E_AMF_TRUNCATED (input ends
 * inside the value; never reads past `len`), RTMPD_E_AMF_DEPTH,
 * RTMPD_E_AMF_TYPE, RTMPD_E_AMF_REFERENCE, RTMPD_E_AMF_LIMIT, RTMPD_E_NOMEM.
 * Lengths and counts are checked against the remaining input before
 * anything is allocated.
 *
 * Values and the reference tables persist across calls until
 * rtmpd_amf_dec_reset(): decode all the values of one RTMP message, use
 * them, then reset (AMF reference indices are scoped to one message). After
 * an error, reset before decoding another message.
 */
ssize_t rtmpd_amf0_decode(struct rtmpd_amf_dec *d, const uint8_t *in, size_t len,
                          struct rtmpd_amf_value **out);

/* Decodes one AMF3 value; same contract as rtmpd_amf0_decode(). */
ssize_t rtmpd_amf3_decode(struct rtmpd_amf_dec *d, const uint8_t *in, size_t len,
                          struct rtmpd_amf_value **out);

/* Lookup helpers; all accept NULL and return NULL / error on type mismatch. */

/* Property `key` of an OBJECT, TYPED_OBJECT, ECMA_ARRAY or AMF3 array. */
const struct rtmpd_amf_value *rtmpd_amf_get(const struct rtmpd_amf_value *obj, const char *key);

/* Numeric value of NUMBER or INTEGER into *out; returns 0, or -1. */
int rtmpd_amf_number(const struct rtmpd_amf_value *v, double *out);

/* String of a STRING value (len may be NULL); NULL for other types. */
const char *rtmpd_amf_string(const struct rtmpd_amf_value *v, size_t *len);

/* Truth of a BOOLEAN (or non-zero NUMBER/INTEGER); `def` for anything else. */
int rtmpd_amf_bool(const struct rtmpd_amf_value *v, int def);

/*
 * AMF0 encoding into a growable buffer. Failures are recorded in the
 * buffer's `failed` flag (see bytes.h).
 */
void rtmpd_amf0_put_number(struct rtmpd_buf *b, double v);
void rtmpd_amf0_put_bool(struct rtmpd_buf *b, int v);
/* String; a long string (0x0c) when len > 65535. */
void rtmpd_amf0_put_string(struct rtmpd_buf *b, const char *s, size_t len);
/* NUL-terminated string; NULL writes an AMF0 null. */
void rtmpd_amf0_put_cstr(struct rtmpd_buf *b, const char *s);
void rtmpd_amf0_put_null(struct rtmpd_buf *b);
void rtmpd_amf0_put_undefined(struct rtmpd_buf *b);
void rtmpd_amf0_put_object_start(struct rtmpd_buf *b);
void rtmpd_amf0_put_ecma_start(struct rtmpd_buf *b, uint32_t count);
/* Strict array header (0x0a + count); the caller then writes `count` values. */
void rtmpd_amf0_put_strict_array_start(struct rtmpd_buf *b, uint32_t count);
/* Property name inside an object / ECMA array (no type marker). */
void rtmpd_amf0_put_key(struct rtmpd_buf *b, const char *key);
/* Empty key + object-end marker (0x00 0x00 0x09). */
void rtmpd_amf0_put_object_end(struct rtmpd_buf *b);
/* Shorthands: key + value. */
void rtmpd_amf0_put_prop_number(struct rtmpd_buf *b, const char *key, double v);
void rtmpd_amf0_put_prop_bool(struct rtmpd_buf *b, const char *key, int v);
void rtmpd_amf0_put_prop_cstr(struct rtmpd_buf *b, const char *key, const char *s);
void rtmpd_amf0_put_prop_string(struct rtmpd_buf *b, const char *key, const char *s, size_t len);

/*
 * Encodes a whole value tree (any type) as AMF0 / AMF3. AMF3 encoding
 * writes no references. Returns RTMPD_OK, RTMPD_E_INVAL for a value the
 * encoding cannot carry (e.g. REFERENCE to AMF3), or RTMPD_E_NOMEM.
 */
int rtmpd_amf0_encode(struct rtmpd_buf *b, const struct rtmpd_amf_value *v);
int rtmpd_amf3_encode(struct rtmpd_buf *b, const struct rtmpd_amf_value *v);

#endif
