/*
 * rtmpd — text a client supplies: the stream-name rule every protocol
 * applies before a name reaches the registry.
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

#endif
