/*
 * auth_client.h - ask authd whether a user name and password are right.
 * Used by smtpd (SMTP AUTH), pop3d and imapd; none of them reads the user
 * database itself.
 *
 * WIRE PROTOCOL (attr records, see attr.h) on queue_directory/private/auth,
 * one request and one reply per connection:
 *
 *     request=auth                      client -> authd
 *     service=smtp                      smtp, pop3, imap (for logging)
 *     user=alice@example.org
 *     password=...
 *     client_addr=192.0.2.7             the remote client (throttling key)
 *     tls=yes                           optional, for logging
 *
 *     status=ok                         authd -> client: ok, fail, tempfail
 *     user=alice@example.org            ok: the name as in the user database
 *     uid=5000                          ok: -1 when the database has none
 *     gid=5000
 *     home=/var/mail/example.org/alice  ok: "" when the database has none
 *     reason=authentication failed      fail/tempfail: text safe to log
 *     delay_ms=2000                     the failure delay authd applied
 *
 * authd applies the failure delay itself before it answers, so a client
 * needs no sleep of its own; delay_ms only tells it (and logs) how long.
 *
 * LOGIN COOKIES (pop3d, imapd: see lib/login.c).  The unprivileged login
 * process adds
 *
 *     cookie=yes                        client -> authd, in request=auth
 *
 * and a status=ok reply then also carries
 *
 *     cookie=0f3c...                    AUTH_COOKIE_LEN lowercase hex digits
 *
 * (128 random bits), good for one redeem within auth_login_cookie_lifetime.
 * Without cookie=yes the exchange is as above (smtpd does not ask).  The
 * login process hands only the cookie to the root session parent, which
 * asks authd who logged in with it:
 *
 *     request=redeem                    client -> authd
 *     service=pop3                      must be the service of the login
 *     cookie=0f3c...
 *
 *     status=ok                         authd -> client: ok or fail
 *     user=alice@example.org            ok: the values authd gave at login
 *     uid=5000
 *     gid=5000
 *     home=/var/mail/example.org/alice
 *     reason=login cookie expired       fail: text safe to log
 *     delay_ms=0                        redeem failures are not delayed
 *
 * A cookie is deleted by its first redeem, whatever the outcome (expired,
 * other service), except when the caller may not redeem at all: only a
 * peer with uid 0 may (or, in an authd not started as root, a peer with
 * authd's own uid); authd checks that with SO_PEERCRED, so a login process
 * (mail_owner, like authd) cannot redeem its own cookie.  A malformed
 * cookie (not AUTH_COOKIE_LEN lowercase hex digits) is refused without
 * being looked up.
 */
#ifndef TERN_AUTH_CLIENT_H
#define TERN_AUTH_CLIENT_H

#include "sys.h"

#define AUTH_SERVICE "private/auth"  /* relative to queue_directory */
#define AUTH_CLIENT_TIMEOUT_MS 30000 /* longer than authd's largest delay */
#define AUTH_USER_MAX 255
#define AUTH_PASSWORD_MAX 1024
#define AUTH_COOKIE_LEN 32 /* hex characters (128 random bits) */

enum auth_status { AUTH_OK = 0, AUTH_FAIL = 1, AUTH_TEMPFAIL = 2 };

struct auth_request {
    const char *service; /* "smtp", "pop3", "imap" */
    const char *user;
    const char *password;
    const char *client_addr; /* may be NULL or "" (local client) */
    bool tls;
    const char *socket_path; /* NULL: $queue_directory/private/auth */
    int timeout_ms;          /* 0: AUTH_CLIENT_TIMEOUT_MS */
    bool want_cookie;        /* ask for a login cookie */
};

struct auth_result {
    enum auth_status status;
    char *user;   /* canonical name (ok), else NULL */
    long uid;     /* -1 unknown */
    long gid;     /* -1 unknown */
    char *home;   /* "" unknown */
    char *reason; /* fail/tempfail: why; never NULL after a reply */
    long delay_ms;
    char *cookie; /* ok + want_cookie: AUTH_COOKIE_LEN hex chars + NUL; else NULL */
};

/*
 * Send the request and read the reply. Returns 0 with *result filled (the
 * status says ok/fail/tempfail; free with auth_result_clear), or -1 when
 * authd could not be asked (connect, timeout, malformed reply) with a
 * reason: treat that as a temporary failure.
 */
int auth_client_verify(const struct auth_request *req, struct auth_result *result, char **error_r);
/* Free the strings of a result (the cookie is wiped first). */
void auth_result_clear(struct auth_result *result);

/*
 * Redeem a login cookie: who logged in with it.  0 with *result filled as by
 * auth_client_verify (status ok with user, uid, gid, home; or fail with a reason:
 * unknown, used, expired, other service, or the caller may not redeem), -1 when
 * authd could not be asked (connect/timeout/malformed reply).  socket_path NULL:
 * the default; timeout_ms 0: AUTH_CLIENT_TIMEOUT_MS.
 */
int auth_client_redeem(const char *cookie, const char *service, const char *socket_path,
                       int timeout_ms, struct auth_result *result, char **error_r);

/* Whether text is a well-formed cookie: AUTH_COOKIE_LEN lowercase hex digits. */
bool auth_cookie_valid(const char *text);

/* "ok", "fail", "tempfail"; and back (-1 when unknown). */
const char *auth_status_name(enum auth_status status);
int auth_status_parse(const char *name);

/* The default socket path for this process (chroot-aware; malloc'ed). */
char *auth_client_default_path(void);

#endif
