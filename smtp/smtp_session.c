/*
 * smtp_session.c - one SMTP session with a server: TCP connect within
 * smtp_connect_timeout, the greeting and EHLO (HELO when EHLO is
 * refused) within smtp_helo_timeout, the extensions offered, QUIT; and
 * the connection cache: after a delivery the session may be kept for
 * smtp_connection_cache_time_limit seconds and reused (after an RSET
 * that proves it still works) for the next request to the same next hop.
 * With PIPELINING that RSET goes out in the same write as the next
 * transaction's commands (smtp_trans.c), so reuse costs no round trip.
 *
 * After EHLO come STARTTLS (smtp_tls.c, which sends EHLO again over TLS)
 * and AUTH (smtp_sasl.c).  When a handshake at level may fails, the
 * address is tried once more in plaintext.
 */
#include "smtp.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "sock.h"

static struct smtp_session *cached;

/* Non-blocking connect with a deadline; the fd, or -1 with errno. */
static int tcp_connect(const struct smtp_addr *a)
{
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    long long t = cfg_time("smtp_connect_timeout");
    int64_t deadline = t > 0 ? stream_now_ms() + t * 1000 : -1;
    if (connect(fd, (const struct sockaddr *)&a->sa, a->salen) < 0) {
        int err = errno, soerr = 0;
        socklen_t len = sizeof(soerr);
        if (err != EINPROGRESS)
            soerr = err;
        else if (stream_wait_fd(fd, POLLOUT, deadline) < 0)
            soerr = errno == ETIMEDOUT || errno == 0 ? ETIMEDOUT : errno;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            soerr = errno;
        if (soerr != 0) {
            close(fd);
            errno = soerr;
            return -1;
        }
    }
    /* Commands and content are coalesced in the stream's buffer, so each
     * write is meant to leave at once: Nagle would only hold back the tail
     * of a large message until the server's delayed ACK. */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (sock_set_nonblock(fd, false) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

void smtp_session_cmd(struct smtp_session *ss, const char *fmt, ...)
{
    va_list ap;
    str_t *line = str_new(128);
    va_start(ap, fmt);
    str_vappendf(line, fmt, ap);
    va_end(ap);
    if (log_verbose())
        msg_debug("> %s: %s", ss->label, str_c(line));
    str_appendz(line, "\r\n");
    stream_write(ss->s, str_c(line), str_len(line));
    str_free(&line);
}

int smtp_session_reply(struct smtp_session *ss, const char *timeout_param, const char *stage,
                       struct smtp_fail *f)
{
    char *err = NULL;
    int st = stream_flush(ss->s);
    stream_set_timeout(ss->s, (int)cfg_time(timeout_param));
    if (st == STREAM_OK)
        st = smtp_reply_read(ss->s, &ss->reply, &err);
    else
        st = st == STREAM_TIMEOUT ? SMTP_REPLY_TIMEOUT : SMTP_REPLY_EOF;
    if (st == SMTP_REPLY_OK) {
        if (log_verbose())
            msg_debug("< %s: %s", ss->label, str_c(ss->reply.text));
        return 0;
    }
    ss->broken = true;
    if (st == SMTP_REPLY_TIMEOUT)
        smtp_fail_set(f, DELIVER_TEMP, "4.4.2", "conversation with %s timed out while %s",
                      ss->host_label, stage);
    else if (st == SMTP_REPLY_BAD)
        smtp_fail_set(f, DELIVER_TEMP, "4.4.2", "malformed reply from %s while %s: %s",
                      ss->host_label, stage, err != NULL ? err : "not SMTP");
    else
        smtp_fail_set(f, DELIVER_TEMP, "4.4.2", "lost connection with %s while %s", ss->host_label,
                      stage);
    msg_info("%s", str_c(f->why));
    free(err);
    return -1;
}

void smtp_session_said(struct smtp_session *ss, str_t *out, const char *command)
{
    str_setf(out, "host %s said: %s", ss->host_label, str_c(ss->reply.text));
    if (command != NULL)
        str_appendf(out, " (in reply to %s command)", command);
}

/* A refused handshake: TEMP or PERM after the reply's class, its DSN code. */
static void fail_reply(struct smtp_session *ss, struct smtp_fail *f, const char *command)
{
    char dsn[16];
    int status = smtp_reply_class(&ss->reply) == 5 ? DELIVER_PERM : DELIVER_TEMP;
    str_lcpy(dsn, ss->reply.enh, sizeof(dsn));
    dsn[0] = status == DELIVER_PERM ? '5' : '4';
    str_t *why = str_new(256);
    if (command == NULL)
        str_setf(why, "host %s refused to talk to me: %s", ss->host_label, str_c(ss->reply.text));
    else
        smtp_session_said(ss, why, command);
    smtp_fail_set(f, status, dsn, "%s", str_c(why));
    str_free(&why);
}

static void features_parse(struct smtp_session *ss)
{
    static const struct {
        const char *name;
        unsigned bit;
    } table[] = {
        {"PIPELINING", SMTP_FEAT_PIPELINING},
        {"8BITMIME", SMTP_FEAT_8BITMIME},
        {"DSN", SMTP_FEAT_DSN},
        {"SMTPUTF8", SMTP_FEAT_SMTPUTF8},
        {"CHUNKING", SMTP_FEAT_CHUNKING},
        {"STARTTLS", SMTP_FEAT_STARTTLS},
        {"AUTH", SMTP_FEAT_AUTH},
    };
    const char *args;
    ss->features = SMTP_FEAT_ESMTP;
    xfree(ss->auth_mechs);
    if (smtp_reply_ehlo_has(&ss->reply, "AUTH", &args))
        ss->auth_mechs = xstrdup(args);
    for (size_t i = 0; i < N_ELEMENTS(table); i++)
        if (smtp_reply_ehlo_has(&ss->reply, table[i].name, NULL))
            ss->features |= table[i].bit;
    if (smtp_reply_ehlo_has(&ss->reply, "SIZE", &args)) {
        ss->features |= SMTP_FEAT_SIZE;
        ss->size_limit = strtoull(args, NULL, 10);
    }
}

int smtp_session_ehlo(struct smtp_session *ss, struct smtp_fail *f)
{
    const char *helo = cfg_str("smtp_helo_name");
    smtp_session_cmd(ss, "EHLO %s", helo);
    if (smtp_session_reply(ss, "smtp_helo_timeout", "performing the EHLO handshake", f) < 0)
        return -1;
    if (smtp_reply_class(&ss->reply) == 2) {
        features_parse(ss);
        return 0;
    }
    smtp_session_cmd(ss, "HELO %s", helo);
    if (smtp_session_reply(ss, "smtp_helo_timeout", "performing the HELO handshake", f) < 0)
        return -1;
    if (smtp_reply_class(&ss->reply) == 2) {
        ss->features = 0;
        xfree(ss->auth_mechs);
        return 0;
    }
    fail_reply(ss, f, "HELO");
    return -1;
}

static void session_free(struct smtp_session **sp)
{
    struct smtp_session *ss = *sp;
    if (ss == NULL)
        return;
    stream_close(&ss->s);
    free(ss->nexthop);
    free(ss->label);
    free(ss->host_label);
    free(ss->auth_mechs);
    smtp_reply_clear(&ss->reply);
    xfree(*sp);
}

/* One connection: greeting, EHLO, TLS unless plain, AUTH; see smtp_tls_start. */
static int session_open_once(const struct smtp_addr *a, const char *nexthop,
                             const struct smtp_tls_policy *pol, bool plain,
                             struct smtp_session **sp, struct smtp_fail *f)
{
    *sp = NULL;
    char *label = xasprintf("%s[%s]:%u", a->host, a->text, a->port);
    int fd = tcp_connect(a);
    if (fd < 0) {
        smtp_fail_set(f, DELIVER_TEMP, "4.4.1", "connect to %s: %s", label,
                      errno == ETIMEDOUT ? "Connection timed out" : strerror(errno));
        msg_info("%s", str_c(f->why));
        free(label);
        return -1;
    }
    struct smtp_session *ss = xcalloc(1, sizeof(*ss));
    ss->s = stream_open_fd(fd, STREAM_OWN_FD);
    ss->nexthop = xstrdup(nexthop);
    ss->label = label;
    ss->host_label = xasprintf("%s[%s]", a->host, a->text);
    smtp_reply_init(&ss->reply);
    int rc =
        smtp_session_reply(ss, "smtp_helo_timeout", "receiving the initial server greeting", f);
    if (rc == 0 && smtp_reply_class(&ss->reply) != 2) {
        fail_reply(ss, f, NULL);
        if (f->status == DELIVER_PERM) { /* try the next host; in the end defer */
            f->status = DELIVER_TEMP;
            f->dsn[0] = '4';
        }
        rc = -1;
    }
    if (rc == 0)
        rc = smtp_session_ehlo(ss, f);
    if (rc == 0 && !plain)
        rc = smtp_tls_start(ss, a, pol, f);
    if (rc == 0)
        rc = smtp_sasl_auth(ss, a, f);
    if (rc != 0) {
        smtp_session_close(&ss);
        return rc;
    }
    *sp = ss;
    return 0;
}

int smtp_session_open(const struct smtp_addr *a, const char *nexthop, struct smtp_session **sp,
                      struct smtp_fail *f)
{
    struct smtp_tls_policy pol;
    *sp = NULL;
    if (smtp_tls_policy_get(nexthop, &pol, f) < 0)
        return -1;
    int rc = session_open_once(a, nexthop, &pol, false, sp, f);
    if (rc == SMTP_TLS_RETRY_PLAIN) {
        msg_info("%s[%s]:%u: TLS handshake failed, trying again without TLS", a->host, a->text,
                 a->port);
        smtp_fail_reset(f);
        rc = session_open_once(a, nexthop, &pol, true, sp, f);
    }
    smtp_tls_policy_free(&pol);
    return rc < 0 ? -1 : 0;
}

void smtp_session_close(struct smtp_session **sp)
{
    struct smtp_session *ss = *sp;
    if (ss == NULL)
        return;
    if (!ss->broken) {
        struct smtp_fail f;
        smtp_fail_init(&f);
        smtp_session_cmd(ss, "QUIT");
        (void)smtp_session_reply(ss, "smtp_quit_timeout", "sending QUIT", &f);
        smtp_fail_free(&f);
    }
    session_free(sp);
}

/* ---- connection cache ------------------------------------------------ */

void smtp_cache_expire(bool all)
{
    if (cached == NULL)
        return;
    long long limit = cfg_time("smtp_connection_cache_time_limit");
    if (all || stream_now_ms() - cached->idle_since_ms > limit * 1000)
        smtp_session_close(&cached);
}

struct smtp_session *smtp_cache_get(const char *nexthop)
{
    smtp_cache_expire(false);
    if (cached == NULL || strcmp(cached->nexthop, nexthop) != 0)
        return NULL;
    struct smtp_session *ss = cached;
    cached = NULL;
    if (ss->features & SMTP_FEAT_PIPELINING) {
        ss->rset_pending = true; /* sent with the next MAIL (smtp_trans.c) */
        return ss;
    }
    struct smtp_fail f;
    smtp_fail_init(&f);
    smtp_session_cmd(ss, "RSET");
    if (smtp_session_reply(ss, "smtp_helo_timeout", "sending RSET", &f) < 0 ||
        smtp_reply_class(&ss->reply) != 2) {
        ss->broken = true;
        session_free(&ss);
    }
    smtp_fail_free(&f);
    return ss;
}

void smtp_cache_put(struct smtp_session **sp)
{
    struct smtp_session *ss = *sp;
    *sp = NULL;
    if (ss == NULL)
        return;
    if (ss->broken || cfg_time("smtp_connection_cache_time_limit") == 0) {
        smtp_session_close(&ss);
        return;
    }
    smtp_cache_expire(true);
    ss->idle_since_ms = stream_now_ms();
    cached = ss;
}
