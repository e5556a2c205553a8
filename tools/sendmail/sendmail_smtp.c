/*
 * sendmail_smtp.c - sendmail -bs: a minimal SMTP dialogue on standard
 * input and output (HELO, EHLO, MAIL, RCPT, DATA, RSET, NOOP, VRFY, QUIT).
 * Each message goes through terndrop like any other local submission,
 * with the invoking user as the submitter; nothing here is privileged.
 */
#include "sys.h"

#include <ctype.h>

#include "addr.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "sendmail.h"

#define SMTP_LINE_MAX 2048
#define SMTP_TIMEOUT 300
#define SMTP_ERRORS_MAX 20

struct smtp_session {
    struct sendmail_opts *o;
    stream_t *in;
    stream_t *out;
    struct maildrop_request req;
    bool have_mail;
    str_t *line;
    int errors;
};

static void smtp_reply(struct smtp_session *s, const char *text)
{
    stream_printf(s->out, "%s\r\n", text);
    stream_flush(s->out);
}

static void smtp_reset(struct smtp_session *s)
{
    maildrop_request_clear(&s->req);
    s->have_mail = false;
}

/* The argument after "MAIL FROM:" / "RCPT TO:", or NULL. */
static const char *smtp_arg(const char *line, const char *verb)
{
    size_t n = strlen(verb);
    return strncasecmp(line, verb, n) == 0 ? line + n : NULL;
}

static void smtp_mail(struct smtp_session *s, const char *arg)
{
    struct addr_path p;
    char *err = NULL;
    if (s->have_mail) {
        smtp_reply(s, "503 5.5.1 Error: nested MAIL command");
        return;
    }
    if (addr_parse_path(arg, strlen(arg), ADDR_F_MAIL, &p, &err) < 0) {
        smtp_reply(s, "501 5.1.7 Bad sender address syntax");
        free(err);
        return;
    }
    s->req.sender = xstrdup(p.addr);
    addr_path_free(&p);
    s->have_mail = true;
    smtp_reply(s, "250 2.1.0 Ok");
}

static void smtp_rcpt(struct smtp_session *s, const char *arg)
{
    struct addr_path p;
    char *err = NULL;
    if (!s->have_mail) {
        smtp_reply(s, "503 5.5.1 Error: need MAIL command");
        return;
    }
    if (s->req.rcpt_count >= MAILDROP_RCPT_MAX) {
        smtp_reply(s, "452 4.5.3 Error: too many recipients");
        return;
    }
    if (addr_parse_path(arg, strlen(arg), 0, &p, &err) < 0) {
        smtp_reply(s, "501 5.1.3 Bad recipient address syntax");
        free(err);
        return;
    }
    maildrop_request_add_rcpt(&s->req, p.addr);
    addr_path_free(&p);
    smtp_reply(s, "250 2.1.5 Ok");
}

/* DATA content: dot-unstuffed, CRLF to LF, bounded; always reads to the "." */
static int smtp_content(void *ctx, stream_t *to)
{
    struct smtp_session *s = ctx;
    long long limit = cfg_int("message_size_limit");
    uint64_t total = 0;
    int rc = EX_OK;
    bool at_start = true;
    for (;;) {
        int st = stream_read_line(s->in, s->line, 65536);
        if (st != STREAM_OK && st != STREAM_TOOLONG)
            return EX_TEMPFAIL;
        bool whole = st == STREAM_OK;
        const char *p = str_c(s->line);
        size_t n = str_len(s->line);
        if (at_start && whole && (strcmp(p, ".\r\n") == 0 || strcmp(p, ".\n") == 0))
            break;
        if (at_start && p[0] == '.')
            p++, n--;
        if (whole && n >= 2 && p[n - 2] == '\r')
            n--, s->line->s[str_len(s->line) - 2] = '\n';
        at_start = whole;
        total += n;
        if (limit > 0 && total > (uint64_t)limit)
            rc = EX_DATAERR;
        if (rc == EX_OK)
            maildrop_chunk_write(to, p, n);
    }
    return rc;
}

static void smtp_data(struct smtp_session *s)
{
    if (!s->have_mail || s->req.rcpt_count == 0) {
        smtp_reply(s, "503 5.5.1 Error: need RCPT command");
        return;
    }
    smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
    int rc = sendmail_drop(s->o, &s->req, smtp_content, s);
    if (rc == EX_OK)
        smtp_reply(s, "250 2.0.0 Ok: queued");
    else if (rc == EX_DATAERR)
        smtp_reply(s, "552 5.3.4 Error: message file too big");
    else
        smtp_reply(s, "451 4.3.0 Error: queue file write error");
    smtp_reset(s);
}

/* One command; false after QUIT or too many errors. */
static bool smtp_command(struct smtp_session *s, const char *cmd)
{
    const char *arg;
    if (strncasecmp(cmd, "HELO ", 5) == 0 || strncasecmp(cmd, "EHLO ", 5) == 0) {
        smtp_reset(s);
        if (toupper((unsigned char)cmd[0]) == 'E')
            stream_printf(s->out, "250-%s\r\n250-PIPELINING\r\n", cfg_str("myhostname"));
        stream_printf(s->out, "250 %s\r\n", cfg_str("myhostname"));
        stream_flush(s->out);
    } else if ((arg = smtp_arg(cmd, "MAIL FROM:")) != NULL)
        smtp_mail(s, arg);
    else if ((arg = smtp_arg(cmd, "RCPT TO:")) != NULL)
        smtp_rcpt(s, arg);
    else if (strcasecmp(cmd, "DATA") == 0)
        smtp_data(s);
    else if (strcasecmp(cmd, "RSET") == 0) {
        smtp_reset(s);
        smtp_reply(s, "250 2.0.0 Ok");
    } else if (strncasecmp(cmd, "NOOP", 4) == 0)
        smtp_reply(s, "250 2.0.0 Ok");
    else if (strncasecmp(cmd, "VRFY", 4) == 0)
        smtp_reply(s, "252 2.0.0 Send mail to find out");
    else if (strcasecmp(cmd, "QUIT") == 0) {
        smtp_reply(s, "221 2.0.0 Bye");
        return false;
    } else {
        smtp_reply(s, "502 5.5.2 Error: command not recognized");
        return ++s->errors < SMTP_ERRORS_MAX;
    }
    return true;
}

int sendmail_smtp(struct sendmail_opts *o)
{
    struct smtp_session s = {.o = o, .line = str_new(256)};
    s.in = stream_open_fd(0, 0);
    s.out = stream_open_fd(1, 0);
    stream_set_timeout(s.in, SMTP_TIMEOUT);
    stream_set_timeout(s.out, SMTP_TIMEOUT);
    stream_printf(s.out, "220 %s ESMTP tern (sendmail -bs)\r\n", cfg_str("myhostname"));
    stream_flush(s.out);
    for (;;) {
        int st = stream_read_line(s.in, s.line, SMTP_LINE_MAX);
        if (st == STREAM_TOOLONG) {
            stream_skip_line(s.in);
            smtp_reply(&s, "500 5.5.0 Error: line too long");
            continue;
        }
        if (st != STREAM_OK)
            break;
        str_chomp(s.line);
        if (!smtp_command(&s, str_c(s.line)))
            break;
    }
    smtp_reset(&s);
    str_free(&s.line);
    stream_close(&s.in);
    stream_close(&s.out);
    return EX_OK;
}
