/*
 * qmgr_sched.c - the scheduler: delivers many messages at once over many
 * delivery agent connections, in one process, driven by poll().
 *
 * - Ready list: queue files a scan found (incoming/, deferred/, active/)
 *   waiting to be started; at most qmgr_message_active_limit messages
 *   (kept below half the descriptor limit: each holds its file open) are
 *   open at once, the rest wait in their directory.  Files are started
 *   QMGR_START_BATCH at a time between rounds of dispatching, so the
 *   first deliveries do not wait for a large queue to be read.
 * - Destinations: one per (transport, next hop), or per (transport,
 *   recipient) when the transport's recipient limit is 1, as in Postfix.
 *   Each has a FIFO of requests and a concurrency window: it starts at
 *   initial_destination_concurrency, grows by 1/window for every request
 *   the agent answered (not all recipients deferred) up to
 *   TRANSPORT_destination_concurrency_limit, and shrinks by 1/window,
 *   not below 1, for every request that failed (connection trouble, or
 *   every recipient deferred).  TRANSPORT_destination_rate_delay > 0
 *   allows one delivery at a time, that long after the previous start.
 * - Dead destinations: a request whose recipients were all deferred with
 *   site_fail (deliver.h: no server of the next hop reached) adds
 *   1/window to the destination's failed cohorts; a success resets them.
 *   At destination_concurrency_failed_cohort_limit the destination is
 *   dead for minimal_backoff_time (or until a flush): what is queued for
 *   it, and what comes for it meanwhile, is deferred at once ("delivery
 *   temporarily suspended: REASON") without taking an agent or a
 *   concurrency slot.
 * - Fairness: dispatching serves the first destination (in list order)
 *   that may start a request and then moves it to the end of the list,
 *   so destinations take turns for the transport's process slots and a
 *   mailing of thousands of requests to one domain does not hold back a
 *   single message to another.
 * - Transports: at most as many requests in flight as the transport's
 *   master.cf process limit (maxproc; "-" is default_process_limit, 0 no
 *   limit), and the agent connections left idle by finished requests,
 *   reused for the next one and closed after $ipc_idle.
 *
 * While requests are in flight the server skeleton's loop does not run:
 * this loop looks at public/qmgr (at most every QMGR_LISTEN_QUIET_MS) and
 * has the skeleton serve the waiting wakeup requests there
 * (server_serve_pending); qmgr's trigger callback only records them
 * (qmgr_sched_request), and this loop rescans incoming/ or, for a flush,
 * deferred/.  It also rescans incoming/ once a second.
 */
#include "sys.h"

#include <poll.h>
#include <sys/resource.h>

#include "config.h"
#include "log.h"
#include "mastercf.h"
#include "mem.h"
#include "qmgr.h"
#include "server.h"
#include "str.h"

#define QMGR_START_BATCH 64    /* queue files started between dispatch rounds */
#define QMGR_TICK_MS 1000      /* housekeeping and rescans while busy */
#define QMGR_TIMED_OUT (-2)    /* job_end(): no answer within daemon_timeout */
#define QMGR_LISTEN_QUIET_MS 5 /* between looks at pending wakeup requests */
#define QMGR_SUSPENDED "delivery temporarily suspended: "

struct idle_conn {
    qmgr_conn_t *c;
    int64_t since;
};

struct transport {
    char *name;
    int limit; /* requests in flight at most; 0: no limit */
    int busy;
    int dest_limit;        /* TRANSPORT_destination_concurrency_limit */
    size_t rcpt_limit;     /* TRANSPORT_destination_recipient_limit */
    int64_t rate_delay_ms; /* TRANSPORT_destination_rate_delay */
    struct idle_conn *idle;
    size_t nidle;
    struct transport *next;
};

struct dest {
    struct transport *t;
    char *nexthop; /* or the recipient, when the recipient limit is 1 */
    struct qmgr_job *head, *tail;
    int busy;
    double window;
    double fail_cohorts; /* site failures since the last success, in windows */
    int64_t dead_until;  /* ms; 0: alive */
    char *dead_dsn;      /* why it is dead, for the mail deferred meanwhile */
    char *dead_reason;
    int64_t next_start; /* ms: the rate delay's earliest next start */
    struct dest *next;  /* in the round-robin list */
    struct dest *hnext; /* in its hash bucket */
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
    size_t msg_limit;
    struct transport *transports;
    struct dest *dests;
    size_t queued;      /* requests waiting in destinations */
    struct dest **htab; /* destinations by (transport, key) */
    size_t hsize, ndests;
    struct inflight *fl;
    size_t nfl;
    struct ready *rd;
    size_t rdhead, nrd;
    bool running, want_incoming, want_flush;
    int64_t next_tick, listen_quiet_until;
} sch;

/* ---- set-up: master.cf process limits, per-transport parameters -------- */

static bool is_transport(const char *name)
{
    for (size_t i = 0; i < sch.nlimits; i++)
        if (strcmp(sch.limit_names[i], name) == 0)
            return true;
    return false;
}

/* main.cf NAME_destination_* for a NAME that master.cf does not have. */
static void check_service_params(const char *mastercf)
{
    char **names = config_unknown_names();
    for (char **p = names; *p != NULL; p++) {
        const char *suffix = param_service_suffix(*p);
        if (suffix == NULL)
            continue;
        char *t = xstrndup(*p, strlen(*p) - strlen(suffix));
        if (!is_transport(t))
            msg_warn("main.cf: %s: %s has no transport %s", *p, mastercf, t);
        free(t);
    }
    cfg_list_free(&names);
}

/* Each open message holds a descriptor: stay well below the limit. */
static size_t message_limit(void)
{
    struct rlimit rl;
    size_t limit = (size_t)cfg_int("qmgr_message_active_limit");
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            (void)setrlimit(RLIMIT_NOFILE, &rl);
            (void)getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur != RLIM_INFINITY && limit > rl.rlim_cur / 2)
            limit = rl.rlim_cur / 2 > 16 ? rl.rlim_cur / 2 : 16;
    }
    return limit;
}

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
        check_service_params(path);
    }
    free(path);
    sch.msg_limit = message_limit();
}

static int transport_limit(const char *name)
{
    for (size_t i = 0; i < sch.nlimits; i++)
        if (strcmp(sch.limit_names[i], name) == 0)
            return sch.limits[i] < 0 ? (int)cfg_int("default_process_limit") : sch.limits[i];
    return (int)cfg_int("default_process_limit");
}

/* The expanded value of TRANSPORT+suffix, when main.cf or the table has it. */
static char *transport_param(const char *t, const char *suffix, char **name_r)
{
    char *name = xasprintf("%s%s", t, suffix), *v = NULL;
    if (param_find(name) != NULL) {
        v = xstrdup(cfg_str(name));
    } else {
        const char *raw = config_unknown_value(name);
        if (raw != NULL)
            v = cfg_expand(raw);
    }
    *name_r = name;
    return v;
}

/* TRANSPORT_destination_SUFFIX as a number, else the default_ parameter. */
static long long transport_number(const char *t, const char *suffix, const char *fallback,
                                  bool is_time)
{
    char *name, *v = transport_param(t, suffix, &name);
    long long n = is_time ? cfg_time(fallback) : cfg_int(fallback);
    long long min = is_time ? 0 : 1, x = 0;
    if (v != NULL) {
        char *end = NULL;
        bool ok = is_time ? config_parse_time(v, 's', &x) == 0
                          : ((void)(errno = 0), x = strtoll(v, &end, 10),
                             end != v && *end == '\0' && errno == 0);
        if (ok && x >= min)
            n = x;
        else
            msg_warn("%s = %s: not a %s of at least %lld; using $%s", name, v,
                     is_time ? "time" : "number", min, fallback);
    }
    free(v);
    free(name);
    return n;
}

static struct transport *transport_get(const char *name)
{
    for (struct transport *t = sch.transports; t != NULL; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    struct transport *t = xcalloc(1, sizeof(*t));
    t->name = xstrdup(name);
    t->limit = transport_limit(name);
    t->dest_limit = (int)transport_number(name, "_destination_concurrency_limit",
                                          "default_destination_concurrency_limit", false);
    t->rcpt_limit = (size_t)transport_number(name, "_destination_recipient_limit",
                                             "default_destination_recipient_limit", false);
    t->rate_delay_ms = 1000 * transport_number(name, "_destination_rate_delay",
                                               "default_destination_rate_delay", true);
    t->next = sch.transports;
    sch.transports = t;
    return t;
}

size_t qmgr_transport_rcpt_limit(const char *transport)
{
    return transport_get(transport)->rcpt_limit;
}

/* ---- destinations ------------------------------------------------------- */

static double initial_window(const struct transport *t)
{
    int init = (int)cfg_int("initial_destination_concurrency");
    if (t->rate_delay_ms > 0)
        return 1;
    return init < t->dest_limit ? init : t->dest_limit;
}

static size_t dest_hash(const struct transport *t, const char *key)
{
    uint64_t h = 14695981039346656037ULL ^ (uint64_t)(uintptr_t)t;
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h % sch.hsize);
}

/* Keep about one destination per bucket. */
static void dest_hash_grow(void)
{
    if (sch.ndests < sch.hsize)
        return;
    struct dest **old = sch.htab;
    size_t oldsize = sch.hsize;
    sch.hsize = sch.hsize == 0 ? 64 : 2 * sch.hsize;
    sch.htab = xcalloc(sch.hsize, sizeof(*sch.htab));
    for (size_t i = 0; i < oldsize; i++)
        for (struct dest *d = old[i], *n; d != NULL; d = n) {
            n = d->hnext;
            size_t b = dest_hash(d->t, d->nexthop);
            d->hnext = sch.htab[b];
            sch.htab[b] = d;
        }
    free(old);
}

static struct dest *dest_get(const char *transport, const char *key)
{
    struct transport *t = transport_get(transport);
    dest_hash_grow();
    size_t b = dest_hash(t, key);
    for (struct dest *d = sch.htab[b]; d != NULL; d = d->hnext)
        if (d->t == t && strcmp(d->nexthop, key) == 0)
            return d;
    struct dest *d = xcalloc(1, sizeof(*d));
    d->t = t;
    d->nexthop = xstrdup(key);
    d->window = initial_window(t);
    d->hnext = sch.htab[b];
    sch.htab[b] = d;
    sch.ndests++;
    /* Appended: a new destination takes its turn after those waiting. */
    struct dest **pp = &sch.dests;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = d;
    return d;
}

static void dest_free(struct dest *d)
{
    for (struct dest **pp = &sch.htab[dest_hash(d->t, d->nexthop)]; *pp != NULL; pp = &(*pp)->hnext)
        if (*pp == d) {
            *pp = d->hnext;
            break;
        }
    sch.ndests--;
    free(d->nexthop);
    free(d->dead_dsn);
    free(d->dead_reason);
    free(d);
}

/* Forget destinations with nothing queued or in flight that are not dead. */
static void dest_gc(int64_t now)
{
    for (struct dest **pp = &sch.dests; *pp != NULL;) {
        struct dest *d = *pp;
        if (d->head == NULL && d->busy == 0 && d->dead_until <= now &&
            (d->t->rate_delay_ms == 0 || d->next_start <= now)) {
            *pp = d->next;
            dest_free(d);
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
    if (d->window > d->t->dest_limit)
        d->window = d->t->dest_limit;
    if (d->window < 1)
        d->window = 1;
    if (d->t->rate_delay_ms > 0)
        d->window = 1;
}

/* Whether d is dead now; a dead time that is over starts it afresh. */
static bool dest_dead(struct dest *d, int64_t now)
{
    if (d->dead_until == 0)
        return false;
    if (now < d->dead_until)
        return true;
    d->dead_until = 0;
    xfree(d->dead_dsn);
    xfree(d->dead_reason);
    d->fail_cohorts = 0;
    d->window = initial_window(d->t);
    msg_info("delivery to %s:%s resumed", d->t->name, d->nexthop);
    return false;
}

/* Declare d dead for minimal_backoff_time because of the failure why. */
static void dest_suspend(struct dest *d, const struct deliver_rcpt *why)
{
    long long secs = cfg_time("minimal_backoff_time");
    const char *reason = why->reason;
    if (strncmp(reason, QMGR_SUSPENDED, strlen(QMGR_SUSPENDED)) == 0)
        reason += strlen(QMGR_SUSPENDED);
    d->dead_until = stream_now_ms() + 1000 * secs;
    free(d->dead_dsn);
    free(d->dead_reason);
    d->dead_dsn = xstrdup(why->dsn);
    d->dead_reason = xstrdup(reason);
    str_t *text = str_new(256); /* the reason comes from a remote server */
    str_append_printable(text, d->dead_reason, strlen(d->dead_reason), 500);
    msg_info("delivery to %s:%s suspended for %llds: %s", d->t->name, d->nexthop, secs,
             str_c(text));
    str_free(&text);
}

/* The site failure that ended a request (all deferred, one with site_fail), or NULL. */
static const struct deliver_rcpt *site_failure(const struct deliver_request *req)
{
    const struct deliver_rcpt *f = NULL;
    for (size_t i = 0; i < req->nrcpts; i++) {
        if (req->rcpts[i].status != DELIVER_TEMP)
            return NULL;
        if (req->rcpts[i].site_fail)
            f = &req->rcpts[i];
    }
    return f;
}

/* A request to d reached (or could not reach) the site: the dead cache. */
static void dest_site_feedback(struct dest *d, const struct deliver_request *req)
{
    const struct deliver_rcpt *f = site_failure(req);
    if (f == NULL) {
        d->fail_cohorts = 0;
        return;
    }
    d->fail_cohorts += 1.0 / d->window;
    if (d->dead_until == 0 &&
        d->fail_cohorts >= (double)cfg_int("destination_concurrency_failed_cohort_limit"))
        dest_suspend(d, f);
}

void qmgr_sched_add(struct qmgr_job *job)
{
    struct transport *t = transport_get(job->transport);
    const char *key = t->rcpt_limit == 1 ? job->req.rcpts[0].rcpt : job->nexthop;
    struct dest *d = dest_get(job->transport, key);
    job->next = NULL;
    if (d->tail != NULL)
        d->tail->next = job;
    else
        d->head = job;
    d->tail = job;
    sch.queued++;
}

static struct qmgr_job *dest_pop(struct dest *d)
{
    struct qmgr_job *job = d->head;
    d->head = job->next;
    if (d->head == NULL)
        d->tail = NULL;
    job->next = NULL;
    sch.queued--;
    return job;
}

static void dest_push_front(struct dest *d, struct qmgr_job *job)
{
    job->next = d->head;
    d->head = job;
    if (d->tail == NULL)
        d->tail = job;
    sch.queued++;
}

/* Defer everything queued for a dead destination, without trying it. */
static void dest_defer_queued(struct dest *d)
{
    while (d->head != NULL) {
        struct qmgr_job *job = dest_pop(d);
        for (size_t i = 0; i < job->req.nrcpts; i++) {
            struct deliver_rcpt *r = &job->req.rcpts[i];
            deliver_rcpt_result(r, DELIVER_TEMP, d->dead_dsn, QMGR_SUSPENDED "%s", d->dead_reason);
            deliver_rcpt_relay(r, "none");
        }
        qmgr_message_job_done(job);
    }
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
    dest_gc(now);
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
    int64_t now = stream_now_ms(), timeout = (int64_t)cfg_time("daemon_timeout") * 1000;
    sch.fl[sch.nfl++] = (struct inflight){c, job, d, now + timeout, reused};
    d->busy++;
    d->t->busy++;
    if (d->t->rate_delay_ms > 0)
        d->next_start = now + d->t->rate_delay_ms;
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
        dest_site_feedback(f.d, &f.job->req);
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

/* Whether d may start a request now. */
static bool dest_startable(const struct dest *d, int64_t now)
{
    if (d->head == NULL || d->dead_until != 0 || d->busy >= (int)d->window ||
        (d->t->limit > 0 && d->t->busy >= d->t->limit))
        return false;
    return d->t->rate_delay_ms == 0 || (d->busy == 0 && now >= d->next_start);
}

/*
 * Start what the windows and process limits allow: each time the first
 * destination in the list that may start one, which then goes to the end
 * of the list (round robin).  Dead destinations' mail is deferred.
 */
static void dispatch(void)
{
    int64_t now = stream_now_ms();
    for (struct dest *d = sch.dests; d != NULL; d = d->next)
        if (dest_dead(d, now) && d->head != NULL)
            dest_defer_queued(d);
    for (;;) {
        struct dest **pp = &sch.dests;
        while (*pp != NULL && !dest_startable(*pp, now))
            pp = &(*pp)->next;
        if (*pp == NULL)
            break;
        struct dest *d = *pp;
        *pp = d->next;
        d->next = NULL;
        while (*pp != NULL)
            pp = &(*pp)->next;
        *pp = d;
        job_start(d, dest_pop(d));
    }
    dest_gc(now);
}

/* When a rate-delayed destination may start again (-1: none waits). */
static int64_t next_rate_start(void)
{
    int64_t when = -1;
    for (const struct dest *d = sch.dests; d != NULL; d = d->next)
        if (d->head != NULL && d->t->rate_delay_ms > 0 && d->busy == 0 && d->dead_until == 0 &&
            (when < 0 || d->next_start < when))
            when = d->next_start;
    return when;
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

static bool ready_startable(void)
{
    return !ready_empty() && qmgr_message_count() < sch.msg_limit;
}

/* Move ready files to active/ and start them: a batch, while there is room. */
static void start_ready(void)
{
    for (int n = 0; n < QMGR_START_BATCH && ready_startable(); n++) {
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

/* ---- wakeup requests ------------------------------------------------------ */

void qmgr_sched_request(bool flush)
{
    sch.want_incoming = true;
    if (flush)
        sch.want_flush = true;
}

/*
 * Rescans asked for: a flush at once (it also ends every dead time, as
 * Postfix's flush does: the admin says "try now"), incoming/ when the
 * ready list is done.
 */
static void handle_requests(void)
{
    if (sch.want_flush) {
        sch.want_flush = false;
        for (struct dest *d = sch.dests; d != NULL; d = d->next)
            if (d->dead_until != 0)
                d->dead_until = 1; /* over: dest_dead() revives it */
        qmgr_scan_deferred(true);
    }
    if (ready_empty())
        qmgr_scan_deferred_when_due();
    if (ready_empty() && sch.want_incoming) {
        sch.want_incoming = false;
        qmgr_scan_incoming();
    }
}

/* ---- the loop ------------------------------------------------------------- */

static int wait_timeout(void)
{
    int64_t now = stream_now_ms(), until = sch.next_tick, rate = next_rate_start();
    if (ready_startable())
        return 0;
    if (rate >= 0 && rate < until)
        until = rate;
    return until <= now ? 0 : (int)(until - now);
}

static void wait_events(void)
{
    int nl = stream_now_ms() >= sch.listen_quiet_until ? server_listen_count() : 0;
    size_t n = (size_t)nl + sch.nfl;
    struct pollfd *p = xcalloc(n + 1, sizeof(*p));
    for (int i = 0; i < nl; i++)
        p[i] = (struct pollfd){.fd = server_listen_fd(i), .events = POLLIN};
    for (size_t i = 0; i < sch.nfl; i++)
        p[(size_t)nl + i] = (struct pollfd){.fd = qmgr_agent_fd(sch.fl[i].c), .events = POLLIN};
    int rc = poll(p, n, wait_timeout());
    if (rc < 0 && errno != EINTR)
        msg_fatal("poll: %s", strerror(errno));
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
    bool listen = false;
    for (int i = 0; rc > 0 && i < nl; i++)
        listen = listen || (p[i].revents & POLLIN);
    free(p);
    if (listen) { /* the skeleton calls our trigger: qmgr_sched_request() */
        sch.listen_quiet_until = stream_now_ms() + QMGR_LISTEN_QUIET_MS;
        (void)server_serve_pending();
    }
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
    if (sch.running) /* called again from a request served by this loop */
        return;
    sch.running = true;
    if (sch.msg_limit == 0)
        sch.msg_limit = message_limit();
    sch.next_tick = stream_now_ms() + QMGR_TICK_MS;
    for (;;) {
        handle_requests();
        start_ready();
        dispatch();
        if (sch.nfl == 0 && ready_empty() && sch.queued == 0 && !sch.want_flush &&
            !sch.want_incoming)
            break;
        wait_events();
        tick();
    }
    free(sch.rd);
    sch.rd = NULL;
    sch.rdhead = sch.nrd = 0;
    sch.running = false;
}
