/*
 * rtmpd — text a client supplies: the stream-name rule every protocol
 * applies before a name reaches the registry, and the escaping of such
 * text in log lines.
 */
#ifndef RTMPD_TEXT_H
#define RTMPD_TEXT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Validates a stream name (the part before '?'): 1..max bytes of
 * [A-Za-z0-9_.~-] in segments separated by single '/', no "." or ".."
 * segment. Returns NULL when valid, else why not (a constant string).
 */
const char *rtmpd_stream_name_problem(const char *name, size_t len, uint32_t max);

/*
 * A printable, bounded copy of p[0..len) for a log line, in out (outlen
 * bytes, NUL-terminated): bytes outside 0x20-0x7e, '\' and '"' become
 * \xNN, so the copy can sit between double quotes and cannot end its
 * field or the line; when it does not fit it ends with "...". Returns out.
 */
const char *rtmpd_log_str(char *out, size_t outlen, const char *p, size_t len);

#endif
