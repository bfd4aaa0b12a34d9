/*
 * rtmpd — command line, configuration, signals, and the loop.
 */
#include <ev.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef RTMPD_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "rtmpd/config.h"
#include "rtmpd/log.h"
#include "rtmpd/server.h"

#define DEFAULT_CONFIG "conf/rtmpd.conf"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rtmpd [-c FILE] [-l ADDR:PORT]... [-t] [-V] [-h]\n"
            "  -c FILE       configuration file (default %s)\n"
            "  -l ADDR:PORT  listen here instead of the configured addresses\n"
            "                (repeatable; [v6addr]:port for IPv6, port 0 for any free port)\n"
            "  -t            check the configuration and exit (0 valid, 1 invalid)\n"
            "  -V            print the version and exit\n"
            "  -h            print this help and exit\n",
            DEFAULT_CONFIG);
}

int main(int argc, char **argv)
{
    const char *config_path = DEFAULT_CONFIG;
    const char *listen[RTMPD_CONFIG_MAX_LISTEN];
    uint32_t nlisten = 0;
    int test_only = 0;
    int opt;

    while ((opt = getopt(argc, argv, "c:l:tVh")) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'l':
            if (nlisten == RTMPD_CONFIG_MAX_LISTEN) {
                fprintf(stderr, "rtmpd: at most %d -l options\n", RTMPD_CONFIG_MAX_LISTEN);
                return 1;
            }
            if (strlen(optarg) >= RTMPD_CONFIG_ADDR_MAX) {
                fprintf(stderr, "rtmpd: -l %s: address too long\n", optarg);
                return 1;
            }
            listen[nlisten++] = optarg;
            break;
        case 't':
            test_only = 1;
            break;
        case 'V':
            printf("rtmpd %s\n", RTMPD_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rtmpd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 1;
    }

    static struct rtmpd_config cfg;
    char err[512];
    if (rtmpd_config_load(&cfg, config_path, err, sizeof err) < 0) {
        fprintf(stderr, "rtmpd: %s\n", err);
        return 1;
    }
    if (nlisten) {
        memset(&cfg.listen, 0, sizeof cfg.listen);
        for (uint32_t i = 0; i < nlisten; i++) {
            char why[256];
            if (rtmpd_config_parse_listen(listen[i], cfg.listen.v[i], sizeof cfg.listen.v[i], why,
                                          sizeof why) < 0) {
                fprintf(stderr, "rtmpd: -l %s\n", why);
                return 1;
            }
        }
        cfg.listen.n = nlisten;
    }
    if (rtmpd_config_check_listeners(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "rtmpd: %s: %s\n", config_path, err);
        return 1;
    }
    /* Opened for -t too (created if missing), as a start would. */
    if (rtmpd_log_open_access(cfg.log.access_log) < 0) {
        fprintf(stderr, "rtmpd: %s: log.access_log \"%s\": %m\n", config_path, cfg.log.access_log);
        return 1;
    }
    if (test_only) {
        rtmpd_log_close();
        printf("rtmpd: configuration %s is valid\n", config_path);
        return 0;
    }

    rtmpd_log_set_level(cfg.log.level);

    struct ev_loop *loop = ev_default_loop(EVBACKEND_EPOLL | EVFLAG_NOENV);
    if (!loop)
        loop = ev_default_loop(0);
    static struct rtmpd_server srv;
    if (rtmpd_server_init(&srv, loop, &cfg) < 0)
        return 1;
    log_info(0, "rtmpd %s started (config %s)", RTMPD_VERSION, config_path);
#ifdef RTMPD_HAVE_SYSTEMD
    sd_notify(0, "READY=1");
#endif
    rtmpd_server_run(&srv);
#ifdef RTMPD_HAVE_SYSTEMD
    sd_notify(0, "STOPPING=1");
#endif
    rtmpd_server_release(&srv);
    log_info(0, "rtmpd stopped");
    rtmpd_log_close();
    ev_loop_destroy(loop);
    return 0;
}
