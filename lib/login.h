/*
 * login.h - the pre-login / post-login split shared by pop3d and imapd.
 *
 * A mail access daemon's service() hook is one call, login_session(),
 * with two hooks of its own: the pre-login dialogue (greeting, CAPA,
 * STLS, USER/PASS, AUTH) and the authenticated session.  login.c runs
 * them in separate processes with different privileges:
 *
 *   session parent   the process master started (root when master is
 *                    root and the master.cf unpriv field is n).  It
 *                    never reads a byte from the network.  It forks the
 *                    login process, then waits on a pipe for one small
 *                    attribute record "user, uid, gid, maildir" from it,
 *                    checks it (uid and gid not 0, an absolute path
 *                    without "..", a passed descriptor is a socket) and
 *                    forks the mail process with those ids, giving it
 *                    the client socket or the proxy's socketpair.  Then it waits for both children
 * and returns. login process    drops to mail_owner at once, then runs the pre-login hook: the
 * whole dialogue with the untrusted client, TLS (STLS/STARTTLS or implicit TLS; the TLS keys are
 * loaded by the parent before the fork), and the authd request.  After a successful login it sends
 * the record to the parent. On a plaintext connection with no client bytes read ahead (no pipelined
 * commands after the login command) it attaches the client socket (SCM_RIGHTS) and ends: the mail
 * process then talks to the client directly, with no extra hop.  Otherwise it becomes a proxy: it
 * keeps the TLS (or plain) connection and copies bytes between it and one end of a socketpair, as
 * Dovecot's login processes do (TLS state cannot be handed to another process). mail process forked
 * by the parent, drops to the mailbox owner's uid/gid (the virtual uid for virtual mailboxes), and
 * runs the post-login hook on the client socket or the proxy's socketpair: a plaintext stream.  It
 * sends the reply to the login command itself, so that it can refuse with "mailbox in use" or a
 * temporary error.
 *
 * The mailbox: authd's home when it has one (home/$home_mailbox), else
 * $virtual_mailbox_base/ plus the $virtual_mailbox_maps value of the
 * user (then of @domain), with $virtual_uid_maps / $virtual_gid_maps
 * when authd has no uid/gid.  In a non-root instance (master not root)
 * no ids change: all three processes run as the invoking user.
 *
 * Trust: a login process taken over by its client could send the parent
 * any user's name and ids; the parent refuses root and malformed
 * records, but otherwise believes it (Dovecot closes this gap with a
 * cookie that the master checks with the auth server; tern does not
 * yet).
 */
#ifndef TERN_LOGIN_H
#define TERN_LOGIN_H

#include "sys.h"
#include "stream.h"

#define LOGIN_ADDR_MAX 64

struct login_user {
    char *user;    /* canonical name from authd */
    long uid, gid; /* mailbox owner */
    char *maildir; /* absolute path of the Maildir (no trailing '/') */
};

struct login_conn {
    stream_t *client;                 /* TLS may be started on it */
    char client_addr[LOGIN_ADDR_MAX]; /* "" for a non-IP peer */
    bool loopback;                    /* from 127.0.0.0/8 or ::1 */
    bool logged_in;                   /* login_authenticate succeeded */
    struct login_user user;           /* valid when logged_in */
};

struct login_settings {
    const char *service; /* "pop3", "imap": for authd and the logs */
    /*
     * Pre-login dialogue, in the login process (mail_owner).  Return 0
     * after login_authenticate() succeeded (without sending the final
     * reply to the login command), -1 to end the session.
     */
    int (*prelogin)(struct login_conn *lc, void *ctx);
    /*
     * The session, in the mail process (the mailbox owner), on a
     * plaintext stream; it sends the reply to the login command first.
     */
    void (*postlogin)(stream_t *client, const struct login_user *user, const char *client_addr,
                      void *ctx);
    void *ctx;
};

/* Run one client session through the three processes (see above). */
void login_session(stream_t *client, const struct login_settings *set);

/*
 * Ask authd about user/password, and on success find the mailbox and
 * fill lc->user.  Returns AUTH_OK, AUTH_FAIL (*reason_r: text for the
 * client) or AUTH_TEMPFAIL (authd unreachable, no mailbox, table error:
 * logged).  authd applies the failure delay.
 */
int login_authenticate(struct login_conn *lc, const char *service, const char *user,
                       const char *password, char **reason_r);

/* Find the mailbox of an authenticated user (see above). 0 or -1. */
int login_mailbox(const char *user, long uid, long gid, const char *home, struct login_user *u,
                  char **error_r);
void login_user_clear(struct login_user *u);

/* Whether address text is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x). */
bool login_addr_loopback(const char *addr);

#endif
