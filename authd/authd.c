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
    int64_t delay_ms;
    int64_t due_ms;
    struct authd_reply *next;
};

static struct {
    struct authd_throttle *throttle;
    struct authd_reply *pending;
    struct attr_list *req;
    char *dummy_hash; /* checked for unknown users, so they take as long */
    int64_t base_ms, max_ms, reset_ms;
    long limit;
} authd;

/* ---- replies ------------------------------------------------------------ */

static void authd_reply_free(struct authd_reply **rp)
{
    xfree((*rp)->user);
    xfree((*rp)->home);
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
    return false;
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
}

/* A client went away: its delayed reply has nobody to go to. */
static void authd_disconnect(stream_t *client, void *ctx)
{
    (void)ctx;
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

/* Check the password: 1 right, 0 wrong or unknown user, -1 cannot check. */
static int authd_check(const struct authd_req *q, const struct passwd_entry *e)
{
    char *error = NULL;
    int rc;
    if (e == NULL) {
        rc = passwd_verify_string(authd.dummy_hash, q->password, &error);
        free(error);
        return 0;
    }
    rc = passwd_verify(e, q->password, &error);
    if (rc < 0) {
        msg_error("%s, line %d: user %s: %s", authd_db_path(), e->line, e->user, error);
        free(error);
    }
    return rc;
}

static void authd_decide(const struct authd_req *q, struct authd_reply *r)
{
    const struct passwd_db *db = authd_db_get();
    if (authd_recent(q, stream_now_ms()) >= authd.limit) {
        r->status = AUTH_FAIL;
        r->reason = "too many failures";
        r->delay_ms = authd.max_ms;
        authd_log("authentication refused", q, r->reason);
        return;
    }
    if (db == NULL) {
        r->status = AUTH_TEMPFAIL;
        r->reason = "user database unavailable";
        authd_log("authentication failed", q, r->reason);
        return;
    }
    const struct passwd_entry *e = passwd_db_find(db, q->user);
    int rc = authd_check(q, e);
    if (rc > 0) {
        r->status = AUTH_OK;
        r->user = xstrdup(e->user);
        r->uid = e->uid;
        r->gid = e->gid;
        r->home = xstrdup(e->home);
        authd_throttle_forget(authd.throttle, q->user_key);
        authd_log("authenticated", q, NULL);
        return;
    }
    r->status = rc < 0 ? AUTH_TEMPFAIL : AUTH_FAIL;
    r->reason = rc < 0 ? "cannot check the password" : "authentication failed";
    if (rc == 0)
        authd_count_failure(q, r);
    authd_log("authentication failed", q,
              rc < 0      ? r->reason
              : e == NULL ? "unknown user"
                          : "wrong password");
}

/* Pull the request's attributes; -1 when malformed (logged). */
static int authd_parse(struct attr_list *l, struct authd_req *q)
{
    const char *request, *tls;
    if (attr_get_str(l, "request", &request) < 0 || strcmp(request, "auth") != 0 ||
        attr_get_str(l, "service", &q->service) < 0 || attr_get_str(l, "user", &q->user) < 0 ||
        attr_get_str(l, "password", &q->password) < 0 ||
        attr_get_str_opt(l, "client_addr", "", &q->addr) < 0 ||
        attr_get_str_opt(l, "tls", "no", &tls) < 0) {
        msg_warn("malformed request from an authd client: %s",
                 attr_error(l)[0] ? attr_error(l) : "not request=auth");
        return -1;
    }
    q->tls = strcmp(tls, "yes") == 0;
    return 0;
}

/* Forget the password as soon as it has been checked. */
static void authd_wipe(struct attr_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->items[i].name, "password") == 0)
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
        authd_decide(q, r);
    }
    authd_reply(r);
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
    rc = authd_parse(authd.req, &q);
    if (rc == 0)
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

static void authd_init(const char *service, void *ctx)
{
    (void)service;
    (void)ctx;
    authd.base_ms = 1000 * cfg_time("auth_failure_delay");
    authd.max_ms = 1000 * cfg_time("auth_failure_max_delay");
    authd.reset_ms = 1000 * cfg_time("auth_failure_reset_time");
    authd.limit = (long)cfg_int("auth_failure_limit");
    if (authd.max_ms < authd.base_ms)
        authd.max_ms = authd.base_ms;
    authd.throttle = authd_throttle_new(AUTHD_THROTTLE_MAX);
    authd.req = attr_list_new();
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
