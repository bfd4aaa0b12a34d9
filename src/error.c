#include "rtmpd/error.h"

const char *rtmpd_strerror(int code)
{
    switch (code) {
    case RTMPD_OK: return "ok";
    case RTMPD_AGAIN: return "need more input";
    case RTMPD_E_NOMEM: return "out of memory";
    case RTMPD_E_INVAL: return "invalid argument";
    case RTMPD_E_HS_VERSION: return "handshake: unsupported RTMP version";
    case RTMPD_E_HS_DIGEST: return "handshake: digest did not validate";
    case RTMPD_E_HS_STATE: return "handshake: unexpected state";
    case RTMPD_E_CHUNK_MSG_SIZE: return "chunk: message length above limit";
    case RTMPD_E_CHUNK_STREAMS: return "chunk: too many chunk streams";
    case RTMPD_E_CHUNK_SIZE: return "chunk: invalid chunk size";
    case RTMPD_E_CHUNK_FRESH_FMT: return "chunk: new chunk stream without a full header";
    case RTMPD_E_CHUNK_PENDING: return "chunk: too many bytes in incomplete messages";
    case RTMPD_E_CHUNK_CONTROL: return "chunk: malformed protocol control message";
    case RTMPD_E_AMF_TRUNCATED: return "amf: truncated value";
    case RTMPD_E_AMF_DEPTH: return "amf: nesting too deep";
    case RTMPD_E_AMF_TYPE: return "amf: unknown type marker";
    case RTMPD_E_AMF_REFERENCE: return "amf: reference to unknown index";
    case RTMPD_E_AMF_LIMIT: return "amf: too many values";
    case RTMPD_E_FLV_TRUNCATED: return "flv: truncated tag";
    case RTMPD_E_FLV_FORMAT: return "flv: malformed header";
    default: return "unknown error";
    }
}
