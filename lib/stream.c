/*
 * stream.c - buffered streams with deadlines (see stream.h).
 */
#include "stream.h"
#include "log.h"
#include "mem.h"

#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#define STREAM_BUFSIZE 16384

struct stream {
    int fd;
    int flags;
    int timeout_ms;
    int werr; /* sticky write status */
    const struct stream_layer *layer;
    void *layer_ctx;
    char *in;
    size_t in_pos, in_len; /* unread bytes are in[in_pos .. in_len) */
    char *out;
    size_t out_len;
};

int64_t stream_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int stream_wait_fd(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int wait = -1;
        if (deadline_ms >= 0) {
            int64_t left = deadline_ms - stream_now_ms();
            if (left <= 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            wait = left > INT32_MAX ? INT32_MAX : (int)left;
        }
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, wait);
        if (n > 0)
            return 0;
        if (n == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (errno != EINTR)
            return -1;
    }
}

static ssize_t plain_read(void *ctx, int fd, void *buf, size_t len, int64_t deadline)
{
    (void)ctx;
    for (;;) {
        if (stream_wait_fd(fd, POLLIN, deadline) < 0)
            return -1;
        ssize_t n = read(fd, buf, len);
        if (n >= 0)
            return n;
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
    }
}

/*
 * One write that cannot block past what poll() promised, even on a
 * blocking descriptor: sockets get MSG_DONTWAIT (and MSG_NOSIGNAL, so a
 * vanished peer is EPIPE rather than a SIGPIPE death); a pipe is written
 * at most PIPE_BUF bytes at a time (poll reports POLLOUT when that much
 * room is free); regular files never wait for room.
 */
static ssize_t plain_write_once(int fd, const void *buf, size_t len)
{
    ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0 || errno != ENOTSOCK)
        return n;
    struct stat st;
    if (len > PIPE_BUF && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
        len = PIPE_BUF;
    return write(fd, buf, len);
}

static ssize_t plain_write(void *ctx, int fd, const void *buf, size_t len, int64_t deadline)
{
    (void)ctx;
    /* A socket is tried at once (MSG_DONTWAIT cannot block): poll only when it is full. */
    ssize_t n0 = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n0 >= 0)
        return n0;
    if (errno != ENOTSOCK && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
        return -1;
    for (;;) {
        if (stream_wait_fd(fd, POLLOUT, deadline) < 0)
            return -1;
        ssize_t n = plain_write_once(fd, buf, len);
        if (n >= 0)
            return n;
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
    }
}

static const struct stream_layer plain_layer = {
    .read = plain_read,
    .write = plain_write,
    .free = NULL,
};

stream_t *stream_open_fd(int fd, int flags)
{
    stream_t *s = xcalloc(1, sizeof(*s));
    s->fd = fd;
    s->flags = flags;
    s->layer = &plain_layer;
    s->in = xmalloc(STREAM_BUFSIZE);
    s->out = xmalloc(STREAM_BUFSIZE);
    return s;
}

static void stream_free_layer(stream_t *s)
{
    if (s->layer->free != NULL && s->layer_ctx != NULL)
        s->layer->free(s->layer_ctx);
    s->layer_ctx = NULL;
}

void stream_close(stream_t **sp)
{
    stream_t *s = *sp;
    if (s == NULL)
        return;
    stream_free_layer(s);
    if (s->flags & STREAM_OWN_FD)
        close(s->fd);
    free(s->in);
    free(s->out);
    xfree(*sp);
}

int stream_fd(const stream_t *s)
{
    return s->fd;
}

void stream_set_timeout_ms(stream_t *s, int ms)
{
    s->timeout_ms = ms < 0 ? 0 : ms;
}

void stream_set_timeout(stream_t *s, int seconds)
{
    stream_set_timeout_ms(s, seconds > INT32_MAX / 1000 ? INT32_MAX : seconds * 1000);
}

void stream_set_layer(stream_t *s, const struct stream_layer *layer, void *ctx)
{
    stream_free_layer(s);
    s->layer = layer ? layer : &plain_layer;
    s->layer_ctx = ctx;
}

void *stream_layer_ctx(const stream_t *s)
{
    return s->layer_ctx;
}

const struct stream_layer *stream_get_layer(const stream_t *s)
{
    return s->layer;
}

int stream_get_timeout_ms(const stream_t *s)
{
    return s->timeout_ms;
}

static int64_t stream_deadline(const stream_t *s)
{
    return s->timeout_ms > 0 ? stream_now_ms() + s->timeout_ms : -1;
}

static int errno_status(void)
{
    return errno == ETIMEDOUT ? STREAM_TIMEOUT : STREAM_ERROR;
}

/* Refill the (empty) input buffer once; STREAM_OK, EOF, TIMEOUT or ERROR. */
static int stream_fill(stream_t *s, int64_t deadline)
{
    s->in_pos = s->in_len = 0;
    ssize_t n = s->layer->read(s->layer_ctx, s->fd, s->in, STREAM_BUFSIZE, deadline);
    if (n < 0)
        return errno_status();
    if (n == 0)
        return STREAM_EOF;
    s->in_len = (size_t)n;
    return STREAM_OK;
}

int stream_read_line(stream_t *s, str_t *line, size_t limit)
{
    int64_t deadline = stream_deadline(s);
    str_reset(line);
    for (;;) {
        if (s->in_pos == s->in_len) {
            int st = stream_fill(s, deadline);
            if (st == STREAM_EOF && line->len > 0)
                return STREAM_OK;
            if (st != STREAM_OK)
                return st;
        }
        size_t avail = s->in_len - s->in_pos;
        char *start = s->in + s->in_pos;
        char *nl = memchr(start, '\n', avail);
        size_t take = nl ? (size_t)(nl - start) + 1 : avail;
        if (line->len + take > limit) {
            size_t room = limit - line->len;
            if (str_append(line, start, room) < 0)
                return STREAM_TOOLONG;
            s->in_pos += room;
            return STREAM_TOOLONG;
        }
        if (str_append(line, start, take) < 0)
            return STREAM_TOOLONG;
        s->in_pos += take;
        if (nl)
            return STREAM_OK;
    }
}

int stream_skip_line(stream_t *s)
{
    int64_t deadline = stream_deadline(s);
    for (;;) {
        if (s->in_pos == s->in_len) {
            int st = stream_fill(s, deadline);
            if (st != STREAM_OK)
                return st;
        }
        char *start = s->in + s->in_pos;
        char *nl = memchr(start, '\n', s->in_len - s->in_pos);
        if (nl) {
            s->in_pos += (size_t)(nl - start) + 1;
            return STREAM_OK;
        }
        s->in_pos = s->in_len;
    }
}

ssize_t stream_read(stream_t *s, void *buf, size_t n)
{
    if (n == 0)
        return 0;
    if (s->in_pos == s->in_len) {
        int st = stream_fill(s, stream_deadline(s));
        if (st != STREAM_OK)
            return st;
    }
    size_t avail = s->in_len - s->in_pos;
    size_t take = avail < n ? avail : n;
    memcpy(buf, s->in + s->in_pos, take);
    s->in_pos += take;
    return (ssize_t)take;
}

int stream_read_exact(stream_t *s, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t got = stream_read(s, p, n);
        if (got < 0)
            return (int)got;
        p += got;
        n -= (size_t)got;
    }
    return STREAM_OK;
}

int stream_read_append(stream_t *s, str_t *out, size_t n)
{
    char buf[4096];
    while (n > 0) {
        ssize_t got = stream_read(s, buf, n < sizeof(buf) ? n : sizeof(buf));
        if (got < 0)
            return (int)got;
        if (str_append(out, buf, (size_t)got) < 0)
            return STREAM_TOOLONG;
        n -= (size_t)got;
    }
    return STREAM_OK;
}

size_t stream_buffered(const stream_t *s)
{
    return s->in_len - s->in_pos;
}

void stream_discard_input(stream_t *s)
{
    s->in_pos = s->in_len = 0;
}

/* Write all of buf through the layer before the deadline. */
static int stream_write_raw(stream_t *s, const char *buf, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = s->layer->write(s->layer_ctx, s->fd, buf, len, deadline);
        if (n < 0)
            return errno_status();
        if (n == 0) {
            errno = EPIPE;
            return STREAM_ERROR;
        }
        buf += n;
        len -= (size_t)n;
    }
    return STREAM_OK;
}

int stream_flush(stream_t *s)
{
    if (s->werr != STREAM_OK)
        return s->werr;
    if (s->out_len == 0)
        return STREAM_OK;
    int st = stream_write_raw(s, s->out, s->out_len, stream_deadline(s));
    s->out_len = 0;
    s->werr = st;
    return st;
}

int stream_write(stream_t *s, const void *data, size_t n)
{
    const char *p = data;
    if (s->werr != STREAM_OK)
        return s->werr;
    if (s->out_len + n > STREAM_BUFSIZE) {
        if (stream_flush(s) != STREAM_OK)
            return s->werr;
        if (n >= STREAM_BUFSIZE) {
            s->werr = stream_write_raw(s, p, n, stream_deadline(s));
            return s->werr;
        }
    }
    memcpy(s->out + s->out_len, p, n);
    s->out_len += n;
    return STREAM_OK;
}

int stream_puts(stream_t *s, const char *z)
{
    return stream_write(s, z, strlen(z));
}

int stream_printf(stream_t *s, const char *fmt, ...)
{
    str_t *tmp = str_new(128);
    va_list ap;
    va_start(ap, fmt);
    str_vappendf(tmp, fmt, ap);
    va_end(ap);
    int st = stream_write(s, tmp->s, tmp->len);
    str_free(&tmp);
    return st;
}

int stream_error(const stream_t *s)
{
    return s->werr;
}

const char *stream_strstatus(int status)
{
    switch (status) {
    case STREAM_OK:
        return "ok";
    case STREAM_EOF:
        return "lost connection";
    case STREAM_TOOLONG:
        return "line too long";
    case STREAM_TIMEOUT:
        return "timeout";
    default:
        return "I/O error";
    }
}
