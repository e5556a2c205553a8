/*
 * authd.c - the authentication service: answers "is this user name and
 * password right" for smtpd, pop3d and imapd over private/auth (protocol
 * in auth_client.h), and is the only process that reads the user database.
 *
 * One long-running process (SERVER_MULTI, master.cf maxproc 1) serves all
 * clients, so the failure counters that throttle password guessing are
 * in one place.  A failed attempt is answered only after a delay that
 * doubles with each recent failure from the client's address or for the
 * user (auth_failure_delay .. auth_failure_max_delay); authd enforces it
 * by holding the reply, without blocking other clients: delayed replies
 * wait in a list that the once-a-second wakeup sends when due.  After
 * auth_failure_limit recent failures the address or user is refused
 * outright until auth_failure_reset_time has passed without one.
 *
 * A pop3d or imapd login process asks for a one-time login cookie with
 * its request (cookie=yes) and passes only the cookie to its root session
 * parent, which redeems it here (request=redeem) to learn who logged in;
 * the table is in authd_cookie.c.  Only a root peer may redeem (checked
 * with SO_PEERCRED): the login processes run as mail_owner, like authd.
 * In an authd not started as root (a test instance run by one user, with
 * no privilege boundary) a peer with authd's own uid may redeem too.
 *
 * The password hashes are checked by worker processes (authd_worker.c),
 * never in this loop: a request that needs a check becomes a job, with
 * copies of what its reply will need (the user database may be re-read
 * meanwhile), and is finished by authd_job_done when the worker answers.
 * Everything else (refusals, malformed requests, redeem, database
 * unavailable) is answered at once.
 */
#include "sys.h"

#include "attr.h"
#include "auth_client.h"
#include "authd.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "server.h"
#include "str.h"

#include <sys/random.h>
#include <sys/socket.h>

#define AUTHD_TICK 1               /* seconds between looks at delayed replies */
#define AUTHD_CLIENT_TIMEOUT 10    /* seconds to read a request or write a reply */
#define AUTHD_MAX_USE "2147483647" /* keep the failure counters: see main() */

/* A reply, sent now or when due. */
struct authd_reply {
    stream_t *client;
    enum auth_status status;
    char *user; /* ok: copy of the canonical name */
    long uid, gid;
    char *home;
    const char *reason;
    char *cookie; /* ok, asked for: the login cookie */
    int64_t delay_ms;
    int64_t due_ms;
    struct authd_reply *next;
};

/* A request=auth whose password is being checked by a worker. */
struct authd_job {
    stream_t *client; /* NULL once the client went away: never used after */
    char *service, *user, *addr, *ip_key, *user_key;
    bool tls, want_cookie;
    bool known; /* the user is in the database; the rest is a copy of the entry */
    char *db_user, *home;
    long uid, gid;
    int line;
    struct authd_job *next;
};

static struct {
    struct authd_throttle *throttle;
    struct authd_reply *pending;
    struct authd_job *jobs; /* at a worker or waiting for one */
    struct attr_list *req;
    char *dummy_hash; /* checked for unknown users, so they take as long */
    int64_t base_ms, max_ms, reset_ms;
    long limit;
    struct authd_cookies *cookies;
    int64_t cookie_ms;    /* auth_login_cookie_lifetime */
    bool started_as_root; /* before the skeleton dropped to mail_owner */
} authd;

/* ---- replies ------------------------------------------------------------ */

static void authd_reply_free(struct authd_reply **rp)
{
    xfree((*rp)->user);
    xfree((*rp)->home);
    if ((*rp)->cookie != NULL)
        explicit_bzero((*rp)->cookie, strlen((*rp)->cookie));
    xfree((*rp)->cookie);
    xfree(*rp);
}

static void authd_reply_send(struct authd_reply *r)
{
    stream_t *s = r->client;
    attr_put_str(s, "status", auth_status_name(r->status));
    if (r->status == AUTH_OK) {
        attr_put_str(s, "user", r->user);
        attr_put_int(s, "uid", r->uid);
        attr_put_int(s, "gid", r->gid);
        attr_put_str(s, "home", r->home);
        if (r->cookie != NULL)
            attr_put_str(s, "cookie", r->cookie);
    } else
        attr_put_str(s, "reason", r->reason);
    attr_put_int(s, "delay_ms", r->delay_ms);
    attr_end(s);
    if (stream_flush(s) != STREAM_OK)
        msg_warn("cannot send a reply to an authd client: %s", stream_strstatus(stream_error(s)));
}

/* Send now, or queue until the delay has passed. */
static void authd_reply(struct authd_reply *r)
{
    if (r->delay_ms <= 0) {
        authd_reply_send(r);
        authd_reply_free(&r);
        return;
    }
    r->due_ms = stream_now_ms() + r->delay_ms;
    r->next = authd.pending;
    authd.pending = r;
}

static bool authd_is_pending(const stream_t *client)
{
    for (const struct authd_reply *r = authd.pending; r; r = r->next)
        if (r->client == client)
            return true;
    for (const struct authd_job *j = authd.jobs; j; j = j->next)
        if (j->client == client)
            return true;
    return false;
}

static void authd_job_unlink(struct authd_job *job)
{
    for (struct authd_job **pp = &authd.jobs; *pp; pp = &(*pp)->next)
        if (*pp == job) {
            *pp = job->next;
            return;
        }
}

static void authd_job_free(struct authd_job **jp)
{
    struct authd_job *j = *jp;
    free(j->service);
    free(j->user);
    free(j->addr);
    free(j->ip_key);
    free(j->user_key);
    free(j->db_user);
    free(j->home);
    free(j);
    *jp = NULL;
}

/* The wakeup: send the delayed replies that are due; forget old failures. */
static void authd_wakeup(const char *service, void *ctx)
{
    (void)service;
    (void)ctx;
    int64_t now = stream_now_ms();
    for (struct authd_reply **pp = &authd.pending; *pp;) {
        struct authd_reply *r = *pp;
        if (r->due_ms > now) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        authd_reply_send(r);
        authd_reply_free(&r);
    }
    authd_throttle_prune(authd.throttle, now, authd.reset_ms);
    authd_cookies_prune(authd.cookies, now);
    authd_workers_tick();
}

/*
 * A client went away: its delayed reply has nobody to go to; its check is
 * dropped if it still waits for a worker, else its result will be
 * discarded (authd_job_done sees the client gone).
 */
static void authd_disconnect(stream_t *client, void *ctx)
{
    (void)ctx;
    for (struct authd_job *j = authd.jobs, *next; j; j = next) {
        next = j->next;
        if (j->client != client)
            continue;
        j->client = NULL;
        if (authd_workers_cancel(j)) {
            authd_job_unlink(j);
            authd_job_free(&j);
        }
    }
    for (struct authd_reply **pp = &authd.pending; *pp;) {
        struct authd_reply *r = *pp;
        if (r->client == client) {
            *pp = r->next;
            authd_reply_free(&r);
        } else
            pp = &r->next;
    }
}

/* ---- one request -------------------------------------------------------- */

struct authd_req {
    const char *service, *user, *password, *addr;
    bool tls;
    bool want_cookie; /* cookie=yes */
    char *ip_key, *user_key;
};

static void authd_log(const char *what, const struct authd_req *q, const char *reason)
{
    str_t *u = str_new(64), *a = str_new(64), *sv = str_new(16);
    str_append_printable(u, q->user, strlen(q->user), AUTH_USER_MAX);
    str_append_printable(a, q->addr, strlen(q->addr), 64);
    str_append_printable(sv, q->service, strlen(q->service), 16);
    if (reason != NULL)
        msg_info("%s: user=<%s>, rip=%s, service=%s%s, reason=%s", what, str_c(u),
                 str_len(a) ? str_c(a) : "local", str_c(sv), q->tls ? ", tls" : "", reason);
    else
        msg_info("%s: user=<%s>, rip=%s, service=%s%s", what, str_c(u),
                 str_len(a) ? str_c(a) : "local", str_c(sv), q->tls ? ", tls" : "");
    str_free(&u);
    str_free(&a);
    str_free(&sv);
}

/* The larger of the recent-failure counts of the address and the user. */
static long authd_recent(const struct authd_req *q, int64_t now)
{
    long n = authd_throttle_count(authd.throttle, q->user_key, now, authd.reset_ms);
    if (q->ip_key != NULL) {
        long m = authd_throttle_count(authd.throttle, q->ip_key, now, authd.reset_ms);
        n = m > n ? m : n;
    }
    return n;
}

static void authd_count_failure(const struct authd_req *q, struct authd_reply *r)
{
    int64_t now = stream_now_ms();
    long n = authd_throttle_fail(authd.throttle, q->user_key, now, authd.reset_ms);
    if (q->ip_key != NULL) {
        long m = authd_throttle_fail(authd.throttle, q->ip_key, now, authd.reset_ms);
        n = m > n ? m : n;
    }
    r->delay_ms = authd_failure_delay_ms(n, authd.base_ms, authd.max_ms);
}

/* The request as authd_log and the throttle functions see it. */
static struct authd_req authd_job_req(const struct authd_job *j)
{
    return (struct authd_req){.service = j->service,
                              .user = j->user,
                              .password = "",
                              .addr = j->addr,
                              .tls = j->tls,
                              .want_cookie = j->want_cookie,
                              .ip_key = j->ip_key,
                              .user_key = j->user_key};
}

/* Refused outright: too many recent failures. */
static bool authd_refused(const struct authd_req *q, struct authd_reply *r)
{
    if (authd_recent(q, stream_now_ms()) < authd.limit)
        return false;
    r->status = AUTH_FAIL;
    r->reason = "too many failures";
    r->delay_ms = authd.max_ms;
    authd_log("authentication refused", q, r->reason);
    return true;
}

/*
 * A worker's answer (rc 1 right, 0 wrong, -1 cannot check) completes the
 * decision.  The limit is looked at again: failures of checks that ran
 * alongside this one count, as they would have if checked one by one.
 */
static void authd_job_done(void *ctx, int rc, const char *error)
{
    struct authd_job *j = ctx;
    struct authd_req q = authd_job_req(j);
    authd_job_unlink(j);
    if (rc < 0 && error != NULL) {
        if (j->known)
            msg_error("%s, line %d: user %s: %s", authd_db_path(), j->line, j->db_user, error);
        else
            msg_error("cannot check the dummy password hash: %s", error);
    }
    if (!j->known && rc > 0)
        rc = 0;
    struct authd_reply *r = xcalloc(1, sizeof(*r));
    r->client = j->client;
    r->uid = r->gid = -1;
    if (j->client == NULL) { /* nobody to answer, but a wrong guess still counts */
        if (rc == 0)
            authd_count_failure(&q, r);
        authd_log("authentication result discarded", &q, "client disconnected");
        authd_reply_free(&r);
        authd_job_free(&j);
        return;
    }
    if (authd_refused(&q, r)) {
        authd_reply(r);
        authd_job_free(&j);
        return;
    }
    if (rc > 0) {
        r->status = AUTH_OK;
        r->user = j->db_user;
        r->home = j->home;
        j->db_user = j->home = NULL;
        r->uid = j->uid;
        r->gid = j->gid;
        authd_throttle_forget(authd.throttle, q.user_key);
        if (q.want_cookie) {
            const struct authd_login login = {.service = (char *)q.service,
                                              .user = r->user,
                                              .uid = r->uid,
                                              .gid = r->gid,
                                              .home = r->home};
            r->cookie = xmalloc(AUTH_COOKIE_LEN + 1);
            authd_cookie_issue(authd.cookies, &login, stream_now_ms(), authd.cookie_ms, r->cookie);
        }
        authd_log(q.want_cookie ? "authenticated, login cookie issued" : "authenticated", &q, NULL);
    } else {
        r->status = rc < 0 ? AUTH_TEMPFAIL : AUTH_FAIL;
        r->reason = rc < 0 ? "cannot check the password" : "authentication failed";
        if (rc == 0)
            authd_count_failure(&q, r);
        authd_log("authentication failed", &q,
                  rc < 0      ? r->reason
                  : !j->known ? "unknown user"
                              : "wrong password");
    }
    authd_reply(r);
    authd_job_free(&j);
}

/*
 * Answer now (true: r filled), or hand the check to a worker (false: the
 * job answers later; q's keys are taken over).  An unknown user is
 * checked against the dummy hash, so that it takes as long.
 */
static bool authd_decide(stream_t *client, struct authd_req *q, struct authd_reply *r)
{
    const struct passwd_db *db = authd_db_get();
    if (authd_refused(q, r))
        return true;
    if (db == NULL) {
        r->status = AUTH_TEMPFAIL;
        r->reason = "user database unavailable";
        authd_log("authentication failed", q, r->reason);
        return true;
    }
    const struct passwd_entry *e = passwd_db_find(db, q->user);
    struct authd_job *j = xcalloc(1, sizeof(*j));
    j->client = client;
    j->service = xstrdup(q->service);
    j->user = xstrdup(q->user);
    j->addr = xstrdup(q->addr);
    j->ip_key = q->ip_key;
    j->user_key = q->user_key;
    q->ip_key = q->user_key = NULL;
    j->tls = q->tls;
    j->want_cookie = q->want_cookie;
    j->uid = j->gid = -1;
    char *stored;
    if (e != NULL) {
        j->known = true;
        j->db_user = xstrdup(e->user);
        j->home = xstrdup(e->home);
        j->uid = e->uid;
        j->gid = e->gid;
        j->line = e->line;
        stored = xasprintf("{%s}%s", e->scheme, e->hash);
    } else
        stored = xstrdup(authd.dummy_hash);
    j->next = authd.jobs;
    authd.jobs = j;
    authd_workers_submit(stored, q->password, authd_job_done, j); /* j may be gone now */
    free(stored);
    return false;
}

/* Pull a request=auth's attributes; -1 when malformed (logged). */
static int authd_parse(struct attr_list *l, struct authd_req *q)
{
    const char *tls, *cookie;
    if (attr_get_str(l, "service", &q->service) < 0 || attr_get_str(l, "user", &q->user) < 0 ||
        attr_get_str(l, "password", &q->password) < 0 ||
        attr_get_str_opt(l, "client_addr", "", &q->addr) < 0 ||
        attr_get_str_opt(l, "tls", "no", &tls) < 0 ||
        attr_get_str_opt(l, "cookie", "no", &cookie) < 0) {
        msg_warn("malformed request from an authd client: %s", attr_error(l));
        return -1;
    }
    q->tls = strcmp(tls, "yes") == 0;
    q->want_cookie = strcmp(cookie, "yes") == 0;
    return 0;
}

/* Forget the password (and a cookie) as soon as it has been used. */
static void authd_wipe(struct attr_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->items[i].name, "password") == 0 || strcmp(l->items[i].name, "cookie") == 0)
            explicit_bzero(l->items[i].value, l->items[i].len);
}

static void authd_handle(stream_t *client, struct authd_req *q)
{
    struct authd_reply *r = xcalloc(1, sizeof(*r));
    r->client = client;
    r->uid = r->gid = -1;
    if (q->user[0] == '\0' || strlen(q->user) > AUTH_USER_MAX ||
        strlen(q->password) > AUTH_PASSWORD_MAX) {
        r->status = AUTH_FAIL;
        r->reason = "user name or password empty or too long";
        authd_log("authentication failed", q, r->reason);
        r->delay_ms = authd.base_ms;
    } else {
        q->ip_key = authd_throttle_ip_key(q->addr);
        q->user_key = authd_throttle_user_key(q->user);
        if (!authd_decide(client, q, r)) {
            authd_reply_free(&r);
            return;
        }
    }
    authd_reply(r);
}

/* ---- redeeming a login cookie --------------------------------------------- */

/*
 * Whether the peer of client may redeem cookies: uid 0, or authd's own uid
 * when authd was not started as root.  *uid_r: the peer's uid (-1 unknown).
 */
static bool authd_peer_may_redeem(stream_t *client, long *uid_r)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    *uid_r = -1;
    if (getsockopt(stream_fd(client), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
        len != sizeof(cred)) {
        msg_warn("cannot get the credentials of an authd client: %s", strerror(errno));
        return false;
    }
    *uid_r = (long)cred.uid;
    if (cred.uid == 0)
        return true;
    return !authd.started_as_root && cred.uid == geteuid();
}

static void authd_redeem_log(const char *what, const char *user, const char *service,
                             const char *reason)
{
    str_t *u = str_new(64), *sv = str_new(16);
    if (user != NULL)
        str_append_printable(u, user, strlen(user), AUTH_USER_MAX);
    str_append_printable(sv, service, strlen(service), 16);
    if (reason == NULL)
        msg_info("%s: user=<%s>, service=%s", what, str_c(u), str_c(sv));
    else if (user != NULL)
        msg_warn("%s: user=<%s>, service=%s, reason=%s", what, str_c(u), str_c(sv), reason);
    else
        msg_warn("%s: service=%s, reason=%s", what, str_c(sv), reason);
    str_free(&u);
    str_free(&sv);
}

/* request=redeem: answered at once, never delayed. */
static int authd_redeem(stream_t *client, struct attr_list *l)
{
    const char *service, *cookie;
    if (attr_get_str(l, "service", &service) < 0 || attr_get_str(l, "cookie", &cookie) < 0) {
        msg_warn("malformed request from an authd client: %s", attr_error(l));
        return -1;
    }
    struct authd_reply *r = xcalloc(1, sizeof(*r));
    r->client = client;
    r->uid = r->gid = -1;
    r->status = AUTH_FAIL;
    long peer;
    if (!authd_peer_may_redeem(client, &peer)) {
        /* Not looked up, so not consumed: the real session parent may still redeem it. */
        r->reason = "not allowed to redeem login cookies";
        str_t *sv = str_new(16);
        str_append_printable(sv, service, strlen(service), 16);
        msg_warn("login cookie redeem refused: peer uid %ld may not redeem, service=%s", peer,
                 str_c(sv));
        str_free(&sv);
        authd_reply(r);
        return 0;
    }
    struct authd_login login;
    enum authd_cookie_result rc =
        authd_cookie_redeem(authd.cookies, cookie, service, stream_now_ms(), &login);
    if (rc == AUTHD_COOKIE_OK) {
        r->status = AUTH_OK;
        r->user = login.user;
        r->uid = login.uid;
        r->gid = login.gid;
        r->home = login.home;
        login.user = login.home = NULL;
        authd_redeem_log("login cookie redeemed", r->user, service, NULL);
    } else {
        r->reason = authd_cookie_reason(rc);
        authd_redeem_log("login cookie not redeemed", login.user, service, r->reason);
    }
    authd_login_clear(&login);
    authd_reply(r);
    return 0;
}

static int authd_readable(stream_t *client, const char *service, void *ctx)
{
    (void)service;
    (void)ctx;
    static const struct attr_limits limits = {.max_value = 4 * AUTH_PASSWORD_MAX, .max_attrs = 16};
    const char *err;
    int rc = attr_read(client, authd.req, &limits, &err);
    if (rc == ATTR_EOF)
        return -1;
    if (rc != 0) {
        msg_warn("bad request from an authd client: %s", err);
        return -1;
    }
    if (authd_is_pending(client)) {
        msg_warn("authd client sent a request before its previous reply: dropped");
        authd_wipe(authd.req);
        return -1;
    }
    struct authd_req q = {0};
    const char *request = "";
    (void)attr_get_str_opt(authd.req, "request", "", &request);
    if (strcmp(request, "redeem") == 0)
        rc = authd_redeem(client, authd.req);
    else if (strcmp(request, "auth") != 0) {
        msg_warn("malformed request from an authd client: %s",
                 attr_error(authd.req)[0] ? attr_error(authd.req) : "not request=auth or redeem");
        rc = -1;
    } else if ((rc = authd_parse(authd.req, &q)) == 0)
        authd_handle(client, &q);
    authd_wipe(authd.req);
    free(q.ip_key);
    free(q.user_key);
    attr_list_reset(authd.req);
    return rc;
}

/* ---- start-up ------------------------------------------------------------ */

/* A hash of a random password, as costly to check as a real one. */
static char *authd_dummy_hash(void)
{
    unsigned char raw[16];
    char pw[33], *error = NULL;
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        msg_fatal("getrandom: %s", strerror(errno));
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(pw + 2 * i, 3, "%02x", raw[i]);
    char *h = passwd_hash("CRYPT", pw, &error);
    if (h == NULL)
        msg_fatal("%s", error);
    explicit_bzero(pw, sizeof(pw));
    return h;
}

/* Still as root when master is: remember it for authd_peer_may_redeem. */
static void authd_pre_jail(const char *service, void *ctx)
{
    (void)service;
    (void)ctx;
    authd.started_as_root = geteuid() == 0;
}

static void authd_init(const char *service, void *ctx)
{
    (void)service;
    (void)ctx;
    /* First, so that the workers inherit as little as possible. */
    long long nworkers = cfg_int("auth_worker_count");
    if (nworkers > AUTHD_WORKERS_MAX) {
        msg_warn("auth_worker_count = %lld: using %d", nworkers, AUTHD_WORKERS_MAX);
        nworkers = AUTHD_WORKERS_MAX;
    }
    authd_workers_init((int)nworkers, cfg_bool("auth_allow_plaintext_passwords"));
    authd.base_ms = 1000 * cfg_time("auth_failure_delay");
    authd.max_ms = 1000 * cfg_time("auth_failure_max_delay");
    authd.reset_ms = 1000 * cfg_time("auth_failure_reset_time");
    authd.limit = (long)cfg_int("auth_failure_limit");
    if (authd.max_ms < authd.base_ms)
        authd.max_ms = authd.base_ms;
    authd.throttle = authd_throttle_new(AUTHD_THROTTLE_MAX);
    authd.req = attr_list_new();
    authd.cookie_ms = 1000 * cfg_time("auth_login_cookie_lifetime");
    authd.cookies = authd_cookies_new(AUTHD_COOKIE_MAX);
    authd.dummy_hash = authd_dummy_hash();
    authd_db_init(cfg_str("auth_user_database"), cfg_bool("auth_allow_plaintext_passwords"));
}

int main(int argc, char **argv)
{
    static const struct server_settings s = {
        .name = "authd",
        .mode = SERVER_MULTI,
        .readable = authd_readable,
        .disconnect = authd_disconnect,
        .pre_jail_init = authd_pre_jail,
        .post_jail_init = authd_init,
        .wakeup = authd_wakeup,
        .wakeup_interval = AUTHD_TICK,
        .no_idle_exit = true,
        .client_timeout = AUTHD_CLIENT_TIMEOUT,
    };
    /*
     * The failure counters live in this process: it must not exit after
     * max_use clients, or every restart would forgive an attacker.  The
     * default goes first so that a master.cf "-o max_use=N" still wins.
     */
    char **args = xcalloc((size_t)argc + 3, sizeof(*args));
    args[0] = argv[0];
    args[1] = "-o";
    args[2] = "max_use=" AUTHD_MAX_USE;
    for (int i = 1; i < argc; i++)
        args[i + 2] = argv[i];
    return server_main(argc + 2, args, &s);
}
