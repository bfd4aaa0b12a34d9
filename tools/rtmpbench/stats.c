/*
 * rtmpbench — clock, fixed-memory histograms, URL parsing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <netdb.h>

#include "bench.h"

int64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double bench_cpu_seconds(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/*
 * Bucket of v: values below 2^(SUB+1) are their own bucket; above, with
 * s = msb - SUB, bucket 2^SUB * s + (v >> s) (the top SUB+1 bits of v).
 */
static size_t hist_index(uint64_t v)
{
    if (v < (2u << HIST_SUB_BITS))
        return (size_t)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned s = msb - HIST_SUB_BITS;
    size_t i = ((size_t)s << HIST_SUB_BITS) + (size_t)(v >> s);
    return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

/* Lowest value of bucket i and its width. */
static void hist_bucket(size_t i, uint64_t *lo, uint64_t *width)
{
    if (i < (2u << HIST_SUB_BITS)) {
        *lo = i;
        *width = 1;
        return;
    }
    unsigned s = (unsigned)(i >> HIST_SUB_BITS) - 1;
    *lo = (uint64_t)(i - ((size_t)s << HIST_SUB_BITS)) << s;
    *width = (uint64_t)1 << s;
}

void hist_add(struct hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

void hist_merge(struct hist *into, const struct hist *from)
{
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->max > into->max)
        into->max = from->max;
}

void hist_clear(struct hist *h)
{
    memset(h, 0, sizeof *h);
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (!h->count)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t lo, width;
            hist_bucket(i, &lo, &width);
            uint64_t v = lo + width / 2;
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

int url_parse(struct rtmp_url *u, const char *s, char *err, size_t errlen)
{
    const char *p, *host, *host_end, *slash;
    size_t n;

    memset(u, 0, sizeof *u);
    if (strncmp(s, "rtmp://", 7) != 0) {
        snprintf(err, errlen, "%s: only rtmp:// URLs are supported", s);
        return -1;
    }
    p = s + 7;
    slash = strchr(p, '/');
    if (!slash) {
        snprintf(err, errlen, "%s: no application in the URL", s);
        return -1;
    }
    host = p;
    host_end = slash;
    if (*host == '[') {                    /* [v6]:port */
        const char *rb = memchr(host, ']', (size_t)(slash - host));
        if (!rb) {
            snprintf(err, errlen, "%s: bad IPv6 host", s);
            return -1;
        }
        n = (size_t)(rb - host - 1);
        if (n == 0 || n >= sizeof u->host)
            goto bad_host;
        memcpy(u->host, host + 1, n);
        p = rb + 1;
    } else {
        const char *colon = memchr(host, ':', (size_t)(slash - host));
        host_end = colon ? colon : slash;
        n = (size_t)(host_end - host);
        if (n == 0 || n >= sizeof u->host)
            goto bad_host;
        memcpy(u->host, host, n);
        p = host_end;
    }
    if (*p == ':') {
        n = (size_t)(slash - p - 1);
        if (n == 0 || n >= sizeof u->port || strspn(p + 1, "0123456789") < n) {
            snprintf(err, errlen, "%s: bad port", s);
            return -1;
        }
        memcpy(u->port, p + 1, n);
    } else if (p != slash) {
        goto bad_host;
    } else {
        strcpy(u->port, "1935");
    }

    /* app is the first path element, the stream name everything after it. */
    const char *app = slash + 1;
    const char *app_end = strchr(app, '/');
    if (!app_end || app_end == app || !app_end[1]) {
        snprintf(err, errlen, "%s: expected rtmp://host[:port]/app/name", s);
        return -1;
    }
    n = (size_t)(app_end - app);
    if (n >= sizeof u->app || strlen(app_end + 1) >= sizeof u->name) {
        snprintf(err, errlen, "%s: app or name too long", s);
        return -1;
    }
    memcpy(u->app, app, n);
    strcpy(u->name, app_end + 1);
    if (strchr(u->host, ':'))
        snprintf(u->tcurl, sizeof u->tcurl, "rtmp://[%s]:%s/%s", u->host, u->port, u->app);
    else
        snprintf(u->tcurl, sizeof u->tcurl, "rtmp://%s:%s/%s", u->host, u->port, u->app);
    return 0;

bad_host:
    snprintf(err, errlen, "%s: bad host", s);
    return -1;
}

int url_resolve(struct rtmp_url *u, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "%s: %s", u->host, rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    memcpy(&u->sa, res->ai_addr, res->ai_addrlen);
    u->salen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}
