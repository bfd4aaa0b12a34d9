#include "rtmpd/http.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include "rtmpd/bytes.h"
#include "rtmpd/conn.h"
#include "rtmpd/flv.h"
#include "rtmpd/log.h"
#include "rtmpd/server.h"
#include "rtmpd/stats.h"
#include "rtmpd/stream.h"
#include "rtmpd/text.h"

#define URL_MAX 2048
#define HDR_VALUE_MAX 512
#define BODY_MAX 4096
/* Bodies smaller than this are not worth compressing. */
#define GZIP_MIN 256
/* Pipelined requests answered per turn of the loop: a client sending
 * thousands at once must not keep everyone else waiting. */
#define PIPELINE_BATCH 8
/* Input held while a client's pipelined requests wait their turn. */
#define PIPELINE_HOLD_MAX (1024 * 1024)

enum hdr_kind {
    HDR_OTHER,
    HDR_AUTHORIZATION,
    HDR_ACCEPT_ENCODING,
    HDR_EXPECT,
};

struct http_req {
    char url[URL_MAX];
    size_t url_len;
    char auth[HDR_VALUE_MAX];
    size_t auth_len;
    char accept_encoding[HDR_VALUE_MAX];
    size_t ae_len;
    uint8_t ae_truncated;      /* Accept-Encoding was longer than the buffer */
    char expect[16];           /* Expect (only "100-continue" matters) */
    size_t expect_len;
    char field[32];            /* header name being read (only short ones matter) */
    size_t field_len;
    uint8_t hdr_kind;          /* header whose value is being read */
    uint8_t in_value;
    uint32_t header_bytes;     /* request line and headers so far */
    uint32_t body_bytes;
    uint8_t too_large;         /* 431: headers over the limit */
    uint8_t uri_too_long;      /* 414 */
    uint8_t body_too_large;    /* 413 */
};

struct http_conn {
    struct rtmpd_conn *conn;
    struct rtmpd_server *srv;
    const struct rtmpd_config *cfg;
    http_parser parser;
    struct http_req req;
    uint8_t started;           /* the current request's first byte has arrived */
    uint8_t streaming;         /* an HTTP-FLV response is running */
    uint32_t batch;            /* requests answered in this turn */
    struct rtmpd_buf held;     /* input not parsed yet (pipelined requests waiting) */
    size_t held_off;
    ev_timer resume;           /* next turn of a held pipeline */
    uint64_t out_mark;         /* bytes_out when the timer last found answers waiting */
    uint32_t requests;         /* requests answered on this connection */
    int status;                /* status of the last answer (access log) */
    struct rtmpd_sub sub;
    struct rtmpd_stream *st;
};

/* ------------------------------------------------------------------ */
/* Parser callbacks                                                     */

static int add_header_bytes(struct http_conn *h, size_t n)
{
    h->req.header_bytes += (uint32_t)n;
    if (h->req.header_bytes > h->cfg->http.max_header_bytes) {
        h->req.too_large = 1;
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct http_conn *h = p->data;
    memset(&h->req, 0, sizeof h->req);
    h->started = 1;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *h = p->data;
    if (add_header_bytes(h, len) < 0)
        return -1;
    if (h->req.url_len + len >= sizeof h->req.url) {
        h->req.uri_too_long = 1;
        return -1;
    }
    memcpy(h->req.url + h->req.url_len, at, len);
    h->req.url_len += len;
    h->req.url[h->req.url_len] = '\0';
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_conn *h = p->data;
    if (add_header_bytes(h, len + 4) < 0)
        return -1;
    /* A name may arrive in pieces; only whole short names are matched. */
    struct http_req *r = &h->req;
    if (r->in_value) {
        r->field_len = 0;
        r->in_value = 0;
    }
    if (r->field_len + len < sizeof r->field) {
        memcpy(r->field + r->field_len, at, len);
        r->field_len += len;
    } else {
        r->field_len = sizeof r->field; /* too long to be one we want */
    }
    r->hdr_kind = HDR_OTHER;
    if (r->field_len == 13 && strncasecmp(r->field, "authorization", 13) == 0)
        r->hdr_kind = HDR_AUTHORIZATION;
    else if (r->field_len == 15 && strncasecmp(r->field, "accept-encoding", 15) == 0)
        r->hdr_kind = HDR_ACCEPT_ENCODING;
    else if (r->field_len == 6 && strncasecmp(r->field, "expect", 6) == 0)
        r->hdr_kind = HDR_EXPECT;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_conn *h = p->data;
    if (add_header_bytes(h, len) < 0)
        return -1;
    int first = !h->req.in_value; /* first piece of this header line's value */
    h->req.in_value = 1;
    char *dst = NULL;
    size_t *dlen = NULL, cap = HDR_VALUE_MAX;
    if (h->req.hdr_kind == HDR_AUTHORIZATION)
        dst = h->req.auth, dlen = &h->req.auth_len;
    else if (h->req.hdr_kind == HDR_ACCEPT_ENCODING)
        dst = h->req.accept_encoding, dlen = &h->req.ae_len;
    else if (h->req.hdr_kind == HDR_EXPECT)
        dst = h->req.expect, dlen = &h->req.expect_len, cap = sizeof h->req.expect;
    if (dst) {
        /* Accept-Encoding lines form one list (RFC 9110, section 5.3). */
        if (first && *dlen && h->req.hdr_kind == HDR_ACCEPT_ENCODING && *dlen + 1 < cap) {
            dst[(*dlen)++] = ',';
            dst[*dlen] = '\0';
        }
        size_t n = *dlen + len < cap ? len : cap - 1 - *dlen;
        if (n < len && h->req.hdr_kind == HDR_ACCEPT_ENCODING)
            h->req.ae_truncated = 1;
        memcpy(dst + *dlen, at, n);
        *dlen += n;
        dst[*dlen] = '\0';
    }
    return 0;
}

/* A client that sent "Expect: 100-continue" waits for a 100 before sending
 * the body (curl does, for a second): it gets one at once when the body it
 * announced is within the limit (otherwise the 413 answers it). */
static int on_headers_complete(http_parser *p)
{
    struct http_conn *h = p->data;
    struct http_req *r = &h->req;
    size_t n = r->expect_len;
    while (n && (r->expect[n - 1] == ' ' || r->expect[n - 1] == '\t'))
        n--;
    if (n == 12 && strncasecmp(r->expect, "100-continue", 12) == 0 &&
        (p->http_major > 1 || (p->http_major == 1 && p->http_minor >= 1)) &&
        ((p->flags & F_CHUNKED) ||
         (p->content_length > 0 && p->content_length != ULLONG_MAX &&
          p->content_length <= BODY_MAX))) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        rtmpd_conn_send(h->conn, cont, sizeof cont - 1);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    (void)at;
    struct http_conn *h = p->data;
    h->req.body_bytes += (uint32_t)len;
    if (h->req.body_bytes > BODY_MAX) {
        h->req.body_too_large = 1;
        return -1;
    }
    return 0;
}

static void handle_request(struct http_conn *h);

static int on_message_complete(http_parser *p)
{
    struct http_conn *h = p->data;
    handle_request(h);
    /* Once an HTTP-FLV response runs, the connection is that response:
     * pipelined requests after it are not parsed (they would reuse the
     * subscription that is attached to the stream). Otherwise a few
     * requests are answered per turn of the loop. */
    if (h->streaming || ++h->batch >= PIPELINE_BATCH)
        http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ------------------------------------------------------------------ */
/* Responses                                                            */

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    }
    return "Unknown";
}

/* A qvalue (RFC 9110, section 12.4.2): "0" ["." 0*3DIGIT] or "1" ["."
 * 0*3"0"], in thousandths. Returns it, or -1 when malformed. */
static int parse_qvalue(const char *v, size_t n)
{
    if (n == 0 || (v[0] != '0' && v[0] != '1'))
        return -1;
    int q = (v[0] - '0') * 1000;
    if (n == 1)
        return q;
    if (v[1] != '.' || n > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (v[i] < '0' || v[i] > '9' || (v[0] == '1' && v[i] != '0'))
            return -1;
        q += (v[i] - '0') * scale;
    }
    return q;
}

#define OWS " \t"

/*
 * Non-zero when Accept-Encoding (RFC 9110, section 12.5.3) accepts gzip:
 * a comma-separated list of codings, each with an optional weight
 * (OWS ";" OWS "q=" qvalue). gzip (or its alias x-gzip) listed decides by
 * its own q; otherwise "*" decides, as it covers only codings not named.
 * q=0 refuses. A malformed element counts as not listed; no header, or
 * neither gzip nor "*" in it, means no gzip.
 */
static int accepts_gzip(const struct http_req *r)
{
    if (r->ae_truncated)
        return 0; /* its end, where gzip;q=0 may be, is unknown */
    int gzip_q = -1, star_q = -1;
    const char *s = r->accept_encoding;
    for (;;) {
        s += strspn(s, OWS ",");
        if (!*s)
            break;
        const char *tok = s;
        size_t n = strcspn(s, OWS ",;");
        s += n;
        int q = 1000, ok = 1;
        for (;;) {
            s += strspn(s, OWS);
            if (*s != ';')
                break;
            s++;
            s += strspn(s, OWS);
            const char *pname = s;
            size_t pn = strcspn(s, OWS "=,;");
            s += pn;
            s += strspn(s, OWS);
            const char *val = NULL;
            size_t vn = 0;
            if (*s == '=') {
                s++;
                s += strspn(s, OWS);
                val = s;
                vn = strcspn(s, OWS ",;");
                s += vn;
            }
            if (pn == 1 && (pname[0] == 'q' || pname[0] == 'Q') &&
                (!val || (q = parse_qvalue(val, vn)) < 0))
                ok = 0;
        }
        if (*s && *s != ',') {
            ok = 0; /* something after the coding that is not a parameter */
            s += strcspn(s, ",");
        }
        if (!ok)
            continue;
        if ((n == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
            (n == 6 && strncasecmp(tok, "x-gzip", 6) == 0)) {
            if (gzip_q < 0)
                gzip_q = q;
        } else if (n == 1 && tok[0] == '*') {
            if (star_q < 0)
                star_q = q;
        }
    }
    return gzip_q >= 0 ? gzip_q > 0 : star_q > 0;
}

#undef OWS

/* Compresses `in` as a gzip member into *out (malloc'd). Returns 0 or -1. */
static int gzip_body(const uint8_t *in, size_t len, uint8_t **out, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uLong cap = deflateBound(&z, (uLong)len);
    uint8_t *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = cap - z.avail_out;
    return 0;
}

/*
 * Queues a whole response. `close` ends the connection after it; a body of
 * a compressible type is gzipped when the client accepts it.
 */
static void respond(struct http_conn *h, int status, const char *ctype, const void *body,
                    size_t len, int close, const char *extra)
{
    struct rtmpd_buf b;
    uint8_t *gz = NULL;
    size_t gzlen = 0;
    h->status = status;
    /* parser.method is only meaningful once the method is whole (the URL
     * has begun): "HELLO" or a lone "H" leaves it at HTTP_HEAD. */
    int head = h->parser.method == HTTP_HEAD && h->req.url_len > 0;

    /* Say so when the request asked to close (HTTP/1.0, "Connection: close"). */
    if (!close && HTTP_PARSER_ERRNO(&h->parser) == HPE_OK && !http_should_keep_alive(&h->parser))
        close = 1;

    rtmpd_buf_init(&b);
    /* Whether gzipped or not, a body this size depends on Accept-Encoding. */
    int vary = len >= GZIP_MIN;
    if (len >= GZIP_MIN && accepts_gzip(&h->req) && gzip_body(body, len, &gz, &gzlen) == 0) {
        body = gz;
        len = gzlen;
    }
    /* A 204 must not carry Content-Length (RFC 9110, section 8.6). */
    char clen[48] = "";
    if (status != 204)
        snprintf(clen, sizeof clen, "Content-Length: %zu\r\n", len);
    char hdr[1024];
    int n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %d %s\r\n"
                     "Server: rtmpd/%s\r\n"
                     "Content-Type: %s\r\n"
                     "%s"
                     "Cache-Control: no-cache\r\n"
                     "%s%s%s"
                     "%s%s"
                     "%s"
                     "Connection: %s\r\n\r\n",
                     status, status_text(status), RTMPD_VERSION, ctype, clen,
                     h->cfg->http.cors_origin[0] ? "Access-Control-Allow-Origin: " : "",
                     h->cfg->http.cors_origin, h->cfg->http.cors_origin[0] ? "\r\n" : "",
                     gz ? "Content-Encoding: gzip\r\n" : "", vary ? "Vary: Accept-Encoding\r\n" : "",
                     extra ? extra : "", close ? "close" : "keep-alive");
    rtmpd_buf_append(&b, hdr, n > 0 && (size_t)n < sizeof hdr ? (size_t)n : 0);
    if (!head)
        rtmpd_buf_append(&b, body, len);
    free(gz);
    if (b.failed) {
        rtmpd_buf_release(&b);
        rtmpd_conn_close(h->conn, "out of memory");
        return;
    }
    rtmpd_conn_send_owned(h->conn, b.data, b.len);
    if (close)
        rtmpd_conn_close_after_flush(h->conn, "http response done");
}

static void respond_json(struct http_conn *h, int status, json_t *doc, int close)
{
    char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(doc);
    if (!s) {
        rtmpd_conn_close(h->conn, "out of memory");
        return;
    }
    size_t len = strlen(s);
    s[len] = '\n'; /* json_dumps leaves room: replace the NUL for a trailing newline */
    respond(h, status, "application/json", s, len + 1, close, NULL);
    free(s);
}

static void respond_error(struct http_conn *h, int status, const char *message, int close,
                          const char *extra)
{
    json_t *doc = json_pack("{s:{s:i, s:s}}", "error", "code", status, "message", message);
    char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(doc);
    if (!s) {
        rtmpd_conn_close(h->conn, "out of memory");
        return;
    }
    respond(h, status, "application/json", s, strlen(s), close, extra);
    free(s);
}

/* ------------------------------------------------------------------ */
/* Access control                                                       */

/* Does the peer's address fall in one of the CIDRs? */
static int peer_allowed(const struct sockaddr_storage *ss, const struct rtmpd_addr_list *allow)
{
    uint8_t addr[16];
    int v6;
    if (ss->ss_family == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)(const void *)ss)->sin_addr, 4);
        v6 = 0;
    } else if (ss->ss_family == AF_INET6) {
        const uint8_t *a = ((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        v6 = memcmp(a, mapped, 12) != 0;
        memcpy(addr, v6 ? a : a + 12, v6 ? 16 : 4);
    } else {
        return 0;
    }
    for (uint32_t i = 0; i < allow->n; i++) {
        char host[RTMPD_CONFIG_ADDR_MAX];
        uint8_t net[16];
        const char *slash = strchr(allow->v[i], '/');
        if (!slash)
            continue;
        size_t hl = (size_t)(slash - allow->v[i]);
        memcpy(host, allow->v[i], hl);
        host[hl] = '\0';
        int nv6 = strchr(host, ':') != NULL;
        if (nv6 != v6 || inet_pton(nv6 ? AF_INET6 : AF_INET, host, net) != 1)
            continue;
        int bits = atoi(slash + 1), ok = 1;
        for (int b = 0; b < bits && ok; b++)
            ok = ((addr[b / 8] ^ net[b / 8]) & (0x80 >> (b % 8))) == 0;
        if (ok)
            return 1;
    }
    return 0;
}

/* 0 when the request may use the API; otherwise answers 403/401 and -1. */
static int check_api_access(struct http_conn *h)
{
    if (!peer_allowed(&h->conn->peer_addr, &h->cfg->http.allow)) {
        log_info(h->conn->id, "http: %s not in http.allow: 403", h->conn->peer);
        respond_error(h, 403, "Forbidden: address not allowed", 0, NULL);
        return -1;
    }
    const char *tok = h->cfg->http.token;
    if (tok[0]) {
        size_t tl = strlen(tok);
        const char *a = h->req.auth;
        int ok = strncasecmp(a, "Bearer ", 7) == 0 && strlen(a + 7) == tl;
        /* Compare in constant time. */
        unsigned diff = 0;
        for (size_t i = 0; ok && i < tl; i++)
            diff |= (unsigned)(a[7 + i] ^ tok[i]);
        if (!ok || diff) {
            respond_error(h, 401, "Unauthorized: bearer token required", 0,
                          "WWW-Authenticate: Bearer realm=\"rtmpd\"\r\n");
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* HTTP-FLV                                                             */

static void flv_notify(struct rtmpd_sub *sub, enum rtmpd_sub_event ev)
{
    struct http_conn *h = sub->ud;
    if (ev == RTMPD_SUB_UNPUBLISH)
        rtmpd_conn_close_after_flush(h->conn, "stream unpublished");
}

static const struct rtmpd_sub_ops flv_sub_ops = { .notify = flv_notify };

static void serve_flv(struct http_conn *h, const char *path, size_t len)
{
    /* path: "/APP/NAME.flv" */
    const char *app = path + 1;
    const char *slash = memchr(app, '/', len - 1);
    if (!slash) {
        respond_error(h, 404, "Not found", 0, NULL);
        return;
    }
    size_t app_len = (size_t)(slash - app);
    const char *name = slash + 1;
    size_t name_len = (size_t)(path + len - 4 - name);
    const struct rtmpd_app_conf *conf = rtmpd_config_app(h->cfg, app, app_len);
    if (!conf) {
        respond_error(h, 404, "No such stream", 0, NULL);
        return;
    }
    /* The name rule of RTMP play: nothing else may reach the registry. */
    const char *why = rtmpd_stream_name_problem(name, name_len, h->cfg->limits.max_name_bytes);
    if (why) {
        char msg[128];
        snprintf(msg, sizeof msg, "Bad stream name: %s", why);
        respond_error(h, 400, msg, 0, NULL);
        return;
    }
    struct rtmpd_stream *st = rtmpd_registry_find(h->srv->registry, app, app_len, name, name_len);
    memset(&h->sub, 0, sizeof h->sub);
    if (rtmpd_sub_group(&h->sub, conf, name, name_len))
        st = rtmpd_stream_for_player(h->srv->registry, conf, name, name_len, &h->sub);
    if (!st || !st->publisher) {
        /* A rendition group's stream may have been created just now for
         * this player: it must not outlive the refusal. */
        if (st)
            rtmpd_stream_release(st);
        respond_error(h, 404, "No such stream", 0, NULL);
        return;
    }
    static const char head_fmt[] =
        "HTTP/1.1 200 OK\r\n"
        "Server: rtmpd/%s\r\n"
        "Content-Type: video/x-flv\r\n"
        "Cache-Control: no-cache\r\n"
        "%s%s%s"
        "Connection: close\r\n\r\n";
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr, head_fmt, RTMPD_VERSION,
                     h->cfg->http.cors_origin[0] ? "Access-Control-Allow-Origin: " : "",
                     h->cfg->http.cors_origin, h->cfg->http.cors_origin[0] ? "\r\n" : "");
    if (h->parser.method == HTTP_HEAD) {
        rtmpd_conn_send(h->conn, hdr, (size_t)n);
        rtmpd_conn_close_after_flush(h->conn, "http response done");
        return;
    }
    uint8_t flv[RTMPD_FLV_FILE_HEADER_LEN];
    /* The kinds of media the stream has carried: a player such as flv.js
     * trusts these flags and would wait for video an audio-only stream
     * never sends. Before any media, both. */
    int audio = st->stats.has_audio, video = st->stats.has_video;
    rtmpd_flv_write_file_header(flv, audio || !video, video || !audio);
    memcpy(hdr + n, flv, sizeof flv);
    if (rtmpd_conn_send(h->conn, hdr, (size_t)n + sizeof flv) < 0)
        return;

    h->streaming = 1;
    h->status = 200;
    h->st = st;
    rtmpd_conn_set_timer(h->conn, 0); /* players send nothing: no request timeout */
    h->conn->merge_ms = conf->queue.merge_ms;
    h->sub.conn = h->conn;
    h->sub.ops = &flv_sub_ops;
    h->sub.ud = h;
    h->sub.kind = RTMPD_SUB_FLV;
    rtmpd_stream_attach(st, &h->sub);
    rtmpd_conn_probe_enable(h->conn, h->sub.group[0] != '\0');
    log_info(h->conn->id, "%s: playing over HTTP-FLV (%s)", st->key, h->conn->peer);
}

/* ------------------------------------------------------------------ */
/* Routing                                                              */

static int path_is(const char *path, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(path, lit, len) == 0;
}

static int path_prefix(const char *path, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len > n && memcmp(path, lit, n) == 0;
}

static void method_not_allowed(struct http_conn *h, const char *allow)
{
    char extra[64];
    snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
    respond_error(h, 405, "Method not allowed", 0, extra);
}

static void route(struct http_conn *h)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(h->req.url, h->req.url_len, 0, &u) != 0 ||
        !(u.field_set & (1 << UF_PATH))) {
        respond_error(h, 400, "Bad request target", 1, NULL);
        return;
    }
    const char *path = h->req.url + u.field_data[UF_PATH].off;
    size_t len = u.field_data[UF_PATH].len;
    int m = h->parser.method;
    int get = m == HTTP_GET || m == HTTP_HEAD;

    if (m == HTTP_OPTIONS) {
        respond(h, 204, "text/plain", "", 0, 0,
                "Access-Control-Allow-Methods: GET, HEAD, DELETE, OPTIONS\r\n"
                "Access-Control-Allow-Headers: Authorization\r\n");
        return;
    }
    if (len > 4 && memcmp(path + len - 4, ".flv", 4) == 0 && !path_prefix(path, len, "/api/")) {
        if (!get) {
            method_not_allowed(h, "GET, HEAD");
            return;
        }
        serve_flv(h, path, len);
        return;
    }
    if (path_is(path, len, "/metrics")) {
        if (!get) {
            method_not_allowed(h, "GET, HEAD");
            return;
        }
        if (check_api_access(h) < 0)
            return;
        struct rtmpd_buf b;
        rtmpd_buf_init(&b);
        rtmpd_stats_metrics(h->srv, &b);
        if (b.failed)
            respond_error(h, 500, "Out of memory", 1, NULL);
        else
            respond(h, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, 0, NULL);
        rtmpd_buf_release(&b);
        return;
    }
    if (!path_is(path, len, "/api/v1") && !path_prefix(path, len, "/api/v1/")) {
        respond_error(h, 404, "Not found", 0, NULL);
        return;
    }
    if (check_api_access(h) < 0)
        return;
    if (path_is(path, len, "/api/v1/server")) {
        if (!get)
            method_not_allowed(h, "GET, HEAD");
        else
            respond_json(h, 200, rtmpd_stats_server(h->srv), 0);
        return;
    }
    if (path_is(path, len, "/api/v1/streams")) {
        if (!get)
            method_not_allowed(h, "GET, HEAD");
        else
            respond_json(h, 200, rtmpd_stats_streams(h->srv), 0);
        return;
    }
    if (path_is(path, len, "/api/v1/clients")) {
        if (!get)
            method_not_allowed(h, "GET, HEAD");
        else
            respond_json(h, 200, rtmpd_stats_clients(h->srv), 0);
        return;
    }
    if (path_prefix(path, len, "/api/v1/streams/")) {
        const char *app = path + 16;
        size_t rest = len - 16;
        const char *slash = memchr(app, '/', rest);
        struct rtmpd_stream *st = NULL;
        if (slash && slash + 1 < app + rest)
            st = rtmpd_registry_find(h->srv->registry, app, (size_t)(slash - app), slash + 1,
                                     (size_t)(app + rest - slash - 1));
        if (!st) {
            respond_error(h, 404, "No such stream", 0, NULL);
        } else if (get) {
            respond_json(h, 200, rtmpd_stats_stream(h->srv, st), 0);
        } else if (m == HTTP_DELETE) {
            struct rtmpd_conn *pub = st->publisher ? rtmpd_server_find_conn(h->srv, st->publisher_id)
                                                   : NULL;
            if (!pub) {
                respond_error(h, 404, "Stream has no publisher", 0, NULL);
                return;
            }
            log_info(h->conn->id, "API: stopping the publisher of %s (connection #%llu)", st->key,
                     (unsigned long long)pub->id);
            respond_json(h, 200, json_pack("{s:s, s:I}", "stopped", st->key, "publisher",
                                           (json_int_t)pub->id), 0);
            rtmpd_conn_close(pub, "stopped by API");
        } else {
            method_not_allowed(h, "GET, HEAD, DELETE");
        }
        return;
    }
    if (path_prefix(path, len, "/api/v1/clients/")) {
        char idbuf[24];
        size_t idl = len - 16;
        char *end;
        unsigned long long id = 0;
        if (idl < sizeof idbuf) {
            memcpy(idbuf, path + 16, idl);
            idbuf[idl] = '\0';
            id = strtoull(idbuf, &end, 10);
            if (*end || idbuf[0] == '\0')
                id = 0;
        }
        struct rtmpd_conn *c = id ? rtmpd_server_find_conn(h->srv, id) : NULL;
        if (!c || c->closing) {
            respond_error(h, 404, "No such client", 0, NULL);
        } else if (get) {
            respond_json(h, 200, rtmpd_stats_client(h->srv, c), 0);
        } else if (m == HTTP_DELETE) {
            log_info(h->conn->id, "API: disconnecting client #%llu (%s)", id, c->peer);
            respond_json(h, 200, json_pack("{s:I}", "kicked", (json_int_t)id), c == h->conn);
            if (c != h->conn)
                rtmpd_conn_close(c, "kicked by API");
        } else {
            method_not_allowed(h, "GET, HEAD, DELETE");
        }
        return;
    }
    respond_error(h, 404, "Not found", 0, NULL);
}

/* ------------------------------------------------------------------ */
/* Connection callbacks                                                 */

/* A whole request has been parsed: answer it (responses of pipelined
 * requests are queued in order). */
static void handle_request(struct http_conn *h)
{
    int keep = http_should_keep_alive(&h->parser);
    h->started = 0;
    if (h->streaming || h->conn->closing || h->conn->flush_then_close)
        return;
    h->status = 0;
    route(h);
    h->requests++;
    /* The URL is the client's: escaped, so it cannot end its field. */
    char url[256];
    rtmpd_log_access("id=%llu peer=%s proto=http method=%s url=\"%s\" status=%d",
                     (unsigned long long)h->conn->id, h->conn->peer,
                     http_method_str((enum http_method)h->parser.method),
                     rtmpd_log_str(url, sizeof url, h->req.url, h->req.url_len), h->status);
    if (h->streaming)
        return;
    if (!keep)
        rtmpd_conn_close_after_flush(h->conn, "http: connection close");
    else
        rtmpd_conn_set_timer(h->conn, h->cfg->http.request_timeout_ms);
}

/* Parses input; returns the bytes consumed, or -1 after answering an
 * error (the connection then closes). */
static long http_parse(struct http_conn *h, const uint8_t *data, size_t len)
{
    h->batch = 0;
    size_t n = http_parser_execute(&h->parser, &parser_settings, (const char *)data, len);
    enum http_errno err = HTTP_PARSER_ERRNO(&h->parser);
    if (err == HPE_PAUSED) {
        if (h->streaming)
            return (long)len; /* nothing after an FLV request is read */
        http_parser_pause(&h->parser, 0);
        return (long)n;
    }
    if (err != HPE_OK && !h->streaming && !h->conn->closing && !h->conn->flush_then_close) {
        int status = h->req.too_large || err == HPE_HEADER_OVERFLOW ? 431
                     : h->req.uri_too_long                          ? 414
                     : h->req.body_too_large                        ? 413
                                                                    : 400;
        log_info(h->conn->id, "http: %s from %s: %d", http_errno_description(err),
                 h->conn->peer, status);
        respond_error(h, status, status == 400 ? "Bad request" : status_text(status), 1, NULL);
        return -1;
    }
    return (long)len;
}

/* Keeps input that waits for the next turn; stops reading until then. */
static int http_hold(struct http_conn *h, const uint8_t *data, size_t len)
{
    if (h->held.len - h->held_off + len > PIPELINE_HOLD_MAX) {
        log_warn(h->conn->id, "http: %s pipelines more than %d bytes without reading: closing",
                 h->conn->peer, PIPELINE_HOLD_MAX);
        rtmpd_conn_close(h->conn, "http: pipeline too deep");
        return -1;
    }
    rtmpd_buf_append(&h->held, data, len);
    if (h->held.failed) {
        rtmpd_conn_close(h->conn, "out of memory");
        return -1;
    }
    rtmpd_conn_read_pause(h->conn, 1);
    return 0;
}

static int http_on_data(void *ud, const uint8_t *data, size_t len)
{
    struct http_conn *h = ud;
    if (h->streaming || h->conn->flush_then_close)
        return 0; /* an HTTP-FLV player has nothing more to say */
    if (h->held.len > h->held_off)
        return http_hold(h, data, len); /* behind requests waiting their turn */
    long n = http_parse(h, data, len);
    if (n < 0)
        return -1;
    if ((size_t)n < len && !h->conn->closing && !h->conn->flush_then_close &&
        http_hold(h, data + n, len - (size_t)n) < 0)
        return -1;
    return h->conn->closing ? -1 : 0;
}

/* Held requests get their next turn once this one's answers went out,
 * on a later turn of the loop. */
static void http_on_drain(void *ud)
{
    struct http_conn *h = ud;
    if (h->held.len > h->held_off && !h->streaming && !ev_is_active(&h->resume))
        ev_timer_start(h->srv->loop, &h->resume);
}

static void http_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct http_conn *h = w->data;
    if (h->conn->closing || h->conn->flush_then_close || h->streaming)
        return;
    long n = http_parse(h, h->held.data + h->held_off, h->held.len - h->held_off);
    if (n < 0)
        return;
    h->held_off += (size_t)n;
    if (h->held_off == h->held.len) {
        rtmpd_buf_reset(&h->held);
        h->held_off = 0;
        rtmpd_conn_read_pause(h->conn, 0);
    }
}

static void http_on_timeout(void *ud)
{
    struct http_conn *h = ud;
    struct rtmpd_conn *c = h->conn;
    if (c->qlen || h->held.len > h->held_off) {
        /* Answers wait for the client to read them: a client that takes
         * some within the timeout gets another; one that takes none is cut
         * (it could otherwise hold a slot, its requests and answers
         * forever). */
        if (c->bytes_out != h->out_mark) {
            h->out_mark = c->bytes_out;
            rtmpd_conn_set_timer(c, h->cfg->http.request_timeout_ms);
            return;
        }
        log_warn(c->id,
                 "http: %s does not read its answers: %llu bytes queued for it and %zu bytes of "
                 "requests waiting, nothing taken in %u ms: closing",
                 c->peer, (unsigned long long)c->q_bytes, h->held.len - h->held_off,
                 h->cfg->http.request_timeout_ms);
        rtmpd_conn_close(c, "peer not reading");
        return;
    }
    if (h->started) {
        log_info(h->conn->id, "http: request from %s not complete in time: 408", h->conn->peer);
        respond_error(h, 408, "Request timeout", 1, NULL);
    } else {
        rtmpd_conn_close(h->conn, "http: keep-alive timeout");
    }
}

static void http_on_close(void *ud)
{
    struct http_conn *h = ud;
    struct rtmpd_conn *c = h->conn;
    /* The connection's line, like an RTMP connection's: an HTTP-FLV
     * player's stream and why it ended (its request's line came first). */
    rtmpd_conn_log_closed(c, "proto=http stream=%s role=%s requests=%u",
                          h->streaming && h->st ? h->st->key : "-",
                          h->streaming ? "play" : "api", h->requests);
    if (h->streaming) {
        log_info(h->conn->id, "%s: HTTP-FLV player left (%llu frames sent, %llu dropped)",
                 h->st ? h->st->key : "?", (unsigned long long)h->sub.frames_sent,
                 (unsigned long long)h->sub.frames_dropped);
        rtmpd_stream_detach(&h->sub);
    }
    ev_timer_stop(h->srv->loop, &h->resume);
    rtmpd_buf_release(&h->held);
    free(h);
}

static void http_on_shutdown(void *ud, int publishers)
{
    struct http_conn *h = ud;
    if (!publishers)
        rtmpd_conn_close_after_flush(h->conn, "server shutting down");
}

static void http_info(void *ud, struct rtmpd_conn_info *out)
{
    struct http_conn *h = ud;
    out->proto = "http";
    out->role = h->streaming ? "player" : "api";
    out->st = h->streaming ? h->sub.st : NULL;
    out->sub = h->streaming ? &h->sub : NULL;
}

static void http_on_sample(void *ud)
{
    struct http_conn *h = ud;
    if (h->streaming)
        rtmpd_sub_adapt(&h->sub, rtmpd_server_now_us(h->srv));
}

static const struct rtmpd_conn_ops http_ops = {
    .on_data = http_on_data,
    .on_drain = http_on_drain,
    .on_timeout = http_on_timeout,
    .on_close = http_on_close,
    .on_shutdown = http_on_shutdown,
    .info = http_info,
    .on_sample = http_on_sample,
};

struct rtmpd_conn *rtmpd_http_accept(struct rtmpd_server *srv, int fd,
                                     const struct sockaddr *peer, socklen_t peerlen)
{
    struct http_conn *h = calloc(1, sizeof *h);
    if (!h) {
        close(fd);
        return NULL;
    }
    struct rtmpd_conn *c = rtmpd_conn_new(srv, fd, peer, peerlen, &http_ops);
    if (!c) {
        free(h);
        return NULL;
    }
    c->ud = h;
    h->conn = c;
    h->srv = srv;
    h->cfg = srv->cfg;
    http_parser_init(&h->parser, HTTP_REQUEST);
    h->parser.data = h;
    ev_timer_init(&h->resume, http_resume_cb, 0., 0.);
    h->resume.data = h;
    rtmpd_conn_start(c, srv->cfg->http.request_timeout_ms);
    return c;
}
