/*
 * rtmpd — HTTP/1.1 on the server's loop: the JSON API, Prometheus metrics
 * and HTTP-FLV playback. Requests are parsed with http-parser; HTTP-FLV
 * players are ordinary stream subscribers (same frames, queue, drop
 * policy) whose queue entries carry FLV tag headers instead of RTMP chunk
 * headers.
 */
#ifndef RTMPD_HTTP_H
#define RTMPD_HTTP_H

#include <sys/socket.h>

struct rtmpd_server;
struct rtmpd_conn;

/* Creates an HTTP connection on an accepted socket. NULL (fd closed) on
 * allocation failure. */
struct rtmpd_conn *rtmpd_http_accept(struct rtmpd_server *srv, int fd,
                                     const struct sockaddr *peer, socklen_t peerlen);

#endif
