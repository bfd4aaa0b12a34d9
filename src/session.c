#include "rtmpd/session.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rtmpd/amf.h"
#include "rtmpd/bytes.h"
#include "rtmpd/chunk.h"
#include "rtmpd/conn.h"
#include "rtmpd/error.h"
#include "rtmpd/flv.h"
#include "rtmpd/handshake.h"
#include "rtmpd/log.h"
#include "rtmpd/server.h"
#include "rtmpd/stream.h"
#include "rtmpd/text.h"

#define FMS_VERSION "FMS/3,5,7,7009"
#define FMS_CAPABILITIES 31
#define MAX_COMMAND_VALUES 12
/* Malformed commands tolerated before the connection is closed. */
#define MAX_PROTOCOL_ERRORS 16
#define QUERY_MAX 512
/* A publisher's media timestamp that goes back by more than this, or
 * forward by more than TS_JUMP_FWD_MS, is logged (players get it as is). */
#define TS_JUMP_BACK_MS 1000
#define TS_JUMP_FWD_MS 60000
/* Unwritten bytes a peer may leave queued besides a player's media backlog
 * (which queue.max_bytes bounds): replies, statuses, acknowledgements and
 * pings. A well-behaved client reads them at once; one that sends commands
 * and never reads would otherwise grow the queue without bound. */
#define REPLY_BACKLOG_MAX (1024 * 1024)
#define NAME_MAX_STORE 1024
/* Log lines a client's own requests can make rtmpd write, per connection:
 * a burst, then one a second. A client must not make rtmpd write its log
 * faster than the log's reader (journald, a pipe) takes it: the write would
 * block the loop and every other client with it. */
#define LOG_BURST 32
#define LOG_REFILL_US 1000000u
/* Bandwidth samples (half a second apart) before onBWDone is sent. */
#define BWDONE_SAMPLES 6

/* User control event types. */
enum {
    UC_STREAM_BEGIN = 0,
    UC_STREAM_EOF = 1,
    UC_STREAM_DRY = 2,
    UC_SET_BUFFER_LENGTH = 3,
    UC_STREAM_IS_RECORDED = 4,
    UC_PING_REQUEST = 6,
    UC_PING_RESPONSE = 7,
};

enum session_state {
    SESSION_HANDSHAKE,
    SESSION_CONNECTING, /* handshake done, waiting for connect */
    SESSION_CONNECTED,
};

enum ns_role {
    NS_FREE = 0,    /* id not allocated */
    NS_IDLE,        /* created, neither publishing nor playing */
    NS_PUBLISH,
    NS_PLAY,
};

struct netstream {
    uint8_t role;
    uint32_t id;                  /* message stream id */
    struct rtmpd_stream *st;      /* publishing to / playing from */
    struct rtmpd_sub sub;         /* when playing */
    struct rtmpd_session *s;
    char query[QUERY_MAX];        /* after '?' in the name, kept for auth */
    uint32_t last_ts;             /* when publishing: last media timestamp */
    uint8_t have_ts;
};

struct rtmpd_session {
    struct rtmpd_conn *conn;
    struct rtmpd_server *srv;
    const struct rtmpd_config *cfg;
    uint8_t state;
    uint8_t ertmp;                /* the client spoke Enhanced RTMP in connect */
    uint8_t roles;                /* 1: published, 2: played (access log) */
    uint32_t protocol_errors;
    struct rtmpd_hs *hs;          /* only during the handshake */
    struct rtmpd_chunk_dec dec;
    struct rtmpd_amf_dec amf;
    /* Header compression state of the chunk streams the session encodes on
     * (protocol, command, status). Media and stream data go on their own
     * chunk streams as self-contained fmt 0 messages shared by players. */
    struct rtmpd_chunk_prev prev[RTMPD_CSID_STATUS + 1];
    struct rtmpd_buf abuf;        /* AMF payload being built */
    struct rtmpd_buf wbuf;        /* chunk-encoded message being built */

    const struct rtmpd_app_conf *app;
    char app_name[RTMPD_CONFIG_NAME_MAX];
    char tc_url[256];
    char flash_ver[64];
    double object_encoding;
    uint32_t out_chunk_size;

    uint32_t peer_window;         /* the peer's Window Ack Size: when we ack */
    uint64_t recv_bytes;
    uint64_t acked_bytes;         /* recv_bytes at our last acknowledgement */
    uint32_t peer_acked;          /* last sequence number the peer acknowledged */
    uint32_t buffer_ms;           /* last SetBufferLength */
    uint64_t bad_media;
    uint8_t bwdone_sent;
    uint32_t log_tokens;          /* client-triggered log lines left */
    uint64_t log_refill_us;       /* when the last token was added */
    uint64_t log_suppressed;      /* lines not written for lack of tokens */

    char last_stream[NAME_MAX_STORE]; /* for the access log */
    struct netstream *ns;
    uint32_t nns;
};

/* ------------------------------------------------------------------ */
/* Logging what clients cause                                           */

/* Takes a token for one client-triggered log line at `level`. Returns 1
 * when the line may be written. */
static int session_log_ok(struct rtmpd_session *s, enum rtmpd_log_level level)
{
    if (!rtmpd_log_enabled(level))
        return 0;
    uint64_t now = rtmpd_server_now_us(s->srv);
    if (s->log_tokens >= LOG_BURST) {
        s->log_refill_us = now;
    } else if (now - s->log_refill_us >= LOG_REFILL_US) {
        uint64_t add = (now - s->log_refill_us) / LOG_REFILL_US;
        s->log_tokens = add >= LOG_BURST - s->log_tokens ? LOG_BURST
                                                          : s->log_tokens + (uint32_t)add;
        s->log_refill_us += add * LOG_REFILL_US;
    }
    if (s->log_tokens == 0) {
        s->log_suppressed++;
        return 0;
    }
    s->log_tokens--;
    if (s->log_suppressed) {
        log_warn(s->conn->id, "%llu log lines about this connection suppressed (rate limit: %u, "
                 "then 1 a second)", (unsigned long long)s->log_suppressed, LOG_BURST);
        s->log_suppressed = 0;
    }
    return 1;
}

/* A log line a client can cause again and again: rate-limited. */
#define log_client(s, level, ...)                              \
    do {                                                       \
        if (session_log_ok((s), (level)))                      \
            rtmpd_log((level), (s)->conn->id, __VA_ARGS__);    \
    } while (0)

/* ------------------------------------------------------------------ */
/* Sending                                                              */

/* Chunk-encodes one message and queues it. Returns 0 or -1. */
static int send_msg(struct rtmpd_session *s, uint32_t csid, uint8_t type, uint32_t msid,
                    uint32_t ts, const uint8_t *p, size_t len)
{
    struct rtmpd_msg m = {
        .csid = csid, .type = type, .stream_id = msid, .timestamp = ts,
        .length = (uint32_t)len, .payload = (uint8_t *)p,
    };
    rtmpd_buf_reset(&s->wbuf);
    struct rtmpd_chunk_prev *prev = csid < sizeof s->prev / sizeof s->prev[0] ? &s->prev[csid] : NULL;
    if (rtmpd_chunk_encode(&s->wbuf, s->out_chunk_size, &m, prev) < 0) {
        rtmpd_conn_close(s->conn, "out of memory");
        return -1;
    }
    uint64_t max = REPLY_BACKLOG_MAX + ((s->roles & 2) && s->app ? s->app->queue.max_bytes : 0);
    if (s->conn->q_bytes + s->wbuf.len > max && !s->conn->closing) {
        log_warn(s->conn->id, "peer from %s does not read: %llu bytes queued for it (limit %llu), "
                 "closing", s->conn->peer, (unsigned long long)s->conn->q_bytes,
                 (unsigned long long)max);
        rtmpd_conn_close(s->conn, "peer not reading");
        return -1;
    }
    return rtmpd_conn_send(s->conn, s->wbuf.data, s->wbuf.len);
}

static void send_control_u32(struct rtmpd_session *s, uint8_t type, uint32_t v)
{
    uint8_t b[4];
    rtmpd_wr_be32(b, v);
    send_msg(s, RTMPD_CSID_PROTOCOL, type, 0, 0, b, sizeof b);
}

static void send_peer_bandwidth(struct rtmpd_session *s, uint32_t bw, uint8_t limit)
{
    uint8_t b[5];
    rtmpd_wr_be32(b, bw);
    b[4] = limit;
    send_msg(s, RTMPD_CSID_PROTOCOL, RTMPD_MSG_SET_PEER_BW, 0, 0, b, sizeof b);
}

static void send_user_control(struct rtmpd_session *s, uint16_t event, uint32_t v)
{
    uint8_t b[6];
    rtmpd_wr_be16(b, event);
    rtmpd_wr_be32(b + 2, v);
    send_msg(s, RTMPD_CSID_PROTOCOL, RTMPD_MSG_USER_CONTROL, 0, 0, b, sizeof b);
}

/* Sends the AMF0 command built in s->abuf. */
static void send_amf(struct rtmpd_session *s, uint32_t csid, uint8_t type, uint32_t msid)
{
    if (s->abuf.failed) {
        rtmpd_conn_close(s->conn, "out of memory");
        return;
    }
    send_msg(s, csid, type, msid, 0, s->abuf.data, s->abuf.len);
}

static void amf_begin(struct rtmpd_session *s, const char *name, double txn)
{
    rtmpd_buf_reset(&s->abuf);
    rtmpd_amf0_put_cstr(&s->abuf, name);
    rtmpd_amf0_put_number(&s->abuf, txn);
}

/* onStatus(0, null, {level, code, description, details}) on a net stream. */
static void send_status(struct rtmpd_session *s, uint32_t msid, const char *level,
                        const char *code, const char *desc, const char *details)
{
    amf_begin(s, "onStatus", 0);
    rtmpd_amf0_put_null(&s->abuf);
    rtmpd_amf0_put_object_start(&s->abuf);
    rtmpd_amf0_put_prop_cstr(&s->abuf, "level", level);
    rtmpd_amf0_put_prop_cstr(&s->abuf, "code", code);
    rtmpd_amf0_put_prop_cstr(&s->abuf, "description", desc);
    if (details)
        rtmpd_amf0_put_prop_cstr(&s->abuf, "details", details);
    rtmpd_amf0_put_prop_number(&s->abuf, "clientid", (double)s->conn->id);
    rtmpd_amf0_put_object_end(&s->abuf);
    send_amf(s, RTMPD_CSID_STATUS, RTMPD_MSG_COMMAND_AMF0, msid);
}

/* _result(txn, null, value-or-nothing) for simple calls. */
static void send_result_simple(struct rtmpd_session *s, double txn, int with_number, double v)
{
    amf_begin(s, "_result", txn);
    rtmpd_amf0_put_null(&s->abuf);
    if (with_number)
        rtmpd_amf0_put_number(&s->abuf, v);
    else
        rtmpd_amf0_put_undefined(&s->abuf);
    send_amf(s, RTMPD_CSID_COMMAND, RTMPD_MSG_COMMAND_AMF0, 0);
}

static void send_error(struct rtmpd_session *s, double txn, const char *code, const char *desc)
{
    amf_begin(s, "_error", txn);
    rtmpd_amf0_put_null(&s->abuf);
    rtmpd_amf0_put_object_start(&s->abuf);
    rtmpd_amf0_put_prop_cstr(&s->abuf, "level", "error");
    rtmpd_amf0_put_prop_cstr(&s->abuf, "code", code);
    rtmpd_amf0_put_prop_cstr(&s->abuf, "description", desc);
    rtmpd_amf0_put_object_end(&s->abuf);
    send_amf(s, RTMPD_CSID_COMMAND, RTMPD_MSG_COMMAND_AMF0, 0);
}

/* |RtmpSampleAccess(true, true): lets Flash players read the media data. */
static void send_sample_access(struct rtmpd_session *s, uint32_t msid)
{
    rtmpd_buf_reset(&s->abuf);
    rtmpd_amf0_put_cstr(&s->abuf, "|RtmpSampleAccess");
    rtmpd_amf0_put_bool(&s->abuf, 1);
    rtmpd_amf0_put_bool(&s->abuf, 1);
    send_amf(s, RTMPD_CSID_STATUS, RTMPD_MSG_DATA_AMF0, msid);
}

/* ------------------------------------------------------------------ */
/* Net streams                                                          */

static struct netstream *ns_find(struct rtmpd_session *s, uint32_t id)
{
    if (id == 0 || id > s->nns || s->ns[id - 1].role == NS_FREE)
        return NULL;
    return &s->ns[id - 1];
}

/* Ends whatever the net stream is doing; it stays allocated. */
static void ns_stop(struct netstream *ns)
{
    struct rtmpd_session *s = ns->s;
    if (ns->role == NS_PUBLISH && ns->st) {
        log_client(s, RTMPD_LOG_INFO, "%s: unpublished", ns->st->key);
        rtmpd_stream_unpublish(ns->st);
    } else if (ns->role == NS_PLAY && ns->st) {
        log_client(s, RTMPD_LOG_INFO,
                   "%s: stopped playing (%llu frames sent, %llu dropped, %u switches)",
                   ns->sub.st ? ns->sub.st->key : ns->st->key,
                   (unsigned long long)ns->sub.frames_sent,
                   (unsigned long long)ns->sub.frames_dropped, ns->sub.switches);
        rtmpd_stream_detach(&ns->sub);
    }
    ns->st = NULL;
    ns->role = NS_IDLE;
}

/* Subscriber notifications from the stream. */
static void ns_notify(struct rtmpd_sub *sub, enum rtmpd_sub_event ev)
{
    struct netstream *ns = sub->ud;
    struct rtmpd_session *s = ns->s;
    const char *name = sub->st->key + strlen(sub->st->app->name) + 1;
    if (ev == RTMPD_SUB_PUBLISH_START) {
        send_user_control(s, UC_STREAM_BEGIN, ns->id);
        if (s->app->publish_notify)
            send_status(s, ns->id, "status", "NetStream.Play.PublishNotify",
                        "Stream published.", name);
    } else {
        send_user_control(s, UC_STREAM_EOF, ns->id);
        if (s->app->publish_notify)
            send_status(s, ns->id, "status", "NetStream.Play.UnpublishNotify",
                        "Stream unpublished.", name);
    }
}

static const struct rtmpd_sub_ops ns_sub_ops = { .notify = ns_notify };

/* Splits "name?query" and validates the name. Stores the query in ns.
 * Returns the name length, or -1 with *why set. */
static long split_name(struct rtmpd_session *s, struct netstream *ns, const char *full,
                       size_t full_len, const char **why)
{
    const char *q = memchr(full, '?', full_len);
    size_t len = q ? (size_t)(q - full) : full_len;
    *why = rtmpd_stream_name_problem(full, len, s->cfg->limits.max_name_bytes);
    if (*why)
        return -1;
    ns->query[0] = '\0';
    if (q) {
        size_t ql = full_len - len - 1;
        if (ql >= sizeof ns->query) {
            *why = "query string too long";
            return -1;
        }
        memcpy(ns->query, q + 1, ql);
        ns->query[ql] = '\0';
    }
    snprintf(s->last_stream, sizeof s->last_stream, "%s/%.*s", s->app_name, (int)len, full);
    return (long)len;
}

/* ------------------------------------------------------------------ */
/* Commands                                                             */

struct cmd {
    const char *name;
    double txn;
    const struct rtmpd_amf_value *obj;     /* command object (often null) */
    const struct rtmpd_amf_value *args[MAX_COMMAND_VALUES];
    uint32_t nargs;
    uint32_t msid;
};

static const struct rtmpd_amf_value *cmd_arg(const struct cmd *c, uint32_t i)
{
    return i < c->nargs ? c->args[i] : NULL;
}

/* Copies a string property of the command object into out (truncating). */
static void copy_prop(char *out, size_t outlen, const struct rtmpd_amf_value *obj, const char *key)
{
    size_t len;
    const char *v = rtmpd_amf_string(rtmpd_amf_get(obj, key), &len);
    if (!v) {
        out[0] = '\0';
        return;
    }
    if (len >= outlen)
        len = outlen - 1;
    memcpy(out, v, len);
    out[len] = '\0';
}

/* The server's Enhanced RTMP capabilities for the connect _result: it
 * forwards any codec and multitrack streams unchanged. */
static void put_ertmp_caps(struct rtmpd_session *s, const struct rtmpd_amf_value *obj)
{
    struct rtmpd_buf *b = &s->abuf;
    const struct rtmpd_amf_value *list = rtmpd_amf_get(obj, "fourCcList");
    if (list && list->type == RTMPD_AMF_STRICT_ARRAY) {
        /* Echo what the client listed: every codec is forwarded as is. */
        rtmpd_amf0_put_key(b, "fourCcList");
        uint32_t n = 0;
        for (uint32_t i = 0; i < list->u.obj.nitems; i++)
            n += rtmpd_amf_string(list->u.obj.items[i], NULL) != NULL;
        rtmpd_amf0_put_strict_array_start(b, n);
        for (uint32_t i = 0; i < list->u.obj.nitems; i++) {
            size_t len;
            const char *v = rtmpd_amf_string(list->u.obj.items[i], &len);
            if (v)
                rtmpd_amf0_put_string(b, v, len);
        }
    }
    /* FourCcInfoMask.CanForward for any codec ('*'). */
    rtmpd_amf0_put_key(b, "videoFourCcInfoMap");
    rtmpd_amf0_put_object_start(b);
    rtmpd_amf0_put_prop_number(b, "*", 4);
    rtmpd_amf0_put_object_end(b);
    rtmpd_amf0_put_key(b, "audioFourCcInfoMap");
    rtmpd_amf0_put_object_start(b);
    rtmpd_amf0_put_prop_number(b, "*", 4);
    rtmpd_amf0_put_object_end(b);
    /* CapsExMask.Multitrack: multitrack packets are forwarded. */
    rtmpd_amf0_put_prop_number(b, "capsEx", 2);
}

static void cmd_connect(struct rtmpd_session *s, const struct cmd *c)
{
    char logbuf[160];
    if (s->state == SESSION_CONNECTED) {
        send_error(s, c->txn, "NetConnection.Connect.Rejected", "Already connected.");
        return;
    }
    if (!c->obj || (c->obj->type != RTMPD_AMF_OBJECT && c->obj->type != RTMPD_AMF_ECMA_ARRAY &&
                    c->obj->type != RTMPD_AMF_TYPED_OBJECT)) {
        send_error(s, c->txn, "NetConnection.Connect.Rejected", "connect needs a command object.");
        rtmpd_conn_close_after_flush(s->conn, "connect without command object");
        return;
    }
    size_t app_len = 0;
    const char *app = rtmpd_amf_string(rtmpd_amf_get(c->obj, "app"), &app_len);
    if (!app)
        app = "", app_len = 0;
    /* "live?token=..." and "live/" name the app "live". */
    size_t n = 0;
    while (n < app_len && app[n] != '?')
        n++;
    while (n && app[n - 1] == '/')
        n--;
    s->app = n < RTMPD_CONFIG_NAME_MAX ? rtmpd_config_app(s->cfg, app, n) : NULL;
    if (!s->app) {
        log_warn(s->conn->id, "connect to unknown app '%s': rejected",
                 rtmpd_log_str(logbuf, sizeof logbuf, app, app_len));
        send_error(s, c->txn, "NetConnection.Connect.Rejected", "Application not found.");
        rtmpd_conn_close_after_flush(s->conn, "unknown app");
        return;
    }
    memcpy(s->app_name, app, n);
    s->app_name[n] = '\0';
    copy_prop(s->tc_url, sizeof s->tc_url, c->obj, "tcUrl");
    copy_prop(s->flash_ver, sizeof s->flash_ver, c->obj, "flashVer");
    double oe = 0;
    if (rtmpd_amf_number(rtmpd_amf_get(c->obj, "objectEncoding"), &oe) == 0 && (oe == 0 || oe == 3))
        s->object_encoding = oe;
    s->ertmp = rtmpd_amf_get(c->obj, "fourCcList") || rtmpd_amf_get(c->obj, "videoFourCcInfoMap") ||
               rtmpd_amf_get(c->obj, "audioFourCcInfoMap") || rtmpd_amf_get(c->obj, "capsEx");
    s->state = SESSION_CONNECTED;
    s->conn->merge_ms = s->app->queue.merge_ms;

    send_control_u32(s, RTMPD_MSG_WINDOW_ACK_SIZE, s->cfg->rtmp.window_ack_size);
    send_peer_bandwidth(s, s->cfg->rtmp.peer_bandwidth, 2);
    send_control_u32(s, RTMPD_MSG_SET_CHUNK_SIZE, s->cfg->rtmp.chunk_size);
    s->out_chunk_size = s->cfg->rtmp.chunk_size;

    amf_begin(s, "_result", c->txn);
    rtmpd_amf0_put_object_start(&s->abuf);
    rtmpd_amf0_put_prop_cstr(&s->abuf, "fmsVer", FMS_VERSION);
    rtmpd_amf0_put_prop_number(&s->abuf, "capabilities", FMS_CAPABILITIES);
    rtmpd_amf0_put_prop_number(&s->abuf, "mode", 1);
    if (s->ertmp)
        put_ertmp_caps(s, c->obj);
    rtmpd_amf0_put_object_end(&s->abuf);
    rtmpd_amf0_put_object_start(&s->abuf);
    rtmpd_amf0_put_prop_cstr(&s->abuf, "level", "status");
    rtmpd_amf0_put_prop_cstr(&s->abuf, "code", "NetConnection.Connect.Success");
    rtmpd_amf0_put_prop_cstr(&s->abuf, "description", "Connection succeeded.");
    rtmpd_amf0_put_prop_number(&s->abuf, "objectEncoding", s->object_encoding);
    rtmpd_amf0_put_object_end(&s->abuf);
    send_amf(s, RTMPD_CSID_COMMAND, RTMPD_MSG_COMMAND_AMF0, 0);

    log_info(s->conn->id, "connected to app '%s' (flashVer '%s'%s)", s->app_name,
             rtmpd_log_str(logbuf, sizeof logbuf, s->flash_ver, strlen(s->flash_ver)),
             s->ertmp ? ", Enhanced RTMP" : "");
}

static void cmd_create_stream(struct rtmpd_session *s, const struct cmd *c)
{
    uint32_t max = s->cfg->limits.max_streams_per_connection;
    if (!s->ns) {
        s->ns = calloc(max, sizeof *s->ns);
        if (!s->ns) {
            rtmpd_conn_close(s->conn, "out of memory");
            return;
        }
        s->nns = max;
    }
    for (uint32_t i = 0; i < s->nns; i++) {
        struct netstream *ns = &s->ns[i];
        if (ns->role != NS_FREE)
            continue;
        memset(ns, 0, sizeof *ns);
        ns->role = NS_IDLE;
        ns->id = i + 1;
        ns->s = s;
        send_result_simple(s, c->txn, 1, ns->id);
        return;
    }
    log_client(s, RTMPD_LOG_WARN, "createStream refused: %u streams already open", max);
    send_error(s, c->txn, "NetConnection.Call.Failed", "Too many streams on this connection.");
}

static void cmd_delete_stream(struct rtmpd_session *s, const struct cmd *c)
{
    double id = 0;
    /* Written so that NaN fails too: converting it to an integer is undefined. */
    if (rtmpd_amf_number(cmd_arg(c, 0), &id) < 0 || !(id >= 1 && id <= UINT32_MAX))
        return;
    struct netstream *ns = ns_find(s, (uint32_t)id);
    if (!ns)
        return;
    ns_stop(ns);
    ns->role = NS_FREE;
}

static void cmd_close_stream(struct rtmpd_session *s, const struct cmd *c)
{
    struct netstream *ns = ns_find(s, c->msid);
    if (ns)
        ns_stop(ns);
}

static void cmd_release_stream(struct rtmpd_session *s, const struct cmd *c)
{
    if (c->txn != 0)
        send_result_simple(s, c->txn, 0, 0);
}

/* onFCPublish / onFCUnpublish(0, null, {code, description: name}), then
 * _result when the call has a transaction id. Returns the stream name
 * argument (NULL when missing) and its length in *len. */
static const char *fc_reply(struct rtmpd_session *s, const struct cmd *c, const char *method,
                            const char *code, size_t *len)
{
    const char *name = rtmpd_amf_string(cmd_arg(c, 0), len);
    char buf[256];
    amf_begin(s, method, 0);
    rtmpd_amf0_put_null(&s->abuf);
    rtmpd_amf0_put_object_start(&s->abuf);
    rtmpd_amf0_put_prop_cstr(&s->abuf, "code", code);
    rtmpd_amf0_put_prop_cstr(&s->abuf, "description",
                             name ? rtmpd_log_str(buf, sizeof buf, name, *len) : "");
    rtmpd_amf0_put_object_end(&s->abuf);
    send_amf(s, RTMPD_CSID_COMMAND, RTMPD_MSG_COMMAND_AMF0, 0);
    if (c->txn != 0)
        send_result_simple(s, c->txn, 0, 0);
    return name;
}

static void cmd_fc_publish(struct rtmpd_session *s, const struct cmd *c)
{
    size_t len;
    fc_reply(s, c, "onFCPublish", "NetStream.Publish.Start", &len);
}

static void cmd_fc_unpublish(struct rtmpd_session *s, const struct cmd *c)
{
    size_t len;
    const char *name = fc_reply(s, c, "onFCUnpublish", "NetStream.Unpublish.Success", &len);
    /* OBS sends FCUnpublish then deleteStream; end the publish now so a
     * new publish of the same name right after is never refused. */
    if (name) {
        const char *q = memchr(name, '?', len);
        size_t nlen = q ? (size_t)(q - name) : len;
        for (uint32_t i = 0; i < s->nns; i++) {
            struct netstream *ns = &s->ns[i];
            size_t app_len = strlen(s->app_name);
            if (ns->role == NS_PUBLISH && ns->st && ns->st->key_len == app_len + 1 + nlen &&
                memcmp(ns->st->key + app_len + 1, name, nlen) == 0)
                ns_stop(ns);
        }
    }
}

static void cmd_publish(struct rtmpd_session *s, const struct cmd *c)
{
    char logbuf[160];
    struct netstream *ns = ns_find(s, c->msid);
    size_t full_len;
    const char *full = rtmpd_amf_string(cmd_arg(c, 0), &full_len);
    const char *why = NULL;

    if (!ns) {
        send_status(s, c->msid, "error", "NetStream.Publish.BadName", "No such stream id.", NULL);
        return;
    }
    if (!full) {
        send_status(s, ns->id, "error", "NetStream.Publish.BadName", "publish needs a stream name.", NULL);
        return;
    }
    if (ns->role != NS_IDLE) {
        send_status(s, ns->id, "error", "NetStream.Publish.BadName",
                    "Stream id already publishing or playing.", NULL);
        return;
    }
    long len = split_name(s, ns, full, full_len, &why);
    if (len < 0) {
        log_client(s, RTMPD_LOG_WARN, "publish '%s' refused: %s",
                   rtmpd_log_str(logbuf, sizeof logbuf, full, full_len), why);
        send_status(s, ns->id, "error", "NetStream.Publish.BadName", why, NULL);
        return;
    }
    struct rtmpd_stream *st = rtmpd_stream_get(s->srv->registry, s->app, full, (size_t)len, 1);
    if (!st) {
        rtmpd_conn_close(s->conn, "out of memory");
        return;
    }
    if (rtmpd_stream_publish(st, ns, s->conn->id) < 0) {
        log_client(s, RTMPD_LOG_WARN, "publish %s refused: already publishing (connection #%llu)",
                   st->key, (unsigned long long)st->publisher_id);
        send_status(s, ns->id, "error", "NetStream.Publish.BadName", "Stream already publishing.",
                    NULL);
        return;
    }
    ns->role = NS_PUBLISH;
    ns->st = st;
    ns->have_ts = 0;
    s->roles |= 1;
    send_user_control(s, UC_STREAM_BEGIN, ns->id);
    send_status(s, ns->id, "status", "NetStream.Publish.Start", "Start publishing.", st->key);
    log_client(s, RTMPD_LOG_INFO, "%s: publishing", st->key);
}

static void cmd_play(struct rtmpd_session *s, const struct cmd *c)
{
    char logbuf[160];
    struct netstream *ns = ns_find(s, c->msid);
    size_t full_len;
    const char *full = rtmpd_amf_string(cmd_arg(c, 0), &full_len);
    const char *why = NULL;
    char desc[NAME_MAX_STORE + 32];

    if (!ns) {
        send_status(s, c->msid, "error", "NetStream.Play.Failed", "No such stream id.", NULL);
        return;
    }
    if (!full) {
        send_status(s, ns->id, "error", "NetStream.Play.Failed", "play needs a stream name.", NULL);
        return;
    }
    if (ns->role == NS_PUBLISH) {
        send_status(s, ns->id, "error", "NetStream.Play.Failed", "Stream id is publishing.", NULL);
        return;
    }
    long len = split_name(s, ns, full, full_len, &why);
    if (len < 0) {
        log_client(s, RTMPD_LOG_WARN, "play '%s' refused: %s",
                   rtmpd_log_str(logbuf, sizeof logbuf, full, full_len), why);
        send_status(s, ns->id, "error", "NetStream.Play.StreamNotFound", why, NULL);
        return;
    }
    /* Live only: start (-2 live or recorded, -1 live, >= 0 recorded) and
     * duration select nothing more here, as for a live stream on FMS. */
    int reset = rtmpd_amf_bool(cmd_arg(c, 3), 1);
    if (ns->role == NS_PLAY)
        ns_stop(ns);

    memset(&ns->sub, 0, sizeof ns->sub);
    struct rtmpd_stream *st = rtmpd_stream_for_player(s->srv->registry, s->app, full, (size_t)len,
                                                      &ns->sub);
    if (!st) {
        rtmpd_conn_close(s->conn, "out of memory");
        return;
    }
    send_user_control(s, UC_STREAM_BEGIN, ns->id);
    if (reset) {
        snprintf(desc, sizeof desc, "Playing and resetting %.*s.", (int)len, full);
        send_status(s, ns->id, "status", "NetStream.Play.Reset", desc, st->key);
    }
    snprintf(desc, sizeof desc, "Started playing %.*s.", (int)len, full);
    send_status(s, ns->id, "status", "NetStream.Play.Start", desc, st->key);
    send_sample_access(s, ns->id);

    ns->role = NS_PLAY;
    ns->st = st;
    s->roles |= 2;
    ns->sub.conn = s->conn;
    ns->sub.ops = &ns_sub_ops;
    ns->sub.ud = ns;
    ns->sub.kind = RTMPD_SUB_RTMP;
    ns->sub.stream_id = ns->id;
    ns->sub.chunk_size = s->out_chunk_size;
    rtmpd_stream_attach(st, &ns->sub);
    rtmpd_conn_probe_enable(s->conn, ns->sub.group[0] != '\0');
    if (ns->sub.group[0])
        log_client(s, RTMPD_LOG_INFO, "%s/%s: playing adaptively, starting on %s%s", s->app_name,
                   ns->sub.group, st->key, st->publisher ? "" : " (waiting for a publisher)");
    else
        log_client(s, RTMPD_LOG_INFO, "%s: playing%s", st->key,
                   st->publisher ? "" : " (waiting for a publisher)");
}

static void cmd_pause(struct rtmpd_session *s, const struct cmd *c)
{
    struct netstream *ns = ns_find(s, c->msid);
    if (!ns || ns->role != NS_PLAY)
        return;
    int pause = rtmpd_amf_bool(cmd_arg(c, 0), 1);
    if (pause && !ns->sub.paused) {
        ns->sub.paused = 1;
        send_status(s, ns->id, "status", "NetStream.Pause.Notify", "Paused live stream.", NULL);
    } else if (!pause && ns->sub.paused) {
        ns->sub.paused = 0;
        send_status(s, ns->id, "status", "NetStream.Unpause.Notify", "Unpaused live stream.", NULL);
        rtmpd_sub_resync(&ns->sub);
    }
}

static void cmd_receive(struct rtmpd_session *s, const struct cmd *c, int video)
{
    struct netstream *ns = ns_find(s, c->msid);
    if (!ns || ns->role != NS_PLAY)
        return;
    int on = rtmpd_amf_bool(cmd_arg(c, 0), 1);
    if (video) {
        if (on && ns->sub.no_video)
            ns->sub.need_key = 1;
        ns->sub.no_video = !on;
    } else {
        ns->sub.no_audio = !on;
    }
}

static void cmd_receive_audio(struct rtmpd_session *s, const struct cmd *c)
{
    cmd_receive(s, c, 0);
}

static void cmd_receive_video(struct rtmpd_session *s, const struct cmd *c)
{
    cmd_receive(s, c, 1);
}

static void cmd_get_stream_length(struct rtmpd_session *s, const struct cmd *c)
{
    send_result_simple(s, c->txn, 1, 0); /* live: no length */
}

/* _checkbw (FMS bandwidth check, sent by clients after onBWDone): answer
 * with the current estimate in kb/s. */
static void cmd_checkbw(struct rtmpd_session *s, const struct cmd *c)
{
    send_result_simple(s, c->txn, 1, (double)(rtmpd_conn_bandwidth(s->conn) / 1000));
}

/* Replies from the client to calls we made (none need handling). */
static void cmd_ignore(struct rtmpd_session *s, const struct cmd *c)
{
    (void)s;
    (void)c;
}

struct cmd_entry {
    const char *name;
    void (*fn)(struct rtmpd_session *s, const struct cmd *c);
    uint8_t needs_connect;
};

static const struct cmd_entry commands[] = {
    { "connect", cmd_connect, 0 },
    { "createStream", cmd_create_stream, 1 },
    { "deleteStream", cmd_delete_stream, 1 },
    { "closeStream", cmd_close_stream, 1 },
    { "releaseStream", cmd_release_stream, 1 },
    { "FCPublish", cmd_fc_publish, 1 },
    { "FCUnpublish", cmd_fc_unpublish, 1 },
    { "publish", cmd_publish, 1 },
    { "play", cmd_play, 1 },
    { "pause", cmd_pause, 1 },
    { "receiveAudio", cmd_receive_audio, 1 },
    { "receiveVideo", cmd_receive_video, 1 },
    { "getStreamLength", cmd_get_stream_length, 1 },
    { "_result", cmd_ignore, 0 },
    { "_error", cmd_ignore, 0 },
    { "onBWDone", cmd_ignore, 0 },
    { "_checkbw", cmd_checkbw, 1 },
};

/* Counts a malformed message; too many close the connection. */
static int protocol_error(struct rtmpd_session *s, const char *what, int code)
{
    log_client(s, RTMPD_LOG_WARN, "%s: %s", what, rtmpd_strerror(code));
    if (++s->protocol_errors > MAX_PROTOCOL_ERRORS) {
        rtmpd_conn_close(s->conn, "too many protocol errors");
        return -1;
    }
    return 0;
}

static int handle_command(struct rtmpd_session *s, const struct rtmpd_msg *m)
{
    const uint8_t *p = m->payload;
    size_t len = m->length;
    struct rtmpd_amf_value *vals[MAX_COMMAND_VALUES + 3];
    uint32_t n = 0;
    char logbuf[160];

    /* An AMF3 command message starts with a format byte, then AMF0 values
     * (which may switch to AMF3 through the 0x11 marker). */
    if (m->type == RTMPD_MSG_COMMAND_AMF3 && len && p[0] == 0)
        p++, len--;
    rtmpd_amf_dec_reset(&s->amf);
    while (len && n < sizeof vals / sizeof vals[0]) {
        ssize_t r = rtmpd_amf0_decode(&s->amf, p, len, &vals[n]);
        if (r < 0) {
            if (n < 2)
                return protocol_error(s, "undecodable command", (int)r);
            /* Keep the values decoded so far: the command is still
             * answered, usually with an error naming what is missing. */
            char what[224];
            size_t nl = 0;
            const char *nm = rtmpd_amf_string(vals[0], &nl);
            snprintf(what, sizeof what, "command '%s': undecodable value %u",
                     nm ? rtmpd_log_str(logbuf, sizeof logbuf, nm, nl) : "?", n);
            if (protocol_error(s, what, (int)r) < 0)
                return -1;
            break;
        }
        p += r;
        len -= (size_t)r;
        n++;
    }
    size_t name_len;
    const char *name = n ? rtmpd_amf_string(vals[0], &name_len) : NULL;
    if (!name)
        return protocol_error(s, "command without a name", RTMPD_E_AMF_TYPE);

    struct cmd c = { .name = name, .msid = m->stream_id };
    if (n > 1)
        rtmpd_amf_number(vals[1], &c.txn);
    if (isnan(c.txn))
        c.txn = 0;
    c.obj = n > 2 ? vals[2] : NULL;
    for (uint32_t i = 3; i < n; i++)
        c.args[c.nargs++] = vals[i];

    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strlen(commands[i].name) != name_len || memcmp(commands[i].name, name, name_len) != 0)
            continue;
        if (commands[i].needs_connect && s->state != SESSION_CONNECTED) {
            log_client(s, RTMPD_LOG_WARN, "%s before connect", commands[i].name);
            if (c.txn != 0)
                send_error(s, c.txn, "NetConnection.Call.Failed", "Not connected.");
            return 0;
        }
        log_debug(s->conn->id, "command %s txn %g stream %u", commands[i].name, c.txn, m->stream_id);
        commands[i].fn(s, &c);
        return 0;
    }
    log_client(s, RTMPD_LOG_INFO, "unknown command '%s'",
               rtmpd_log_str(logbuf, sizeof logbuf, name, name_len));
    if (c.txn != 0)
        send_error(s, c.txn, "NetConnection.Call.Failed", "Method not found.");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Media and data                                                       */

static struct netstream *publishing_ns(struct rtmpd_session *s, uint32_t msid)
{
    struct netstream *ns = ns_find(s, msid);
    return ns && ns->role == NS_PUBLISH && ns->st ? ns : NULL;
}

/* Publishes one audio/video payload (ownership of `payload` is taken). */
static void publish_media(struct rtmpd_session *s, struct netstream *ns, uint8_t type,
                          uint32_t ts, uint8_t *payload, uint32_t len)
{
    struct rtmpd_flv_media fm;
    int r = rtmpd_flv_inspect(type, payload, len, &fm);
    if (r == RTMPD_E_FLV_TRUNCATED && len == 0 && type == RTMPD_MSG_AUDIO) {
        /* E-RTMP: an empty audio message means silence; pass it on. */
        memset(&fm, 0, sizeof fm);
        r = RTMPD_OK;
    }
    if (r < 0) {
        if (s->bad_media++ == 0)
            log_warn(s->conn->id, "%s: dropping malformed %s message (%s)", ns->st->key,
                     type == RTMPD_MSG_VIDEO ? "video" : "audio", rtmpd_strerror(r));
        free(payload);
        return;
    }
    int32_t jump = (int32_t)(ts - ns->last_ts);
    if (ns->have_ts && (jump < -TS_JUMP_BACK_MS || jump > TS_JUMP_FWD_MS))
        log_client(s, RTMPD_LOG_WARN, "%s: %s timestamp jumped by %lld ms (%u -> %u)",
                   ns->st->key, type == RTMPD_MSG_VIDEO ? "video" : "audio", (long long)jump,
                   ns->last_ts, ts);
    ns->last_ts = ts;
    ns->have_ts = 1;
    uint8_t flags = (fm.keyframe ? RTMPD_FRAME_KEY : 0) | (fm.seq_header ? RTMPD_FRAME_SEQ : 0) |
                    (fm.disposable ? RTMPD_FRAME_DISPOSABLE : 0);
    struct rtmpd_stream_stats *x = &ns->st->stats;
    if (type == RTMPD_MSG_VIDEO) {
        x->video_codec = fm.codec;
        x->video_fourcc = fm.enhanced;
        uint32_t w, h;
        if (fm.seq_header && rtmpd_flv_video_size(&fm, payload, len, &w, &h) == RTMPD_OK) {
            x->width = w;
            x->height = h;
        }
    } else if (len) {
        x->audio_codec = fm.codec;
        x->audio_fourcc = fm.enhanced;
    }
    struct rtmpd_frame *f = rtmpd_frame_new(type, ts, payload, len, flags,
                                            rtmpd_server_now_us(s->srv));
    if (!f) {
        rtmpd_conn_close(s->conn, "out of memory");
        return;
    }
    rtmpd_stream_push(ns->st, f);
    rtmpd_frame_unref(f);
}

/* Sub-messages of an aggregate message are FLV tags; their timestamps are
 * relative to the first one and rebased on the aggregate's timestamp. */
static void handle_aggregate(struct rtmpd_session *s, struct netstream *ns, const struct rtmpd_msg *m)
{
    const uint8_t *p = m->payload;
    size_t left = m->length;
    uint32_t first_ts = 0;
    int first = 1;
    while (left) {
        struct rtmpd_flv_tag tag;
        ssize_t r = rtmpd_flv_parse_tag(p, left, &tag);
        if (r < 0) {
            protocol_error(s, "malformed aggregate message", r == RTMPD_AGAIN ? RTMPD_E_FLV_TRUNCATED : (int)r);
            return;
        }
        if (first) {
            first_ts = tag.timestamp;
            first = 0;
        }
        if (tag.type == RTMPD_MSG_AUDIO || tag.type == RTMPD_MSG_VIDEO) {
            uint8_t *copy = tag.length ? malloc(tag.length) : NULL;
            if (tag.length && !copy) {
                rtmpd_conn_close(s->conn, "out of memory");
                return;
            }
            if (tag.length)
                memcpy(copy, tag.data, tag.length);
            publish_media(s, ns, tag.type, m->timestamp + (tag.timestamp - first_ts), copy, tag.length);
        }
        p += r;
        left -= (size_t)r;
    }
}

/*
 * Data messages from a publisher: @setDataFrame(onMetaData, ...) and
 * onMetaData become the stream's metadata (stored as "onMetaData", ...);
 * other data (cue points, text) is passed through to players.
 */
static void handle_data(struct rtmpd_session *s, const struct rtmpd_msg *m)
{
    struct netstream *ns = publishing_ns(s, m->stream_id);
    const uint8_t *p = m->payload;
    size_t len = m->length;
    if (!ns)
        return;
    if (m->type == RTMPD_MSG_DATA_AMF3 && len && p[0] == 0)
        p++, len--;

    static const uint8_t set_data_frame[] = "\x02\x00\x0d@setDataFrame";
    static const uint8_t on_meta_data[] = "\x02\x00\x0aonMetaData";
    static const uint8_t sample_access[] = "\x02\x00\x11|RtmpSampleAccess";
    uint8_t flags = 0;
    if (len >= sizeof set_data_frame - 1 && memcmp(p, set_data_frame, sizeof set_data_frame - 1) == 0) {
        p += sizeof set_data_frame - 1;
        len -= sizeof set_data_frame - 1;
    }
    if (len >= sizeof on_meta_data - 1 && memcmp(p, on_meta_data, sizeof on_meta_data - 1) == 0)
        flags = RTMPD_FRAME_META;
    else if (len >= sizeof sample_access - 1 && memcmp(p, sample_access, sizeof sample_access - 1) == 0)
        return; /* the server sends its own */
    if (len > UINT32_MAX)
        return;
    struct rtmpd_frame *f = rtmpd_frame_copy(RTMPD_MSG_DATA_AMF0, m->timestamp, p, (uint32_t)len,
                                             flags, rtmpd_server_now_us(s->srv));
    if (!f) {
        rtmpd_conn_close(s->conn, "out of memory");
        return;
    }
    if (flags)
        log_client(s, RTMPD_LOG_INFO, "%s: metadata (%zu bytes)", ns->st->key, len);
    rtmpd_stream_push(ns->st, f);
    rtmpd_frame_unref(f);
}

static void handle_user_control(struct rtmpd_session *s, const struct rtmpd_msg *m)
{
    if (m->length < 2)
        return;
    uint16_t ev = rtmpd_rd_be16(m->payload);
    if (ev == UC_PING_REQUEST && m->length >= 6) {
        uint8_t b[6];
        rtmpd_wr_be16(b, UC_PING_RESPONSE);
        memcpy(b + 2, m->payload + 2, 4);
        send_msg(s, RTMPD_CSID_PROTOCOL, RTMPD_MSG_USER_CONTROL, 0, 0, b, sizeof b);
    } else if (ev == UC_SET_BUFFER_LENGTH && m->length >= 10) {
        s->buffer_ms = rtmpd_rd_be32(m->payload + 6);
    }
}

static int handle_message(struct rtmpd_session *s, struct rtmpd_msg *m)
{
    switch (m->type) {
    case RTMPD_MSG_SET_CHUNK_SIZE:
    case RTMPD_MSG_ABORT:
        return 0; /* applied by the chunk decoder */
    case RTMPD_MSG_ACK:
        if (m->length >= 4)
            s->peer_acked = rtmpd_rd_be32(m->payload);
        return 0;
    case RTMPD_MSG_USER_CONTROL:
        handle_user_control(s, m);
        return 0;
    case RTMPD_MSG_WINDOW_ACK_SIZE:
        if (m->length >= 4)
            s->peer_window = rtmpd_rd_be32(m->payload);
        return 0;
    case RTMPD_MSG_SET_PEER_BW:
        return 0;
    case RTMPD_MSG_AUDIO:
    case RTMPD_MSG_VIDEO: {
        struct netstream *ns = publishing_ns(s, m->stream_id);
        if (!ns)
            return 0;
        uint8_t *payload = rtmpd_chunk_take_payload(&s->dec);
        publish_media(s, ns, m->type, m->timestamp, payload, m->length);
        return 0;
    }
    case RTMPD_MSG_AGGREGATE: {
        struct netstream *ns = publishing_ns(s, m->stream_id);
        if (ns)
            handle_aggregate(s, ns, m);
        return 0;
    }
    case RTMPD_MSG_DATA_AMF0:
    case RTMPD_MSG_DATA_AMF3:
        handle_data(s, m);
        return 0;
    case RTMPD_MSG_COMMAND_AMF0:
    case RTMPD_MSG_COMMAND_AMF3:
        return handle_command(s, m);
    default:
        log_debug(s->conn->id, "ignoring message type %u", m->type);
        return 0;
    }
}

/* Acknowledges received bytes each time the peer's window fills. */
static void maybe_ack(struct rtmpd_session *s)
{
    if (s->peer_window && s->recv_bytes - s->acked_bytes >= s->peer_window) {
        s->acked_bytes = s->recv_bytes;
        send_control_u32(s, RTMPD_MSG_ACK, (uint32_t)s->recv_bytes);
    }
}

/* ------------------------------------------------------------------ */
/* Connection callbacks                                                 */

static int session_handshake(struct rtmpd_session *s, const uint8_t **data, size_t *len)
{
    ssize_t r = rtmpd_hs_feed(s->hs, *data, *len);
    if (r < 0) {
        log_warn(s->conn->id, "handshake from %s failed: %s", s->conn->peer, rtmpd_strerror((int)r));
        rtmpd_conn_close(s->conn, "bad handshake");
        return -1;
    }
    *data += r;
    *len -= (size_t)r;
    size_t outlen;
    const uint8_t *out = rtmpd_hs_output(s->hs, &outlen);
    if (outlen) {
        if (rtmpd_conn_send(s->conn, out, outlen) < 0)
            return -1;
        rtmpd_hs_output_taken(s->hs, outlen);
    }
    if (rtmpd_hs_done(s->hs)) {
        log_debug(s->conn->id, "handshake done (%s)",
                  rtmpd_hs_form(s->hs) == RTMPD_HS_SIMPLE ? "simple" : "digest");
        free(s->hs);
        s->hs = NULL;
        s->state = SESSION_CONNECTING;
        rtmpd_conn_established(s->conn, s->cfg->limits.idle_timeout_ms);
    }
    return 0;
}

static int session_on_data(void *ud, const uint8_t *data, size_t len)
{
    struct rtmpd_session *s = ud;
    s->recv_bytes += len;
    if (s->state == SESSION_HANDSHAKE && session_handshake(s, &data, &len) < 0)
        return -1;
    while (len && !s->conn->closing) {
        struct rtmpd_msg m;
        ssize_t r = rtmpd_chunk_decode(&s->dec, data, len, &m);
        if (r == RTMPD_AGAIN)
            break;
        if (r < 0) {
            log_warn(s->conn->id, "chunk stream error from %s: %s", s->conn->peer,
                     rtmpd_strerror((int)r));
            rtmpd_conn_close(s->conn, rtmpd_strerror((int)r));
            return -1;
        }
        data += r;
        len -= (size_t)r;
        if (handle_message(s, &m) < 0)
            return -1;
    }
    if (s->conn->closing)
        return -1;
    maybe_ack(s);
    return 0;
}

static void session_on_idle(void *ud)
{
    struct rtmpd_session *s = ud;
    if (s->state == SESSION_HANDSHAKE)
        return;
    send_user_control(s, UC_PING_REQUEST, (uint32_t)(rtmpd_server_now_us(s->srv) / 1000));
}

static void session_on_close(void *ud)
{
    struct rtmpd_session *s = ud;
    struct rtmpd_conn *c = s->conn;
    for (uint32_t i = 0; i < s->nns; i++)
        if (s->ns[i].role != NS_FREE)
            ns_stop(&s->ns[i]);
    if (s->log_suppressed)
        log_warn(c->id, "%llu log lines about this connection suppressed (rate limit: %u, "
                 "then 1 a second)", (unsigned long long)s->log_suppressed, LOG_BURST);
    const char *role = s->roles == 3 ? "publish+play" : s->roles == 1 ? "publish"
                       : s->roles == 2 ? "play" : "none";
    rtmpd_conn_log_closed(c, "proto=rtmp app=%s stream=%s role=%s",
                          s->app_name[0] ? s->app_name : "-",
                          s->last_stream[0] ? s->last_stream : "-", role);
    log_debug(c->id, "closed: %s", c->close_reason ? c->close_reason : "closed");
    free(s->hs);
    free(s->ns);
    rtmpd_chunk_dec_release(&s->dec);
    rtmpd_amf_dec_release(&s->amf);
    rtmpd_buf_release(&s->abuf);
    rtmpd_buf_release(&s->wbuf);
    free(s);
}

static void session_on_shutdown(void *ud, int publishers_only)
{
    struct rtmpd_session *s = ud;
    if (publishers_only) {
        for (uint32_t i = 0; i < s->nns; i++)
            if (s->ns[i].role == NS_PUBLISH)
                ns_stop(&s->ns[i]);
        return;
    }
    rtmpd_conn_close_after_flush(s->conn, "server shutting down");
}

static void session_info(void *ud, struct rtmpd_conn_info *out)
{
    struct rtmpd_session *s = ud;
    out->proto = "rtmp";
    out->role = s->state == SESSION_CONNECTED ? "idle" : "connecting";
    out->st = NULL;
    out->sub = NULL;
    for (uint32_t i = 0; i < s->nns; i++) {
        struct netstream *ns = &s->ns[i];
        if (ns->role == NS_PUBLISH && ns->st) {
            out->role = "publisher";
            out->st = ns->st;
            out->sub = NULL;
            return; /* a publish is what matters most */
        }
        if (ns->role == NS_PLAY && ns->st && !out->sub) {
            out->role = "player";
            out->st = ns->sub.st ? ns->sub.st : ns->st;
            out->sub = &ns->sub;
        }
    }
}

/*
 * After each bandwidth sample: let adaptive players adapt, and once the
 * estimate has settled tell the client what it gets (onBWDone, kb/s), as
 * FMS's bandwidth check does.
 */
static void session_on_sample(void *ud)
{
    struct rtmpd_session *s = ud;
    uint64_t now = rtmpd_server_now_us(s->srv);
    for (uint32_t i = 0; i < s->nns; i++)
        if (s->ns[i].role == NS_PLAY)
            rtmpd_sub_adapt(&s->ns[i].sub, now);
    if (!s->bwdone_sent && s->conn->bw.samples >= BWDONE_SAMPLES &&
        rtmpd_bw_confidence(&s->conn->bw, now) != RTMPD_BW_NONE) {
        s->bwdone_sent = 1;
        uint64_t kbps = rtmpd_conn_bandwidth(s->conn) / 1000;
        amf_begin(s, "onBWDone", 0);
        rtmpd_amf0_put_null(&s->abuf);
        rtmpd_amf0_put_number(&s->abuf, (double)kbps);
        send_amf(s, RTMPD_CSID_COMMAND, RTMPD_MSG_COMMAND_AMF0, 0);
        log_info(s->conn->id, "bandwidth estimate settled: %llu kb/s (rtt %u ms)",
                 (unsigned long long)kbps, s->conn->rtt_us / 1000);
    }
}

static const struct rtmpd_conn_ops session_ops = {
    .on_data = session_on_data,
    .on_idle = session_on_idle,
    .on_close = session_on_close,
    .on_shutdown = session_on_shutdown,
    .info = session_info,
    .on_sample = session_on_sample,
};

struct rtmpd_conn *rtmpd_session_accept(struct rtmpd_server *srv, int fd,
                                        const struct sockaddr *peer, socklen_t peerlen)
{
    struct rtmpd_session *s = calloc(1, sizeof *s);
    struct rtmpd_hs *hs = malloc(sizeof *hs);
    if (!s || !hs || rtmpd_hs_init(hs, RTMPD_HS_SERVER, NULL) != RTMPD_OK) {
        free(s);
        free(hs);
        close(fd);
        return NULL;
    }
    struct rtmpd_conn *c = rtmpd_conn_new(srv, fd, peer, peerlen, &session_ops);
    if (!c) {
        free(s);
        free(hs);
        return NULL;
    }
    const struct rtmpd_config *cfg = srv->cfg;
    c->ud = s;
    s->conn = c;
    s->srv = srv;
    s->cfg = cfg;
    s->hs = hs;
    s->out_chunk_size = RTMPD_CHUNK_SIZE_DEFAULT;
    s->log_tokens = LOG_BURST;
    s->log_refill_us = rtmpd_server_now_us(srv);
    struct rtmpd_chunk_limits lim = {
        .max_message_bytes = cfg->limits.max_message_bytes,
        .max_streams = cfg->limits.max_chunk_streams,
        .max_pending_bytes = cfg->limits.max_pending_bytes,
    };
    rtmpd_chunk_dec_init(&s->dec, &lim);
    /* Real commands hold a few dozen values; bound what a hostile one costs. */
    struct rtmpd_amf_limits amf_lim = { .max_depth = 32, .max_values = 4096 };
    rtmpd_amf_dec_init(&s->amf, &amf_lim);
    log_debug(c->id, "accepted from %s", c->peer);
    rtmpd_conn_start(c, cfg->limits.handshake_timeout_ms);
    return c;
}
