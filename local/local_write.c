/*
 * local_write.c - the message as the local agent hands it on: our
 * Return-Path and Delivered-To headers, then the queue file's content
 * ("\n" line ends, unchanged).  For mbox files a "From " envelope line
 * goes first, body lines matching ">*From " get one more '>' (mboxrd),
 * and the message ends with an empty line.
 *
 * Also the mail-loop check: the Delivered-To headers already present.
 */
#include "local.h"

#include "log.h"
#include "mem.h"

#include <strings.h>
#include <time.h>

#define LOCAL_HEADER_SCAN_MAX (1024 * 1024)

struct local_mbox {
    local_write_fn fn;
    void *ctx;
    str_t *line; /* a partial line carried between chunks */
};

/* Write one whole line (with its "\n", if any) with mboxrd quoting. */
static int local_mbox_line(struct local_mbox *b, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && p[i] == '>')
        i++;
    if (n - i >= 5 && memcmp(p + i, "From ", 5) == 0 && b->fn(b->ctx, ">", 1) < 0)
        return -1;
    return b->fn(b->ctx, p, n);
}

static int local_mbox_chunk(struct local_mbox *b, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) + 1 : n;
        str_append(b->line, p, take);
        p += take;
        n -= take;
        if (nl) {
            if (local_mbox_line(b, str_c(b->line), str_len(b->line)) < 0)
                return -1;
            str_reset(b->line);
        }
    }
    return 0;
}

static int local_mbox_finish(struct local_mbox *b, bool *ended_nl)
{
    if (str_len(b->line) > 0) {
        if (local_mbox_line(b, str_c(b->line), str_len(b->line)) < 0)
            return -1;
        *ended_nl = false;
    }
    return 0;
}

static int local_write_headers(const struct local_msg *m, const char *rcpt, bool mbox,
                               local_write_fn fn, void *ctx)
{
    str_t *h = str_new(256);
    const char *sender = m->req->sender;
    if (mbox) {
        time_t now = time(NULL);
        char date[64];
        struct tm tm;
        strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", localtime_r(&now, &tm));
        str_appendf(h, "From %s  %s\n", *sender ? sender : "MAILER-DAEMON", date);
    }
    str_appendf(h, "Return-Path: <%s>\nDelivered-To: %s\n", sender, rcpt);
    int rc = fn(ctx, str_c(h), str_len(h));
    str_free(&h);
    return rc;
}

int local_write_message(const struct local_msg *m, const char *rcpt, bool mbox, local_write_fn fn,
                        void *ctx, char **error_r)
{
    if (local_write_headers(m, rcpt, mbox, fn, ctx) < 0) {
        *error_r = xstrdup("write error");
        return LOCAL_WRITE_ERROR;
    }
    struct local_mbox b = {.fn = fn, .ctx = ctx, .line = str_new(1024)};
    char buf[65536];
    ssize_t n;
    bool ended_nl = true;
    int rc = 0;
    qfile_content_rewind(m->qf);
    while (rc == 0 && (n = qfile_content_read(m->qf, buf, sizeof(buf), error_r)) > 0) {
        ended_nl = buf[n - 1] == '\n';
        rc = mbox ? local_mbox_chunk(&b, buf, (size_t)n) : fn(ctx, buf, (size_t)n);
        if (rc < 0) {
            *error_r = xstrdup("write error");
            rc = LOCAL_WRITE_ERROR;
        }
    }
    if (rc == 0 && n < 0)
        rc = -1; /* error_r set by the reader */
    if (rc == 0 && mbox) {
        if (local_mbox_finish(&b, &ended_nl) < 0 ||
            fn(ctx, ended_nl ? "\n" : "\n\n", ended_nl ? 1 : 2) < 0) {
            *error_r = xstrdup("write error");
            rc = LOCAL_WRITE_ERROR;
        }
    }
    str_free(&b.line);
    return rc;
}

/* Remember the value of one unfolded header line if it is Delivered-To. */
static void local_header_line(struct local_msg *m, str_t *line)
{
    static const char name[] = "delivered-to:";
    if (str_len(line) < sizeof(name) - 1 || strncasecmp(str_c(line), name, sizeof(name) - 1))
        return;
    str_t *v = str_new(str_len(line));
    str_appendz(v, str_c(line) + sizeof(name) - 1);
    str_trim(v);
    m->delivered_to = xreallocarray(m->delivered_to, m->ndelivered_to + 1, sizeof(char *));
    m->delivered_to[m->ndelivered_to++] = str_steal(&v);
}

int local_read_delivered_to(struct local_msg *m, char **error_r)
{
    uint64_t want = qfile_header_size(m->qf);
    if (want > LOCAL_HEADER_SCAN_MAX)
        want = LOCAL_HEADER_SCAN_MAX;
    str_t *hdr = str_new((size_t)want + 1);
    char buf[65536];
    qfile_content_rewind(m->qf);
    while (str_len(hdr) < want) {
        size_t ask =
            want - str_len(hdr) < sizeof(buf) ? (size_t)(want - str_len(hdr)) : sizeof(buf);
        ssize_t n = qfile_content_read(m->qf, buf, ask, error_r);
        if (n < 0) {
            str_free(&hdr);
            return -1;
        }
        if (n == 0)
            break;
        str_append(hdr, buf, (size_t)n);
    }
    str_t *line = str_new(256);
    const char *p = str_c(hdr), *end = p + str_len(hdr);
    while (p < end && *p != '\n') {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (*p != ' ' && *p != '\t') {
            local_header_line(m, line);
            str_reset(line);
        }
        str_append(line, p, n);
        p += n + (nl ? 1 : 0);
    }
    local_header_line(m, line);
    str_free(&line);
    str_free(&hdr);
    return 0;
}

bool local_has_delivered_to(const struct local_msg *m, const char *rcpt)
{
    for (size_t i = 0; i < m->ndelivered_to; i++) {
        const char *v = m->delivered_to[i];
        size_t n = strlen(v);
        if (n >= 2 && v[0] == '<' && v[n - 1] == '>') { /* tolerate <addr> */
            if (n - 2 == strlen(rcpt) && strncasecmp(v + 1, rcpt, n - 2) == 0)
                return true;
        } else if (strcasecmp(v, rcpt) == 0) {
            return true;
        }
    }
    return false;
}
