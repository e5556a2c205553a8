/*
 * smtp_body.c - message content from the queue file to the wire.
 *
 * The queue holds the message with bare "\n" line ends and no
 * dot-stuffing; on the wire every line ends in CRLF and a line starting
 * with '.' gets one more '.' (RFC 5321 section 4.5.2).
 *
 * 8-bit content to a server without 8BITMIME (RFC 6152): when the
 * header section is 7-bit and the message is a single text part
 * (no Content-Type, or a text type, with no Content-Transfer-Encoding or
 * 7bit/8bit), the body is sent quoted-printable (RFC 2045 section 6.7):
 * the Content-Transfer-Encoding header is replaced, and MIME-Version and
 * Content-Type (charset utf-8 when the body is valid UTF-8, else
 * unknown-8bit) are added when missing.  Multipart and other MIME types
 * are not converted (the caller bounces them with 5.6.3).
 *
 * For BDAT (RFC 3030) the content goes out as one chunk whose size is
 * known before the first byte: CRLF line ends, no dot-stuffing, no
 * terminating ".", never QP (a message that needs QP goes by DATA).
 *
 * A message of at most BODY_MEM_MAX bytes is read from the queue file
 * once, by the scan, and sent from memory; a larger one is read again
 * while it is sent.
 */
#include "smtp.h"

#include <strings.h>

#include "addr.h"
#include "config.h"
#include "mem.h"

#define QP_LINE_MAX 76 /* encoded characters per line, "=" included */
#define BODY_HEADER_MAX (1024 * 1024)
#define BODY_MEM_MAX (1024 * 1024)

/* Back to the start of the content: in memory, or in the queue file. */
static void content_rewind(struct smtp_msg *msg)
{
    msg->content_off = 0;
    if (msg->content == NULL)
        qfile_content_rewind(msg->qf);
}

/* Up to n more content bytes: 0 at the end, -1 with *error_r. */
static ssize_t content_read(struct smtp_msg *msg, char *buf, size_t n, char **error_r)
{
    if (msg->content == NULL)
        return qfile_content_read(msg->qf, buf, n, error_r);
    size_t left = str_len(msg->content) - msg->content_off;
    if (n > left)
        n = left;
    memcpy(buf, str_c(msg->content) + msg->content_off, n);
    msg->content_off += n;
    return (ssize_t)n;
}

/* Keep a small message's content in memory: one pass over the queue file. */
static int content_load(struct smtp_msg *msg, char **error_r)
{
    uint64_t size = qfile_content_size(msg->qf);
    if (size > BODY_MEM_MAX)
        return 0;
    str_t *c = str_new((size_t)size + 1);
    char buf[16384];
    ssize_t got;
    qfile_content_rewind(msg->qf);
    while ((got = qfile_content_read(msg->qf, buf, sizeof(buf), error_r)) > 0)
        str_append(c, buf, (size_t)got);
    if (got < 0) {
        str_free(&c);
        return -1;
    }
    msg->content = c;
    msg->content_off = 0;
    return 0;
}

/* Value of header name in the header text (first occurrence), or NULL. */
static char *header_value(const char *hdr, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = hdr, *end = hdr + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl != NULL ? nl : end;
        if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            return xstrndup(v, (size_t)(eol - v));
        }
        p = eol + (nl != NULL);
    }
    return NULL;
}

/* Whether the header section describes one text part QP can carry. */
static bool mime_is_text(const char *hdr, size_t len)
{
    char *ct = header_value(hdr, len, "Content-Type");
    char *cte = header_value(hdr, len, "Content-Transfer-Encoding");
    bool ok = (ct == NULL || strncasecmp(ct, "text/", 5) == 0) &&
              (cte == NULL || strncasecmp(cte, "7bit", 4) == 0 || strncasecmp(cte, "8bit", 4) == 0);
    free(ct);
    free(cte);
    return ok;
}

static bool has_8bit(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] >= 0x80)
            return true;
    return false;
}

/* Read the whole header section (up to the body marker) into out. */
static int read_header(struct smtp_msg *msg, str_t *out, char **error_r)
{
    uint64_t want = qfile_header_size(msg->qf);
    char buf[8192];
    content_rewind(msg);
    if (want > BODY_HEADER_MAX)
        return error_set(error_r, "header section too large (%llu bytes)",
                         (unsigned long long)want);
    while (str_len(out) < want) {
        size_t n = want - str_len(out) < sizeof(buf) ? (size_t)(want - str_len(out)) : sizeof(buf);
        ssize_t got = content_read(msg, buf, n, error_r);
        if (got <= 0)
            return got < 0 ? -1 : error_set(error_r, "queue file content ends in the header");
        str_append(out, buf, (size_t)got);
    }
    return 0;
}

int smtp_body_scan(struct smtp_msg *msg, char **error_r)
{
    str_t *hdr = str_new(4096);
    char buf[16384];
    if (content_load(msg, error_r) < 0 || read_header(msg, hdr, error_r) < 0) {
        str_free(&hdr);
        return -1;
    }
    bool hdr_8bit = has_8bit(str_c(hdr), str_len(hdr));
    uint64_t lines = 0;
    for (size_t i = 0; i < str_len(hdr); i++)
        lines += str_c(hdr)[i] == '\n';
    bool body_8bit = false;
    char last = str_len(hdr) > 0 ? str_c(hdr)[str_len(hdr) - 1] : '\n';
    ssize_t got;
    while ((got = content_read(msg, buf, sizeof(buf), error_r)) > 0) {
        body_8bit = body_8bit || has_8bit(buf, (size_t)got);
        for (ssize_t i = 0; i < got; i++)
            lines += buf[i] == '\n';
        last = buf[got - 1];
    }
    msg->size = qfile_content_size(msg->qf) + lines; /* CRLF on the wire */
    msg->open_end = last != '\n';
    msg->eight_bit = hdr_8bit || body_8bit;
    msg->mime_text = !hdr_8bit && mime_is_text(str_c(hdr), str_len(hdr));
    str_free(&hdr);
    return got < 0 ? -1 : 0;
}

/* ---- plain sending ------------------------------------------------- */

struct wire {
    stream_t *s;
    bool bol;   /* at the beginning of a line */
    bool stuff; /* dot-stuffing (DATA), or not (BDAT) */
};

/* Write n bytes of LF content as CRLF, dot-stuffed. */
static void wire_put(struct wire *w, const char *p, size_t n)
{
    const char *end = p + n;
    while (p < end) {
        if (w->stuff && w->bol && *p == '.')
            stream_write(w->s, ".", 1);
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl != NULL ? nl : end;
        stream_write(w->s, p, (size_t)(stop - p));
        w->bol = nl != NULL;
        if (nl != NULL)
            stream_write(w->s, "\r\n", 2);
        p = stop + (nl != NULL);
    }
}

/* ---- quoted-printable ---------------------------------------------- */

/* Header section for a QP body: old Content-Transfer-Encoding dropped. */
static void qp_header(struct wire *w, const char *hdr, size_t len, bool utf8)
{
    const char *p = hdr, *end = hdr + len;
    bool skipping = false, have_mv = false, have_ct = false;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl != NULL ? nl + 1 : end) - p);
        bool cont = *p == ' ' || *p == '\t';
        if (!cont)
            skipping = n > 26 && strncasecmp(p, "Content-Transfer-Encoding:", 26) == 0;
        if (!cont && n > 13 && strncasecmp(p, "MIME-Version:", 13) == 0)
            have_mv = true;
        if (!cont && n > 13 && strncasecmp(p, "Content-Type:", 13) == 0)
            have_ct = true;
        if (!skipping && !(n == 1 && *p == '\n'))
            wire_put(w, p, n);
        p += n;
    }
    if (!have_mv)
        wire_put(w, "MIME-Version: 1.0\n", 18);
    if (!have_ct)
        stream_printf(w->s, "Content-Type: text/plain; charset=%s\r\n",
                      utf8 ? "utf-8" : "unknown-8bit");
    wire_put(w, "Content-Transfer-Encoding: quoted-printable\n\n", 45);
}

/* Encode one body line (without its "\n") as QP lines with soft breaks. */
static void qp_line(stream_t *s, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    char out[8];
    size_t col = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        size_t k = 0;
        bool last = i + 1 == n;
        if ((c >= 33 && c <= 126 && c != '=' && !(c == '.' && col == 0)) ||
            ((c == ' ' || c == '\t') && !last)) {
            out[k++] = (char)c;
        } else {
            out[k++] = '=';
            out[k++] = hex[c >> 4];
            out[k++] = hex[c & 15];
        }
        if (col + k > QP_LINE_MAX - 1) {
            stream_write(s, "=\r\n", 3);
            col = 0;
            if (out[0] == '.') { /* a '.' now starts the line */
                out[0] = '=';
                out[1] = '2';
                out[2] = 'E';
                k = 3;
            }
        }
        stream_write(s, out, k);
        col += k;
    }
    stream_write(s, "\r\n", 2);
}

/* skip_blank: the header/body separator is the body's first line. */
static int qp_body(struct smtp_msg *msg, stream_t *s, bool skip_blank, char **error_r)
{
    str_t *line = str_new(1024);
    char buf[16384];
    ssize_t got;
    while ((got = content_read(msg, buf, sizeof(buf), error_r)) > 0) {
        const char *p = buf, *end = buf + got;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            str_append(line, p, (size_t)((nl != NULL ? nl : end) - p));
            if (nl != NULL) {
                if (!skip_blank || str_len(line) > 0)
                    qp_line(s, (const unsigned char *)str_c(line), str_len(line));
                skip_blank = false;
                str_reset(line);
            }
            p = nl != NULL ? nl + 1 : end;
        }
    }
    if (got == 0 && str_len(line) > 0)
        qp_line(s, (const unsigned char *)str_c(line), str_len(line));
    str_free(&line);
    return got < 0 ? -1 : 0;
}

/* Whether the body (after the header section) is valid UTF-8. */
static bool body_is_utf8(struct smtp_msg *msg)
{
    str_t *body = str_new(16384);
    char buf[16384];
    ssize_t got;
    bool ok = true;
    while (ok && (got = content_read(msg, buf, sizeof(buf), NULL)) > 0) {
        str_append(body, buf, (size_t)got);
        /* Check complete lines only, so no sequence is split. */
        const char *last = memrchr(str_c(body), '\n', str_len(body));
        if (last != NULL) {
            size_t n = (size_t)(last - str_c(body)) + 1;
            ok = addr_utf8_valid(str_c(body), n);
            memmove(body->s, body->s + n, str_len(body) - n);
            str_truncate(body, str_len(body) - n);
        }
    }
    ok = ok && addr_utf8_valid(str_c(body), str_len(body));
    str_free(&body);
    return ok;
}

uint64_t smtp_body_wire_size(const struct smtp_msg *msg)
{
    return msg->size + (msg->open_end ? 2 : 0);
}

int smtp_body_send(struct smtp_msg *msg, stream_t *s, bool to_qp, bool bdat, char **error_r)
{
    struct wire w = {.s = s, .bol = true, .stuff = !bdat};
    char buf[16384];
    ssize_t got = 0;
    stream_set_timeout(s, (int)cfg_time("smtp_data_xfer_timeout"));
    if (to_qp && !bdat) {
        str_t *hdr = str_new(4096);
        int rc = read_header(msg, hdr, error_r);
        bool utf8 = rc == 0 && body_is_utf8(msg);
        if (rc == 0)
            rc = read_header(msg, (str_reset(hdr), hdr), error_r);
        if (rc == 0) {
            size_t n = str_len(hdr);
            bool sep = n == 1 || (n >= 2 && str_c(hdr)[n - 1] == '\n' && str_c(hdr)[n - 2] == '\n');
            qp_header(&w, str_c(hdr), n, utf8);
            rc = qp_body(msg, s, !sep, error_r);
        }
        str_free(&hdr);
        if (rc < 0)
            return -1;
    } else if (msg->content != NULL) {
        wire_put(&w, str_c(msg->content), str_len(msg->content));
    } else {
        content_rewind(msg);
        while ((got = content_read(msg, buf, sizeof(buf), error_r)) > 0)
            wire_put(&w, buf, (size_t)got);
        if (got < 0)
            return -1;
    }
    if (!w.bol)
        stream_write(s, "\r\n", 2);
    if (!bdat)
        stream_write(s, ".\r\n", 3);
    return 0;
}
