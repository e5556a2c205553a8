/*
 * pop3_session.c - the TRANSACTION and UPDATE states (RFC 1939 sections
 * 5 and 6), run in the mail process as the mailbox owner, over the
 * plaintext socketpair to the login process.
 */
#include "pop3d.h"

#include "log.h"
#include "maildir_uid.h"
#include "mem.h"

#define POP3_READ_CHUNK (128 * 1024) /* file reads; also the size of one socket write */

#include <sys/stat.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

struct pop3_sess {
    stream_t *s;
    struct pop3_mbox mb;
    const struct login_user *user;
    long errors, commands;
    bool quit;
    size_t retr, dele;
    uint64_t retr_bytes;
    char *buf;  /* file reads, kept for the session */
    str_t *out; /* one answer (or POP3_READ_CHUNK of it) in wire form */
};

static void pop3_error(struct pop3_sess *ps, const char *text)
{
    pop3_reply(ps->s, "-ERR %s", text);
    ps->errors++;
}

/* The message a number names; NULL (reply sent) when there is none. */
static struct pop3_msg *pop3_msg_arg(struct pop3_sess *ps, const char *args)
{
    size_t n;
    if (pop3_parse_num(args, ps->mb.count, &n) < 0) {
        pop3_error(ps, "No such message.");
        return NULL;
    }
    struct pop3_msg *m = &ps->mb.msgs[n - 1];
    if (m->deleted) {
        pop3_error(ps, "Message is deleted.");
        return NULL;
    }
    return m;
}

static void pop3_stat(struct pop3_sess *ps)
{
    size_t n = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < ps->mb.count; i++)
        if (!ps->mb.msgs[i].deleted) {
            n++;
            bytes += ps->mb.msgs[i].vsize;
        }
    pop3_reply(ps->s, "+OK %zu %llu", n, (unsigned long long)bytes);
}

/* One LIST or UIDL line's value. */
static void pop3_list_value(const struct pop3_sess *ps, const struct pop3_msg *m, bool uidl,
                            str_t *out)
{
    if (uidl) {
        char buf[MAILDIR_UIDL_LEN + 1];
        maildir_uid_uidl(m->uid, ps->mb.validity, buf);
        str_appendz(out, buf);
    } else
        str_appendf(out, "%llu", (unsigned long long)m->vsize);
}

static void pop3_list(struct pop3_sess *ps, const char *args, bool uidl)
{
    str_t *l = str_new(256);
    if (*args != '\0') {
        struct pop3_msg *m = pop3_msg_arg(ps, args);
        if (m != NULL) {
            str_appendf(l, "+OK %zu ", (size_t)(m - ps->mb.msgs) + 1);
            pop3_list_value(ps, m, uidl, l);
            pop3_reply(ps->s, "%s", str_c(l));
        }
        str_free(&l);
        return;
    }
    (void)stream_puts(ps->s, "+OK\r\n");
    for (size_t i = 0; i < ps->mb.count; i++) {
        if (ps->mb.msgs[i].deleted)
            continue;
        str_reset(l);
        str_appendf(l, "%zu ", i + 1);
        pop3_list_value(ps, &ps->mb.msgs[i], uidl, l);
        str_append(l, "\r\n", 2);
        (void)stream_write(ps->s, str_c(l), str_len(l));
    }
    pop3_reply(ps->s, ".");
    str_free(&l);
}

/* Read up to want bytes (fewer only at the end of the file); -1 on error. */
static ssize_t pop3_read_file(int fd, char *buf, size_t want)
{
    size_t got = 0;
    while (got < want) {
        ssize_t n = read(fd, buf + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/*
 * Send a message (lines: -1 for RETR) as dot-stuffed CRLF data.  The
 * status line, the data and the final "." go out together: a message up
 * to POP3_READ_CHUNK is one read(2) and one write(2).
 */
static void pop3_send(struct pop3_sess *ps, struct pop3_msg *m, long lines)
{
    int fd = pop3_mbox_msg_open(&ps->mb, m);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        msg_warn("open %s/cur/%s: %s", ps->mb.dir, m->name, strerror(errno));
        pop3_reply(ps->s, "-ERR [SYS/TEMP] Message is not available.");
        if (fd >= 0)
            close(fd);
        return;
    }
    if (ps->buf == NULL) {
        ps->buf = xmalloc(POP3_READ_CHUNK);
        ps->out = str_new(POP3_READ_CHUNK + POP3_READ_CHUNK / 2);
    }
    str_t *out = ps->out;
    str_reset(out);
    if (lines < 0)
        str_appendf(out, "+OK %llu octets\r\n", (unsigned long long)m->vsize);
    else
        str_appendz(out, "+OK\r\n");
    struct pop3_conv cv;
    pop3_conv_init(&cv, true, lines);
    /* Maildir files never change: read st_size bytes and no further. */
    uint64_t left = (uint64_t)st.st_size;
    while (!cv.done && left > 0) {
        size_t want = left < POP3_READ_CHUNK ? (size_t)left : POP3_READ_CHUNK;
        ssize_t n = pop3_read_file(fd, ps->buf, want);
        if (n <= 0) {
            msg_warn("read %s/cur/%s: %s", ps->mb.dir, m->name,
                     n < 0 ? strerror(errno) : "file became shorter");
            ps->quit = true; /* no way to say so after +OK: end the session */
            break;
        }
        left -= (uint64_t)n;
        (void)pop3_conv_run(&cv, ps->buf, (size_t)n, out);
        if (str_len(out) >= POP3_READ_CHUNK) {
            (void)stream_write(ps->s, str_c(out), str_len(out));
            str_reset(out);
        }
    }
    pop3_conv_finish(&cv, out);
    (void)str_append(out, ".\r\n", 3);
    (void)stream_write(ps->s, str_c(out), str_len(out));
    (void)stream_flush(ps->s);
    close(fd);
    if (lines < 0) {
        m->retrieved = true;
        ps->retr++;
        ps->retr_bytes += cv.out_bytes;
    }
}

static void pop3_top(struct pop3_sess *ps, const char *args)
{
    size_t n;
    long lines;
    if (pop3_parse_top(args, ps->mb.count, &n, &lines) < 0) {
        pop3_error(ps, "Usage: TOP message lines.");
        return;
    }
    struct pop3_msg *m = &ps->mb.msgs[n - 1];
    if (m->deleted)
        pop3_error(ps, "Message is deleted.");
    else
        pop3_send(ps, m, lines);
}

static void pop3_quit(struct pop3_sess *ps)
{
    /* EXPIRE 0 (RFC 2449): what was retrieved goes, DELE or not. */
    if (strcmp(pop3_cfg.expire, "0") == 0)
        for (size_t i = 0; i < ps->mb.count; i++)
            if (ps->mb.msgs[i].retrieved && !ps->mb.msgs[i].deleted) {
                ps->mb.msgs[i].deleted = true;
                ps->dele++;
            }
    size_t failed = pop3_mbox_expunge(&ps->mb);
    if (failed > 0)
        pop3_reply(ps->s, "-ERR [SYS/TEMP] %zu deleted messages were not removed.", failed);
    else
        pop3_reply(ps->s, "+OK Logging out.");
    ps->quit = true;
}

static void pop3_dispatch(struct pop3_sess *ps, struct pop3_cmd *c)
{
    struct pop3_msg *m;
    const char *v = c->verb;
    if (strcmp(v, "STAT") == 0 && *c->args == '\0')
        pop3_stat(ps);
    else if (strcmp(v, "LIST") == 0 || strcmp(v, "UIDL") == 0)
        pop3_list(ps, c->args, v[0] == 'U');
    else if (strcmp(v, "RETR") == 0) {
        if ((m = pop3_msg_arg(ps, c->args)) != NULL)
            pop3_send(ps, m, -1);
    } else if (strcmp(v, "TOP") == 0)
        pop3_top(ps, c->args);
    else if (strcmp(v, "DELE") == 0) {
        if ((m = pop3_msg_arg(ps, c->args)) != NULL) {
            m->deleted = true;
            ps->dele++;
            pop3_reply(ps->s, "+OK Marked to be deleted.");
        }
    } else if (strcmp(v, "RSET") == 0) {
        for (size_t i = 0; i < ps->mb.count; i++)
            ps->mb.msgs[i].deleted = false;
        ps->dele = 0;
        pop3_reply(ps->s, "+OK");
    } else if (strcmp(v, "NOOP") == 0)
        pop3_reply(ps->s, "+OK");
    else if (strcmp(v, "CAPA") == 0)
        pop3_capa(ps->s, false, false, false);
    else if (strcmp(v, "QUIT") == 0)
        pop3_quit(ps);
    else
        pop3_error(ps, "Unknown command.");
}

/* One command; false when the session is over. */
static bool pop3_step(struct pop3_sess *ps, str_t *line)
{
    int r = pop3_read_line(ps->s, line, (size_t)pop3_cfg.line_limit + 2);
    struct pop3_cmd c;
    if (r == STREAM_TIMEOUT)
        pop3_reply(ps->s, "-ERR Disconnected for inactivity.");
    if (r != STREAM_OK && r != STREAM_TOOLONG)
        return false;
    if (++ps->commands > pop3_cfg.command_limit) {
        pop3_reply(ps->s, "-ERR Too many commands.");
        return false;
    }
    if (r == STREAM_TOOLONG)
        pop3_error(ps, "Line too long.");
    else if (pop3_cmd_parse(line->s, str_len(line), &c) < 0)
        pop3_error(ps, "Bad command.");
    else
        pop3_dispatch(ps, &c);
    if (!ps->quit && ps->errors >= pop3_cfg.error_limit) {
        pop3_reply(ps->s, "-ERR Too many errors, closing.");
        return false;
    }
    return !ps->quit && stream_error(ps->s) == STREAM_OK;
}

void pop3_postlogin(stream_t *client, const struct login_user *user, const char *client_addr,
                    void *ctx)
{
    (void)ctx;
    struct pop3_sess ps = {.s = client, .user = user};
    char *err = NULL;
    stream_set_timeout(client, pop3_cfg.timeout);
    int rc = pop3_mbox_open(user->maildir, pop3_cfg.login_delay, &ps.mb, &err);
    if (rc == POP3_MBOX_DELAY) {
        msg_info("login too soon: user=<%s>, rip=%s, login_delay=%lds", user->user, client_addr,
                 pop3_cfg.login_delay);
        pop3_reply(client, "-ERR [LOGIN-DELAY] Logged in less than %ld seconds ago.",
                   pop3_cfg.login_delay);
    } else if (rc == POP3_MBOX_INUSE) {
        msg_info("mailbox in use: user=<%s>, rip=%s", user->user, client_addr);
        pop3_reply(client, "-ERR [IN-USE] Mailbox is locked by another POP3 session.");
    } else if (rc != POP3_MBOX_OK) {
        msg_warn("mailbox of %s: %s", user->user, err);
        pop3_reply(client, "-ERR [SYS/TEMP] Mailbox is not available.");
    } else {
#ifdef __GLIBC__
        /* The listing and the UID list were freed: give their pages back,
           sessions stay for a long time. */
        (void)malloc_trim(0);
#endif
        pop3_reply(client, "+OK Logged in, %zu messages.", ps.mb.count);
        str_t *line = str_new(256);
        while (pop3_step(&ps, line))
            ;
        str_free(&line);
        msg_info("disconnect: user=<%s>, rip=%s, top=%zu, retr=%zu/%llu, del=%zu/%zu%s", user->user,
                 client_addr, (size_t)0, ps.retr, (unsigned long long)ps.retr_bytes,
                 ps.quit ? ps.dele : 0, ps.mb.count, ps.quit ? "" : ", no QUIT: nothing deleted");
    }
    free(err);
    free(ps.buf);
    str_free(&ps.out);
    pop3_mbox_close(&ps.mb);
}
