/*
 * rtmpd — streams: the registry of app/name, one publisher, many
 * subscribers, and the fan-out of frames to them.
 *
 * stream never touches sockets: it queues entries on each subscriber's
 * connection. It owns the per-subscriber policy: start at a keyframe, keep
 * timestamps continuous across publisher restarts, drop by priority when a
 * subscriber falls behind, disconnect it at the hard limits.
 */
#ifndef RTMPD_STREAM_H
#define RTMPD_STREAM_H

#include <stdint.h>

#include "rtmpd/config.h"
#include "rtmpd/frame.h"
#include "rtmpd/gop_cache.h"
#include "rtmpd/list.h"

struct rtmpd_server;
struct rtmpd_conn;
struct rtmpd_stream;
struct rtmpd_registry;
struct rtmpd_sub;
struct rtmpd_ladder;

/* Chunk stream ids the server uses for what it sends. */
#define RTMPD_CSID_PROTOCOL 2u   /* protocol control, user control */
#define RTMPD_CSID_COMMAND 3u    /* NetConnection commands */
#define RTMPD_CSID_STATUS 5u     /* NetStream commands and onStatus */
#define RTMPD_CSID_AUDIO 6u
#define RTMPD_CSID_VIDEO 7u
#define RTMPD_CSID_DATA 8u       /* onMetaData and other stream data */

enum rtmpd_sub_kind {
    RTMPD_SUB_RTMP = 0,
    RTMPD_SUB_FLV = 1,
};

enum rtmpd_sub_event {
    RTMPD_SUB_PUBLISH_START, /* a publisher started on the stream */
    RTMPD_SUB_UNPUBLISH,     /* the publisher left */
};

struct rtmpd_sub_ops {
    void (*notify)(struct rtmpd_sub *sub, enum rtmpd_sub_event ev);
};

struct rtmpd_sub {
    struct rtmpd_list link;
    struct rtmpd_stream *st;
    struct rtmpd_conn *conn;
    const struct rtmpd_sub_ops *ops;
    void *ud;
    uint8_t kind;            /* enum rtmpd_sub_kind */
    uint8_t need_key;        /* video resumes at the next keyframe */
    uint8_t paused;
    uint8_t no_audio, no_video;
    uint8_t have_ts;
    uint8_t dropping;        /* inside a drop episode */
    uint32_t stream_id;      /* RTMP message stream id */
    uint32_t chunk_size;     /* RTMP outgoing chunk size */
    uint32_t epoch;          /* publish generation the timestamps map from */
    int64_t ts_off;          /* added to the unwrapped stream timestamps */
    int64_t in_ext;          /* last stream timestamp mapped, unwrapped past 2^32 */
    uint32_t in_last;        /* the same as the stream sent it */
    uint32_t last_ts;        /* last timestamp sent */
    uint64_t frames_sent;
    uint64_t frames_dropped;
    uint64_t drop_episodes;

    /* Rendition group (adaptive players only). */
    char group[RTMPD_CONFIG_NAME_MAX]; /* the name the player asked for; "" = none */
    const struct rtmpd_abr_conf *abr;  /* explicit group, or NULL for a ladder */
    struct rtmpd_stream *next;         /* switching there at its next keyframe */
    struct rtmpd_list switch_link;     /* on next->switchers */
    uint64_t next_since_us;
    uint64_t short_since_us;           /* estimate below the rendition since */
    uint64_t room_since_us;            /* room for the next one up since */
    uint64_t last_switch_us;
    uint32_t switches;
};

#define RTMPD_RATE_WINDOW 8   /* seconds over which rates are averaged */

struct rtmpd_stream_stats {
    /* Counters: only ever increase while the stream exists. */
    uint64_t bytes_in;
    uint64_t frames_in;
    uint64_t video_frames_in;
    uint64_t bytes_out;      /* payload bytes queued to subscribers */
    uint64_t created_us;
    uint64_t publish_us;     /* when the current publisher started (0: none) */
    /* From the latest sequence headers. */
    uint32_t video_codec;    /* legacy codec id, or FourCC when video_fourcc */
    uint32_t audio_codec;
    uint8_t video_fourcc;
    uint8_t audio_fourcc;
    uint8_t has_audio, has_video; /* media of that kind since the publish began */
    uint32_t width, height;
    /* Rates over the last RTMPD_RATE_WINDOW seconds (updated at 1 Hz). */
    uint64_t bitrate_in;     /* bits/s */
    uint64_t bitrate_out;
    double fps;
    /* Publisher drift: wall time elapsed minus media time elapsed since the
     * publish started (ms; grows when its network cannot keep up). */
    int64_t drift_ms;
    uint64_t drift_wall0_us;
    uint32_t drift_ts0;
    uint64_t drift_warned_us;
    uint64_t hist_in[RTMPD_RATE_WINDOW + 1], hist_out[RTMPD_RATE_WINDOW + 1];
    uint64_t hist_vf[RTMPD_RATE_WINDOW + 1], hist_us[RTMPD_RATE_WINDOW + 1];
    uint32_t hist_pos, hist_n;
};

struct rtmpd_stream {
    struct rtmpd_stream *hnext;
    struct rtmpd_registry *reg;
    const struct rtmpd_app_conf *app;
    void *publisher;         /* opaque owner of the publish, NULL when none */
    uint64_t publisher_id;   /* its connection id */
    struct rtmpd_list subs;
    uint32_t nsubs;
    struct rtmpd_list switchers;   /* players moving here at the next keyframe */
    struct rtmpd_ladder *ladder;   /* transcode children while published */
    struct rtmpd_frame *meta, *aseq, *vseq;
    struct rtmpd_gop gop;
    uint32_t epoch;          /* incremented at each publish */
    uint32_t last_ts;        /* timestamp of the last frame pushed */
    struct rtmpd_stream_stats stats;
    uint32_t key_len;
    char key[];              /* "app/name" */
};

/* Creates / frees the registry of a server. */
struct rtmpd_registry *rtmpd_registry_new(struct rtmpd_server *srv);
void rtmpd_registry_free(struct rtmpd_registry *reg);

/* Number of streams in the registry. */
uint32_t rtmpd_registry_count(const struct rtmpd_registry *reg);

/* Calls fn for every stream (fn must not add or remove streams). */
void rtmpd_registry_foreach(struct rtmpd_registry *reg,
                            void (*fn)(struct rtmpd_stream *st, void *ud), void *ud);

/* Updates every stream's rates; called once a second. */
void rtmpd_registry_tick(struct rtmpd_registry *reg, uint64_t now_us);

/* Finds app/name by the app's name (not its configuration). */
struct rtmpd_stream *rtmpd_registry_find(struct rtmpd_registry *reg, const char *app,
                                         size_t app_len, const char *name, size_t name_len);

/* The stream's name (after "app/"). */
const char *rtmpd_stream_name(const struct rtmpd_stream *st);

/*
 * Finds the stream app/name, creating it when `create` is set. `app` is the
 * app's configuration (its name is the first half of the key). Returns NULL
 * when it does not exist (or allocation failed).
 */
struct rtmpd_stream *rtmpd_stream_get(struct rtmpd_registry *reg, const struct rtmpd_app_conf *app,
                                      const char *name, size_t name_len, int create);

/*
 * Makes `owner` the publisher. Returns 0, or -1 when the stream already has
 * a publisher. Subscribers are told (PUBLISH_START) and will start at the
 * next keyframe, with timestamps continuing where they were.
 */
int rtmpd_stream_publish(struct rtmpd_stream *st, void *owner, uint64_t conn_id);

/*
 * Ends the current publish: subscribers are told (UNPUBLISH), sequence
 * headers, metadata and the GOP cache are dropped. Frees the stream when
 * nobody is left on it.
 */
void rtmpd_stream_unpublish(struct rtmpd_stream *st);

/*
 * Fans out one frame from the publisher (one reference is taken by each
 * queue that holds it; the caller keeps its own). Updates sequence headers,
 * metadata and the GOP cache.
 */
void rtmpd_stream_push(struct rtmpd_stream *st, struct rtmpd_frame *f);

/*
 * Attaches a subscriber (zeroed except for conn, ops, ud, kind, stream_id,
 * chunk_size). When the stream is being published the subscriber gets the
 * metadata, sequence headers and cached GOP at once.
 */
void rtmpd_stream_attach(struct rtmpd_stream *st, struct rtmpd_sub *sub);

/* Detaches a subscriber; frees the stream when nobody is left on it. */
void rtmpd_stream_detach(struct rtmpd_sub *sub);

/* Restarts a subscriber's delivery at the next keyframe, as after a pause. */
void rtmpd_sub_resync(struct rtmpd_sub *sub);

/*
 * Resolves `name` in `app` as a rendition group: an `abr` group of that
 * name, or, in an app with a transcode ladder, a source stream (a name
 * that is not itself NAME_SUFFIX of a ladder step). Returns 1 and fills
 * sub->group / sub->abr, or 0 when `name` is a plain stream.
 */
int rtmpd_sub_group(struct rtmpd_sub *sub, const struct rtmpd_app_conf *app, const char *name,
                    size_t name_len);

/*
 * The stream a new player of app/name attaches to: for a rendition group,
 * the best rendition publishing (else the group's first) with sub->group
 * set; otherwise app/name itself. Creates it when needed; NULL on
 * allocation failure.
 */
struct rtmpd_stream *rtmpd_stream_for_player(struct rtmpd_registry *reg,
                                             const struct rtmpd_app_conf *app, const char *name,
                                             size_t name_len, struct rtmpd_sub *sub);

/*
 * Frees the stream when nobody publishes, plays or is switching to it: for
 * a caller that got it from rtmpd_stream_for_player (or rtmpd_stream_get)
 * and then attached no subscriber.
 */
void rtmpd_stream_release(struct rtmpd_stream *st);

/*
 * The adaptation policy, run after each bandwidth sample of a player in a
 * group: a sustained shortfall moves it down to the best rendition the
 * estimate carries with headroom; sustained, consistent headroom moves it
 * up one rendition, at most once per hold time. Moves happen at the next
 * keyframe of the target.
 */
void rtmpd_sub_adapt(struct rtmpd_sub *sub, uint64_t now_us);

/* Non-zero when `name` is NAME_SUFFIX of one of the app's ladder steps. */
int rtmpd_ladder_output(const struct rtmpd_app_conf *app, const char *name, size_t len);

#endif
