/*
 * rtmpd — return codes shared by every module.
 *
 * Functions return 0 or a count (>= 0) on success, RTMPD_AGAIN when they need
 * more input, or one of the negative RTMPD_E* codes below. Each limit has a
 * code of its own so that callers (and tests) can tell which one was hit.
 */
#ifndef RTMPD_ERROR_H
#define RTMPD_ERROR_H

enum rtmpd_status {
    RTMPD_OK = 0,
    RTMPD_AGAIN = -1,            /* need more input */

    /* generic */
    RTMPD_E_NOMEM = -2,          /* allocation failed */
    RTMPD_E_INVAL = -3,          /* invalid argument */

    /* handshake */
    RTMPD_E_HS_VERSION = -10,    /* C0/S0 version byte is not 3 */
    RTMPD_E_HS_DIGEST = -11,     /* digest required but did not validate */
    RTMPD_E_HS_STATE = -12,      /* call not valid in the current state */

    /* chunk stream */
    RTMPD_E_CHUNK_MSG_SIZE = -20,     /* declared message length above the limit */
    RTMPD_E_CHUNK_STREAMS = -21,      /* too many chunk streams open at once */
    RTMPD_E_CHUNK_SIZE = -22,         /* Set Chunk Size of 0 or with top bit set */
    RTMPD_E_CHUNK_FRESH_FMT = -23,    /* fmt 2/3 on a chunk stream never seen */
    RTMPD_E_CHUNK_PENDING = -24,      /* bytes held in incomplete messages above the limit */
    RTMPD_E_CHUNK_CONTROL = -25,      /* malformed protocol control message */

    /* AMF */
    RTMPD_E_AMF_TRUNCATED = -30,      /* input ends inside a value */
    RTMPD_E_AMF_DEPTH = -31,          /* nesting deeper than the limit */
    RTMPD_E_AMF_TYPE = -32,           /* unknown or unsupported type marker */
    RTMPD_E_AMF_REFERENCE = -33,      /* reference to an index not yet seen */
    RTMPD_E_AMF_LIMIT = -34,          /* too many values or members */

    /* FLV */
    RTMPD_E_FLV_TRUNCATED = -40,      /* tag or payload shorter than its header says */
    RTMPD_E_FLV_FORMAT = -41,         /* not an FLV / malformed header */
};

/*
 * Returns a static, human-readable description of a status code. Never NULL;
 * unknown codes map to "unknown error".
 */
const char *rtmpd_strerror(int code);

#endif
