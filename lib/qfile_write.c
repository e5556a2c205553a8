/*
 * qfile_write.c - create, fill and commit a queue file.  The format and
 * the durability argument are in qfile.h.
 */
#include "qfile.h"
#include "durable.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#include <fcntl.h>
#include <sys/stat.h>

#define QFILE_OUTBUF 65536
#define QFILE_ID_TRIES 20

enum wstate { W_ENVELOPE, W_CONTENT, W_TAIL };

struct qfile_writer {
    int fd;
    char *dir;
    char *path;
    char id[QUEUE_ID_SIZE];
    str_t *out;   /* records not yet written to fd */
    str_t *chunk; /* content not yet made into a C record */
    enum wstate state;
    bool have_time;
    bool have_sender;
    bool have_body;
    int err; /* sticky errno from a failed write, 0 if none */
};

static unsigned qfile_tmp_counter;

/* Create dir/tmp.PID.N exclusively; returns fd and the path. */
static int qfile_create_tmp(const char *dir, char **path_r)
{
    for (int i = 0; i < 100; i++) {
        char *p = xasprintf("%s/tmp.%ld.%u", dir, (long)getpid(), qfile_tmp_counter++);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, QFILE_MODE_WRITING);
        if (fd >= 0) {
            *path_r = p;
            return fd;
        }
        int e = errno;
        free(p);
        errno = e;
        if (e != EEXIST)
            return -1;
    }
    return -1;
}

/* Rename the temporary file to a fresh queue ID derived from its inode. */
static int qfile_name_file(qfile_writer_t *w, const char *tmp, char **error_r)
{
    struct stat st;
    if (fstat(w->fd, &st) < 0) {
        *error_r = xasprintf("fstat %s: %s", tmp, strerror(errno));
        return -1;
    }
    for (int i = 0; i < QFILE_ID_TRIES; i++) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        queue_id_make(w->id, &tv, (uint64_t)st.st_ino);
        char *path = qfile_path(w->dir, w->id);
        if (durable_rename_noreplace(tmp, path) == 0) {
            w->path = path;
            return 0;
        }
        int e = errno;
        free(path);
        if (e != EEXIST) {
            *error_r = xasprintf("rename %s to queue ID: %s", tmp, strerror(e));
            return -1;
        }
    }
    *error_r = xasprintf("rename %s: queue ID collision persists", tmp);
    return -1;
}

static void qfile_writer_free(qfile_writer_t **wp)
{
    qfile_writer_t *w = *wp;
    if (w->fd >= 0)
        close(w->fd);
    str_free(&w->out);
    str_free(&w->chunk);
    free(w->dir);
    free(w->path);
    xfree(*wp);
}

/* Write the buffered records to the file (errors are sticky). */
static int qfile_flush_out(qfile_writer_t *w)
{
    if (w->err == 0 && str_len(w->out) > 0 &&
        durable_write_all(w->fd, str_c(w->out), str_len(w->out)) < 0)
        w->err = errno;
    str_reset(w->out);
    return w->err ? -1 : 0;
}

/* Append one record; flushes when the buffer is full. */
static int qfile_put_record(qfile_writer_t *w, int type, const void *d1, size_t n1, const void *d2,
                            size_t n2)
{
    size_t n = size_add(n1, n2);
    if (n > QFILE_RECORD_MAX)
        msg_panic("qfile_put_record: %zu bytes over the record limit", n);
    unsigned char hdr[5] = {(unsigned char)type, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8), (unsigned char)n};
    str_append(w->out, hdr, sizeof(hdr));
    str_append(w->out, d1, n1);
    str_append(w->out, d2, n2);
    if (str_len(w->out) >= QFILE_OUTBUF)
        return qfile_flush_out(w);
    return w->err ? -1 : 0;
}

int qfile_create(const char *dir, qfile_writer_t **w_r, char id_r[QUEUE_ID_SIZE], char **error_r)
{
    char *tmp = NULL;
    int fd = qfile_create_tmp(dir, &tmp);
    if (fd < 0) {
        *error_r = xasprintf("create queue file in %s: %s", dir, strerror(errno));
        return -1;
    }
    qfile_writer_t *w = xcalloc(1, sizeof(*w));
    w->fd = fd;
    w->dir = xstrdup(dir);
    w->out = str_new(QFILE_OUTBUF + 1024);
    w->chunk = str_new(QFILE_CHUNK_SIZE);
    if (qfile_name_file(w, tmp, error_r) < 0) {
        unlink(tmp);
        free(tmp);
        qfile_writer_free(&w);
        return -1;
    }
    free(tmp);
    qfile_put_record(w, QFILE_REC_VERSION, "1", 1, NULL, 0);
    str_lcpy(id_r, w->id, QUEUE_ID_SIZE);
    *w_r = w;
    return 0;
}

const char *qfile_writer_id(const qfile_writer_t *w)
{
    return w->id;
}
const char *qfile_writer_path(const qfile_writer_t *w)
{
    return w->path;
}

/* Common checks: sticky error, and where in the file we are. */
static int qfile_check_state(qfile_writer_t *w, bool envelope_only, const char *what,
                             char **error_r)
{
    if (w->err) {
        *error_r = xasprintf("%s: write error: %s", w->path, strerror(w->err));
        return -1;
    }
    if (envelope_only && w->state != W_ENVELOPE) {
        *error_r = xasprintf("%s: %s after the message content (bug)", w->path, what);
        return -1;
    }
    return 0;
}

static int qfile_check_value(qfile_writer_t *w, const char *what, const char *v, size_t max,
                             char **error_r)
{
    if (strlen(v) > max) {
        *error_r = xasprintf("%s: %s longer than %zu bytes", w->path, what, max);
        return -1;
    }
    return 0;
}

/* Turn buffered content into a C record; leaves the content section. */
static int qfile_flush_chunk(qfile_writer_t *w)
{
    if (str_len(w->chunk) == 0)
        return w->err ? -1 : 0;
    int r = qfile_put_record(w, QFILE_REC_CONTENT, str_c(w->chunk), str_len(w->chunk), NULL, 0);
    str_reset(w->chunk);
    return r;
}

/* Envelope records after the content: close the content section first. */
static int qfile_enter_tail(qfile_writer_t *w)
{
    if (w->state != W_CONTENT)
        return 0;
    w->state = W_TAIL;
    return qfile_flush_chunk(w);
}

int qfile_write_arrival(qfile_writer_t *w, const struct timeval *tv, char **error_r)
{
    if (qfile_check_state(w, true, "arrival time", error_r) < 0)
        return -1;
    if (w->have_time || tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec > 999999) {
        *error_r = xasprintf("%s: bad or repeated arrival time (bug)", w->path);
        return -1;
    }
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%lld.%06ld", (long long)tv->tv_sec, (long)tv->tv_usec);
    w->have_time = true;
    return qfile_put_record(w, QFILE_REC_TIME, buf, (size_t)n, NULL, 0);
}

int qfile_write_sender(qfile_writer_t *w, const char *addr, char **error_r)
{
    if (qfile_check_state(w, true, "sender", error_r) < 0 ||
        qfile_check_value(w, "sender", addr, QFILE_RECORD_MAX, error_r) < 0)
        return -1;
    if (w->have_sender) {
        *error_r = xasprintf("%s: repeated sender (bug)", w->path);
        return -1;
    }
    w->have_sender = true;
    return qfile_put_record(w, QFILE_REC_SENDER, addr, strlen(addr), NULL, 0);
}

/* [a-z][a-z0-9_]*, at most QFILE_ATTR_NAME_MAX bytes. */
static bool qfile_attr_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > QFILE_ATTR_NAME_MAX || name[0] < 'a' || name[0] > 'z')
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

int qfile_write_attr(qfile_writer_t *w, const char *name, const char *value, char **error_r)
{
    if (qfile_check_state(w, false, "attribute", error_r) < 0)
        return -1;
    size_t nlen = strlen(name);
    if (!qfile_attr_name_ok(name, nlen)) {
        *error_r = xasprintf("%s: bad attribute name (bug)", w->path);
        return -1;
    }
    if (qfile_check_value(w, name, value, QFILE_RECORD_MAX - nlen - 1, error_r) < 0)
        return -1;
    if (qfile_enter_tail(w) < 0)
        return qfile_check_state(w, false, name, error_r);
    str_t *d = str_new(nlen + strlen(value) + 1);
    str_append(d, name, nlen);
    str_appendc(d, '=');
    str_appendz(d, value);
    int r = qfile_put_record(w, QFILE_REC_ATTR, str_c(d), str_len(d), NULL, 0);
    str_free(&d);
    return r < 0 ? qfile_check_state(w, false, name, error_r) : 0;
}

/* Write name=value when value is not NULL. */
static int qfile_write_opt_attr(qfile_writer_t *w, const char *name, const char *value,
                                char **error_r)
{
    return value ? qfile_write_attr(w, name, value, error_r) : 0;
}

int qfile_write_client(qfile_writer_t *w, const struct qfile_client *c, char **error_r)
{
    if (qfile_write_opt_attr(w, QFILE_ATTR_CLIENT_NAME, c->name, error_r) < 0 ||
        qfile_write_opt_attr(w, QFILE_ATTR_CLIENT_ADDR, c->addr, error_r) < 0 ||
        qfile_write_opt_attr(w, QFILE_ATTR_CLIENT_PORT, c->port, error_r) < 0 ||
        qfile_write_opt_attr(w, QFILE_ATTR_HELO_NAME, c->helo, error_r) < 0 ||
        qfile_write_opt_attr(w, QFILE_ATTR_PROTOCOL, c->protocol, error_r) < 0 ||
        qfile_write_opt_attr(w, QFILE_ATTR_SASL_METHOD, c->sasl_method, error_r) < 0 ||
        qfile_write_opt_attr(w, QFILE_ATTR_SASL_USERNAME, c->sasl_username, error_r) < 0)
        return -1;
    return 0;
}

int qfile_write_dsn(qfile_writer_t *w, const char *envid, const char *ret, char **error_r)
{
    if (qfile_write_opt_attr(w, QFILE_ATTR_DSN_ENVID, envid, error_r) < 0 ||
        qfile_write_opt_attr(w, QFILE_ATTR_DSN_RET, ret, error_r) < 0)
        return -1;
    return 0;
}

int qfile_write_rcpt(qfile_writer_t *w, const struct qfile_rcpt_spec *r, char **error_r)
{
    if (qfile_check_state(w, false, "recipient", error_r) < 0)
        return -1;
    const char *orcpt = r->orcpt ? r->orcpt : "";
    const char *orig = r->original ? r->original : "";
    size_t alen = strlen(r->address), olen = strlen(orcpt), glen = strlen(orig);
    if (alen == 0 || r->notify > 15 ||
        ((r->notify & QFILE_NOTIFY_NEVER) && r->notify != QFILE_NOTIFY_NEVER)) {
        *error_r = xasprintf("%s: empty recipient or bad NOTIFY (bug)", w->path);
        return -1;
    }
    if (alen + olen + glen + 4 > QFILE_RECORD_MAX) {
        *error_r = xasprintf("%s: recipient record too long", w->path);
        return -1;
    }
    if (qfile_enter_tail(w) < 0)
        return qfile_check_state(w, false, "recipient", error_r);
    str_t *d = str_new(alen + olen + glen + 4);
    str_appendc(d, QFILE_RCPT_PENDING);
    str_appendc(d, "0123456789abcdef"[r->notify]);
    str_append(d, r->address, alen + 1);
    str_append(d, orcpt, olen + 1);
    str_append(d, orig, glen);
    int rc = qfile_put_record(w, QFILE_REC_RCPT, str_c(d), str_len(d), NULL, 0);
    str_free(&d);
    return rc < 0 ? qfile_check_state(w, false, "recipient", error_r) : 0;
}

/* Content may start only once: from the envelope, not after the tail. */
static int qfile_enter_content(qfile_writer_t *w, char **error_r)
{
    if (w->state == W_TAIL) {
        *error_r = xasprintf("%s: content after trailing envelope records (bug)", w->path);
        return -1;
    }
    w->state = W_CONTENT;
    return 0;
}

int qfile_write_content(qfile_writer_t *w, const void *data, size_t len, char **error_r)
{
    if (qfile_check_state(w, false, "content", error_r) < 0 || qfile_enter_content(w, error_r) < 0)
        return -1;
    const char *p = data;
    while (len > 0) {
        size_t room = QFILE_CHUNK_SIZE - str_len(w->chunk);
        size_t n = len < room ? len : room;
        str_append(w->chunk, p, n);
        p += n;
        len -= n;
        if (str_len(w->chunk) == QFILE_CHUNK_SIZE && qfile_flush_chunk(w) < 0)
            return qfile_check_state(w, false, "content", error_r);
    }
    return 0;
}

int qfile_write_body_marker(qfile_writer_t *w, char **error_r)
{
    if (qfile_check_state(w, false, "body marker", error_r) < 0 ||
        qfile_enter_content(w, error_r) < 0)
        return -1;
    if (w->have_body) {
        *error_r = xasprintf("%s: repeated body marker (bug)", w->path);
        return -1;
    }
    w->have_body = true;
    if (qfile_flush_chunk(w) < 0 || qfile_put_record(w, QFILE_REC_BODY, NULL, 0, NULL, 0) < 0)
        return qfile_check_state(w, false, "body marker", error_r);
    return 0;
}

/*
 * End marker, flush, mark complete, fsync, fsync the directory.  The mode
 * changes before the fsync so that the fsync makes it durable with the
 * data: after the directory fsync nothing of the file is left to chance
 * (on a file system without a journal a later fsync of the directory
 * would not write the file's inode).
 */
static int qfile_finish(qfile_writer_t *w, char **error_r)
{
    if (!w->have_time || !w->have_sender) {
        *error_r = xasprintf("%s: commit without arrival time or sender (bug)", w->path);
        return -1;
    }
    if (qfile_flush_chunk(w) < 0 || qfile_put_record(w, QFILE_REC_END, NULL, 0, NULL, 0) < 0 ||
        qfile_flush_out(w) < 0)
        return qfile_check_state(w, false, "end", error_r);
    const char *step = "chmod";
    if (fchmod(w->fd, QFILE_MODE_COMPLETE) < 0)
        goto fail;
    step = "fsync";
    if (fsync(w->fd) < 0)
        goto fail;
    step = "close";
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) < 0)
        goto fail;
    step = "fsync directory of";
    if (durable_fsync_dir(w->dir) < 0)
        goto fail;
    return 0;
fail:
    *error_r = xasprintf("%s %s: %s", step, w->path, strerror(errno));
    return -1;
}

int qfile_commit(qfile_writer_t **wp, char **error_r)
{
    if (qfile_finish(*wp, error_r) < 0) {
        qfile_abort(wp);
        return -1;
    }
    qfile_writer_free(wp);
    return 0;
}

void qfile_abort(qfile_writer_t **wp)
{
    if (*wp == NULL)
        return;
    if ((*wp)->path)
        unlink((*wp)->path);
    qfile_writer_free(wp);
}
