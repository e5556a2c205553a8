/*
 * qmgr_sched.c - the scheduler: delivers many messages at once over many
 * delivery agent connections, in one process, driven by poll().
 *
 * - Ready list: queue files a scan found (incoming/, deferred/, active/)
 *   waiting to be started; at most QMGR_MSG_LIMIT messages are open at
 *   once, the rest wait in their directory.
 * - Destinations: one per (transport, next hop), a FIFO of requests and
 *   a concurrency window: it starts at initial_destination_concurrency,
 *   grows by 1/window for every request the agent answered (not all
 *   recipients deferred) up to default_destination_concurrency_limit,
 *   and shrinks by 1/window, not below 1, for every request that failed
 *   (connection trouble, or every recipient deferred).
 * - Transports: at most as many requests in flight as the transport's
 *   master.cf process limit (maxproc; "-" is default_process_limit, 0 no
 *   limit), and the agent connections left idle by finished requests,
 *   reused for the next one and closed after $ipc_idle.
 *
 * While requests are in flight the server skeleton's loop does not run:
 * this loop rescans incoming/ when public/qmgr has wakeup requests
 * waiting (looking at most every QMGR_LISTEN_QUIET_MS) and once a
 * second.  It leaves the requests themselves to the skeleton (they are
 * taken when the loop ends): a request still waiting makes master start
 * a new qmgr at once should this one die, as it did when delivery was
 * sequential; a flush request ("F") waits until the loop ends.
 */
#include "sys.h"

#include <poll.h>

#include "config.h"
#include "log.h"
#include "mastercf.h"
#include "mem.h"
#include "qmgr.h"
#include "server.h"

#define QMGR_MSG_LIMIT 500     /* queue files open at once */
#define QMGR_TICK_MS 1000      /* housekeeping and rescans while busy */
#define QMGR_TIMED_OUT (-2)    /* job_end(): no answer within daemon_timeout */
#define QMGR_LISTEN_QUIET_MS 5 /* between looks at pending wakeup requests */

struct idle_conn {
    qmgr_conn_t *c;
    int64_t since;
};

struct transport {
    char *name;
    int limit; /* requests in flight at most; 0: no limit */
    int busy;
    struct idle_conn *idle;
    size_t nidle;
    struct transport *next;
};

struct dest {
    struct transport *t;
    char *nexthop;
    struct qmgr_job *head, *tail;
    int busy;
    double window;
    struct dest *next;
};

struct inflight {
    qmgr_conn_t *c;
    struct qmgr_job *job;
    struct dest *d;
    int64_t deadline;
    bool reused;
};

struct ready {
    char *id;
    const char *dir;
};

static struct {
    char **limit_names; /* master.cf unix services and their maxproc */
    int *limits;
    size_t nlimits;
    struct transport *transports;
    struct dest *dests;
    struct inflight *fl;
    size_t nfl;
    struct ready *rd;
    size_t rdhead, nrd;
    bool want_incoming;
    int64_t next_tick, listen_quiet_until;
} sch;

/* ---- process limits from master.cf ------------------------------------ */

void qmgr_sched_init(void)
{
    char *path = xasprintf("%s/master.cf", cfg_str("config_directory"));
    struct mastercf *mcf = mastercf_parse_file(path);
    if (mcf == NULL) {
        msg_warn("%s: not readable; default_process_limit for every transport", path);
    } else {
        for (size_t i = 0; i < mcf->count; i++) {
            const struct mastercf_entry *e = &mcf->entries[i];
            if (e->type != MCF_UNIX)
                continue;
            sch.limit_names =
                xreallocarray(sch.limit_names, sch.nlimits + 1, sizeof(*sch.limit_names));
            sch.limits = xreallocarray(sch.limits, sch.nlimits + 1, sizeof(*sch.limits));
            sch.limit_names[sch.nlimits] = xstrdup(e->name);
            sch.limits[sch.nlimits++] = e->maxproc;
        }
        mastercf_free(&mcf);
    }
    free(path);
}

static int transport_limit(const char *name)
{
    for (size_t i = 0; i < sch.nlimits; i++)
        if (strcmp(sch.limit_names[i], name) == 0)
            return sch.limits[i] < 0 ? (int)cfg_int("default_process_limit") : sch.limits[i];
    return (int)cfg_int("default_process_limit");
}

/* ---- transports and destinations -------------------------------------- */

static struct transport *transport_get(const char *name)
{
    for (struct transport *t = sch.transports; t != NULL; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    struct transport *t = xcalloc(1, sizeof(*t));
    t->name = xstrdup(name);
    t->limit = transport_limit(name);
    t->next = sch.transports;
    sch.transports = t;
    return t;
}

static int dest_limit(void)
{
    return (int)cfg_int("default_destination_concurrency_limit");
}

static struct dest *dest_get(const char *transport, const char *nexthop)
{
    struct transport *t = transport_get(transport);
    for (struct dest *d = sch.dests; d != NULL; d = d->next)
        if (d->t == t && strcmp(d->nexthop, nexthop) == 0)
            return d;
    struct dest *d = xcalloc(1, sizeof(*d));
    d->t = t;
    d->nexthop = xstrdup(nexthop);
    int init = (int)cfg_int("initial_destination_concurrency");
    d->window = init < dest_limit() ? init : dest_limit();
    /* Appended: destinations are served in the order they appeared. */
    struct dest **pp = &sch.dests;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = d;
    return d;
}

/* Forget destinations with nothing queued or in flight. */
static void dest_gc(void)
{
    for (struct dest **pp = &sch.dests; *pp != NULL;) {
        struct dest *d = *pp;
        if (d->head == NULL && d->busy == 0) {
            *pp = d->next;
            free(d->nexthop);
            free(d);
        } else {
            pp = &d->next;
        }
    }
}

static void dest_feedback(struct dest *d, bool ok)
{
    if (ok)
        d->window += 1.0 / d->window;
    else
        d->window -= 1.0 / d->window;
    if (d->window > dest_limit())
        d->window = dest_limit();
    if (d->window < 1)
        d->window = 1;
}

void qmgr_sched_add(struct qmgr_job *job)
{
    struct dest *d = dest_get(job->transport, job->nexthop);
    job->next = NULL;
    if (d->tail != NULL)
        d->tail->next = job;
    else
        d->head = job;
    d->tail = job;
}

static struct qmgr_job *dest_pop(struct dest *d)
{
    struct qmgr_job *job = d->head;
    d->head = job->next;
    if (d->head == NULL)
        d->tail = NULL;
    job->next = NULL;
    return job;
}

static void dest_push_front(struct dest *d, struct qmgr_job *job)
{
    job->next = d->head;
    d->head = job;
    if (d->tail == NULL)
        d->tail = job;
}

/* ---- idle agent connections ------------------------------------------- */

static void idle_put(struct transport *t, qmgr_conn_t *c)
{
    t->idle = xreallocarray(t->idle, t->nidle + 1, sizeof(*t->idle));
    t->idle[t->nidle++] = (struct idle_conn){c, stream_now_ms()};
}

/* The most recently used idle connection that still works, or NULL. */
static qmgr_conn_t *idle_take(struct transport *t)
{
    while (t->nidle > 0) {
        qmgr_conn_t *c = t->idle[--t->nidle].c;
        if (qmgr_agent_usable(c))
            return c;
        qmgr_agent_close(&c);
    }
    return NULL;
}

void qmgr_sched_tick(void)
{
    int64_t now = stream_now_ms(), max_idle = (int64_t)cfg_time("ipc_idle") * 1000;
    for (struct transport *t = sch.transports; t != NULL; t = t->next) {
        size_t keep = 0;
        for (size_t i = 0; i < t->nidle; i++) {
            if (now - t->idle[i].since >= max_idle)
                qmgr_agent_close(&t->idle[i].c);
            else
                t->idle[keep++] = t->idle[i];
        }
        t->nidle = keep;
    }
}

/* ---- requests --------------------------------------------------------- */

/* The request failed as a whole: defer what has no result, and finish. */
static void job_fail(struct dest *d, struct qmgr_job *job, const char *fmt)
{
    char *why = xasprintf(fmt, d->t->name);
    qmgr_agent_defer_rest(&job->req, why);
    free(why);
    dest_feedback(d, false);
    qmgr_message_job_done(job);
}

static void job_start(struct dest *d, struct qmgr_job *job)
{
    char *error = NULL;
    qmgr_conn_t *c;
    bool reused;
    for (;;) {
        c = idle_take(d->t);
        reused = c != NULL;
        if (c == NULL && (c = qmgr_agent_connect(d->t->name, &error)) == NULL) {
            msg_warn("connect to private/%s: %s", d->t->name, error);
            free(error);
            job_fail(d, job, "mail transport unavailable (%s)");
            return;
        }
        if (qmgr_agent_send(c, &job->req, &error) == 0)
            break;
        qmgr_agent_close(&c);
        if (!reused) {
            msg_warn("%s: delivery agent %s: %s", job->req.queue_id, d->t->name, error);
            free(error);
            job_fail(d, job, "lost connection with the %s delivery agent");
            return;
        }
        xfree(error); /* an idle connection the agent had closed: a new one */
    }
    sch.fl = xreallocarray(sch.fl, sch.nfl + 1, sizeof(*sch.fl));
    int64_t timeout = (int64_t)cfg_time("daemon_timeout") * 1000;
    sch.fl[sch.nfl++] = (struct inflight){c, job, d, stream_now_ms() + timeout, reused};
    d->busy++;
    d->t->busy++;
}

static bool all_deferred(const struct deliver_request *req)
{
    for (size_t i = 0; i < req->nrcpts; i++)
        if (req->rcpts[i].status != DELIVER_TEMP)
            return false;
    return true;
}

/* Request i is over (rc as qmgr_agent_input, or QMGR_TIMED_OUT; error
 * says why when rc < 0). */
static void job_end(size_t i, int rc, const char *error)
{
    struct inflight f = sch.fl[i];
    sch.fl[i] = sch.fl[--sch.nfl];
    f.d->busy--;
    f.d->t->busy--;
    if (rc > 0) {
        dest_feedback(f.d, !all_deferred(&f.job->req));
        if (qmgr_agent_reusable(f.c))
            idle_put(f.d->t, f.c);
        else
            qmgr_agent_close(&f.c);
        qmgr_message_job_done(f.job);
        return;
    }
    bool nothing = qmgr_agent_received(f.c) == 0;
    qmgr_agent_close(&f.c);
    if (f.reused && nothing && rc != QMGR_TIMED_OUT) {
        /* A reused connection the agent closed before answering: the
         * request goes again on a new one (at worst delivered twice). */
        dest_push_front(f.d, f.job);
        return;
    }
    msg_warn("%s: delivery agent %s: %s", f.job->req.queue_id, f.d->t->name, error);
    job_fail(f.d, f.job, "lost connection with the %s delivery agent");
}

/* Start what the windows and process limits allow, destinations in turn. */
static void dispatch(void)
{
    bool progress = true;
    while (progress) {
        progress = false;
        for (struct dest *d = sch.dests; d != NULL; d = d->next) {
            if (d->head == NULL || d->busy >= (int)d->window ||
                (d->t->limit > 0 && d->t->busy >= d->t->limit))
                continue;
            job_start(d, dest_pop(d));
            progress = true;
        }
    }
    dest_gc();
}

/* ---- the ready list ----------------------------------------------------- */

void qmgr_sched_ready(const char *id, const char *dir)
{
    if (sch.rdhead == sch.nrd)
        sch.rdhead = sch.nrd = 0;
    sch.rd = xreallocarray(sch.rd, sch.nrd + 1, sizeof(*sch.rd));
    sch.rd[sch.nrd++] = (struct ready){xstrdup(id), dir};
}

static bool ready_empty(void)
{
    return sch.rdhead == sch.nrd;
}

/* Move ready files to active/ and start them, while there is room. */
static void start_ready(void)
{
    while (!ready_empty() && qmgr_message_count() < QMGR_MSG_LIMIT) {
        struct ready r = sch.rd[sch.rdhead++];
        char *error = NULL;
        /* Not fsynced: lost in a crash, the file is simply found again in dir. */
        if (strcmp(r.dir, QMGR_DIR_ACTIVE) != 0 &&
            qfile_rename(r.id, r.dir, QMGR_DIR_ACTIVE, &error) < 0) {
            if (errno != ENOENT)
                msg_warn("%s: move to active: %s", r.id, error);
            free(error);
        } else {
            qmgr_message_start(r.id);
        }
        free(r.id);
    }
}

/* ---- wakeup requests while busy ------------------------------------------ */

static int listen_count(void)
{
    const char *n = getenv(SERVER_ENV_NLISTEN);
    int k = n != NULL ? atoi(n) : 0;
    return k < 0 ? 0 : k > SERVER_MAX_LISTEN ? SERVER_MAX_LISTEN : k;
}

/* ---- the loop ------------------------------------------------------------- */

static void wait_events(void)
{
    int nl = stream_now_ms() >= sch.listen_quiet_until ? listen_count() : 0;
    size_t n = (size_t)nl + sch.nfl;
    struct pollfd *p = xcalloc(n, sizeof(*p));
    for (int i = 0; i < nl; i++)
        p[i] = (struct pollfd){.fd = SERVER_LISTEN_FD + i, .events = POLLIN};
    for (size_t i = 0; i < sch.nfl; i++)
        p[(size_t)nl + i] = (struct pollfd){.fd = qmgr_agent_fd(sch.fl[i].c), .events = POLLIN};
    int64_t wait = sch.next_tick - stream_now_ms();
    int rc = poll(p, n, wait < 0 ? 0 : (int)wait);
    if (rc < 0 && errno != EINTR)
        msg_fatal("poll: %s", strerror(errno));
    for (int i = 0; rc > 0 && i < nl; i++)
        if (p[i].revents & POLLIN) {
            sch.want_incoming = true;
            sch.listen_quiet_until = stream_now_ms() + QMGR_LISTEN_QUIET_MS;
        }
    /* From the end: job_end() moves the last entry into the one it ends. */
    for (size_t i = sch.nfl; rc > 0 && i-- > 0;) {
        if (!(p[(size_t)nl + i].revents & (POLLIN | POLLERR | POLLHUP)))
            continue;
        char *error = NULL;
        int r = qmgr_agent_input(sch.fl[i].c, &sch.fl[i].job->req, &error);
        if (r != 0)
            job_end(i, r, error);
        free(error);
    }
    free(p);
}

/* Once a second: requests past daemon_timeout, idle connections, rescans. */
static void tick(void)
{
    int64_t now = stream_now_ms();
    if (now < sch.next_tick)
        return;
    sch.next_tick = now + QMGR_TICK_MS;
    for (size_t i = sch.nfl; i-- > 0;)
        if (now > sch.fl[i].deadline)
            job_end(i, QMGR_TIMED_OUT, "timeout waiting for the delivery agent");
    qmgr_sched_tick();
    sch.want_incoming = true;
}

void qmgr_sched_run(void)
{
    sch.next_tick = stream_now_ms() + QMGR_TICK_MS;
    for (;;) {
        start_ready();
        dispatch();
        if (sch.nfl == 0 && ready_empty())
            break;
        wait_events();
        tick();
        if (ready_empty())
            qmgr_scan_deferred_when_due();
        if (ready_empty() && sch.want_incoming) {
            sch.want_incoming = false;
            qmgr_scan_incoming();
        }
    }
    free(sch.rd);
    sch.rd = NULL;
    sch.rdhead = sch.nrd = 0;
}
