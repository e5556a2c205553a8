/*
 * qfile_read.c - strict, bounded parsing of queue files, content reading
 * and in-place recipient status updates.  The format is in qfile.h.
 *
 * qfile_open reads the whole file once: envelope records are kept in
 * memory, content records are checked for position and length but their
 * data is skipped (read later through qfile_content_read).
 */
#include "qfile.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#include <fcntl.h>
#include <sys/stat.h>

#define RBUF_SIZE 16384
#define REC_HDR 5

struct rbuf {
    int fd;
    off_t base; /* file offset of b[0] */
    size_t pos, len;
    unsigned char b[RBUF_SIZE];
};

struct qfile_attr {
    char *name;
    char *value;
};

struct qfile {
    int fd;
    unsigned flags;
    char *name;
    struct qfile_limits lim;
    struct timeval arrival;
    char *sender;
    struct qfile_attr *attrs;
    size_t attr_count;
    struct qfile_rcpt *rcpts;
    size_t rcpt_count, rcpt_alloc;
    off_t content_offset; /* first record of the content section */
    uint64_t content_size, header_size;
    /* content reader */
    off_t rd_off;     /* next byte to read */
    uint32_t rd_left; /* bytes left in the current C record */
    bool rd_end;
};

/* Parser state for one pass over the file. */
struct qparse {
    qfile_t *qf;
    struct rbuf *rb;
    str_t *data;
    off_t rec_off; /* offset of the current record */
    int section;   /* 0 envelope, 1 content, 2 tail */
    bool have_time, have_sender, have_body, have_end;
    char **error_r;
};

/* ---- buffered reading ----------------------------------------------- */

static off_t rb_tell(const struct rbuf *rb)
{
    return rb->base + (off_t)rb->pos;
}

/* Copy up to n bytes; returns the count (short at EOF) or -1. */
static ssize_t rb_read(struct rbuf *rb, void *dst, size_t n)
{
    unsigned char *d = dst;
    size_t done = 0;
    while (done < n) {
        if (rb->pos == rb->len) {
            rb->base += (off_t)rb->len;
            rb->pos = rb->len = 0;
            ssize_t r = pread(rb->fd, rb->b, RBUF_SIZE, rb->base);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return -1;
            if (r == 0)
                break;
            rb->len = (size_t)r;
        }
        size_t k = rb->len - rb->pos;
        if (k > n - done)
            k = n - done;
        memcpy(d + done, rb->b + rb->pos, k);
        rb->pos += k;
        done += k;
    }
    return (ssize_t)done;
}

static void rb_seek(struct rbuf *rb, off_t off)
{
    if (off >= rb->base && off <= rb->base + (off_t)rb->len) {
        rb->pos = (size_t)(off - rb->base);
    } else {
        rb->base = off;
        rb->pos = rb->len = 0;
    }
}

/* ---- errors ----------------------------------------------------------- */

static int qp_fail(struct qparse *p, const char *fmt, ...) TERN_PRINTF(2, 3);

static int qp_fail(struct qparse *p, const char *fmt, ...)
{
    str_t *s = str_new(128);
    str_appendf(s, "%s: offset %lld: ", p->qf->name, (long long)p->rec_off);
    va_list ap;
    va_start(ap, fmt);
    str_vappendf(s, fmt, ap);
    va_end(ap);
    *p->error_r = str_steal(&s);
    return QFILE_CORRUPT;
}

/* ---- record checks ---------------------------------------------------- */

static bool has_nul(const str_t *d)
{
    return memchr(str_c(d), '\0', str_len(d)) != NULL;
}

/* "SECONDS.USEC" with exactly six USEC digits. */
static int qp_time(struct qparse *p)
{
    const char *s = str_c(p->data);
    size_t n = str_len(p->data), i = 0;
    long long sec = 0;
    if (p->have_time)
        return qp_fail(p, "repeated arrival time record");
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        if (i >= 15)
            return qp_fail(p, "arrival time out of range");
        sec = sec * 10 + (s[i] - '0');
    }
    if (i == 0 || i + 7 != n || s[i] != '.')
        return qp_fail(p, "malformed arrival time");
    long usec = 0;
    for (i++; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return qp_fail(p, "malformed arrival time");
        usec = usec * 10 + (s[i] - '0');
    }
    p->qf->arrival.tv_sec = (time_t)sec;
    p->qf->arrival.tv_usec = (suseconds_t)usec;
    p->have_time = true;
    return 0;
}

static int qp_sender(struct qparse *p)
{
    if (p->have_sender)
        return qp_fail(p, "repeated sender record");
    if (has_nul(p->data))
        return qp_fail(p, "NUL in sender");
    p->qf->sender = xstrndup(str_c(p->data), str_len(p->data));
    p->have_sender = true;
    return 0;
}

static int qp_attr(struct qparse *p)
{
    qfile_t *qf = p->qf;
    const char *s = str_c(p->data);
    const char *eq = memchr(s, '=', str_len(p->data));
    if (eq == NULL || has_nul(p->data))
        return qp_fail(p, "malformed attribute record");
    size_t nlen = (size_t)(eq - s);
    bool ok = nlen > 0 && nlen <= QFILE_ATTR_NAME_MAX && s[0] >= 'a' && s[0] <= 'z';
    for (size_t i = 1; ok && i < nlen; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_';
    if (!ok)
        return qp_fail(p, "bad attribute name");
    char *name = xstrndup(s, nlen);
    if (qfile_attr(qf, name) != NULL) {
        free(name);
        return qp_fail(p, "repeated attribute");
    }
    if (qf->attr_count >= QFILE_ATTR_MAX) {
        free(name);
        return qp_fail(p, "more than %d attributes", QFILE_ATTR_MAX);
    }
    if (qf->attrs == NULL)
        qf->attrs = xcalloc(QFILE_ATTR_MAX, sizeof(*qf->attrs));
    qf->attrs[qf->attr_count].name = name;
    qf->attrs[qf->attr_count].value = xstrndup(eq + 1, str_len(p->data) - nlen - 1);
    qf->attr_count++;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int qp_rcpt(struct qparse *p)
{
    qfile_t *qf = p->qf;
    const char *s = str_c(p->data);
    size_t n = str_len(p->data);
    if (n < 4)
        return qp_fail(p, "recipient record too short");
    char st = s[0];
    int notify = hexval(s[1]);
    if (st != QFILE_RCPT_PENDING && st != QFILE_RCPT_DELIVERED && st != QFILE_RCPT_FAILED)
        return qp_fail(p, "bad recipient status");
    if (notify < 0 || ((notify & QFILE_NOTIFY_NEVER) && notify != QFILE_NOTIFY_NEVER))
        return qp_fail(p, "bad recipient NOTIFY");
    const char *addr = s + 2;
    const char *z1 = memchr(addr, '\0', n - 2);
    const char *z2 = z1 ? memchr(z1 + 1, '\0', (size_t)(s + n - z1 - 1)) : NULL;
    if (z1 == NULL || z2 == NULL || memchr(z2 + 1, '\0', (size_t)(s + n - z2 - 1)))
        return qp_fail(p, "recipient record needs exactly three fields");
    if (z1 == addr)
        return qp_fail(p, "empty recipient address");
    if (qf->rcpt_count >= qf->lim.max_rcpt)
        return qp_fail(p, "more than %zu recipients", qf->lim.max_rcpt);
    if (qf->rcpt_count == qf->rcpt_alloc) {
        qf->rcpt_alloc = qf->rcpt_alloc ? size_mul(qf->rcpt_alloc, 2) : 8;
        qf->rcpts = xreallocarray(qf->rcpts, qf->rcpt_alloc, sizeof(*qf->rcpts));
    }
    struct qfile_rcpt *r = &qf->rcpts[qf->rcpt_count++];
    r->address = xstrdup(addr);
    r->orcpt = xstrdup(z1 + 1);
    r->original = xstrndup(z2 + 1, (size_t)(s + n - z2 - 1));
    r->notify = (unsigned)notify;
    r->status = st;
    r->status_offset = p->rec_off + REC_HDR;
    return 0;
}

/* ---- the record loop -------------------------------------------------- */

/* Content records: check placement, skip the data. */
static int qp_content(struct qparse *p, int type, uint32_t len)
{
    qfile_t *qf = p->qf;
    if (p->section == 2)
        return qp_fail(p, "content after trailing envelope records");
    if (p->section == 0) {
        p->section = 1;
        qf->content_offset = p->rec_off;
    }
    if (type == QFILE_REC_BODY) {
        if (len != 0 || p->have_body)
            return qp_fail(p, "bad or repeated body marker");
        p->have_body = true;
        qf->header_size = qf->content_size;
        return 0;
    }
    qf->content_size += len;
    rb_seek(p->rb, rb_tell(p->rb) + len);
    return 0;
}

/* Read the data of an envelope record into p->data. */
static int qp_read_data(struct qparse *p, uint32_t len)
{
    str_reset(p->data);
    if (len == 0)
        return 0;
    char *tmp = xmalloc(len);
    ssize_t r = rb_read(p->rb, tmp, len);
    if (r >= 0)
        str_append(p->data, tmp, (size_t)r);
    free(tmp);
    if (r < 0) {
        *p->error_r = xasprintf("%s: read: %s", p->qf->name, strerror(errno));
        return QFILE_IOERROR;
    }
    if ((size_t)r < len)
        return qp_fail(p, "record truncated (%zd of %u bytes)", r, len);
    return 0;
}

static int qp_envelope(struct qparse *p, int type, uint32_t len)
{
    if ((type == QFILE_REC_TIME || type == QFILE_REC_SENDER) && p->section != 0)
        return qp_fail(p, "%s record after the content", qfile_record_name(type));
    if (p->section == 1)
        p->section = 2;
    int r = qp_read_data(p, len);
    if (r < 0)
        return r;
    switch (type) {
    case QFILE_REC_TIME:
        return qp_time(p);
    case QFILE_REC_SENDER:
        return qp_sender(p);
    case QFILE_REC_ATTR:
        return qp_attr(p);
    default:
        return qp_rcpt(p);
    }
}

/* One record at the current position; 1 when E was read. */
static int qp_record(struct qparse *p, off_t file_size)
{
    unsigned char h[REC_HDR];
    p->rec_off = rb_tell(p->rb);
    ssize_t r = rb_read(p->rb, h, REC_HDR);
    if (r < 0) {
        *p->error_r = xasprintf("%s: read: %s", p->qf->name, strerror(errno));
        return QFILE_IOERROR;
    }
    if (r < REC_HDR)
        return qp_fail(p, r == 0 ? "no end record" : "truncated record header");
    uint32_t len = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
    if (len > p->qf->lim.max_record)
        return qp_fail(p, "record longer than %zu bytes", p->qf->lim.max_record);
    if ((off_t)len > file_size - rb_tell(p->rb))
        return qp_fail(p, "record extends past the end of the file");
    int type = h[0];
    switch (type) {
    case QFILE_REC_TIME:
    case QFILE_REC_SENDER:
    case QFILE_REC_ATTR:
    case QFILE_REC_RCPT:
        return qp_envelope(p, type, len);
    case QFILE_REC_CONTENT:
    case QFILE_REC_BODY:
        return qp_content(p, type, len);
    case QFILE_REC_END:
        if (len != 0)
            return qp_fail(p, "end record with data");
        return 1;
    case QFILE_REC_VERSION:
        return qp_fail(p, "repeated version record");
    default:
        return qp_fail(p, "unknown record type 0x%02x", (unsigned)type);
    }
}

static int qp_file(struct qparse *p, off_t file_size)
{
    unsigned char h[REC_HDR + 1];
    p->rec_off = 0;
    ssize_t r = rb_read(p->rb, h, sizeof(h));
    if (r < 0) {
        *p->error_r = xasprintf("%s: read: %s", p->qf->name, strerror(errno));
        return QFILE_IOERROR;
    }
    if (r < (ssize_t)sizeof(h) || memcmp(h, "V\0\0\0\1", REC_HDR) != 0)
        return qp_fail(p, "not a queue file (no version record)");
    if (h[REC_HDR] != '1')
        return qp_fail(p, "unsupported queue file version");
    for (;;) {
        int rc = qp_record(p, file_size);
        if (rc < 0)
            return rc;
        if (rc == 1)
            break;
    }
    unsigned char extra;
    p->rec_off = rb_tell(p->rb);
    if (rb_read(p->rb, &extra, 1) != 0)
        return qp_fail(p, "data after the end record");
    if (!p->have_time || !p->have_sender)
        return qp_fail(p, "no arrival time or no sender record");
    if (!p->have_body)
        p->qf->header_size = p->qf->content_size;
    if (p->section == 0)
        p->qf->content_offset = p->rec_off - REC_HDR; /* at E: empty content */
    return 0;
}

/* ---- open / close ------------------------------------------------------ */

static int qfile_check_mode(qfile_t *qf, struct stat *st, char **error_r)
{
    if (fstat(qf->fd, st) < 0) {
        *error_r = xasprintf("%s: fstat: %s", qf->name, strerror(errno));
        return QFILE_IOERROR;
    }
    if (!S_ISREG(st->st_mode)) {
        *error_r = xasprintf("%s: not a regular file", qf->name);
        return QFILE_CORRUPT;
    }
    if (!(qf->flags & QFILE_OPEN_ANY_MODE) && !(st->st_mode & S_IXUSR)) {
        *error_r = xasprintf("%s: incomplete (not marked complete)", qf->name);
        return QFILE_INCOMPLETE;
    }
    return 0;
}

int qfile_open_fd(int fd, const char *name, unsigned flags, const struct qfile_limits *limits,
                  qfile_t **qf_r, char **error_r)
{
    qfile_t *qf = xcalloc(1, sizeof(*qf));
    qf->fd = fd;
    qf->flags = flags;
    qf->name = xstrdup(name);
    qf->lim.max_record = limits ? limits->max_record : QFILE_RECORD_MAX;
    qf->lim.max_rcpt = limits ? limits->max_rcpt : QFILE_RCPT_MAX;
    struct stat st;
    int rc = qfile_check_mode(qf, &st, error_r);
    if (rc == 0) {
        struct rbuf *rb = xmalloc(sizeof(*rb));
        rb->fd = fd;
        rb->base = 0;
        rb->pos = rb->len = 0;
        struct qparse p = {.qf = qf, .rb = rb, .data = str_new(256), .error_r = error_r};
        rc = qp_file(&p, st.st_size);
        str_free(&p.data);
        free(rb);
    }
    if (rc < 0) {
        qfile_close(&qf);
        return rc;
    }
    qfile_content_rewind(qf);
    *qf_r = qf;
    return 0;
}

int qfile_open(const char *path, unsigned flags, qfile_t **qf_r, char **error_r)
{
    int fd = open(path, ((flags & QFILE_OPEN_RDWR) ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        *error_r = xasprintf("open %s: %s", path, strerror(errno));
        return QFILE_IOERROR;
    }
    return qfile_open_fd(fd, path, flags, NULL, qf_r, error_r);
}

void qfile_close(qfile_t **qfp)
{
    qfile_t *qf = *qfp;
    if (qf == NULL)
        return;
    if (qf->fd >= 0)
        close(qf->fd);
    for (size_t i = 0; i < qf->attr_count; i++) {
        free(qf->attrs[i].name);
        free(qf->attrs[i].value);
    }
    free(qf->attrs);
    for (size_t i = 0; i < qf->rcpt_count; i++) {
        free(qf->rcpts[i].address);
        free(qf->rcpts[i].orcpt);
        free(qf->rcpts[i].original);
    }
    free(qf->rcpts);
    free(qf->sender);
    free(qf->name);
    xfree(*qfp);
}

/* ---- accessors --------------------------------------------------------- */

const char *qfile_name(const qfile_t *qf)
{
    return qf->name;
}
void qfile_arrival(const qfile_t *qf, struct timeval *tv_r)
{
    *tv_r = qf->arrival;
}
const char *qfile_sender(const qfile_t *qf)
{
    return qf->sender;
}
size_t qfile_attr_count(const qfile_t *qf)
{
    return qf->attr_count;
}
size_t qfile_rcpt_count(const qfile_t *qf)
{
    return qf->rcpt_count;
}
uint64_t qfile_content_size(const qfile_t *qf)
{
    return qf->content_size;
}
uint64_t qfile_header_size(const qfile_t *qf)
{
    return qf->header_size;
}

const char *qfile_attr(const qfile_t *qf, const char *name)
{
    for (size_t i = 0; i < qf->attr_count; i++) {
        if (strcmp(qf->attrs[i].name, name) == 0)
            return qf->attrs[i].value;
    }
    return NULL;
}

void qfile_attr_at(const qfile_t *qf, size_t i, const char **name_r, const char **value_r)
{
    if (i >= qf->attr_count)
        msg_panic("qfile_attr_at: index %zu of %zu", i, qf->attr_count);
    *name_r = qf->attrs[i].name;
    *value_r = qf->attrs[i].value;
}

const struct qfile_rcpt *qfile_rcpt(const qfile_t *qf, size_t i)
{
    if (i >= qf->rcpt_count)
        msg_panic("qfile_rcpt: index %zu of %zu", i, qf->rcpt_count);
    return &qf->rcpts[i];
}

bool qfile_rcpt_done(const struct qfile_rcpt *r)
{
    return r->status != QFILE_RCPT_PENDING;
}

size_t qfile_rcpt_pending(const qfile_t *qf)
{
    size_t n = 0;
    for (size_t i = 0; i < qf->rcpt_count; i++)
        n += !qfile_rcpt_done(&qf->rcpts[i]);
    return n;
}

/* ---- content ----------------------------------------------------------- */

void qfile_content_rewind(qfile_t *qf)
{
    qf->rd_off = qf->content_offset;
    qf->rd_left = 0;
    qf->rd_end = false;
}

static ssize_t qfile_pread(qfile_t *qf, void *buf, size_t n, off_t off, char **error_r)
{
    ssize_t r;
    do
        r = pread(qf->fd, buf, n, off);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        *error_r = xasprintf("%s: read: %s", qf->name, strerror(errno));
    else if (r == 0)
        *error_r =
            xasprintf("%s: offset %lld: file shrank while reading", qf->name, (long long)off);
    return r > 0 ? r : -1;
}

/* Step to the next C record with data; false at the end of the content. */
static int qfile_next_chunk(qfile_t *qf, char **error_r)
{
    while (qf->rd_left == 0) {
        if (qf->rd_end)
            return 0;
        unsigned char h[REC_HDR];
        ssize_t r = qfile_pread(qf, h, REC_HDR, qf->rd_off, error_r);
        if (r < 0)
            return -1;
        if (r < REC_HDR) {
            *error_r = xasprintf("%s: short record header while reading content", qf->name);
            return -1;
        }
        uint32_t len = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
        if (h[0] == QFILE_REC_CONTENT) {
            qf->rd_left = len;
            qf->rd_off += REC_HDR;
        } else if (h[0] == QFILE_REC_BODY) {
            qf->rd_off += REC_HDR + (off_t)len;
        } else {
            qf->rd_end = true;
        }
    }
    return 1;
}

ssize_t qfile_content_read(qfile_t *qf, void *buf, size_t n, char **error_r)
{
    int more = qfile_next_chunk(qf, error_r);
    if (more <= 0 || n == 0)
        return more;
    size_t k = n < qf->rd_left ? n : qf->rd_left;
    ssize_t r = qfile_pread(qf, buf, k, qf->rd_off, error_r);
    if (r < 0)
        return -1;
    qf->rd_off += r;
    qf->rd_left -= (uint32_t)r;
    return r;
}

/* ---- recipient status ------------------------------------------------------ */

int qfile_mark(qfile_t *qf, size_t i, char status, char **error_r)
{
    if (!(qf->flags & QFILE_OPEN_RDWR) || i >= qf->rcpt_count ||
        (status != QFILE_RCPT_PENDING && status != QFILE_RCPT_DELIVERED &&
         status != QFILE_RCPT_FAILED)) {
        *error_r =
            xasprintf("%s: qfile_mark: read-only file, bad index %zu or status (bug)", qf->name, i);
        return -1;
    }
    struct qfile_rcpt *r = &qf->rcpts[i];
    if (pwrite(qf->fd, &status, 1, r->status_offset) != 1) {
        *error_r = xasprintf("%s: mark recipient %zu: %s", qf->name, i, strerror(errno));
        return -1;
    }
    r->status = status;
    return 0;
}

int qfile_sync(qfile_t *qf, char **error_r)
{
    if (fdatasync(qf->fd) < 0) {
        *error_r = xasprintf("%s: fsync: %s", qf->name, strerror(errno));
        return -1;
    }
    return 0;
}

int qfile_recover(const char *path, char **error_r)
{
    qfile_t *qf;
    int rc = qfile_open(path, QFILE_OPEN_RDWR | QFILE_OPEN_ANY_MODE, &qf, error_r);
    if (rc < 0)
        return rc;
    if (fchmod(qf->fd, QFILE_MODE_COMPLETE) < 0 || fsync(qf->fd) < 0) {
        *error_r = xasprintf("%s: mark complete: %s", path, strerror(errno));
        rc = QFILE_IOERROR;
    }
    qfile_close(&qf);
    return rc;
}
