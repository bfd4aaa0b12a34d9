#include "test_main.h"

#include <stdlib.h>
#include <unistd.h>

#include "rtmpd/config.h"

/*
 * Config files are written to one mkdtemp directory, removed at exit (also
 * when a case fails: cmocka returns from main normally).
 */
static char tmp_dir[64];
static char tmp_files[32][128];
static int ntmp_files;

static void tmp_cleanup(void)
{
    for (int i = 0; i < ntmp_files; i++)
        unlink(tmp_files[i]);
    if (tmp_dir[0] != '\0')
        rmdir(tmp_dir);
}

/* Writes `text` to file `name` in the temporary directory; returns its path. */
static const char *write_conf(const char *name, const char *text)
{
    char path[128];
    int slot;
    FILE *f;

    if (tmp_dir[0] == '\0') {
        const char *base = getenv("TMPDIR");
        snprintf(tmp_dir, sizeof tmp_dir, "%s/rtmpd-test-config-XXXXXX",
                 base != NULL && strlen(base) < 30 ? base : "/tmp");
        assert_non_null(mkdtemp(tmp_dir));
        atexit(tmp_cleanup);
    }
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    for (slot = 0; slot < ntmp_files; slot++)
        if (strcmp(tmp_files[slot], path) == 0)
            break;
    if (slot == ntmp_files) {
        assert_true(ntmp_files < (int)(sizeof tmp_files / sizeof tmp_files[0]));
        strcpy(tmp_files[ntmp_files++], path);
    }
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return tmp_files[slot];
}

/* The source tree: -DRTMPD_SOURCE_DIR=..., else derived from __FILE__. */
static const char *source_dir(void)
{
#ifdef RTMPD_SOURCE_DIR
    return RTMPD_SOURCE_DIR;
#else
    static char dir[256];
    const char *f = __FILE__, *p = strstr(f, "tests/unit/test_config.c");
    size_t n = p != NULL ? (size_t)(p - f) : 0;
    if (n == 0)
        return ".";
    snprintf(dir, sizeof dir, "%.*s", (int)(n - 1), f); /* without the trailing '/' */
    return dir;
#endif
}

/* Loads `text`; fails the case with the message if it does not load. */
static void load_ok(struct rtmpd_config *c, const char *text)
{
    char err[512];
    const char *path = write_conf("ok.conf", text);

    if (rtmpd_config_load(c, path, err, sizeof err) != 0)
        fail_msg("did not load: %s\n--- config:\n%s", err, text);
}

/*
 * Loads `text`, expecting failure with a message that starts with
 * "FILE:LINE: KEY: " and contains `what`.
 */
static void expect_error(const char *text, int line, const char *key, const char *what)
{
    struct rtmpd_config c;
    char err[512], want[512];
    const char *path = write_conf("bad.conf", text);

    if (rtmpd_config_load(&c, path, err, sizeof err) != -1)
        fail_msg("loaded, expected an error about %s\n--- config:\n%s", key, text);
    snprintf(want, sizeof want, "%s:%d: %s: ", path, line, key);
    if (strncmp(err, want, strlen(want)) != 0 || strstr(err + strlen(want), what) == NULL)
        fail_msg("error: \"%s\"\nwanted: \"%s...%s...\"\n--- config:\n%s", err, want, what, text);
    assert_null(strchr(err, '\n'));
}

static void assert_app_equal(const struct rtmpd_app_conf *a, const struct rtmpd_app_conf *b)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->gop.enabled, b->gop.enabled);
    assert_int_equal(a->gop.max_frames, b->gop.max_frames);
    assert_int_equal(a->gop.max_bytes, b->gop.max_bytes);
    assert_int_equal(a->queue.max_bytes, b->queue.max_bytes);
    assert_int_equal(a->queue.max_ms, b->queue.max_ms);
    assert_int_equal(a->queue.drop_ms, b->queue.drop_ms);
    assert_int_equal(a->queue.merge_ms, b->queue.merge_ms);
}

/* Field by field (readable failures), then byte for byte (fields missed here). */
static void assert_config_equal(const struct rtmpd_config *a, const struct rtmpd_config *b)
{
    assert_string_equal(a->path, b->path);
    assert_int_equal(a->listen.n, b->listen.n);
    for (uint32_t i = 0; i < a->listen.n; i++)
        assert_string_equal(a->listen.v[i], b->listen.v[i]);
    assert_int_equal(a->log.level, b->log.level);
    assert_string_equal(a->log.access_log, b->log.access_log);
    assert_int_equal(a->limits.max_connections, b->limits.max_connections);
    assert_int_equal(a->limits.max_message_bytes, b->limits.max_message_bytes);
    assert_int_equal(a->limits.max_chunk_streams, b->limits.max_chunk_streams);
    assert_int_equal(a->limits.max_pending_bytes, b->limits.max_pending_bytes);
    assert_int_equal(a->limits.max_streams_per_connection, b->limits.max_streams_per_connection);
    assert_int_equal(a->limits.max_name_bytes, b->limits.max_name_bytes);
    assert_int_equal(a->limits.handshake_timeout_ms, b->limits.handshake_timeout_ms);
    assert_int_equal(a->limits.idle_timeout_ms, b->limits.idle_timeout_ms);
    assert_int_equal(a->limits.write_slice_us, b->limits.write_slice_us);
    assert_int_equal(a->rtmp.chunk_size, b->rtmp.chunk_size);
    assert_int_equal(a->rtmp.window_ack_size, b->rtmp.window_ack_size);
    assert_int_equal(a->rtmp.peer_bandwidth, b->rtmp.peer_bandwidth);
    assert_int_equal(a->napps, b->napps);
    for (uint32_t i = 0; i < a->napps; i++)
        assert_app_equal(&a->apps[i], &b->apps[i]);
    assert_memory_equal(a, b, sizeof *a);
}

static void defaults_match_documented_values(void **state)
{
    (void)state;
    struct rtmpd_config c;

    memset(&c, 0x5a, sizeof c);
    rtmpd_config_defaults(&c);
    assert_string_equal(c.path, "");
    assert_int_equal(c.listen.n, 1);
    assert_string_equal(c.listen.v[0], "0.0.0.0:1935");
    assert_int_equal(c.log.level, RTMPD_LOG_INFO);
    assert_string_equal(c.log.access_log, "stderr");
    assert_int_equal(c.limits.max_connections, 10000);
    assert_int_equal(c.limits.max_message_bytes, 8 * 1024 * 1024);
    assert_int_equal(c.limits.max_chunk_streams, 64);
    assert_int_equal(c.limits.max_pending_bytes, 16 * 1024 * 1024);
    assert_int_equal(c.limits.max_streams_per_connection, 16);
    assert_int_equal(c.limits.max_name_bytes, 256);
    assert_int_equal(c.limits.handshake_timeout_ms, 10000);
    assert_int_equal(c.limits.idle_timeout_ms, 30000);
    assert_int_equal(c.limits.write_slice_us, 2000);
    assert_int_equal(c.rtmp.chunk_size, 4096);
    assert_int_equal(c.rtmp.window_ack_size, 2500000);
    assert_int_equal(c.rtmp.peer_bandwidth, 2500000);
    assert_int_equal(c.napps, 1);
    assert_string_equal(c.apps[0].name, "live");
    assert_int_equal(c.apps[0].gop.enabled, 1);
    assert_int_equal(c.apps[0].gop.max_frames, 2500);
    assert_int_equal(c.apps[0].gop.max_bytes, 32 * 1024 * 1024);
    assert_int_equal(c.apps[0].queue.max_bytes, 8 * 1024 * 1024);
    assert_int_equal(c.apps[0].queue.max_ms, 5000);
    assert_int_equal(c.apps[0].queue.drop_ms, 1000);
    assert_int_equal(c.apps[0].queue.merge_ms, 0);

    /* An empty file is all defaults. */
    struct rtmpd_config l;
    const char *path = write_conf("empty.conf", "# nothing\n");
    char err[256];
    assert_int_equal(rtmpd_config_load(&l, path, err, sizeof err), 0);
    snprintf(c.path, sizeof c.path, "%s", path);
    assert_config_equal(&l, &c);
}

static void shipped_conf_loads_and_equals_defaults(void **state)
{
    (void)state;
    struct rtmpd_config loaded, want;
    char path[RTMPD_CONFIG_PATH_MAX] = { 0 }, err[512]; /* zeroed: copied whole below */

    if (snprintf(path, sizeof path, "%s/conf/rtmpd.conf", source_dir()) >= (int)sizeof path)
        fail_msg("source directory path too long");
    if (rtmpd_config_load(&loaded, path, err, sizeof err) != 0)
        fail_msg("%s", err);
    rtmpd_config_defaults(&want);
    memcpy(want.path, path, sizeof want.path);
    assert_config_equal(&loaded, &want);
}

static void full_custom_config_round_trips(void **state)
{
    (void)state;
    struct rtmpd_config c, want;

    load_ok(&c,
            "listen = ( \"127.0.0.1:1935\", \"[::1]:19350\", \"*:2935\" );\n"
            "log = { level = \"debug\"; access_log = \"/var/log/rtmpd/access.log\"; };\n"
            "limits = {\n"
            "  max_connections = 500;\n"
            "  max_message_bytes = 1048576;\n"
            "  max_chunk_streams = 10;\n"
            "  max_pending_bytes = 4194304L;\n"
            "  max_streams_per_connection = 2;\n"
            "  max_name_bytes = 128;\n"
            "  handshake_timeout_ms = 5000;\n"
            "  idle_timeout_ms = 60000;\n"
            "  write_slice_us = 0;\n"
            "};\n"
            "rtmp = { chunk_size = 60000; window_ack_size = 5000000; peer_bandwidth = 6000000; };\n"
            "apps = (\n"
            "  { name = \"studio\";\n"
            "    gop_cache = { enabled = false; max_frames = 300; max_bytes = 1000000; };\n"
            "    queue = { max_bytes = 2000000; max_ms = 2000; drop_ms = 400; merge_ms = 20; };\n"
            "  },\n"
            "  { name = \"Edge-1.x_y\"; queue = { merge_ms = 5; };\n"
            "    abr = ( { name = \"cam\"; renditions = [ \"cam_hi\", \"cam/lo\" ]; } );\n"
            "    ladder = ( { suffix = \"lo\"; args = \"-c:v libx264 -b:v 600k\"; },\n"
            "               { suffix = \"mid\"; args = \"-c:v libx264 -b:v 1200k\"; } );\n"
            "    adapt = { headroom_pct = 40; down_ms = 2000; up_ms = 6000; hold_ms = 20000; };\n"
            "  }\n"
            ");\n");

    rtmpd_config_defaults(&want);
    memset(want.apps, 0, sizeof want.apps);
    snprintf(want.path, sizeof want.path, "%s", c.path);
    want.listen.n = 3;
    strcpy(want.listen.v[0], "127.0.0.1:1935");
    strcpy(want.listen.v[1], "[::1]:19350");
    strcpy(want.listen.v[2], "0.0.0.0:2935");
    want.log.level = RTMPD_LOG_DEBUG;
    strcpy(want.log.access_log, "/var/log/rtmpd/access.log");
    want.limits.max_connections = 500;
    want.limits.max_message_bytes = 1048576;
    want.limits.max_chunk_streams = 10;
    want.limits.max_pending_bytes = 4194304;
    want.limits.max_streams_per_connection = 2;
    want.limits.max_name_bytes = 128;
    want.limits.handshake_timeout_ms = 5000;
    want.limits.idle_timeout_ms = 60000;
    want.limits.write_slice_us = 0;
    want.rtmp.chunk_size = 60000;
    want.rtmp.window_ack_size = 5000000;
    want.rtmp.peer_bandwidth = 6000000;
    want.napps = 2;
    strcpy(want.apps[0].name, "studio");
    want.apps[0].gop = (struct rtmpd_gop_conf){ 0, 300, 1000000 };
    want.apps[0].queue = (struct rtmpd_queue_conf){ 2000000, 2000, 400, 20 };
    strcpy(want.apps[1].name, "Edge-1.x_y");
    want.apps[1].gop = (struct rtmpd_gop_conf){ 1, 2500, 32 << 20 };
    want.apps[1].queue = (struct rtmpd_queue_conf){ 8 << 20, 5000, 1000, 5 };
    want.apps[0].adapt = (struct rtmpd_adapt_conf){ 25, 3000, 8000, 15000 };
    want.apps[1].nabr = 1;
    strcpy(want.apps[1].abr[0].name, "cam");
    want.apps[1].abr[0].renditions.n = 2;
    strcpy(want.apps[1].abr[0].renditions.v[0], "cam_hi");
    strcpy(want.apps[1].abr[0].renditions.v[1], "cam/lo");
    want.apps[1].nladder = 2;
    strcpy(want.apps[1].ladder[0].suffix, "lo");
    strcpy(want.apps[1].ladder[0].args, "-c:v libx264 -b:v 600k");
    strcpy(want.apps[1].ladder[1].suffix, "mid");
    strcpy(want.apps[1].ladder[1].args, "-c:v libx264 -b:v 1200k");
    want.apps[1].adapt = (struct rtmpd_adapt_conf){ 40, 2000, 6000, 20000 };
    assert_config_equal(&c, &want);

    /* The default "live" app is replaced, not merged. */
    assert_null(rtmpd_config_app(&c, "live", 4));
    assert_ptr_equal(rtmpd_config_app(&c, "studio", 6), &c.apps[0]);
}

static void unknown_key_at_top_level_is_error(void **state)
{
    (void)state;
    expect_error("listen = [ \"0.0.0.0:1935\" ];\n"
                 "listen_backlog = 511;\n",
                 2, "listen_backlog",
                 "unknown key (valid here: listen, log, limits, rtmp, apps, http)");
    /* A whole unknown section is reported at its own line. */
    expect_error("log = { level = \"info\"; };\n"
                 "\n"
                 "recorder = { path = \"/var/lib/rtmpd\"; };\n",
                 3, "recorder", "unknown key");
}

static void http_lists_are_parsed_and_normalised(void **state)
{
    (void)state;
    struct rtmpd_config c;
    rtmpd_config_defaults(&c);
    assert_int_equal(c.http.listen.n, 1);
    assert_string_equal(c.http.listen.v[0], "127.0.0.1:8080");
    assert_int_equal(c.http.allow.n, 2);
    assert_string_equal(c.http.allow.v[0], "127.0.0.1/32");
    assert_string_equal(c.http.allow.v[1], "::1/128");
    load_ok(&c, "http = { listen = [ ]; allow = [ \"10.0.0.0/8\", \"192.168.1.7\",\n"
                "  \"2001:db8::/32\" ]; token = \"s3cret\"; };\n");
    assert_int_equal(c.http.listen.n, 0);
    assert_int_equal(c.http.allow.n, 3);
    assert_string_equal(c.http.allow.v[0], "10.0.0.0/8");
    assert_string_equal(c.http.allow.v[1], "192.168.1.7/32");
    assert_string_equal(c.http.allow.v[2], "2001:db8::/32");
    assert_string_equal(c.http.token, "s3cret");
    expect_error("http = { allow = [ \"10.0.0.1/8\" ]; };\n", 1, "http.allow[0]",
                 "address has bits set beyond /8");
    expect_error("http = { allow = [ \"10.0.0.0/33\" ]; };\n", 1, "http.allow[0]",
                 "bad prefix length (0..32)");
    expect_error("http = { allow = [ \"example.com/8\" ]; };\n", 1, "http.allow[0]",
                 "is not an IPv4 address");
    expect_error("http = { listen = [ \"127.0.0.1\" ]; };\n", 1, "http.listen[0]",
                 "missing port");
}

static void abr_groups_and_ladder_are_validated(void **state)
{
    (void)state;
    expect_error("apps = ( { name = \"live\";\n"
                 "  abr = ( { name = \"cam\"; renditions = [ ]; } ); } );\n",
                 2, "apps[0].abr[0].renditions", "at least 1 name is required");
    expect_error("apps = ( { name = \"live\";\n"
                 "  abr = ( { name = \"cam\"; renditions = [ \"a\" ]; },\n"
                 "          { name = \"cam\"; renditions = [ \"b\" ]; } ); } );\n",
                 3, "apps[0].abr[1].name", "duplicate group name \"cam\" (first at line 2)");
    expect_error("apps = ( { name = \"live\";\n"
                 "  abr = ( { name = \"cam\"; renditions = [ \"../x\" ]; } ); } );\n",
                 2, "apps[0].abr[0].renditions[0]", "\"../x\": '.' or '..' in stream name");
    expect_error("apps = ( { name = \"live\";\n"
                 "  abr = ( { renditions = [ \"x\" ]; } ); } );\n",
                 2, "apps[0].abr[0].name", "required key is missing");
    expect_error("apps = ( { name = \"live\";\n"
                 "  ladder = ( { suffix = \"lo\"; } ); } );\n",
                 2, "apps[0].ladder[0].args", "required key is missing");
    expect_error("apps = ( { name = \"live\";\n"
                 "  ladder = ( { suffix = \"l o\"; args = \"-b:v 1k\"; } ); } );\n",
                 2, "apps[0].ladder[0].suffix",
                 "\"l o\": invalid character in stream name (1..63 bytes of A-Z a-z 0-9");
}

static void unknown_key_in_section_is_error(void **state)
{
    (void)state;
    expect_error("limits = {\n"
                 "  max_connections = 5;\n"
                 "  max_conections = 5;\n"
                 "};\n",
                 3, "limits.max_conections", "unknown key (valid here: max_connections,");
    expect_error("log = {\n"
                 "  level = \"info\";\n"
                 "  rotate = { size = 1; };\n"
                 "};\n",
                 3, "log.rotate", "unknown key (valid here: level, access_log)");
    /* Case matters. */
    expect_error("rtmp = { Chunk_Size = 4096; };\n", 1, "rtmp.Chunk_Size", "unknown key");
}

static void unknown_key_in_app_is_error(void **state)
{
    (void)state;
    expect_error("apps = (\n"
                 "  { name = \"live\"; },\n"
                 "  { name = \"vod\";\n"
                 "    gop_cache = { enabled = true;\n"
                 "                  max_gops = 3; };\n"
                 "  }\n"
                 ");\n",
                 5, "apps[1].gop_cache.max_gops",
                 "unknown key (valid here: enabled, max_frames, max_bytes)");
    expect_error("apps = ( { name = \"live\";\n"
                 "  recorder = ( { name = \"cam\"; } );\n"
                 "} );\n",
                 2, "apps[0].recorder",
                 "unknown key (valid here: name, publish_notify, gop_cache, queue, abr, ladder, "
                 "adapt)");
}

static void wrong_types_are_errors(void **state)
{
    (void)state;
    expect_error("limits = { max_connections = \"many\"; };\n", 1, "limits.max_connections",
                 "expected an integer, got a string");
    expect_error("rtmp = {\n chunk_size = 4096.0;\n};\n", 2, "rtmp.chunk_size",
                 "expected an integer or a size string such as \"8M\", got a float");
    expect_error("apps = ( { name = \"live\"; queue = { max_ms = \"5s\"; }; } );\n", 1,
                 "apps[0].queue.max_ms", "expected an integer, got a string");
    expect_error("apps = ( { name = \"live\";\n gop_cache = { enabled = 1; }; } );\n", 2,
                 "apps[0].gop_cache.enabled", "expected a boolean (true or false), got an integer");
    expect_error("log = \"info\";\n", 1, "log", "expected a group { ... }, got a string");
    expect_error("log = { level = 3; };\n", 1, "log.level", "expected a string, got an integer");
    expect_error("log = { level = \"verbose\"; };\n", 1, "log.level",
                 "unknown level \"verbose\" (expected error, warn, info or debug)");
    /* A value spanning lines is echoed escaped: the message stays one line. */
    expect_error("log = { level = \"in\nfo\"; };\n", 1, "log.level",
                 "unknown level \"in\\nfo\"");
    expect_error("listen = \"0.0.0.0:1935\";\n", 1, "listen", "expected an array of strings");
    expect_error("listen = [ 1935 ];\n", 1, "listen[0]", "expected a string, got an integer");
    expect_error("apps = { name = \"live\"; };\n", 1, "apps", "expected a list of groups");
    expect_error("apps = ( \"live\" );\n", 1, "apps[0]", "expected a group");
    expect_error("limits = { max_connections = [ 1 ]; };\n", 1, "limits.max_connections",
                 "got an array");
}

static void out_of_range_values_are_errors(void **state)
{
    (void)state;
    struct rtmpd_config c;

    expect_error("rtmp = { chunk_size = 127; };\n", 1, "rtmp.chunk_size",
                 "127 is out of range 128..16777215");
    expect_error("rtmp = { chunk_size = 16777216; };\n", 1, "rtmp.chunk_size",
                 "16777216 is out of range 128..16777215");
    expect_error("limits = { max_chunk_streams = 1; };\n", 1, "limits.max_chunk_streams",
                 "out of range 2..65598");
    expect_error("limits = { max_connections = -1; };\n", 1, "limits.max_connections",
                 "-1 is out of range 1..1000000");
    expect_error("limits = { max_message_bytes = \"128M\"; };\n", 1, "limits.max_message_bytes",
                 "\"128M\" (134217728) is out of range 1024..67108864");
    expect_error("apps = ( { name = \"live\";\n\n queue = { merge_ms = 1001; }; } );\n", 3,
                 "apps[0].queue.merge_ms", "1001 is out of range 0..1000");
    expect_error("limits = { idle_timeout_ms = 0; };\n", 1, "limits.idle_timeout_ms",
                 "out of range");

    /* The bounds themselves are accepted. */
    load_ok(&c, "rtmp = { chunk_size = 128; };\n");
    assert_int_equal(c.rtmp.chunk_size, 128);
    load_ok(&c, "rtmp = { chunk_size = 16777215; };\n"
                "apps = ( { name = \"a\"; queue = { merge_ms = 1000; }; } );\n");
    assert_int_equal(c.rtmp.chunk_size, 16777215);
    assert_int_equal(c.apps[0].queue.merge_ms, 1000);
}

static void cross_field_rules_are_enforced(void **state)
{
    (void)state;
    struct rtmpd_config c;

    /* Blames the key that must be lower when the file sets it... */
    expect_error("apps = ( { name = \"live\";\n"
                 "  queue = { max_ms = 2000;\n"
                 "            drop_ms = 2001; }; } );\n",
                 3, "apps[0].queue.drop_ms", "2001 must not exceed queue.max_ms (2000)");
    /* ...and the other one when only it is set (drop_ms defaults to 1000). */
    expect_error("apps = ( { name = \"live\";\n"
                 "  queue = { max_ms = 500; }; } );\n",
                 2, "apps[0].queue.max_ms", "500 must not be below queue.drop_ms (1000)");
    expect_error("limits = { max_message_bytes = \"16M\";\n max_pending_bytes = \"8M\"; };\n", 1,
                 "limits.max_message_bytes",
                 "16777216 must not exceed limits.max_pending_bytes (8388608)");

    load_ok(&c, "apps = ( { name = \"live\"; queue = { max_ms = 700; drop_ms = 700; }; } );\n");
    assert_int_equal(c.apps[0].queue.drop_ms, 700);
}

static void duplicate_app_name_is_error(void **state)
{
    (void)state;
    expect_error("apps = (\n"
                 "  { name = \"live\"; },\n"
                 "  { name = \"vod\"; },\n"
                 "  { name = \"live\"; }\n"
                 ");\n",
                 4, "apps[2].name", "duplicate app name \"live\" (first at line 2)");
}

static void app_name_is_required_and_validated(void **state)
{
    (void)state;
    struct rtmpd_config c;
    char text[256];

    expect_error("apps = (\n  { name = \"live\"; },\n  { queue = { merge_ms = 1; }; }\n);\n", 3,
                 "apps[1].name", "required key is missing");
    expect_error("apps = ( { name = \"li/ve\"; } );\n", 1, "apps[0].name",
                 "invalid character '/'");
    expect_error("apps = ( { name = \"\"; } );\n", 1, "apps[0].name", "must not be empty");
    expect_error("apps = ( { name = \"..\"; } );\n", 1, "apps[0].name", "not a valid name");
    expect_error("apps = ( { name = \"a b\"; } );\n", 1, "apps[0].name", "invalid character ' '");
    expect_error("apps = ();\n", 1, "apps", "at least 1 app is required");

    /* 63 bytes fit in name[64]; 64 do not. */
    snprintf(text, sizeof text, "apps = ( { name = \"%063d\"; } );\n", 0);
    load_ok(&c, text);
    assert_int_equal(strlen(c.apps[0].name), 63);
    snprintf(text, sizeof text, "apps = ( { name = \"%064d\"; } );\n", 0);
    expect_error(text, 1, "apps[0].name", "too long (64 bytes, at most 63)");
}

/* http.token and http.cors_origin go into or are compared with header
 * values: a control character could split a response into two headers. */
static void http_header_strings_are_validated(void **state)
{
    (void)state;
    struct rtmpd_config c;

    expect_error("http = { cors_origin = \"*\\r\\nSet-Cookie: a=b\"; };\n", 1,
                 "http.cors_origin", "control character 0x0d");
    expect_error("http = { cors_origin = \"https://a.example\\n\"; };\n", 1,
                 "http.cors_origin", "control character 0x0a");
    expect_error("http = { cors_origin = \"a\\tb\"; };\n", 1, "http.cors_origin",
                 "control character 0x09");
    expect_error("http = { cors_origin = \"a\\x7fb\"; };\n", 1, "http.cors_origin",
                 "control character 0x7f");
    expect_error("http = { cors_origin = \"https://\\xc3\\xa9.example\"; };\n", 1,
                 "http.cors_origin", "byte 0xc3");
    expect_error("http = { cors_origin = \" *\"; };\n", 1, "http.cors_origin",
                 "leading or trailing space");
    expect_error("http = {\n  cors_origin = \"* \";\n};\n", 2, "http.cors_origin",
                 "leading or trailing space");
    expect_error("http = { token = \"s3\\r\\nX: y\"; };\n", 1, "http.token",
                 "control character 0x0d");
    expect_error("http = { token = \"ab\\x01\"; };\n", 1, "http.token",
                 "control character 0x01");
    expect_error("http = { token = \"ab\\x7f\"; };\n", 1, "http.token",
                 "control character 0x7f");

    load_ok(&c, "http = { cors_origin = \"https://player.example:8443\"; token = \"a-b.c_d~e+f/g==\"; };\n");
    assert_string_equal(c.http.cors_origin, "https://player.example:8443");
    assert_string_equal(c.http.token, "a-b.c_d~e+f/g==");
    load_ok(&c, "http = { cors_origin = \"\"; token = \"\"; };\n");
    assert_string_equal(c.http.cors_origin, "");
    assert_string_equal(c.http.token, "");
    load_ok(&c, "http = { cors_origin = \"null\"; };\n");
    assert_string_equal(c.http.cors_origin, "null");
}

static void bad_listen_addresses_are_errors(void **state)
{
    (void)state;
    static const struct {
        const char *addr;
        const char *what;
    } bad[] = {
        { "0.0.0.0", "missing port" },
        { "0.0.0.0:", "missing port" },
        { "0.0.0.0:65536", "port 65536 is out of range 0..65535" },
        { "0.0.0.0:193x", "bad port \"193x\"" },
        { "0.0.0.0:+1935", "bad port" },
        { "0.0.0.0:1000000", "bad port" },
        { "::1:1935", "an IPv6 address must be in brackets" },
        { "[::1]1935", "missing port" },
        { "[::1:1935", "missing ']'" },
        { "[127.0.0.1]:1935", "is not an IPv6 address" },
        { "[]:1935", "is not an IPv6 address" },
        { "localhost:1935", "\"localhost\" is not an IPv4 address (host names are not resolved)" },
        { "256.1.1.1:1935", "is not an IPv4 address" },
        { "1.2.3:1935", "is not an IPv4 address" },
        { ":1935", "missing or bad address" },
        { "", "missing port" },
    };
    char text[256];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "listen = [ \"127.0.0.1:1935\",\n  \"%s\" ];\n", bad[i].addr);
        expect_error(text, 2, "listen[1]", bad[i].what);
    }
    expect_error("listen = [ \"*:1935\", \"0.0.0.0:1935\" ];\n", 1, "listen[1]",
                 "duplicate address \"0.0.0.0:1935\" (also listen[0])");
    expect_error("listen = [ ];\n", 1, "listen", "at least 1 address is required");
    expect_error("listen = [ \"1.1.1.1:1\", \"1.1.1.1:2\", \"1.1.1.1:3\", \"1.1.1.1:4\",\n"
                 "  \"1.1.1.1:5\", \"1.1.1.1:6\", \"1.1.1.1:7\", \"1.1.1.1:8\", \"1.1.1.1:9\",\n"
                 "  \"1.1.1.1:10\", \"1.1.1.1:11\", \"1.1.1.1:12\", \"1.1.1.1:13\",\n"
                 "  \"1.1.1.1:14\", \"1.1.1.1:15\", \"1.1.1.1:16\", \"1.1.1.1:17\" ];\n",
                 1, "listen", "too many addresses (17, at most 16)");
}

static void listen_forms_are_accepted_and_normalised(void **state)
{
    (void)state;
    struct rtmpd_config c;

    load_ok(&c, "listen = [ \"*:1935\", \"[::]:1935\", \"[2001:db8::1]:65535\",\n"
                "           \"192.168.0.10:1\", \"[::ffff:10.0.0.1]:80\" ];\n");
    assert_int_equal(c.listen.n, 5);
    assert_string_equal(c.listen.v[0], "0.0.0.0:1935");
    assert_string_equal(c.listen.v[1], "[::]:1935");
    assert_string_equal(c.listen.v[2], "[2001:db8::1]:65535");
    assert_string_equal(c.listen.v[3], "192.168.0.10:1");
    assert_string_equal(c.listen.v[4], "[::ffff:10.0.0.1]:80");
    assert_string_equal(c.listen.v[5], "");
}

static void size_suffixes_and_int64_are_accepted(void **state)
{
    (void)state;
    struct rtmpd_config c;

    load_ok(&c, "limits = { max_message_bytes = \"512K\"; max_pending_bytes = \"1G\"; };\n"
                "rtmp = { chunk_size = \"64k\"; window_ack_size = 2147483647L; };\n"
                "apps = ( { name = \"live\";\n"
                "  gop_cache = { max_bytes = \"32m\"; max_frames = 100L; };\n"
                "  queue = { max_bytes = 8388608L; max_ms = 0x1388; }; } );\n");
    assert_int_equal(c.limits.max_message_bytes, 512 * 1024);
    assert_true(c.limits.max_pending_bytes == UINT64_C(1) << 30);
    assert_int_equal(c.rtmp.chunk_size, 64 * 1024);
    assert_int_equal(c.rtmp.window_ack_size, 2147483647);
    assert_int_equal(c.apps[0].gop.max_bytes, 32 << 20);
    assert_int_equal(c.apps[0].gop.max_frames, 100);
    assert_int_equal(c.apps[0].queue.max_bytes, 8 << 20);
    assert_int_equal(c.apps[0].queue.max_ms, 5000);

    load_ok(&c, "limits = { max_message_bytes = \"1024\"; max_pending_bytes = \"2048\"; };\n");
    assert_int_equal(c.limits.max_message_bytes, 1024);
    assert_int_equal(c.limits.max_pending_bytes, 2048);

    static const char *const bad[] = { "8X", "M", "8 M", "-1K", "8MB", "0x10", "",
                                       "99999999999999999999", "17179869184G" };
    char text[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "limits = {\n  max_pending_bytes = \"%s\"; };\n", bad[i]);
        expect_error(text, 2, "limits.max_pending_bytes", "bad size");
    }
}

static void plain_integer_above_32_bits_is_error_not_wrapped(void **state)
{
    (void)state;
    struct rtmpd_config c;

    /* libconfig 1.5 would read this as 705032704, which is in range. */
    expect_error("apps = ( { name = \"live\";\n"
                 "  gop_cache = { max_bytes = 5000000000; }; } );\n",
                 2, "apps[0].gop_cache.max_bytes", "integer 5000000000 does not fit in 32 bits");
    expect_error("apps = ( { name = \"a\"; }, { name = \"b\"; queue = {\n"
                 "  max_ms = 1; }; }, { name = \"c\";\n"
                 "  queue = { max_bytes = 4294967296; }; } );\n",
                 3, "apps[2].queue.max_bytes", "integer 4294967296 does not fit in 32 bits");
    expect_error("rtmp = { window_ack_size = -2147483649; };\n", 1, "rtmp.window_ack_size",
                 "does not fit in 32 bits");
    expect_error("rtmp = { window_ack_size = 0x100000000; };\n", 1, "rtmp.window_ack_size",
                 "does not fit in 32 bits");
    expect_error("listen = [ \"0.0.0.0:1\" ];\nx = [ 1, 2,\n 3000000000 ];\n", 3, "x[2]",
                 "does not fit in 32 bits");
    /* With L it is read as written, and then it is simply out of range. */
    expect_error("apps = ( { name = \"live\";\n"
                 "  gop_cache = { max_bytes = 5000000000L; }; } );\n",
                 2, "apps[0].gop_cache.max_bytes", "5000000000 is out of range");
    /* Big numbers in comments, strings and floats are not integers. */
    load_ok(&c, "# 5000000000\n/* 6000000000 */ log = { access_log = \"/x/9999999999\"; };\n"
                "// 7000000000\n");
    assert_string_equal(c.log.access_log, "/x/9999999999");
    expect_error("rtmp = { chunk_size = 5000000000.0; };\n", 1, "rtmp.chunk_size", "got a float");
}

static void syntax_error_reports_file_and_line(void **state)
{
    (void)state;
    struct rtmpd_config c;
    char err[512], want[512];
    const char *path = write_conf("syntax.conf", "log = {\n  level = \"info\";\n"
                                                 "};\nlimits = {\n  max_connections = ;\n};\n");

    assert_int_equal(rtmpd_config_load(&c, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:5: syntax error", path);
    assert_string_equal(err, want);

    /* A setting given twice in one group is a parse error too. */
    path = write_conf("twice.conf", "log = {\n  level = \"info\";\n  level = \"warn\";\n};\n");
    assert_int_equal(rtmpd_config_load(&c, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:3: duplicate setting name", path);
    assert_string_equal(err, want);
}

static void included_file_errors_name_the_included_file(void **state)
{
    (void)state;
    struct rtmpd_config c;
    char err[512], want[512], text[256];
    const char *inc = write_conf("inc.conf", "limits = {\n  max_conections = 1;\n};\n");

    snprintf(text, sizeof text, "log = { level = \"warn\"; };\n@include \"%s\"\n", inc);
    const char *path = write_conf("main.conf", text);
    assert_int_equal(rtmpd_config_load(&c, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:2: limits.max_conections: unknown key", inc);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);

    write_conf("inc.conf", "\nlimits = { max_pending_bytes = 4294967296; };\n");
    assert_int_equal(rtmpd_config_load(&c, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:2: limits.max_pending_bytes: integer 4294967296 does not fit",
             inc);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);

    write_conf("inc.conf", "limits = { max_connections = 7; };\n");
    assert_int_equal(rtmpd_config_load(&c, path, err, sizeof err), 0);
    assert_int_equal(c.limits.max_connections, 7);
    assert_int_equal(c.log.level, RTMPD_LOG_WARN);
}

static void failed_load_reports_and_leaves_config_unchanged(void **state)
{
    (void)state;
    struct rtmpd_config c, before;
    char err[512], want[512];

    load_ok(&c, "limits = { max_connections = 42; };\n");
    memcpy(&before, &c, sizeof c);

    snprintf(want, sizeof want, "%s/missing.conf", tmp_dir);
    assert_int_equal(rtmpd_config_load(&c, want, err, sizeof err), -1);
    strcat(want, ": cannot read: No such file or directory");
    assert_string_equal(err, want);

    assert_int_equal(rtmpd_config_load(&c, tmp_dir, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: is a directory", tmp_dir);
    assert_string_equal(err, want);

    /* Fails late (after the listen and limits were read): still untouched. */
    expect_error("listen = [ \"1.2.3.4:5\" ];\nlimits = { max_connections = 1; };\n"
                 "apps = ( { name = \"x\"; }, { name = \"x\"; } );\n",
                 3, "apps[1].name", "duplicate app name");
    const char *bad = write_conf("bad.conf", "listen = [ \"1.2.3.4:5\" ];\n"
                                             "apps = ( { name = \"x\"; }, { name = \"x\"; } );\n");
    assert_int_equal(rtmpd_config_load(&c, bad, err, sizeof err), -1);
    assert_memory_equal(&c, &before, sizeof c);

    /* A short or absent error buffer is fine. */
    assert_int_equal(rtmpd_config_load(&c, bad, err, 8), -1);
    assert_int_equal(strlen(err), 7);
    assert_int_equal(rtmpd_config_load(&c, bad, NULL, 0), -1);
}

static void app_lookup_and_log_level_names(void **state)
{
    (void)state;
    struct rtmpd_config c;
    const char *uri_path = "vod/stream?token=1"; /* names are not NUL-terminated */

    load_ok(&c, "apps = ( { name = \"live\"; }, { name = \"vod\"; }, { name = \"vo\"; } );\n");
    assert_ptr_equal(rtmpd_config_app(&c, uri_path, 3), &c.apps[1]);
    assert_ptr_equal(rtmpd_config_app(&c, uri_path, 2), &c.apps[2]);
    assert_ptr_equal(rtmpd_config_app(&c, "live", 4), &c.apps[0]);
    assert_null(rtmpd_config_app(&c, uri_path, 4));
    assert_null(rtmpd_config_app(&c, "Live", 4));
    assert_null(rtmpd_config_app(&c, "", 0));

    assert_int_equal(rtmpd_log_level_parse("error"), RTMPD_LOG_ERROR);
    assert_int_equal(rtmpd_log_level_parse("warn"), RTMPD_LOG_WARN);
    assert_int_equal(rtmpd_log_level_parse("info"), RTMPD_LOG_INFO);
    assert_int_equal(rtmpd_log_level_parse("debug"), RTMPD_LOG_DEBUG);
    assert_int_equal(rtmpd_log_level_parse("INFO"), -1);
    assert_int_equal(rtmpd_log_level_parse("warning"), -1);
    assert_int_equal(rtmpd_log_level_parse(""), -1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(defaults_match_documented_values),
    cmocka_unit_test(shipped_conf_loads_and_equals_defaults),
    cmocka_unit_test(full_custom_config_round_trips),
    cmocka_unit_test(unknown_key_at_top_level_is_error),
    cmocka_unit_test(unknown_key_in_section_is_error),
    cmocka_unit_test(unknown_key_in_app_is_error),
    cmocka_unit_test(wrong_types_are_errors),
    cmocka_unit_test(out_of_range_values_are_errors),
    cmocka_unit_test(cross_field_rules_are_enforced),
    cmocka_unit_test(duplicate_app_name_is_error),
    cmocka_unit_test(app_name_is_required_and_validated),
    cmocka_unit_test(http_header_strings_are_validated),
    cmocka_unit_test(bad_listen_addresses_are_errors),
    cmocka_unit_test(http_lists_are_parsed_and_normalised),
    cmocka_unit_test(abr_groups_and_ladder_are_validated),
    cmocka_unit_test(listen_forms_are_accepted_and_normalised),
    cmocka_unit_test(size_suffixes_and_int64_are_accepted),
    cmocka_unit_test(plain_integer_above_32_bits_is_error_not_wrapped),
    cmocka_unit_test(syntax_error_reports_file_and_line),
    cmocka_unit_test(included_file_errors_name_the_included_file),
    cmocka_unit_test(failed_load_reports_and_leaves_config_unchanged),
    cmocka_unit_test(app_lookup_and_log_level_names),
};

RTMPD_TEST_MAIN(tests)
