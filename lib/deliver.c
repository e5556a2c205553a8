/*
 * deliver.c - both ends of the delivery request protocol (deliver.h):
 * qmgr sends a request and reads one result per recipient, an agent reads
 * the request and sends the results.
 *
 * Reading is strict: every record is bounded by attr limits, the request
 * must carry request=deliver, queue_id (a valid queue ID), queue_file (a
 * relative path without ".." components), sender and rcpt_count (1 ..
 * DELIVER_MAX_RCPTS); each recipient record must carry index and a
 * non-empty rcpt; each result must carry index (matching the request, in
 * order), status (0, 4 or 5), dsn (X.Y.Z whose class matches the status)
 * and reason; relay and site_fail (0 or 1, kept only with status 4) are
 * optional.  nexthop, envid, ret, orig_rcpt, orcpt and notify are
 * optional and default to "".  Unknown attributes are ignored.
 */
#include "deliver.h"

#include "attr.h"
#include "log.h"
#include "mem.h"
#include "queue_id.h"
#include "str.h"

#include <ctype.h>
#include <limits.h>

/* Most recipients in one request (qmgr batches far fewer). */
#define DELIVER_MAX_RCPTS 10000

/* Longest address or text value, and most attributes, in one record. */
static const struct attr_limits deliver_limits = {
    .max_name = 32,
    .max_value = 4096,
    .max_attrs = 64,
};

void deliver_request_clear(struct deliver_request *req)
{
    xfree(req->queue_id);
    xfree(req->queue_file);
    xfree(req->sender);
    xfree(req->nexthop);
    xfree(req->envid);
    xfree(req->ret);
    for (size_t i = 0; i < req->nrcpts; i++) {
        struct deliver_rcpt *r = &req->rcpts[i];
        xfree(r->rcpt);
        xfree(r->orig_rcpt);
        xfree(r->orcpt);
        xfree(r->notify);
        xfree(r->dsn);
        xfree(r->reason);
        xfree(r->relay);
    }
    xfree(req->rcpts);
    req->nrcpts = 0;
}

/* "X.Y.Z" with X the class digit, Y 1-3 digits, Z 1-3 digits. */
static bool deliver_dsn_valid(const char *dsn, int status)
{
    const char *p = dsn;
    if (status == DELIVER_OK ? *p != '2' : *p != '0' + status)
        return false;
    p++;
    for (int part = 0; part < 2; part++) {
        if (*p++ != '.')
            return false;
        int n = 0;
        while (isdigit((unsigned char)*p) && n < 3) {
            p++;
            n++;
        }
        if (n == 0)
            return false;
    }
    return *p == '\0';
}

void deliver_rcpt_result(struct deliver_rcpt *r, int status, const char *dsn, const char *fmt, ...)
{
    if (status != DELIVER_OK && status != DELIVER_TEMP && status != DELIVER_PERM)
        msg_panic("deliver_rcpt_result: bad status %d", status);
    if (!deliver_dsn_valid(dsn, status))
        msg_panic("deliver_rcpt_result: dsn '%s' does not fit status %d", dsn, status);
    va_list ap;
    str_t *s = str_new(128);
    va_start(ap, fmt);
    str_vappendf(s, fmt, ap);
    va_end(ap);
    xfree(r->dsn);
    xfree(r->reason);
    r->status = status;
    r->dsn = xstrdup(dsn);
    r->reason = str_steal(&s);
    r->site_fail = false;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* ---- qmgr side ---------------------------------------------------- */

int deliver_request_send(stream_t *s, const struct deliver_request *req, char **error_r)
{
    if (req->nrcpts == 0 || req->nrcpts > DELIVER_MAX_RCPTS)
        msg_panic("deliver_request_send: %zu recipients", req->nrcpts);
    attr_put_str(s, "request", "deliver");
    attr_put_str(s, "queue_id", nz(req->queue_id));
    attr_put_str(s, "queue_file", nz(req->queue_file));
    attr_put_str(s, "sender", nz(req->sender));
    attr_put_str(s, "nexthop", nz(req->nexthop));
    attr_put_str(s, "envid", nz(req->envid));
    attr_put_str(s, "ret", nz(req->ret));
    attr_put_int(s, "rcpt_count", (long long)req->nrcpts);
    attr_end(s);
    for (size_t i = 0; i < req->nrcpts; i++) {
        const struct deliver_rcpt *r = &req->rcpts[i];
        attr_put_int(s, "index", (long long)r->index);
        attr_put_str(s, "rcpt", nz(r->rcpt));
        attr_put_str(s, "orig_rcpt", nz(r->orig_rcpt));
        attr_put_str(s, "orcpt", nz(r->orcpt));
        attr_put_str(s, "notify", nz(r->notify));
        attr_end(s);
    }
    int st = stream_flush(s);
    if (st != STREAM_OK) {
        *error_r = xasprintf("sending delivery request: %s", stream_strstatus(st));
        return -1;
    }
    return 0;
}

/* Read and check the result record for recipient r. */
static int deliver_result_read(stream_t *s, struct attr_list *l, struct deliver_rcpt *r,
                               char **error_r)
{
    const char *err, *dsn, *reason;
    long long index, status;
    int rc = attr_read(s, l, &deliver_limits, &err);
    if (rc == ATTR_EOF) {
        *error_r = xstrdup("agent closed the connection before all results");
        return -1;
    }
    if (rc < 0 || attr_require(l, "index", "status", "dsn", "reason", NULL) < 0 ||
        attr_get_int_range(l, "index", 0, LLONG_MAX, &index) < 0 ||
        attr_get_int_range(l, "status", 0, 5, &status) < 0 || attr_get_str(l, "dsn", &dsn) < 0 ||
        attr_get_str(l, "reason", &reason) < 0) {
        *error_r = xasprintf("bad delivery result: %s", attr_error(l));
        return -1;
    }
    if ((size_t)index != r->index) {
        *error_r = xasprintf("bad delivery result: index %lld, expected %zu", index, r->index);
        return -1;
    }
    if (status != DELIVER_OK && status != DELIVER_TEMP && status != DELIVER_PERM) {
        *error_r = xasprintf("bad delivery result: status %lld", status);
        return -1;
    }
    if (!deliver_dsn_valid(dsn, (int)status)) {
        *error_r = xasprintf("bad delivery result: dsn for status %lld", status);
        return -1;
    }
    const char *relay = NULL;
    if (attr_find(l, "relay") != NULL && attr_get_str(l, "relay", &relay) < 0) {
        *error_r = xasprintf("bad delivery result: %s", attr_error(l));
        return -1;
    }
    long long site = 0;
    if (attr_find(l, "site_fail") != NULL && attr_get_int_range(l, "site_fail", 0, 1, &site) < 0) {
        *error_r = xasprintf("bad delivery result: %s", attr_error(l));
        return -1;
    }
    xfree(r->dsn);
    xfree(r->reason);
    r->status = (int)status;
    r->dsn = xstrdup(dsn);
    r->reason = xstrdup(reason);
    r->site_fail = site == 1 && status == DELIVER_TEMP;
    deliver_rcpt_relay(r, relay);
    return 0;
}

int deliver_results_read(stream_t *s, struct deliver_request *req, char **error_r)
{
    struct attr_list *l = attr_list_new();
    int rc = 0;
    for (size_t i = 0; i < req->nrcpts && rc == 0; i++)
        rc = deliver_result_read(s, l, &req->rcpts[i], error_r);
    attr_list_free(&l);
    return rc;
}

/* ---- agent side --------------------------------------------------- */

/* A queue file name relative to queue_directory: no '/' first, no "..". */
static bool deliver_qfile_valid(const char *path)
{
    if (*path == '\0' || *path == '/')
        return false;
    for (const char *p = path; *p; p++) {
        if (p[0] == '.' && p[1] == '.' && (p == path || p[-1] == '/') &&
            (p[2] == '/' || p[2] == '\0'))
            return false;
    }
    return true;
}

static char *deliver_opt(struct attr_list *l, const char *name)
{
    const char *v = "";
    if (attr_get_str_opt(l, name, "", &v) < 0)
        return NULL;
    return xstrdup(v);
}

/* Parse the request record in l into req (empty req on entry). */
static int deliver_head_parse(struct attr_list *l, struct deliver_request *req, char **error_r)
{
    const char *request, *id, *qf, *sender;
    long long count;
    if (attr_require(l, "request", "queue_id", "queue_file", "sender", "rcpt_count", NULL) < 0 ||
        attr_get_str(l, "request", &request) < 0 || attr_get_str(l, "queue_id", &id) < 0 ||
        attr_get_str(l, "queue_file", &qf) < 0 || attr_get_str(l, "sender", &sender) < 0 ||
        attr_get_int_range(l, "rcpt_count", 1, DELIVER_MAX_RCPTS, &count) < 0) {
        *error_r = xasprintf("bad delivery request: %s", attr_error(l));
        return -1;
    }
    if (strcmp(request, "deliver") != 0) {
        *error_r = xstrdup("bad delivery request: request is not 'deliver'");
        return -1;
    }
    if (!queue_id_valid(id) || !deliver_qfile_valid(qf)) {
        *error_r = xstrdup("bad delivery request: malformed queue_id or queue_file");
        return -1;
    }
    req->nexthop = deliver_opt(l, "nexthop");
    req->envid = deliver_opt(l, "envid");
    req->ret = deliver_opt(l, "ret");
    if (!req->nexthop || !req->envid || !req->ret) {
        *error_r = xasprintf("bad delivery request: %s", attr_error(l));
        return -1;
    }
    req->queue_id = xstrdup(id);
    req->queue_file = xstrdup(qf);
    req->sender = xstrdup(sender);
    req->rcpts = xcalloc((size_t)count, sizeof(*req->rcpts));
    req->nrcpts = (size_t)count;
    return 0;
}

/* Parse one recipient record in l into r. */
static int deliver_rcpt_parse(struct attr_list *l, struct deliver_rcpt *r, char **error_r)
{
    const char *rcpt;
    long long index;
    r->status = DELIVER_TEMP;
    if (attr_require(l, "index", "rcpt", NULL) < 0 ||
        attr_get_int_range(l, "index", 0, LLONG_MAX, &index) < 0 ||
        attr_get_str(l, "rcpt", &rcpt) < 0) {
        *error_r = xasprintf("bad delivery request recipient: %s", attr_error(l));
        return -1;
    }
    if (*rcpt == '\0') {
        *error_r = xstrdup("bad delivery request recipient: empty rcpt");
        return -1;
    }
    r->index = (size_t)index;
    r->rcpt = xstrdup(rcpt);
    r->orig_rcpt = deliver_opt(l, "orig_rcpt");
    r->orcpt = deliver_opt(l, "orcpt");
    r->notify = deliver_opt(l, "notify");
    if (!r->orig_rcpt || !r->orcpt || !r->notify) {
        *error_r = xasprintf("bad delivery request recipient: %s", attr_error(l));
        return -1;
    }
    return 0;
}

static int deliver_read_all(stream_t *s, struct attr_list *l, struct deliver_request *req,
                            char **error_r)
{
    const char *err;
    int rc = attr_read(s, l, &deliver_limits, &err);
    if (rc == ATTR_EOF)
        return 0;
    if (rc < 0) {
        *error_r = xasprintf("reading delivery request: %s", err);
        return -1;
    }
    if (deliver_head_parse(l, req, error_r) < 0)
        return -1;
    for (size_t i = 0; i < req->nrcpts; i++) {
        if (attr_read(s, l, &deliver_limits, &err) != 0) {
            *error_r = xasprintf("reading delivery request recipient: %s", attr_error(l));
            return -1;
        }
        if (deliver_rcpt_parse(l, &req->rcpts[i], error_r) < 0)
            return -1;
    }
    return 1;
}

int deliver_request_read(stream_t *s, struct deliver_request *req, char **error_r)
{
    struct attr_list *l = attr_list_new();
    memset(req, 0, sizeof(*req));
    int rc = deliver_read_all(s, l, req, error_r);
    if (rc <= 0)
        deliver_request_clear(req);
    attr_list_free(&l);
    return rc;
}

int deliver_results_send(stream_t *s, const struct deliver_request *req)
{
    for (size_t i = 0; i < req->nrcpts; i++) {
        const struct deliver_rcpt *r = &req->rcpts[i];
        int status = r->status;
        const char *dsn = r->dsn, *reason = r->reason;
        if (!dsn) { /* the agent left this one unset: never claim success */
            status = DELIVER_TEMP;
            dsn = "4.3.0";
            reason = "delivery agent gave no result";
        }
        attr_put_int(s, "index", (long long)r->index);
        attr_put_int(s, "status", status);
        attr_put_str(s, "dsn", dsn);
        attr_put_str(s, "reason", nz(reason));
        if (r->relay != NULL)
            attr_put_str(s, "relay", r->relay);
        if (r->site_fail && status == DELIVER_TEMP)
            attr_put_int(s, "site_fail", 1);
        attr_end(s);
    }
    return stream_flush(s) == STREAM_OK ? 0 : -1;
}

void deliver_rcpt_relay(struct deliver_rcpt *r, const char *relay)
{
    xfree(r->relay);
    if (relay != NULL && relay[0] != '\0')
        r->relay = xstrdup(relay);
}

void deliver_serve(stream_t *client, void (*handle)(struct deliver_request *req))
{
    for (;;) {
        struct deliver_request req;
        char *err = NULL;
        int rc = deliver_request_read(client, &req, &err);
        if (rc <= 0) {
            if (rc < 0)
                msg_warn("%s", err);
            free(err);
            return;
        }
        handle(&req);
        rc = deliver_results_send(client, &req);
        deliver_request_clear(&req);
        if (rc < 0) {
            msg_warn("cannot send delivery results to qmgr");
            return;
        }
    }
}
