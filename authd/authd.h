/*
 * authd.h - internals shared by the files of authd, the authentication
 * service: authd.c (requests and replies), authd_db.c (the user database,
 * re-read when it changes), authd_throttle.c (failure counters per client
 * address and per user), authd_cookie.c (one-time login cookies),
 * authd_worker.c (the processes that check password hashes).
 */
#ifndef TERN_AUTHD_H
#define TERN_AUTHD_H

#include "sys.h"

#include "auth_client.h"
#include "passwd_file.h"

/* ---- authd_db.c ---- */

/* Remember the path and plaintext policy; load the file (errors logged). */
void authd_db_init(const char *path, bool allow_plaintext);
/*
 * The current database, re-read first when the file changed since the
 * last load (stat). NULL when no version of the file could ever be read.
 */
const struct passwd_db *authd_db_get(void);
const char *authd_db_path(void);

/* ---- authd_throttle.c ---- */

struct authd_throttle;

#define AUTHD_THROTTLE_MAX 100000 /* most keys remembered (oldest evicted) */

struct authd_throttle *authd_throttle_new(size_t max_keys);
void authd_throttle_free(struct authd_throttle **tp);
/* Recent failures for key (0 once reset_ms passed since the last one). */
long authd_throttle_count(struct authd_throttle *t, const char *key, int64_t now, int64_t reset_ms);
/* Count one more failure for key; returns the new count. */
long authd_throttle_fail(struct authd_throttle *t, const char *key, int64_t now, int64_t reset_ms);
void authd_throttle_forget(struct authd_throttle *t, const char *key);
/* Drop keys whose last failure is older than reset_ms. */
void authd_throttle_prune(struct authd_throttle *t, int64_t now, int64_t reset_ms);
size_t authd_throttle_size(const struct authd_throttle *t);

/*
 * The throttling key of a client address: "ip:" + the address, IPv6
 * reduced to its /64 (one end site); NULL for an empty address.
 */
char *authd_throttle_ip_key(const char *addr);
/* The key of a user name: "user:" + the name in lower case. */
char *authd_throttle_user_key(const char *user);

/* Delay for the n-th recent failure: base * 2^(n-1), capped. */
int64_t authd_failure_delay_ms(long n, int64_t base_ms, int64_t max_ms);

/* ---- authd_worker.c ---- */

#define AUTHD_WORKERS_MAX 64 /* auth_worker_count above this: this many */
#define AUTHD_QUEUE_MAX 1000 /* checks waiting for a worker; more: answered -1 */

/* Fork count workers (after the privilege drop); their sockets are watched. */
void authd_workers_init(int count, bool allow_plaintext);
/*
 * Check password against stored ("{SCHEME}hash") in a worker: done(ctx,
 * rc, error) is called once, later from the event loop, with rc 1 right,
 * 0 wrong, -1 cannot check (error: the worker's reason, or NULL when the
 * worker died, which is logged).  done may also run before submit
 * returns (queue full, worker unreachable): do not touch ctx after.
 * Copies of stored and password are kept; the password copy is wiped as
 * soon as the worker has it.
 */
void authd_workers_submit(const char *stored, const char *password,
                          void (*done)(void *ctx, int rc, const char *error), void *ctx);
/*
 * Forget the check of ctx if it is still waiting for a worker: true, and
 * done will never be called.  False: it is in a worker (or unknown), and
 * done will still be called for it.
 */
bool authd_workers_cancel(void *ctx);
/* Once a second: reap exited workers, restart missing ones. */
void authd_workers_tick(void);
size_t authd_workers_queued(void);

/* ---- authd_cookie.c ---- */

struct authd_cookies;

#define AUTHD_COOKIE_MAX 1024      /* most unredeemed cookies (oldest dropped) */
#define AUTHD_COOKIE_KEEP_MS 60000 /* an expired entry is kept this much longer */

/* Who logged in, for which service (strings malloc'ed). */
struct authd_login {
    char *service, *user;
    long uid, gid;
    char *home;
};

enum authd_cookie_result {
    AUTHD_COOKIE_OK,
    AUTHD_COOKIE_MALFORMED, /* not AUTH_COOKIE_LEN lowercase hex: not looked up */
    AUTHD_COOKIE_UNKNOWN,   /* never issued, already redeemed, or pruned */
    AUTHD_COOKIE_EXPIRED,
    AUTHD_COOKIE_SERVICE, /* issued for another service */
};

struct authd_cookies *authd_cookies_new(size_t max);
void authd_cookies_free(struct authd_cookies **tp);
size_t authd_cookies_count(const struct authd_cookies *t);
/*
 * A new cookie for login (copied), valid until now_ms + lifetime_ms,
 * written to cookie.  When the table is full an entry is dropped first.
 */
void authd_cookie_issue(struct authd_cookies *t, const struct authd_login *login, int64_t now_ms,
                        int64_t lifetime_ms, char cookie[AUTH_COOKIE_LEN + 1]);
/*
 * Look the cookie up and delete its entry.  OK: *login_r is the login;
 * EXPIRED and SERVICE fill it too (for logging); otherwise it is empty.
 * Free with authd_login_clear.
 */
enum authd_cookie_result authd_cookie_redeem(struct authd_cookies *t, const char *cookie,
                                             const char *service, int64_t now_ms,
                                             struct authd_login *login_r);
void authd_login_clear(struct authd_login *login);
/* Delete entries expired AUTHD_COOKIE_KEEP_MS ago or more. */
void authd_cookies_prune(struct authd_cookies *t, int64_t now_ms);
/* The reason sent to the client and logged for a result other than OK. */
const char *authd_cookie_reason(enum authd_cookie_result r);

#endif
