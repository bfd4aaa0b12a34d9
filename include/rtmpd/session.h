/*
 * rtmpd — the RTMP session: handshake, chunk stream, protocol control
 * messages and the command table (connect, createStream, publish, play ...).
 *
 * A session reads bytes from its connection and writes through it; it
 * never touches the socket itself.
 */
#ifndef RTMPD_SESSION_H
#define RTMPD_SESSION_H

#include <stdint.h>
#include <sys/socket.h>

struct rtmpd_server;
struct rtmpd_conn;

/*
 * Creates a session on an accepted socket and starts it. Returns the new
 * connection, or NULL on allocation failure (fd closed).
 */
struct rtmpd_conn *rtmpd_session_accept(struct rtmpd_server *srv, int fd,
                                        const struct sockaddr *peer, socklen_t peerlen);

#endif
