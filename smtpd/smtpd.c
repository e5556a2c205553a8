/*
 * smtpd.c - the SMTP server (RFC 5321): started by master for the smtp,
 * submission and smtps services, one client per process at a time.  This
 * file holds main(), the settings, the session loop (read a bounded
 * command line, enforce the line-end and pipelining rules, dispatch) and
 * the reply and error-limit machinery.
 */
#include "smtpd.h"

#include <arpa/inet.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>

#include "cleanup_engine.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "server.h"

static struct smtpd_config smtpd_cfg;
static smtpd_netlist_t *smtpd_mynetworks, *smtpd_bare_lf_excl;

static void smtpd_config_read(void)
{
    struct smtpd_config *c = &smtpd_cfg;
    c->myhostname = xstrdup(cfg_str("myhostname"));
    c->banner = xstrdup(cfg_str("smtpd_banner"));
    c->line_limit = (size_t)cfg_int("line_length_limit");
    c->size_limit = (uint64_t)cfg_int("message_size_limit");
    c->recipient_limit = (long)cfg_int("smtpd_recipient_limit");
    c->hard_limit = (long)cfg_int("smtpd_hard_error_limit");
    c->soft_limit = (long)cfg_int("smtpd_soft_error_limit");
    c->junk_limit = (long)cfg_int("smtpd_junk_command_limit");
    c->error_sleep = (long)cfg_time("smtpd_error_sleep_time");
    c->timeout = (int)cfg_time("smtpd_timeout");
    c->helo_required = cfg_bool("smtpd_helo_required");
    c->delay_reject = cfg_bool("smtpd_delay_reject");
    c->vrfy_disabled = cfg_bool("disable_vrfy_command");
    c->smtputf8 = cfg_bool("smtputf8_enable");
    c->strict = cfg_bool("strict_rfc821_envelopes");
    c->reject_unlisted = cfg_bool("smtpd_reject_unlisted_recipient");
    c->allow_untrusted_routing = cfg_bool("allow_untrusted_routing");
    c->forbid_pipelining = cfg_bool("smtpd_forbid_unauth_pipelining");
    const char *bl = cfg_str("smtpd_forbid_bare_newline");
    bool yes = false;
    if (strcasecmp(bl, "normalize") == 0 || (config_parse_bool(bl, &yes) == 0 && !yes))
        c->bare_lf = SMTPD_BARE_LF_NORMALIZE;
    else {
        if (strcasecmp(bl, "reject") != 0 && !yes)
            msg_warn("smtpd_forbid_bare_newline = %s: unknown value, using yes", bl);
        c->bare_lf = SMTPD_BARE_LF_REJECT;
    }
    c->ext =
        ADDR_EXT_SIZE | ADDR_EXT_8BITMIME | ADDR_EXT_DSN | (c->smtputf8 ? ADDR_EXT_SMTPUTF8 : 0);
    smtpd_auth_config(c);
    if (c->line_limit < 512)
        c->line_limit = 512; /* RFC 5321 4.5.3.1.4: commands of 512 octets */
}

static void smtpd_pre_jail(const char *service, void *ctx)
{
    (void)service;
    (void)ctx;
    if (cfg_bool("inline_cleanup"))
        cleanup_engine_init();  /* its tables before any chroot, like cleanup's */
    smtpd_tls_init(&smtpd_cfg); /* key files may be readable by root only */
}

static void smtpd_post_jail(const char *service, void *ctx)
{
    (void)service;
    (void)ctx;
    smtpd_config_read();
    smtpd_mynetworks = smtpd_netlist_open("mynetworks");
    smtpd_bare_lf_excl = smtpd_netlist_open("smtpd_forbid_bare_newline_exclusions");
    smtpd_check_init();
}

/* ---- replies ----------------------------------------------------------- */

static void smtpd_vreply(struct smtpd_session *s, const char *fmt, va_list ap)
{
    str_t *r = str_new(128);
    (void)str_vappendf(r, fmt, ap);
    if (str_c(r)[0] == '4' || str_c(r)[0] == '5') {
        s->errors++;
        if (s->errors > s->cfg->soft_limit && s->cfg->error_sleep > 0)
            sleep((unsigned)s->cfg->error_sleep);
    }
    (void)str_append(r, "\r\n", 2);
    (void)stream_write(s->client, str_c(r), str_len(r));
    if (log_verbose())
        msg_debug("> %s: %.*s", s->namaddr, (int)str_len(r) - 2, str_c(r));
    str_free(&r);
}

void smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    smtpd_vreply(s, fmt, ap);
    va_end(ap);
}

void smtpd_reply_fatal(struct smtpd_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    long sleep_saved = s->errors;
    s->errors = 0; /* no tarpit before a goodbye */
    smtpd_vreply(s, fmt, ap);
    s->errors = sleep_saved + 1;
    va_end(ap);
    (void)stream_flush(s->client);
    s->quit = true;
}

void smtpd_io_failed(struct smtpd_session *s, int status)
{
    const char *after = s->last_cmd != NULL ? s->last_cmd : "CONNECT";
    if (status == STREAM_TIMEOUT) {
        msg_info("timeout after %s from %s", after, s->namaddr);
        smtpd_reply_fatal(s, "421 4.4.2 %s Error: timeout exceeded", s->cfg->myhostname);
    } else
        msg_info("lost connection after %s from %s", after, s->namaddr);
    s->quit = true;
}

void smtpd_reset(struct smtpd_session *s)
{
    smtpd_bdat_abort(s);
    if (s->mail_given) {
        addr_path_free(&s->sender);
        addr_mail_opts_free(&s->mopts);
    }
    s->mail_given = false;
    for (size_t i = 0; i < s->nrcpt; i++) {
        free(s->rcpts[i].addr);
        free(s->rcpts[i].orcpt);
        free(s->rcpts[i].notify);
    }
    s->nrcpt = 0;
}

/* ---- session ----------------------------------------------------------- */

static void smtpd_peer(struct smtpd_session *s)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    str_lcpy(s->addr, "unknown", sizeof(s->addr));
    str_lcpy(s->port, "0", sizeof(s->port));
    if (getpeername(stream_fd(s->client), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &in->sin_addr, s->addr, sizeof(s->addr));
            snprintf(s->port, sizeof(s->port), "%u", ntohs(in->sin_port));
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
                inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], s->addr, sizeof(s->addr));
            else
                inet_ntop(AF_INET6, &in6->sin6_addr, s->addr, sizeof(s->addr));
            snprintf(s->port, sizeof(s->port), "%u", ntohs(in6->sin6_port));
        }
    }
    /* Reverse DNS arrives with the resolver (issue 4). */
    str_lcpy(s->name, "unknown", sizeof(s->name));
    snprintf(s->namaddr, sizeof(s->namaddr), "%s[%s]", s->name, s->addr);
    s->in_mynetworks = smtpd_netlist_match(smtpd_mynetworks, s->addr) == 1;
    s->bare_lf_ok = s->cfg->bare_lf == SMTPD_BARE_LF_NORMALIZE ||
                    smtpd_netlist_match(smtpd_bare_lf_excl, s->addr) == 1;
}

/* Input before the greeting: a client that does not wait its turn. */
static bool smtpd_pregreet(struct smtpd_session *s)
{
    struct pollfd p = {.fd = stream_fd(s->client), .events = POLLIN};
    char c;
    if (poll(&p, 1, 0) != 1 || recv(p.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) != 1)
        return false;
    msg_info("improper command pipelining after CONNECT from %s", s->namaddr);
    return s->cfg->forbid_pipelining;
}

/* Read one command line into s->line without its line end; false: session over. */
static bool smtpd_read_command(struct smtpd_session *s)
{
    if (stream_buffered(s->client) == 0 && stream_flush(s->client) != STREAM_OK) {
        smtpd_io_failed(s, STREAM_ERROR);
        return false;
    }
    for (;;) {
        int st = stream_read_line(s->client, s->line, s->cfg->line_limit);
        if (st == STREAM_TOOLONG) {
            st = stream_skip_line(s->client);
            if (st != STREAM_OK) {
                smtpd_io_failed(s, st);
                return false;
            }
            smtpd_reply(s, "500 5.5.2 Error: line too long");
            if (s->errors >= s->cfg->hard_limit)
                return true; /* the loop says goodbye */
            if (stream_buffered(s->client) == 0)
                (void)stream_flush(s->client);
            continue;
        }
        if (st != STREAM_OK || str_len(s->line) == 0) {
            smtpd_io_failed(s, st == STREAM_OK ? STREAM_EOF : st);
            return false;
        }
        return true;
    }
}

/* Strip the line end; false (after 521) when it was a forbidden bare LF. */
static bool smtpd_line_end(struct smtpd_session *s)
{
    size_t n = str_len(s->line);
    const char *p = str_c(s->line);
    if (n > 0 && p[n - 1] == '\n') {
        bool crlf = n > 1 && p[n - 2] == '\r';
        if (!crlf && !s->bare_lf_ok) {
            msg_info("bare <LF> received from %s after %s", s->namaddr,
                     s->last_cmd ? s->last_cmd : "CONNECT");
            smtpd_reply_fatal(s, "521 5.5.2 %s Error: bare <LF> received", s->cfg->myhostname);
            return false;
        }
        str_truncate(s->line, n - (crlf ? 2 : 1));
    }
    return true;
}

/* RFC 2920: input already waiting after a command that ends a group. */
static bool smtpd_pipelining_abuse(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    /* After STARTTLS the plaintext leftovers are discarded, not obeyed. */
    if (!cmd->ends_group || stream_buffered(s->client) == 0 || cmd->verb == SMTP_VERB_STARTTLS)
        return false;
    msg_info("improper command pipelining after %s from %s", cmd->name, s->namaddr);
    return s->cfg->forbid_pipelining;
}

static void smtpd_one_command(struct smtpd_session *s)
{
    struct smtp_cmd cmd;
    if (!smtpd_line_end(s))
        return;
    int rc = smtp_cmd_parse(str_c(s->line), str_len(s->line), &cmd);
    enum smtp_verb v = cmd.verb;
    s->total[v]++;
    s->last_cmd = cmd.name != NULL ? cmd.name : "UNKNOWN";
    if (rc == 0 && smtpd_pipelining_abuse(s, &cmd)) {
        smtpd_reply_fatal(s, "554 5.5.0 Error: SMTP protocol synchronization");
        return;
    }
    if (rc < 0) {
        smtpd_reply(s, "%d %s %s", cmd.reply, cmd.dsn, cmd.error);
        return;
    }
    if (smtpd_cmd_dispatch(s, &cmd))
        s->ok[v]++;
}

/* "disconnect from X ehlo=1 mail=1 rcpt=0/1 ... commands=3/4". */
static void smtpd_log_disconnect(struct smtpd_session *s)
{
    str_t *l = str_new(128);
    unsigned ok = 0, total = 0;
    for (int v = 1; v <= SMTP_VERB_COUNT; v++) {
        int i = v % SMTP_VERB_COUNT; /* unknown last */
        if (s->total[i] == 0)
            continue;
        (void)str_appendz(l, " ");
        for (const char *p = i == 0 ? "unknown" : smtp_verb_name((enum smtp_verb)i); *p; p++)
            (void)str_appendc(l, (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p));
        if (s->ok[i] == s->total[i])
            (void)str_appendf(l, "=%u", s->ok[i]);
        else
            (void)str_appendf(l, "=%u/%u", s->ok[i], s->total[i]);
        ok += s->ok[i];
        total += s->total[i];
    }
    if (ok == total)
        (void)str_appendf(l, " commands=%u", total);
    else
        (void)str_appendf(l, " commands=%u/%u", ok, total);
    msg_info("disconnect from %s%s", s->namaddr, str_c(l));
    str_free(&l);
}

static void smtpd_session_run(struct smtpd_session *s)
{
    msg_info("connect from %s", s->namaddr);
    if (s->cfg->tls_wrapper) {
        if (!smtpd_tls_wrapper_start(s))
            return;
    } else if (smtpd_pregreet(s)) {
        smtpd_reply_fatal(s, "554 5.5.0 %s Error: SMTP protocol synchronization",
                          s->cfg->myhostname);
        return;
    }
    smtpd_reply(s, "220 %s", s->cfg->banner);
    char *err = s->cfg->delay_reject ? NULL : smtpd_check_client(s);
    if (err != NULL) {
        smtpd_reply_fatal(s, "%s", err);
        free(err);
        return;
    }
    while (!s->quit) {
        if (s->errors >= s->cfg->hard_limit) {
            msg_info("too many errors after %s from %s", s->last_cmd ? s->last_cmd : "CONNECT",
                     s->namaddr);
            smtpd_reply_fatal(s, "421 4.7.0 %s Error: too many errors", s->cfg->myhostname);
            break;
        }
        if (!smtpd_read_command(s))
            break;
        if (s->errors >= s->cfg->hard_limit)
            continue;
        smtpd_one_command(s);
    }
}

static void smtpd_service(stream_t *client, const char *service, void *ctx)
{
    (void)service;
    (void)ctx;
    struct smtpd_session s = {.client = client, .cfg = &smtpd_cfg};
    s.line = str_new(256);
    stream_set_timeout(client, smtpd_cfg.timeout);
    smtpd_peer(&s);
    smtpd_session_run(&s);
    (void)stream_flush(client);
    smtpd_reset(&s);
    free(s.rcpts);
    free(s.helo);
    smtpd_auth_reset(&s);
    str_free(&s.line);
    smtpd_log_disconnect(&s);
}

int main(int argc, char **argv)
{
    static const struct server_settings settings = {
        .name = "smtpd",
        .mode = SERVER_SINGLE,
        .service = smtpd_service,
        .pre_jail_init = smtpd_pre_jail,
        .post_jail_init = smtpd_post_jail,
    };
    return server_main(argc, argv, &settings);
}
