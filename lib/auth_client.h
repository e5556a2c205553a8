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
 */
#ifndef TERN_AUTH_CLIENT_H
#define TERN_AUTH_CLIENT_H

#include "sys.h"

#define AUTH_SERVICE "private/auth"  /* relative to queue_directory */
#define AUTH_CLIENT_TIMEOUT_MS 30000 /* longer than authd's largest delay */
#define AUTH_USER_MAX 255
#define AUTH_PASSWORD_MAX 1024

enum auth_status { AUTH_OK = 0, AUTH_FAIL = 1, AUTH_TEMPFAIL = 2 };

struct auth_request {
    const char *service; /* "smtp", "pop3", "imap" */
    const char *user;
    const char *password;
    const char *client_addr; /* may be NULL or "" (local client) */
    bool tls;
    const char *socket_path; /* NULL: $queue_directory/private/auth */
    int timeout_ms;          /* 0: AUTH_CLIENT_TIMEOUT_MS */
};

struct auth_result {
    enum auth_status status;
    char *user;   /* canonical name (ok), else NULL */
    long uid;     /* -1 unknown */
    long gid;     /* -1 unknown */
    char *home;   /* "" unknown */
    char *reason; /* fail/tempfail: why; never NULL after a reply */
    long delay_ms;
};

/*
 * Send the request and read the reply. Returns 0 with *result filled (the
 * status says ok/fail/tempfail; free with auth_result_clear), or -1 when
 * authd could not be asked (connect, timeout, malformed reply) with a
 * reason: treat that as a temporary failure.
 */
int auth_client_verify(const struct auth_request *req, struct auth_result *result, char **error_r);
void auth_result_clear(struct auth_result *result);

/* "ok", "fail", "tempfail"; and back (-1 when unknown). */
const char *auth_status_name(enum auth_status status);
int auth_status_parse(const char *name);

/* The default socket path for this process (chroot-aware; malloc'ed). */
char *auth_client_default_path(void);

#endif
