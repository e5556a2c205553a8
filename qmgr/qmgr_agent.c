/*
 * qmgr_agent.c - connections to delivery agents over private/TRANSPORT
 * (deliver.h).  Many are open at once, one request in flight on each;
 * the scheduler (qmgr_sched.c) polls them.
 *
 * Results are read as they come, without blocking: each readable event
 * appends what the socket has to a buffer and counts the records there
 * (a record ends with an empty line, attr.h).  Once every recipient's
 * record is in, they are parsed through the connection's stream, whose
 * read layer serves that buffer; writes go through the plain layer.  A
 * connection that breaks keeps the results that arrived whole; the
 * caller defers the rest, so nothing is lost and at worst delivered
 * twice.
 */
#include "sys.h"

#include <poll.h>

#include "attr.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "qmgr.h"
#include "str.h"

#define QMGR_AGENT_READ 65536
#define QMGR_AGENT_MAX_REPLY (16 * 1024 * 1024) /* bound on one request's results */

struct qmgr_conn {
    stream_t *s;
    const struct stream_layer *plain;
    str_t *in;       /* the current reply, as read */
    size_t off;      /* bytes of it the stream has taken */
    size_t scanned;  /* bytes of it counted */
    size_t records;  /* complete records in it */
    bool line_start; /* the next byte starts a line */
    bool clean;      /* the last reply was exactly the results */
};

bool qmgr_agent_transport_ok(const char *t)
{
    if (t[0] == '\0' || strlen(t) > 64)
        return false;
    for (const char *p = t; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return t[0] != '.';
}

void qmgr_agent_defer_rest(struct deliver_request *req, const char *why)
{
    for (size_t i = 0; i < req->nrcpts; i++)
        if (req->rcpts[i].dsn == NULL)
            deliver_rcpt_result(&req->rcpts[i], DELIVER_TEMP, "4.3.0", "%s", why);
}

/* The stream's read layer: what qmgr_agent_input() buffered, then EOF. */
static ssize_t conn_layer_read(void *ctx, int fd, void *buf, size_t len, int64_t deadline_ms)
{
    (void)fd;
    (void)deadline_ms;
    qmgr_conn_t *c = ctx;
    size_t have = str_len(c->in) - c->off;
    if (len > have)
        len = have;
    memcpy(buf, str_c(c->in) + c->off, len);
    c->off += len;
    return (ssize_t)len;
}

static ssize_t conn_layer_write(void *ctx, int fd, const void *buf, size_t len, int64_t deadline_ms)
{
    qmgr_conn_t *c = ctx;
    return c->plain->write(NULL, fd, buf, len, deadline_ms);
}

static const struct stream_layer conn_layer = {
    .read = conn_layer_read,
    .write = conn_layer_write,
    .free = NULL,
};

qmgr_conn_t *qmgr_agent_connect(const char *transport, char **error_r)
{
    if (!qmgr_agent_transport_ok(transport)) {
        *error_r = xstrdup("mail transport name is not valid");
        return NULL;
    }
    char *path = xasprintf("private/%s", transport);
    stream_t *s = attr_connect(path, (int)(cfg_time("ipc_timeout") * 1000), error_r);
    free(path);
    if (s == NULL)
        return NULL;
    qmgr_conn_t *c = xcalloc(1, sizeof(*c));
    c->s = s;
    c->plain = stream_get_layer(s);
    c->in = str_new(1024);
    c->clean = true;
    stream_set_layer(s, &conn_layer, c);
    stream_set_timeout(s, (int)cfg_time("daemon_timeout"));
    return c;
}

void qmgr_agent_close(qmgr_conn_t **cp)
{
    qmgr_conn_t *c = *cp;
    if (c == NULL)
        return;
    stream_close(&c->s);
    str_free(&c->in);
    free(c);
    *cp = NULL;
}

int qmgr_agent_fd(const qmgr_conn_t *c)
{
    return stream_fd(c->s);
}

bool qmgr_agent_usable(const qmgr_conn_t *c)
{
    struct pollfd p = {.fd = stream_fd(c->s), .events = POLLIN};
    return c->clean && poll(&p, 1, 0) == 0;
}

bool qmgr_agent_reusable(const qmgr_conn_t *c)
{
    return c->clean;
}

size_t qmgr_agent_received(const qmgr_conn_t *c)
{
    return str_len(c->in);
}

int qmgr_agent_send(qmgr_conn_t *c, const struct deliver_request *req, char **error_r)
{
    str_reset(c->in);
    c->off = c->scanned = c->records = 0;
    c->line_start = true;
    c->clean = false;
    return deliver_request_send(c->s, req, error_r);
}

/* Count the records completed by the bytes not yet scanned. */
static void conn_count(qmgr_conn_t *c)
{
    const char *p = str_c(c->in);
    for (; c->scanned < str_len(c->in); c->scanned++) {
        if (p[c->scanned] != '\n') {
            c->line_start = false;
        } else {
            if (c->line_start)
                c->records++;
            c->line_start = true;
        }
    }
}

/* Parse the first n results (all complete in the buffer). */
static int conn_parse(qmgr_conn_t *c, struct deliver_request *req, size_t n, char **error_r)
{
    size_t all = req->nrcpts;
    req->nrcpts = n < all ? n : all;
    int rc = deliver_results_read(c->s, req, error_r);
    req->nrcpts = all;
    return rc;
}

int qmgr_agent_input(qmgr_conn_t *c, struct deliver_request *req, char **error_r)
{
    char buf[QMGR_AGENT_READ];
    ssize_t n = read(stream_fd(c->s), buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n <= 0) {
        int e = errno;
        char *ignored = NULL;
        conn_count(c);
        if (c->records > 0)
            (void)conn_parse(c, req, c->records, &ignored);
        free(ignored);
        *error_r = n == 0 ? xstrdup("connection closed") : xasprintf("read: %s", strerror(e));
        return -1;
    }
    str_append(c->in, buf, (size_t)n);
    if (str_len(c->in) > QMGR_AGENT_MAX_REPLY) {
        *error_r = xstrdup("reply too long");
        return -1;
    }
    conn_count(c);
    if (c->records < req->nrcpts)
        return 0;
    if (conn_parse(c, req, req->nrcpts, error_r) < 0)
        return -1;
    c->clean = c->off == str_len(c->in) && stream_buffered(c->s) == 0;
    if (!c->clean)
        msg_warn("%s: delivery agent sent more than its results", req->queue_id);
    return 1;
}
