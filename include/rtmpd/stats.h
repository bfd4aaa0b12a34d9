/*
 * rtmpd — what the server knows about itself, as JSON documents for the
 * HTTP API and as Prometheus text for /metrics.
 */
#ifndef RTMPD_STATS_H
#define RTMPD_STATS_H

#include <jansson.h>

#include "rtmpd/bytes.h"

struct rtmpd_server;
struct rtmpd_stream;
struct rtmpd_conn;

/* GET /api/v1/server: version, uptime, connections, bytes, CPU. */
json_t *rtmpd_stats_server(struct rtmpd_server *srv);

/* One stream, and GET /api/v1/streams: {"streams": [...]}. */
json_t *rtmpd_stats_stream(struct rtmpd_server *srv, const struct rtmpd_stream *st);
json_t *rtmpd_stats_streams(struct rtmpd_server *srv);

/* One connection, and GET /api/v1/clients: {"clients": [...]}. */
json_t *rtmpd_stats_client(struct rtmpd_server *srv, struct rtmpd_conn *c);
json_t *rtmpd_stats_clients(struct rtmpd_server *srv);

/* GET /metrics: Prometheus text exposition format 0.0.4 into out. */
void rtmpd_stats_metrics(struct rtmpd_server *srv, struct rtmpd_buf *out);

#endif
