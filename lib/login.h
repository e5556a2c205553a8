/*
 * login.h - the pre-login / post-login split shared by pop3d and imapd.
 *
 * A mail access daemon is two programs: DAEMON (pop3d), which master
 * starts, and DAEMON-login (pop3d-login), its pre-login program.  A
 * session runs in three processes with different privileges:
 *
 *   session parent   the DAEMON process master started (root when master
 *                    is root and the master.cf unpriv field is n).  It
 *                    never reads a byte from the network and does not
 *                    link OpenSSL.  For each client it forks a child that
 *                    drops to mail_owner and executes DAEMON-login, then
 *                    waits on a socket for one small record from it
 *                    (a login cookie, see Trust), asks authd who logged
 *                    in, and forks the mail process.
 *   login process    DAEMON-login, as mail_owner: the whole dialogue with
 *                    the untrusted client before login (greeting, CAPA,
 *                    STLS/STARTTLS or implicit TLS, USER/PASS, AUTH) and
 *                    the authd request.  The TLS key and certificate
 *                    reach it as two sealed memory files the parent read
 *                    as root at start-up.  After a successful login it
 *                    sends the parent the record.  On a plaintext
 *                    connection with no client bytes read ahead it
 *                    attaches the client socket (SCM_RIGHTS) and ends, so
 *                    the mail process talks to the client directly;
 *                    otherwise it stays as a proxy between the (TLS)
 *                    connection and a socketpair to the mail process, as
 *                    Dovecot's login processes do (TLS state cannot move
 *                    to another process).
 *   mail process     forked by the parent (no exec: it shares the
 *                    parent's pages), drops to the mailbox owner's
 *                    uid/gid (the virtual uid for virtual mailboxes) and
 *                    runs the post-login hook on the client socket or the
 *                    proxy's socketpair: a plaintext stream.  It sends the
 *                    reply to the login command itself, so that it can
 *                    refuse with "mailbox in use" or a temporary error.
 *
 * Only the login process maps OpenSSL; the two processes that live for
 * the whole of a plaintext session (parent and mail process) are small
 * and share most of their pages.
 *
 * Parent -> login program hand-off (numbers fixed, LOGIN_FD_*): the
 * client socket, the control socket (record back to the parent), the
 * proxy end of the socketpair, when TLS is configured the certificate
 * and key texts, and the log file the parent opened as root; the same -c/-o options as the DAEMON
 * process (so master.cf -o overrides apply to both).  TERN_LOGIN_CHECK=1
 * in the environment: only build the TLS context and exit 0 or 1 (the
 * parent's start-up check).
 *
 * The mailbox: authd's home when it has one (home/$home_mailbox), else
 * $virtual_mailbox_base/ plus the $virtual_mailbox_maps value of the
 * user (then of @domain), with $virtual_uid_maps / $virtual_gid_maps
 * when authd has no uid/gid.  In a non-root instance (master not root)
 * no ids change: all processes run as the invoking user.
 *
 * Trust: the login process is the one that may be taken over by its
 * client, so the parent does not take its word for who logged in.  authd
 * gives the login process a one-time cookie with a successful login
 * (auth_client.h); the record carries only that cookie (and the user
 * name, which is compared); the parent redeems it with authd, which
 * answers only a root client in a root instance, and finds the mailbox
 * from authd's answer itself.  A login process can therefore open only
 * the session of a user whose password it was given.
 */
#ifndef TERN_LOGIN_H
#define TERN_LOGIN_H

#include "sys.h"
#include "auth_client.h"
#include "stream.h"

#define LOGIN_ADDR_MAX 64

/* The login program's descriptors. */
#define LOGIN_FD_CLIENT 3
#define LOGIN_FD_CTL 4
#define LOGIN_FD_PROXY 5
#define LOGIN_FD_TLS_CERT 6
#define LOGIN_FD_TLS_KEY 7
#define LOGIN_FD_LOG 8 /* the log file, when main.cf names one */
#define LOGIN_ENV_CHECK "TERN_LOGIN_CHECK"

struct login_user {
    char *user;    /* canonical name from authd */
    long uid, gid; /* mailbox owner */
    char *maildir; /* absolute path of the Maildir (no trailing '/') */
};

/* ---- the DAEMON program: session parent and mail process (login.c) ------ */

struct login_settings {
    const char *service; /* "pop3", "imap": for authd and the logs */
    const char *program; /* the pre-login program in daemon_directory */
    /*
     * The session, in the mail process (the mailbox owner), on a
     * plaintext stream; it sends the reply to the login command first.
     */
    void (*postlogin)(stream_t *client, const struct login_user *user, const char *client_addr,
                      void *ctx);
    void *ctx;
};

/*
 * In pre_jail_init (as root: key files may be readable by root only):
 * read the key and certificate for the login program, and check that it
 * can build its TLS context from them (one run of the program as
 * mail_owner).  0, or -1 with *error_r: then the login program gets no
 * TLS (no STLS; wrapper-mode sessions are closed).
 */
int login_tls_load(const struct login_settings *set, const char *cert_file, const char *key_file,
                   char **error_r);

/* Run one client session through the three processes (see above). */
void login_session(stream_t *client, const struct login_settings *set);

/* Find the mailbox of an authenticated user (see above). 0 or -1. */
int login_mailbox(const char *user, long uid, long gid, const char *home, struct login_user *u,
                  char **error_r);
void login_user_clear(struct login_user *u);
/* Whether a Maildir path is safe to use: not empty, no ".." component. */
bool login_path_safe(const char *path);

/* Whether address text is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x). */
bool login_addr_loopback(const char *addr);

/* ---- the DAEMON-login program (login_proc.c) ---------------------------- */

struct login_conn {
    stream_t *client;                 /* TLS may be started on it */
    char client_addr[LOGIN_ADDR_MAX]; /* "" for a non-IP peer */
    bool loopback;                    /* from 127.0.0.0/8 or ::1 */
    bool logged_in;                   /* login_authenticate succeeded */
    struct login_user user;           /* valid when logged_in */
    char cookie[AUTH_COOKIE_LEN + 1]; /* authd's login cookie, when logged_in */
};

struct login_program {
    const char *name;    /* "pop3d-login": for the logs */
    const char *service; /* "pop3" */
    /* main.cf parameter names: "pop3d_tls_cert_file", "pop3d_tls_key_file", "pop3d_tls_protocols"
     */
    const char *cert_param, *key_param, *protocols_param;
    /* "pop3d_tls_session_cache_timeout": ticket lifetime (0: no resumption); the
     * key file is $queue_directory/private/SERVICE_tls_ticket_keys */
    const char *ticket_lifetime_param;
    void (*init)(void *ctx); /* settings from main.cf */
    /*
     * Pre-login dialogue.  Return 0 after login_authenticate() succeeded
     * (without sending the final reply to the login command), -1 to end
     * the session.
     */
    int (*prelogin)(struct login_conn *lc, void *ctx);
    void *ctx;
};

/* The login program's main(); never returns. */
void login_main(int argc, char **argv, const struct login_program *p) TERN_NORETURN;

/*
 * The record to the session parent (done by login_main after a login):
 * the mode byte, with client_fd attached for a hand-off (-1: this process
 * stays as the proxy), then client_addr, user and authd's cookie.
 * Public for the tests' forged login program.  0 or -1.
 */
int login_send_record(int ctl, int client_fd, const char *client_addr, const char *user,
                      const char *cookie);

/* The TLS server context the parent handed over; NULL without TLS. */
struct tls_server *login_tls(void);

/*
 * Ask authd about user/password, and on success find the mailbox and
 * fill lc->user.  Returns AUTH_OK, AUTH_FAIL (*reason_r: text for the
 * client) or AUTH_TEMPFAIL (authd unreachable, no mailbox, table error:
 * logged).  authd applies the failure delay.
 */
int login_authenticate(struct login_conn *lc, const char *service, const char *user,
                       const char *password, char **reason_r);

#endif
