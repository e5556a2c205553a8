/*
 * qmgr_message.c - one message in active/: resolve its pending
 * recipients, group them by (transport, next hop) into requests of at
 * most default_destination_recipient_limit, deliver, record each result
 * in the queue file, then remove the file, return failures to the
 * sender, or move it to deferred/ with a retry time (its mtime) and a
 * defer log saying why.
 *
 * Order of durability: a delivered recipient is marked (fsynced while
 * other recipients remain, so a crash does not repeat it)
 * after its agent says the mail is safe; a failed one is marked only
 * after its bounce is queued, so a crash can repeat a delivery or a
 * bounce but never lose one.
 */
#include "sys.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "config.h"
#include "defer_log.h"
#include "log.h"
#include "mem.h"
#include "qmgr.h"
#include "resolve.h"
#include "str.h"

struct outcomes {
    struct qmgr_outcome *v;
    size_t n;
};

struct qmgr_msg {
    char *id;
    qfile_t *qf;
    struct timeval arrival;
    struct outcomes failed, deferred, delivered;
    size_t jobs; /* requests given to the scheduler and not done */
};

static size_t active_messages;

struct batch {
    char *transport, *nexthop;
    size_t *idx;
    size_t n;
};

static void outcomes_add(struct outcomes *o, size_t index, int status, const char *dsn,
                         const char *reason, const char *relay)
{
    o->v = xreallocarray(o->v, size_add(o->n, 1), sizeof(*o->v));
    o->v[o->n++] =
        (struct qmgr_outcome){index, status, xstrdup(dsn), xstrdup(reason), xstrdup(relay)};
}

static void outcomes_clear(struct outcomes *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->v[i].dsn);
        free(o->v[i].reason);
        free(o->v[i].relay);
    }
    xfree(o->v);
    o->n = 0;
}

static double msg_delay(const struct qmgr_msg *m)
{
    struct timeval now;
    gettimeofday(&now, NULL);
    return (double)(now.tv_sec - m->arrival.tv_sec) +
           (double)(now.tv_usec - m->arrival.tv_usec) / 1e6;
}

/* "ID: to=<...>, orig_to=<...>, relay=..., delay=..., dsn=..., status=WORD (reason)" */
static void log_rcpt(const struct qmgr_msg *m, size_t i, const char *relay, const char *dsn,
                     const char *word, const char *reason)
{
    const struct qfile_rcpt *r = qfile_rcpt(m->qf, i);
    str_t *s = str_new(256);
    str_appendf(s, "%s: to=<", m->id);
    str_append_printable(s, r->address, strlen(r->address), 300);
    if (r->original[0] != '\0' && strcmp(r->original, r->address) != 0) {
        str_appendz(s, ">, orig_to=<");
        str_append_printable(s, r->original, strlen(r->original), 300);
    }
    str_appendf(s, ">, relay=%s, delay=%.2f, dsn=%s, status=%s (", relay, msg_delay(m), dsn, word);
    str_append_printable(s, reason, strlen(reason), 500);
    str_appendz(s, ")");
    msg_info("%s", str_c(s));
    str_free(&s);
}

static void mark(struct qmgr_msg *m, size_t i, char status)
{
    char *error = NULL;
    if (qfile_mark(m->qf, i, status, &error) < 0) {
        msg_error("%s: %s", m->id, error);
        free(error);
    }
}

/* Record one recipient's result (soft_bounce turns 5 into 4). */
static void record(struct qmgr_msg *m, size_t i, const char *relay, int status, const char *dsn,
                   const char *reason)
{
    const struct qfile_rcpt *r = qfile_rcpt(m->qf, i);
    char soft[16];
    if (status == DELIVER_PERM && cfg_bool("soft_bounce")) {
        snprintf(soft, sizeof(soft), "4%s", dsn + 1);
        dsn = soft;
        status = DELIVER_TEMP;
    }
    if (status == DELIVER_OK) {
        log_rcpt(m, i, relay, dsn, "sent", reason);
        mark(m, i, QFILE_RCPT_DELIVERED);
        if (r->notify & QFILE_NOTIFY_SUCCESS)
            outcomes_add(&m->delivered, i, status, dsn, reason, relay);
    } else if (status == DELIVER_PERM) {
        log_rcpt(m, i, relay, dsn, "bounced", reason);
        if (r->notify & QFILE_NOTIFY_NEVER)
            mark(m, i, QFILE_RCPT_FAILED);
        else
            outcomes_add(&m->failed, i, status, dsn, reason, relay);
    } else {
        log_rcpt(m, i, relay, dsn, "deferred", reason);
        outcomes_add(&m->deferred, i, status, dsn, reason, relay);
    }
}

/* "error:" next hop text: an optional leading X.Y.Z code, then the reason. */
static void record_error(struct qmgr_msg *m, size_t i, const char *text)
{
    char dsn[16] = "5.0.0";
    const char *sp = strchr(text, ' ');
    if (sp != NULL && (size_t)(sp - text) < sizeof(dsn)) {
        char code[16];
        memcpy(code, text, (size_t)(sp - text));
        code[sp - text] = '\0';
        if (dsn_status_valid(code) && code[0] != '2') {
            memcpy(dsn, code, sizeof(code));
            text = sp + 1;
        }
    }
    int status = dsn[0] == '4' ? DELIVER_TEMP : DELIVER_PERM;
    record(m, i, "none", status, dsn,
           text[0] != '\0' ? text : "mail for this recipient is not accepted");
}

/* DSN NOTIFY bits as the request text ("SUCCESS,FAILURE"; "" when not given). */
static char *notify_text(unsigned bits)
{
    if (bits & QFILE_NOTIFY_NEVER)
        return xstrdup("NEVER");
    str_t *s = str_new(32);
    if (bits & QFILE_NOTIFY_SUCCESS)
        str_appendz(s, "SUCCESS,");
    if (bits & QFILE_NOTIFY_FAILURE)
        str_appendz(s, "FAILURE,");
    if (bits & QFILE_NOTIFY_DELAY)
        str_appendz(s, "DELAY,");
    if (str_len(s) > 0)
        str_truncate(s, str_len(s) - 1);
    return str_steal(&s);
}

static void batch_add(struct batch **bs, size_t *nb, const struct resolve_result *r, size_t i)
{
    size_t limit = qmgr_transport_rcpt_limit(r->transport);
    struct batch *b = NULL;
    for (size_t k = 0; k < *nb && b == NULL; k++)
        if ((*bs)[k].n < limit && strcmp((*bs)[k].transport, r->transport) == 0 &&
            strcmp((*bs)[k].nexthop, r->nexthop) == 0)
            b = &(*bs)[k];
    if (b == NULL) {
        *bs = xreallocarray(*bs, size_add(*nb, 1), sizeof(**bs));
        b = &(*bs)[(*nb)++];
        *b = (struct batch){xstrdup(r->transport), xstrdup(r->nexthop), NULL, 0};
    }
    b->idx = xreallocarray(b->idx, b->n + 1, sizeof(*b->idx));
    b->idx[b->n++] = i;
}

/* The request for batch b of message m. */
static struct qmgr_job *batch_job(struct qmgr_msg *m, const struct batch *b)
{
    char qpath[64];
    snprintf(qpath, sizeof(qpath), "%s/%s", QMGR_DIR_ACTIVE, m->id);
    const char *envid = qfile_attr(m->qf, QFILE_ATTR_DSN_ENVID);
    const char *ret = qfile_attr(m->qf, QFILE_ATTR_DSN_RET);
    struct qmgr_job *job = xcalloc(1, sizeof(*job));
    job->msg = m;
    job->transport = xstrdup(b->transport);
    job->nexthop = xstrdup(b->nexthop);
    job->req = (struct deliver_request){
        .queue_id = xstrdup(m->id),
        .queue_file = xstrdup(qpath),
        .sender = xstrdup(qfile_sender(m->qf)),
        .nexthop = xstrdup(b->nexthop),
        .envid = xstrdup(envid ? envid : ""),
        .ret = xstrdup(ret ? ret : ""),
        .rcpts = xcalloc(b->n, sizeof(struct deliver_rcpt)),
        .nrcpts = b->n,
    };
    for (size_t k = 0; k < b->n; k++) {
        const struct qfile_rcpt *r = qfile_rcpt(m->qf, b->idx[k]);
        job->req.rcpts[k] = (struct deliver_rcpt){
            .index = b->idx[k],
            .rcpt = xstrdup(r->address),
            .orig_rcpt = xstrdup(r->original),
            .orcpt = xstrdup(r->orcpt),
            .notify = notify_text(r->notify),
        };
    }
    return job;
}

/* Resolve every pending recipient and group them into batches. */
static void resolve_all(struct qmgr_msg *m, struct batch **bs, size_t *nb)
{
    for (size_t i = 0; i < qfile_rcpt_count(m->qf); i++) {
        const struct qfile_rcpt *r = qfile_rcpt(m->qf, i);
        if (qfile_rcpt_done(r))
            continue;
        struct resolve_result res;
        char *error = NULL;
        if (resolve_addr_sender(r->address, qfile_sender(m->qf), &res, &error) < 0) {
            msg_warn("%s: resolve <%s>: %s", m->id, r->address, error);
            record(m, i, "none", DELIVER_TEMP, "4.3.0", "address resolver failure");
            free(error);
            continue;
        }
        if (strcmp(res.transport, "error") == 0)
            record_error(m, i, res.nexthop);
        else if (strcmp(res.transport, "discard") == 0)
            record(m, i, "none", DELIVER_OK, "2.0.0", "discarded");
        else
            batch_add(bs, nb, &res, i);
        resolve_result_clear(&res);
    }
}

/* Give the message's requests to the scheduler; false when there are none. */
static bool deliver_all(struct qmgr_msg *m)
{
    struct batch *bs = NULL;
    size_t nb = 0;
    resolve_all(m, &bs, &nb);
    struct qmgr_job **jobs = xcalloc(nb + 1, sizeof(*jobs));
    for (size_t k = 0; k < nb; k++) {
        jobs[k] = batch_job(m, &bs[k]);
        free(bs[k].transport);
        free(bs[k].nexthop);
        free(bs[k].idx);
    }
    free(bs);
    /* Count them all before the first can complete. */
    m->jobs = nb;
    for (size_t k = 0; k < nb; k++)
        qmgr_sched_add(jobs[k]);
    free(jobs);
    return nb > 0;
}

/* The outcomes as DSN recipients (strings point into o and the file). */
static struct dsn_rcpt *dsn_list(const struct qmgr_msg *m, const struct outcomes *o,
                                 enum dsn_action action)
{
    struct dsn_rcpt *v = xcalloc(o->n, sizeof(*v));
    for (size_t k = 0; k < o->n; k++) {
        const struct qfile_rcpt *r = qfile_rcpt(m->qf, o->v[k].index);
        v[k] = (struct dsn_rcpt){r->address, r->orcpt, o->v[k].dsn, o->v[k].reason, action};
    }
    return v;
}

/* Too old to keep trying: deferred recipients fail with their reasons. */
static void expire(struct qmgr_msg *m)
{
    time_t life = cfg_time(qfile_sender(m->qf)[0] == '\0' ? "bounce_queue_lifetime"
                                                          : "maximal_queue_lifetime");
    if (m->deferred.n == 0 || time(NULL) - m->arrival.tv_sec < life)
        return;
    for (size_t k = 0; k < m->deferred.n; k++) {
        struct qmgr_outcome *o = &m->deferred.v[k];
        char *why =
            xasprintf("message expired after %llds in the queue: %s", (long long)life, o->reason);
        char dsn[16];
        snprintf(dsn, sizeof(dsn), "5%s", o->dsn + 1);
        log_rcpt(m, o->index, o->relay, dsn, "expired, returned to sender", o->reason);
        if (qfile_rcpt(m->qf, o->index)->notify & QFILE_NOTIFY_NEVER)
            mark(m, o->index, QFILE_RCPT_FAILED);
        else
            outcomes_add(&m->failed, o->index, DELIVER_PERM, dsn, why, o->relay);
        free(why);
    }
    outcomes_clear(&m->deferred);
}

/* Bounce the failed recipients; mark them only once the bounce is queued. */
static void bounce_failed(struct qmgr_msg *m)
{
    if (m->failed.n == 0)
        return;
    struct dsn_rcpt *v = dsn_list(m, &m->failed, DSN_FAILED);
    int rc = qmgr_notice_send(m->qf, m->id, v, m->failed.n, 0);
    free(v);
    for (size_t k = 0; k < m->failed.n; k++) {
        struct qmgr_outcome *o = &m->failed.v[k];
        if (rc == 0)
            mark(m, o->index, QFILE_RCPT_FAILED);
        else
            outcomes_add(&m->deferred, o->index, DELIVER_TEMP, "4.3.0",
                         "delivery failed, and the bounce could not be queued yet", o->relay);
    }
    outcomes_clear(&m->failed);
}

static void notify_delivered(struct qmgr_msg *m)
{
    if (m->delivered.n == 0)
        return;
    struct dsn_rcpt *v = dsn_list(m, &m->delivered, DSN_DELIVERED);
    (void)qmgr_notice_send(m->qf, m->id, v, m->delivered.n, 0);
    free(v);
    outcomes_clear(&m->delivered);
}

/* delay_warning_time: one "delayed" notice per message, recorded in the log. */
static void warn_delayed(struct qmgr_msg *m, struct defer_log *log)
{
    long long after = cfg_time("delay_warning_time");
    if (after <= 0 || log->warned != 0 || time(NULL) - m->arrival.tv_sec < after)
        return;
    struct outcomes want = {0};
    for (size_t k = 0; k < m->deferred.n; k++) {
        unsigned bits = qfile_rcpt(m->qf, m->deferred.v[k].index)->notify;
        if (bits == 0 || (bits & QFILE_NOTIFY_DELAY))
            outcomes_add(&want, m->deferred.v[k].index, DELIVER_TEMP, m->deferred.v[k].dsn,
                         m->deferred.v[k].reason, m->deferred.v[k].relay);
    }
    if (want.n > 0) {
        struct dsn_rcpt *v = dsn_list(m, &want, DSN_DELAYED);
        time_t until = m->arrival.tv_sec + (time_t)cfg_time("maximal_queue_lifetime");
        if (qmgr_notice_send(m->qf, m->id, v, want.n, until) == 0)
            log->warned = time(NULL);
        free(v);
    }
    outcomes_clear(&want);
}

/* Back-off: the message's age, between the minimal and maximal times. */
static time_t next_retry(const struct qmgr_msg *m)
{
    time_t now = time(NULL);
    long long delay = (long long)(now - m->arrival.tv_sec);
    long long lo = cfg_time("minimal_backoff_time"), hi = cfg_time("maximal_backoff_time");
    if (delay > hi)
        delay = hi;
    if (delay < lo)
        delay = lo;
    return now + (time_t)delay;
}

static void defer_message(struct qmgr_msg *m)
{
    struct defer_log log = {0};
    char *error = NULL;
    if (defer_log_read(".", m->id, &log, &error) < 0) {
        msg_warn("%s: %s", m->id, error);
        xfree(error);
    }
    time_t warned = log.warned;
    defer_log_clear(&log);
    log.warned = warned;
    for (size_t k = 0; k < m->deferred.n; k++) {
        const struct qfile_rcpt *r = qfile_rcpt(m->qf, m->deferred.v[k].index);
        defer_log_add(&log, r->address, r->original, m->deferred.v[k].dsn, m->deferred.v[k].reason,
                      time(NULL));
    }
    warn_delayed(m, &log);
    if (defer_log_write(".", m->id, &log, &error) < 0) {
        msg_warn("%s: defer log: %s", m->id, error);
        xfree(error);
    }
    defer_log_clear(&log);
    qfile_close(&m->qf);
    /* The retry time (mtime) is set before the move, so the file never
     * sits in deferred/ without it (a deferred scan would retry it now). */
    time_t when = next_retry(m);
    struct timespec ts[2] = {{.tv_sec = when}, {.tv_sec = when}};
    char *path = qfile_path(QMGR_DIR_ACTIVE, m->id);
    if (utimensat(AT_FDCWD, path, ts, 0) < 0)
        msg_warn("%s: set retry time: %s", path, strerror(errno));
    free(path);
    if (qfile_move(m->id, QMGR_DIR_ACTIVE, QMGR_DIR_DEFERRED, &error) < 0) {
        msg_error("%s: %s", m->id, error);
        free(error);
    }
}

static void finish(struct qmgr_msg *m)
{
    expire(m);
    bounce_failed(m);
    notify_delivered(m);
    char *error = NULL;
    if (qfile_rcpt_pending(m->qf) > 0) {
        if (qfile_sync(m->qf, &error) < 0) {
            msg_error("%s: %s", m->id, error);
            xfree(error);
        }
        defer_message(m);
        return;
    }
    qfile_close(&m->qf);
    /* Not fsynced: an unlink lost in a crash means one more delivery of
     * a delivered message (allowed), never a lost one. */
    if (qfile_unlink(QMGR_DIR_ACTIVE, m->id, &error) < 0) {
        msg_error("%s: %s", m->id, error);
        free(error);
        return;
    }
    defer_log_remove(".", m->id);
    msg_info("%s: removed", m->id);
}

/* A file that would not open: set it aside so it is not tried forever. */
static void open_failed(const char *id, int rc, const char *error)
{
    char *err2 = NULL;
    if (rc == QFILE_IOERROR && errno == ENOENT)
        return;
    const char *to = rc == QFILE_IOERROR ? QMGR_DIR_DEFERRED : QMGR_DIR_CORRUPT;
    msg_warn("%s: %s; moving it to %s", id, error, to);
    if (qfile_move(id, QMGR_DIR_ACTIVE, to, &err2) < 0) {
        msg_error("%s: %s", id, err2);
        free(err2);
    }
}

static void log_from(const struct qmgr_msg *m)
{
    str_t *s = str_new(128);
    const char *sender = qfile_sender(m->qf);
    str_appendf(s, "%s: from=<", m->id);
    str_append_printable(s, sender, strlen(sender), 300);
    str_appendf(s, ">, size=%llu, nrcpt=%zu (queue active)",
                (unsigned long long)qfile_content_size(m->qf), qfile_rcpt_count(m->qf));
    msg_info("%s", str_c(s));
    str_free(&s);
}

static void msg_free(struct qmgr_msg *m)
{
    outcomes_clear(&m->failed);
    outcomes_clear(&m->deferred);
    outcomes_clear(&m->delivered);
    qfile_close(&m->qf);
    free(m->id);
    free(m);
    active_messages--;
}

size_t qmgr_message_count(void)
{
    return active_messages;
}

void qmgr_message_start(const char *id)
{
    char *path = qfile_path(QMGR_DIR_ACTIVE, id), *error = NULL;
    qfile_t *qf = NULL;
    int rc = qfile_open(path, QFILE_OPEN_RDWR, &qf, &error);
    if (rc == QFILE_INCOMPLETE) {
        xfree(error);
        if (qfile_recover(path, &error) == 0)
            rc = qfile_open(path, QFILE_OPEN_RDWR, &qf, &error);
    }
    free(path);
    if (rc != 0) {
        open_failed(id, rc, error);
        free(error);
        return;
    }
    struct qmgr_msg *m = xcalloc(1, sizeof(*m));
    m->id = xstrdup(id);
    m->qf = qf;
    active_messages++;
    qfile_arrival(m->qf, &m->arrival);
    log_from(m);
    if (!deliver_all(m)) {
        finish(m);
        msg_free(m);
    }
}

void qmgr_message_job_done(struct qmgr_job *job)
{
    struct qmgr_msg *m = job->msg;
    struct deliver_request *req = &job->req;
    for (size_t k = 0; k < req->nrcpts; k++)
        record(m, req->rcpts[k].index, req->rcpts[k].relay ? req->rcpts[k].relay : job->transport,
               req->rcpts[k].status, req->rcpts[k].dsn, req->rcpts[k].reason);
    deliver_request_clear(req);
    free(job->transport);
    free(job->nexthop);
    free(job);
    /* Marks matter only while requests remain: after the last one,
     * finish() syncs them only if the file stays in the queue. */
    if (--m->jobs > 0) {
        char *error = NULL;
        if (qfile_sync(m->qf, &error) < 0) {
            msg_error("%s: %s", m->id, error);
            free(error);
        }
        return;
    }
    finish(m);
    msg_free(m);
}
