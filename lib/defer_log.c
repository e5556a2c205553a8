/*
 * defer_log.c - the per-message deferral log (defer_log.h).
 */
#include "defer_log.h"

#include "attr.h"
#include "mem.h"
#include "str.h"

#include <fcntl.h>
#include <limits.h>

/* Bounds on reading a log: a reason is at most a few KB. */
static const struct attr_limits defer_limits = {
    .max_name = 16,
    .max_value = 4096,
    .max_attrs = 16,
};

void defer_log_add(struct defer_log *log, const char *rcpt, const char *orig_rcpt, const char *dsn,
                   const char *reason, time_t when)
{
    struct defer_entry *e = (struct defer_entry *)defer_log_find(log, rcpt);
    if (e == NULL) {
        log->v = xreallocarray(log->v, size_add(log->n, 1), sizeof(*log->v));
        e = &log->v[log->n++];
        e->rcpt = xstrdup(rcpt);
    } else {
        free(e->orig_rcpt);
        free(e->dsn);
        free(e->reason);
    }
    e->orig_rcpt = xstrdup(orig_rcpt != NULL ? orig_rcpt : "");
    e->dsn = xstrdup(dsn);
    e->reason = xstrdup(reason);
    e->when = when;
}

const struct defer_entry *defer_log_find(const struct defer_log *log, const char *rcpt)
{
    for (size_t i = 0; i < log->n; i++)
        if (strcmp(log->v[i].rcpt, rcpt) == 0)
            return &log->v[i];
    return NULL;
}

void defer_log_clear(struct defer_log *log)
{
    for (size_t i = 0; i < log->n; i++) {
        free(log->v[i].rcpt);
        free(log->v[i].orig_rcpt);
        free(log->v[i].dsn);
        free(log->v[i].reason);
    }
    xfree(log->v);
    log->n = 0;
    log->warned = 0;
}

char *defer_log_path(const char *queue_dir, const char *id)
{
    return xasprintf("%s/%s/%s", queue_dir, DEFER_LOG_DIR, id);
}

static void write_records(stream_t *s, const struct defer_log *log)
{
    if (log->warned != 0) {
        attr_put_int(s, "warned", (long long)log->warned);
        attr_end(s);
    }
    for (size_t i = 0; i < log->n; i++) {
        const struct defer_entry *e = &log->v[i];
        attr_put_str(s, "rcpt", e->rcpt);
        attr_put_str(s, "orig_rcpt", e->orig_rcpt);
        attr_put_str(s, "dsn", e->dsn);
        attr_put_str(s, "reason", e->reason);
        attr_put_int(s, "time", (long long)e->when);
        attr_end(s);
    }
}

int defer_log_write(const char *queue_dir, const char *id, const struct defer_log *log,
                    char **error_r)
{
    char *path = defer_log_path(queue_dir, id);
    char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = -1;
    if (fd < 0) {
        *error_r = xasprintf("create %s: %s", tmp, strerror(errno));
        goto out;
    }
    stream_t *s = stream_open_fd(fd, STREAM_OWN_FD);
    write_records(s, log);
    int st = stream_flush(s);
    if (st != STREAM_OK || fsync(fd) < 0) {
        *error_r = xasprintf("write %s: %s", tmp,
                             st != STREAM_OK ? stream_strstatus(st) : strerror(errno));
        stream_close(&s);
        unlink(tmp);
        goto out;
    }
    stream_close(&s);
    if (rename(tmp, path) < 0) {
        *error_r = xasprintf("rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    free(path);
    return rc;
}

/* One record into log; 0, or -1 with *error_r. */
static int read_record(struct attr_list *l, struct defer_log *log, char **error_r)
{
    const char *rcpt, *orig, *dsn, *reason;
    long long when;
    if (attr_find(l, "warned") != NULL) {
        if (attr_get_int_range(l, "warned", 0, LLONG_MAX, &when) < 0)
            goto bad;
        log->warned = (time_t)when;
        return 0;
    }
    if (attr_get_str(l, "rcpt", &rcpt) < 0 || attr_get_str_opt(l, "orig_rcpt", "", &orig) < 0 ||
        attr_get_str(l, "dsn", &dsn) < 0 || attr_get_str(l, "reason", &reason) < 0 ||
        attr_get_int_range(l, "time", 0, LLONG_MAX, &when) < 0)
        goto bad;
    defer_log_add(log, rcpt, orig, dsn, reason, (time_t)when);
    return 0;
bad:
    *error_r = xstrdup(attr_error(l));
    return -1;
}

int defer_log_read(const char *queue_dir, const char *id, struct defer_log *log, char **error_r)
{
    defer_log_clear(log);
    char *path = defer_log_path(queue_dir, id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = errno == ENOENT ? 0 : -1;
        if (rc < 0)
            *error_r = xasprintf("open %s: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    stream_t *s = stream_open_fd(fd, STREAM_OWN_FD);
    struct attr_list *l = attr_list_new();
    const char *err;
    int rc;
    char *why = NULL;
    while ((rc = attr_read(s, l, &defer_limits, &err)) == 0 && read_record(l, log, &why) == 0)
        ;
    if (rc == ATTR_EOF) {
        rc = 1;
    } else {
        *error_r = xasprintf("%s: %s", path, why != NULL ? why : err);
        defer_log_clear(log);
        rc = -1;
    }
    free(why);
    attr_list_free(&l);
    stream_close(&s);
    free(path);
    return rc;
}

int defer_log_remove(const char *queue_dir, const char *id)
{
    char *path = defer_log_path(queue_dir, id);
    int rc = unlink(path) < 0 && errno != ENOENT ? -1 : 0;
    free(path);
    return rc;
}
