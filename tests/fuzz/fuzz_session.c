/*
 * Whole RTMP sessions without sockets: handshake, chunk stream, protocol
 * control, the command table, publishing and playing, fan-out, the GOP
 * cache. Input: byte 0 selects the mode, bytes 1-2 a split point, byte 3
 * seeds the piece sizes; the rest is what clients send.
 *
 *   mode & 1   two sessions on one server: the bytes before the split are a
 *              publisher's, the rest a player's (fed after, so the player
 *              joins a stream with a GOP cache and live frames)
 *   otherwise  one session gets everything
 */
#include "fuzz_server.h"

#include "rtmpd/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint8_t mode = data[0];
    size_t split = (size_t)data[1] << 8 | data[2];
    struct fuzz_rng rng = { data[3] };
    data += 4;
    size -= 4;

    struct rtmpd_conn *c[2];
    if (mode & 1) {
        if (split > size)
            split = size;
        c[0] = fuzz_conn(0);
        c[1] = fuzz_conn(0);
        fuzz_feed(c[0], data, split, &rng);
        fuzz_feed(c[1], data + split, size - split, &rng);
        /* The publisher keeps sending while the player watches. */
        fuzz_feed(c[0], data, split < 512 ? split : 512, &rng);
        fuzz_finish(c, 2);
    } else {
        c[0] = fuzz_conn(0);
        fuzz_feed(c[0], data, size, &rng);
        fuzz_finish(c, 1);
    }
    return 0;
}
