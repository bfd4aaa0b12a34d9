#include "rtmpd/ladder.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rtmpd/config.h"
#include "rtmpd/list.h"
#include "rtmpd/log.h"
#include "rtmpd/server.h"

extern char **environ;

/* ffmpeg and 6 input options come before the step's args; 3 output
 * arguments and NULL after. */
#define ARGS_BEFORE 7
#define MAX_ARGS (ARGS_BEFORE + RTMPD_LADDER_MAX_ARGS + 4)
#define BACKOFF_MIN_MS 1000u
#define BACKOFF_MAX_MS 30000u
/* A child that ran this long is healthy: its next death restarts fast. */
#define HEALTHY_US 30000000u
/* SIGKILL a stopping child that did not exit after SIGTERM within this. */
#define KILL_AFTER 3.0

struct ladder_child {
    struct rtmpd_ladder *l;
    const struct rtmpd_ladder_step *step;
    pid_t pid;
    ev_child cw;
    ev_io errw;
    int errfd;
    ev_timer timer;           /* restart backoff, or SIGKILL after SIGTERM */
    uint32_t backoff_ms;
    uint64_t started_us;
    char out[2 * RTMPD_CONFIG_NAME_MAX + 1];
    char line[512];
    size_t line_len;
};

struct rtmpd_ladder {
    struct rtmpd_server *srv;
    struct rtmpd_list link;   /* server's ladders */
    char url[256];            /* rtmp://127.0.0.1:PORT/APP/ */
    char src[RTMPD_CONFIG_NAME_MAX];
    uint8_t stopping;
    uint32_t nchildren;
    uint32_t alive;
    struct ladder_child children[RTMPD_CONFIG_MAX_LADDER];
};

static void child_spawn(struct ladder_child *k);

/* rtmp://HOST:PORT/ of the first RTMP listener, reachable from here. */
static int local_url(struct rtmpd_server *srv, char *out, size_t len)
{
    for (uint32_t i = 0; i < srv->nlisteners; i++) {
        const struct rtmpd_listener *l = &srv->listeners[i];
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        char host[INET6_ADDRSTRLEN];
        if (l->kind != RTMPD_LISTEN_RTMP || l->fd < 0 ||
            getsockname(l->fd, (struct sockaddr *)&ss, &sl) < 0)
            continue;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            if (in->sin_addr.s_addr == htonl(INADDR_ANY))
                in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
            snprintf(out, len, "rtmp://%s:%u/", host, ntohs(in->sin_port));
        } else {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
                in6->sin6_addr = in6addr_loopback;
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
            snprintf(out, len, "rtmp://[%s]:%u/", host, ntohs(in6->sin6_port));
        }
        return 0;
    }
    return -1;
}

/* Stops reading a child's stderr (after reading what is left). */
static void child_close_err(struct ladder_child *k)
{
    if (k->errfd < 0)
        return;
    ev_io_stop(k->l->srv->loop, &k->errw);
    close(k->errfd);
    k->errfd = -1;
}

static void ladder_maybe_free(struct rtmpd_ladder *l)
{
    if (!l->stopping || l->alive)
        return;
    for (uint32_t i = 0; i < l->nchildren; i++)
        ev_timer_stop(l->srv->loop, &l->children[i].timer);
    rtmpd_list_remove(&l->link);
    free(l);
}

/* Lines of a child's stderr go to the log, tagged with its output. */
static void child_err_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct ladder_child *k = w->data;
    char buf[1024];
    ssize_t n = read(k->errfd, buf, sizeof buf);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        child_close_err(k);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n' || buf[i] == '\r' || k->line_len == sizeof k->line - 1) {
            if (k->line_len) {
                k->line[k->line_len] = '\0';
                log_warn(0, "ladder %s: ffmpeg: %s", k->out, k->line);
                k->line_len = 0;
            }
            if (buf[i] == '\n' || buf[i] == '\r')
                continue;
        }
        k->line[k->line_len++] = buf[i];
    }
}

static void child_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct ladder_child *k = w->data;
    if (k->l->stopping) {
        if (k->pid > 0) {
            log_warn(0, "ladder %s: ffmpeg (pid %d) ignored SIGTERM: killing it", k->out, k->pid);
            kill(k->pid, SIGKILL);
        }
        return;
    }
    child_spawn(k);
}

static void child_exit_cb(struct ev_loop *loop, ev_child *w, int revents)
{
    (void)revents;
    struct ladder_child *k = w->data;
    struct rtmpd_ladder *l = k->l;
    int st = w->rstatus;
    ev_child_stop(loop, w);
    if (k->errfd >= 0)
        child_err_cb(loop, &k->errw, EV_READ); /* its last words */
    child_close_err(k);
    k->pid = 0;
    l->alive--;
    if (l->stopping) {
        log_info(0, "ladder %s: ffmpeg stopped", k->out);
        ev_timer_stop(loop, &k->timer);
        ladder_maybe_free(l);
        return;
    }
    uint64_t ran = rtmpd_server_now_us(l->srv) - k->started_us;
    if (ran > HEALTHY_US)
        k->backoff_ms = BACKOFF_MIN_MS;
    char how[64];
    if (WIFEXITED(st))
        snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(st));
    else
        snprintf(how, sizeof how, "was killed by signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    log_warn(0, "ladder %s: ffmpeg %s after %.1f s; restarting in %.1f s", k->out, how,
             ran / 1e6, k->backoff_ms / 1000.0);
    ev_timer_set(&k->timer, k->backoff_ms / 1000.0, 0.);
    ev_timer_start(loop, &k->timer);
    k->backoff_ms = k->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : k->backoff_ms * 2;
}

/* Builds argv: ffmpeg -i SRC ARGS... -f flv OUT. `scratch` holds the split
 * args. Returns the argument count, or -1 when there are too many. */
static int build_argv(const struct ladder_child *k, char *scratch, size_t scratch_len,
                      char *src_url, char *out_url, char **argv)
{
    int n = 0;
    argv[n++] = "ffmpeg";
    argv[n++] = "-nostdin";
    argv[n++] = "-hide_banner";
    argv[n++] = "-loglevel";
    argv[n++] = "warning";
    argv[n++] = "-i";
    argv[n++] = src_url;
    snprintf(scratch, scratch_len, "%s", k->step->args);
    for (char *save = NULL, *t = strtok_r(scratch, " \t", &save); t;
         t = strtok_r(NULL, " \t", &save)) {
        if (n >= ARGS_BEFORE + RTMPD_LADDER_MAX_ARGS)
            return -1;
        argv[n++] = t;
    }
    argv[n++] = "-f";
    argv[n++] = "flv";
    argv[n++] = out_url;
    argv[n] = NULL;
    return n;
}

static void child_spawn(struct ladder_child *k)
{
    struct rtmpd_ladder *l = k->l;
    struct ev_loop *loop = l->srv->loop;
    char scratch[RTMPD_CONFIG_ARGS_MAX], src_url[512], out_url[512];
    char *argv[MAX_ARGS];
    int pipefd[2];

    snprintf(src_url, sizeof src_url, "%s%s", l->url, l->src);
    snprintf(out_url, sizeof out_url, "%s%s", l->url, k->out);
    if (build_argv(k, scratch, sizeof scratch, src_url, out_url, argv) < 0) {
        log_error(0, "ladder %s: too many ffmpeg arguments", k->out);
        return;
    }
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        log_error(0, "ladder %s: pipe: %s", k->out, strerror(errno));
        return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        log_error(0, "ladder %s: cannot start ffmpeg: %s; retrying in %.1f s", k->out,
                  strerror(rc), k->backoff_ms / 1000.0);
        ev_timer_set(&k->timer, k->backoff_ms / 1000.0, 0.);
        ev_timer_start(loop, &k->timer);
        k->backoff_ms = k->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : k->backoff_ms * 2;
        return;
    }
    fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    k->pid = pid;
    k->errfd = pipefd[0];
    k->started_us = rtmpd_server_now_us(l->srv);
    k->line_len = 0;
    l->alive++;
    ev_child_set(&k->cw, pid, 0);
    ev_child_start(loop, &k->cw);
    ev_io_set(&k->errw, k->errfd, EV_READ);
    ev_io_start(loop, &k->errw);
    log_info(0, "ladder %s: started ffmpeg (pid %d) from %s", k->out, pid, l->src);
}

struct rtmpd_ladder *rtmpd_ladder_start(struct rtmpd_server *srv, const struct rtmpd_app_conf *app,
                                        const char *name, size_t name_len)
{
    if (!app->nladder || name_len >= RTMPD_CONFIG_NAME_MAX)
        return NULL;
    struct rtmpd_ladder *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->srv = srv;
    if (local_url(srv, l->url, sizeof l->url - RTMPD_CONFIG_NAME_MAX) < 0) {
        log_error(0, "ladder for %s/%.*s: no RTMP listener to pull from", app->name,
                  (int)name_len, name);
        free(l);
        return NULL;
    }
    strncat(l->url, app->name, sizeof l->url - strlen(l->url) - 2);
    strcat(l->url, "/");
    memcpy(l->src, name, name_len);
    l->src[name_len] = '\0';
    rtmpd_list_insert_tail(&srv->ladders, &l->link);
    l->nchildren = app->nladder;
    for (uint32_t i = 0; i < app->nladder; i++) {
        struct ladder_child *k = &l->children[i];
        k->l = l;
        k->step = &app->ladder[i];
        k->errfd = -1;
        k->backoff_ms = BACKOFF_MIN_MS;
        snprintf(k->out, sizeof k->out, "%s_%s", l->src, k->step->suffix);
        ev_init(&k->cw, child_exit_cb);
        ev_init(&k->errw, child_err_cb);
        ev_init(&k->timer, child_timer_cb);
        k->cw.data = k->errw.data = k->timer.data = k;
        child_spawn(k);
    }
    return l;
}

void rtmpd_ladder_stop(struct rtmpd_ladder *l)
{
    if (!l || l->stopping)
        return;
    l->stopping = 1;
    for (uint32_t i = 0; i < l->nchildren; i++) {
        struct ladder_child *k = &l->children[i];
        ev_timer_stop(l->srv->loop, &k->timer);
        if (k->pid > 0) {
            kill(k->pid, SIGTERM);
            ev_timer_set(&k->timer, KILL_AFTER, 0.);
            ev_timer_start(l->srv->loop, &k->timer);
        }
    }
    ladder_maybe_free(l);
}

void rtmpd_ladder_shutdown(struct rtmpd_server *srv)
{
    while (!rtmpd_list_empty(&srv->ladders)) {
        struct rtmpd_ladder *l = rtmpd_container_of(srv->ladders.next, struct rtmpd_ladder, link);
        for (uint32_t i = 0; i < l->nchildren; i++) {
            struct ladder_child *k = &l->children[i];
            ev_timer_stop(srv->loop, &k->timer);
            ev_child_stop(srv->loop, &k->cw);
            child_close_err(k);
            if (k->pid > 0) {
                kill(k->pid, SIGKILL);
                waitpid(k->pid, NULL, 0);
            }
        }
        rtmpd_list_remove(&l->link);
        free(l);
    }
}
