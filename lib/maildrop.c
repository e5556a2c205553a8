/*
 * maildrop.c - the sendmail -> terndrop request and its checks
 * (maildrop.h).  terndrop runs with the maildrop group, so everything
 * read here is untrusted: bounded records, strict values.
 */
#include "sys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "addr.h"
#include "attr.h"
#include "durable.h"
#include "maildrop.h"
#include "mem.h"
#include "qfile.h"

void maildrop_request_add_rcpt(struct maildrop_request *r, const char *addr)
{
    r->rcpts = xreallocarray(r->rcpts, r->rcpt_count + 1, sizeof(*r->rcpts));
    r->rcpts[r->rcpt_count++] = xstrdup(addr);
}

void maildrop_request_clear(struct maildrop_request *r)
{
    for (size_t i = 0; i < r->rcpt_count; i++)
        free(r->rcpts[i]);
    free(r->rcpts);
    free(r->sender);
    free(r->full_name);
    free(r->envid);
    free(r->ret);
    free(r->notify);
    memset(r, 0, sizeof(*r));
}

int maildrop_request_write(stream_t *s, const struct maildrop_request *r)
{
    attr_put_str(s, "request", "submit");
    attr_put_str(s, "sender", r->sender ? r->sender : "");
    if (r->full_name)
        attr_put_str(s, "full_name", r->full_name);
    attr_put_int(s, "extract_recipients", r->extract_recipients ? 1 : 0);
    if (r->envid)
        attr_put_str(s, "envid", r->envid);
    if (r->ret)
        attr_put_str(s, "ret", r->ret);
    if (r->notify)
        attr_put_str(s, "notify", r->notify);
    for (size_t i = 0; i < r->rcpt_count; i++)
        attr_put_str(s, "rcpt", r->rcpts[i]);
    return attr_end(s);
}

char *maildrop_addr_check(const char *addr, bool sender, char **error_r)
{
    if (sender && *addr == '\0')
        return xstrdup("");
    if (*addr == '\0') {
        *error_r = xstrdup("empty recipient address");
        return NULL;
    }
    if (strlen(addr) > ADDR_PATH_MAX) {
        *error_r = xstrdup("address too long");
        return NULL;
    }
    char *path = xasprintf("<%s>", addr);
    struct addr_path p;
    char *err = NULL;
    char *canon = NULL;
    int flags =
        (sender ? ADDR_F_MAIL : 0) | (addr_utf8_valid(addr, strlen(addr)) ? ADDR_F_SMTPUTF8 : 0);
    if (addr_parse_path(path, strlen(path), flags, &p, &err) < 0) {
        str_t *s = str_new(64);
        str_appendz(s, "bad address <");
        str_append_printable(s, addr, strlen(addr), 200);
        str_appendf(s, ">: %s", err ? err : "syntax error");
        *error_r = str_steal(&s);
    } else if (p.params_len > 0 || p.source_route || p.null_sender) {
        *error_r = xstrdup("unexpected text in address");
        addr_path_free(&p);
    } else {
        canon = xstrdup(p.addr);
        addr_path_free(&p);
    }
    free(err);
    free(path);
    return canon;
}

int maildrop_notify_bits(const char *text, unsigned *bits_r)
{
    unsigned a = 0;
    char *err = NULL;
    if (addr_param_notify(text, &a, &err) < 0) {
        free(err);
        return -1;
    }
    unsigned b = 0;
    if (a & ADDR_NOTIFY_NEVER)
        b |= QFILE_NOTIFY_NEVER;
    if (a & ADDR_NOTIFY_SUCCESS)
        b |= QFILE_NOTIFY_SUCCESS;
    if (a & ADDR_NOTIFY_FAILURE)
        b |= QFILE_NOTIFY_FAILURE;
    if (a & ADDR_NOTIFY_DELAY)
        b |= QFILE_NOTIFY_DELAY;
    *bits_r = b;
    return 0;
}

char *maildrop_notify_text(unsigned bits)
{
    if (bits == 0)
        return NULL;
    if (bits & QFILE_NOTIFY_NEVER)
        return xstrdup("NEVER");
    str_t *s = str_new(32);
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{QFILE_NOTIFY_SUCCESS, "SUCCESS"},
                 {QFILE_NOTIFY_FAILURE, "FAILURE"},
                 {QFILE_NOTIFY_DELAY, "DELAY"}};
    for (size_t i = 0; i < N_ELEMENTS(names); i++)
        if (bits & names[i].bit)
            str_appendf(s, "%s%s", str_len(s) ? "," : "", names[i].name);
    return str_steal(&s);
}

/* An optional string attribute, copied; -1 when repeated or holding NUL. */
static int maildrop_opt(struct attr_list *l, const char *name, char **out)
{
    const char *v = NULL;
    if (attr_find(l, name) == NULL)
        return 0;
    if (attr_get_str(l, name, &v) < 0)
        return -1;
    *out = xstrdup(v);
    return 0;
}

static int maildrop_fail(char **error_r, const char *what, const char *detail)
{
    *error_r = xasprintf("%s%s%s", what, detail ? ": " : "", detail ? detail : "");
    return -1;
}

static int maildrop_read_dsn(struct maildrop_request *r, char **error_r)
{
    unsigned bits;
    if (r->ret && strcasecmp(r->ret, "FULL") != 0 && strcasecmp(r->ret, "HDRS") != 0)
        return maildrop_fail(error_r, "bad DSN RET value (FULL or HDRS)", NULL);
    if (r->notify && maildrop_notify_bits(r->notify, &bits) < 0)
        return maildrop_fail(error_r, "bad DSN NOTIFY value", NULL);
    if (r->envid &&
        (strlen(r->envid) > ADDR_ENVID_MAX || !addr_utf8_valid(r->envid, strlen(r->envid))))
        return maildrop_fail(error_r, "bad DSN ENVID value", NULL);
    for (char *p = r->envid; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return maildrop_fail(error_r, "bad DSN ENVID value", NULL);
    if (r->full_name && strlen(r->full_name) > 256)
        return maildrop_fail(error_r, "full name too long", NULL);
    for (char *p = r->full_name; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return maildrop_fail(error_r, "bad character in full name", NULL);
    return 0;
}

static int maildrop_read_rcpts(struct attr_list *l, struct maildrop_request *r, char **error_r)
{
    for (size_t i = 0; i < l->count; i++) {
        if (strcmp(l->items[i].name, "rcpt") != 0)
            continue;
        if (memchr(l->items[i].value, '\0', l->items[i].len) != NULL)
            return maildrop_fail(error_r, "NUL in recipient", NULL);
        char *canon = maildrop_addr_check(l->items[i].value, false, error_r);
        if (canon == NULL)
            return -1;
        maildrop_request_add_rcpt(r, canon);
        free(canon);
    }
    return 0;
}

static int maildrop_read_fields(struct attr_list *l, struct maildrop_request *r, char **error_r)
{
    const char *req, *sender;
    long long extract = 0;
    if (attr_require(l, "request", "sender", NULL) < 0 || attr_get_str(l, "request", &req) < 0 ||
        attr_get_str(l, "sender", &sender) < 0 ||
        (attr_find(l, "extract_recipients") &&
         attr_get_int_range(l, "extract_recipients", 0, 1, &extract) < 0) ||
        maildrop_opt(l, "full_name", &r->full_name) < 0 ||
        maildrop_opt(l, "envid", &r->envid) < 0 || maildrop_opt(l, "ret", &r->ret) < 0 ||
        maildrop_opt(l, "notify", &r->notify) < 0)
        return maildrop_fail(error_r, "malformed request", attr_error(l));
    if (strcmp(req, "submit") != 0)
        return maildrop_fail(error_r, "unknown request", NULL);
    r->extract_recipients = extract == 1;
    r->sender = maildrop_addr_check(sender, true, error_r);
    if (r->sender == NULL)
        return -1;
    if (attr_count(l, "rcpt") > MAILDROP_RCPT_MAX)
        return maildrop_fail(error_r, "too many recipients", NULL);
    if (maildrop_read_dsn(r, error_r) < 0 || maildrop_read_rcpts(l, r, error_r) < 0)
        return -1;
    if (r->rcpt_count == 0 && !r->extract_recipients)
        return maildrop_fail(error_r, "no recipients", NULL);
    return 0;
}

int maildrop_request_read(stream_t *s, struct maildrop_request *r, char **error_r)
{
    static const struct attr_limits lim = {
        .max_name = 32, .max_value = MAILDROP_VALUE_MAX, .max_attrs = MAILDROP_RCPT_MAX + 16};
    struct attr_list *l = attr_list_new();
    const char *err = NULL;
    int rc = -1;
    memset(r, 0, sizeof(*r));
    if (attr_read(s, l, &lim, &err) != 0)
        *error_r = xasprintf("reading the request: %s", err ? err : "end of input");
    else
        rc = maildrop_read_fields(l, r, error_r);
    if (rc < 0)
        maildrop_request_clear(r);
    attr_list_free(&l);
    return rc;
}

int maildrop_chunk_write(stream_t *s, const void *data, size_t len)
{
    attr_put_int(s, "chunk", (long long)len);
    attr_end(s);
    if (len > 0)
        stream_write(s, data, len);
    return stream_error(s);
}

ssize_t maildrop_chunk_read(stream_t *s, str_t *out, char **error_r)
{
    static const struct attr_limits lim = {.max_name = 16, .max_value = 16, .max_attrs = 1};
    struct attr_list *l = attr_list_new();
    const char *err = NULL;
    long long n = -1;
    if (attr_read(s, l, &lim, &err) != 0)
        *error_r = xasprintf("reading the content: %s", err ? err : "end of input");
    else if (attr_get_int_range(l, "chunk", 0, MAILDROP_CHUNK_MAX, &n) < 0)
        *error_r = xasprintf("malformed content record: %s", attr_error(l));
    else if (n > 0 && stream_read_append(s, out, (size_t)n) != STREAM_OK) {
        *error_r = xstrdup("content ends early");
        n = -1;
    }
    attr_list_free(&l);
    return (ssize_t)n;
}

/* ---- the maildrop file writer ---------------------------------------- */

struct maildrop_writer {
    int fd;
    char *dir;
    char *tmp;
    str_t *buf;
    int err; /* first errno, sticky */
};

maildrop_writer_t *maildrop_create(const char *dir, char **error_r)
{
    static unsigned seq;
    for (int tries = 0; tries < 100; tries++) {
        char *tmp = xasprintf("%s/tmp.%ld.%u", dir, (long)getpid(), seq++);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            maildrop_writer_t *w = xcalloc(1, sizeof(*w));
            w->fd = fd;
            w->dir = xstrdup(dir);
            w->tmp = tmp;
            w->buf = str_new(QFILE_CHUNK_SIZE + 64);
            maildrop_put(w, QFILE_REC_VERSION, "1", 1);
            return w;
        }
        int e = errno;
        free(tmp);
        if (e != EEXIST) {
            *error_r = xasprintf("create a file in %s: %s", dir, strerror(e));
            errno = e;
            return NULL;
        }
    }
    *error_r = xasprintf("create a file in %s: too many collisions", dir);
    return NULL;
}

static void maildrop_flush(maildrop_writer_t *w)
{
    if (w->err == 0 && str_len(w->buf) > 0 &&
        durable_write_all(w->fd, str_c(w->buf), str_len(w->buf)) < 0)
        w->err = errno;
    str_reset(w->buf);
}

void maildrop_put(maildrop_writer_t *w, int type, const void *data, size_t len)
{
    unsigned char hdr[5] = {(unsigned char)type, (unsigned char)(len >> 24),
                            (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                            (unsigned char)len};
    if (len > QFILE_RECORD_MAX) {
        w->err = EFBIG;
        return;
    }
    str_append(w->buf, hdr, sizeof(hdr));
    str_append(w->buf, data, len);
    if (str_len(w->buf) >= QFILE_CHUNK_SIZE)
        maildrop_flush(w);
}

void maildrop_put_attr(maildrop_writer_t *w, const char *name, const char *value)
{
    char *a = xasprintf("%s=%s", name, value);
    maildrop_put(w, QFILE_REC_ATTR, a, strlen(a));
    free(a);
}

void maildrop_put_rcpt(maildrop_writer_t *w, const char *addr, unsigned notify)
{
    str_t *d = str_new(strlen(addr) + 4);
    str_appendc(d, QFILE_RCPT_PENDING);
    str_appendc(d, "0123456789abcdef"[notify & 15]);
    str_append(d, addr, strlen(addr) + 1); /* address, NUL */
    str_append(d, "", 1);                  /* empty ORCPT, NUL; empty ORIGINAL */
    maildrop_put(w, QFILE_REC_RCPT, str_c(d), str_len(d));
    str_free(&d);
}

void maildrop_put_content(maildrop_writer_t *w, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        size_t n = len < QFILE_CHUNK_SIZE ? len : QFILE_CHUNK_SIZE;
        maildrop_put(w, QFILE_REC_CONTENT, p, n);
        p += n;
        len -= n;
    }
}

/* Make the new directory entry durable; syncfs when the directory is unreadable. */
static int maildrop_sync_entry(maildrop_writer_t *w)
{
    if (durable_fsync_dir(w->dir) == 0)
        return 0;
    if (errno != EACCES)
        return -1;
    return syncfs(w->fd);
}

/* Rename the complete file to a fresh queue ID; -1 with errno. */
static int maildrop_rename(maildrop_writer_t *w, char id_r[QUEUE_ID_SIZE])
{
    struct stat st;
    if (fstat(w->fd, &st) < 0)
        return -1;
    for (int tries = 0; tries < 10; tries++) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        queue_id_make(id_r, &tv, (uint64_t)st.st_ino);
        char *path = qfile_path(w->dir, id_r);
        int rc = durable_rename_noreplace(w->tmp, path);
        free(path);
        if (rc == 0 || errno != EEXIST)
            return rc;
    }
    errno = EEXIST;
    return -1;
}

int maildrop_commit(maildrop_writer_t **wp, char id_r[QUEUE_ID_SIZE], char **error_r)
{
    maildrop_writer_t *w = *wp;
    maildrop_put(w, QFILE_REC_END, "", 0);
    maildrop_flush(w);
    if (w->err == 0 && (fsync(w->fd) < 0 || fchmod(w->fd, MAILDROP_FILE_MODE) < 0))
        w->err = errno;
    if (w->err == 0 && maildrop_rename(w, id_r) < 0)
        w->err = errno;
    if (w->err != 0) {
        *error_r = xasprintf("%s: %s", w->tmp, strerror(w->err));
        maildrop_abort(wp);
        return -1;
    }
    free(w->tmp);
    w->tmp = NULL; /* renamed: abort must not remove anything now */
    int rc = 0;
    if (maildrop_sync_entry(w) < 0) {
        /* the file is whole but its entry may not survive a crash: report a temporary error */
        *error_r = xasprintf("sync %s: %s", w->dir, strerror(errno));
        char *path = qfile_path(w->dir, id_r);
        unlink(path);
        free(path);
        rc = -1;
    }
    maildrop_abort(wp);
    return rc;
}

void maildrop_abort(maildrop_writer_t **wp)
{
    maildrop_writer_t *w = *wp;
    if (w == NULL)
        return;
    if (w->tmp != NULL)
        unlink(w->tmp);
    close(w->fd);
    free(w->tmp);
    free(w->dir);
    str_free(&w->buf);
    xfree(*wp);
}
