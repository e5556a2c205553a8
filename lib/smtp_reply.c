/*
 * smtp_reply.c - reading SMTP replies on the client side (smtp_reply.h).
 *
 * The parser is fed one line at a time so that it can be tested and
 * fuzzed without a socket; smtp_reply_read() wraps it around a stream.
 * A reply's lines should all carry the same code; some servers get that
 * wrong, so the first line's code is the reply's code and a differing
 * code later is tolerated (the text keeps every line as sent).
 */
#include "smtp_reply.h"

#include <ctype.h>
#include <strings.h>

#include "log.h"
#include "mem.h"

void smtp_reply_init(struct smtp_reply *r)
{
    memset(r, 0, sizeof(*r));
    r->text = str_new_max(128, SMTP_REPLY_TEXT_MAX);
}

void smtp_reply_reset(struct smtp_reply *r)
{
    for (size_t i = 0; i < r->nlines; i++)
        free(r->lines[i]);
    xfree(r->lines);
    r->nlines = 0;
    r->code = 0;
    r->enh[0] = '\0';
    r->has_enh = false;
    r->complete = false;
    str_reset(r->text);
}

void smtp_reply_clear(struct smtp_reply *r)
{
    if (r->text == NULL)
        return;
    smtp_reply_reset(r);
    str_free(&r->text);
}

/* Length of an "X.Y.Z" enhanced code at p for class digit c, else 0. */
static size_t enh_code_len(const char *p, size_t len, int c)
{
    size_t i = 0;
    if (len < 5 || p[0] != (char)('0' + c) || p[1] != '.')
        return 0;
    i = 2;
    for (int part = 0; part < 2; part++) {
        size_t start = i;
        while (i < len && i - start < 3 && isdigit((unsigned char)p[i]))
            i++;
        if (i == start)
            return 0;
        if (part == 0) {
            if (i >= len || p[i] != '.')
                return 0;
            i++;
        }
    }
    if (i < len && p[i] != ' ')
        return 0;
    return i;
}

/*
 * Append "line" to the one-line summary, printable.  At its bound the
 * summary ends in "..." and takes nothing more.
 */
static void text_add(struct smtp_reply *r, const char *line, size_t len)
{
    size_t used = str_len(r->text);
    if (used + 3 >= SMTP_REPLY_TEXT_MAX)
        return;
    size_t room = SMTP_REPLY_TEXT_MAX - used - 3; /* keep room for "..." */
    if (used > 0) {
        str_appendc(r->text, ' ');
        room--;
    }
    str_append_printable(r->text, line, len < room ? len : room, room);
    if (len > room)
        str_appendz(r->text, "...");
}

/* Parse "NNN" at the start of line: the code, or -1. */
static int line_code(const char *line, size_t len)
{
    if (len < 3)
        return -1;
    for (size_t i = 0; i < 3; i++)
        if (!isdigit((unsigned char)line[i]))
            return -1;
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (code < 200 || code > 599)
        return -1;
    if (len > 3 && line[3] != ' ' && line[3] != '-')
        return -1;
    return code;
}

static void first_line(struct smtp_reply *r, int code, const char *text, size_t tlen)
{
    r->code = code;
    size_t n = enh_code_len(text, tlen, code / 100);
    if (n > 0 && n < sizeof(r->enh)) {
        memcpy(r->enh, text, n);
        r->enh[n] = '\0';
        r->has_enh = true;
    } else {
        snprintf(r->enh, sizeof(r->enh), "%d.0.0", code / 100);
    }
}

int smtp_reply_add_line(struct smtp_reply *r, const char *line, size_t len, char **error_r)
{
    if (r->complete)
        msg_panic("smtp_reply_add_line: reply already complete");
    if (len > 0 && line[len - 1] == '\r')
        len--;
    int code = line_code(line, len);
    if (code < 0)
        return error_set(error_r, "malformed SMTP reply line");
    if (r->nlines >= SMTP_REPLY_LINES_MAX)
        return error_set(error_r, "SMTP reply has more than %d lines", SMTP_REPLY_LINES_MAX);
    const char *text = len > 4 ? line + 4 : "";
    size_t tlen = len > 4 ? len - 4 : 0;
    if (r->nlines == 0)
        first_line(r, code, text, tlen);
    str_t *t = str_new(tlen + 1);
    str_append_printable(t, text, tlen, tlen);
    r->lines = xreallocarray(r->lines, r->nlines + 1, sizeof(*r->lines));
    r->lines[r->nlines++] = str_steal(&t);
    text_add(r, line, len);
    if (len > 3 && line[3] == '-')
        return 1;
    r->complete = true;
    return 0;
}

int smtp_reply_read(stream_t *s, struct smtp_reply *r, char **error_r)
{
    str_t *line = str_new(256);
    int rc = 1;
    smtp_reply_reset(r);
    while (rc == 1) {
        int st = stream_read_line(s, line, SMTP_REPLY_LINE_MAX);
        if (st == STREAM_TOOLONG) {
            st = stream_skip_line(s);
            if (st == STREAM_EOF)
                st = STREAM_OK;
        }
        if (st != STREAM_OK) {
            rc = st == STREAM_EOF       ? SMTP_REPLY_EOF
                 : st == STREAM_TIMEOUT ? SMTP_REPLY_TIMEOUT
                                        : SMTP_REPLY_IOERR;
            break;
        }
        if (str_len(line) == 0) {
            rc = SMTP_REPLY_EOF;
            break;
        }
        str_chomp(line);
        if (smtp_reply_add_line(r, str_c(line), str_len(line), error_r) < 0)
            rc = SMTP_REPLY_BAD;
        else
            rc = r->complete ? SMTP_REPLY_OK : 1;
    }
    str_free(&line);
    return rc;
}

bool smtp_reply_ehlo_has(const struct smtp_reply *r, const char *keyword, const char **args_r)
{
    size_t klen = strlen(keyword);
    for (size_t i = 1; i < r->nlines; i++) {
        const char *l = r->lines[i];
        if (strncasecmp(l, keyword, klen) != 0 ||
            (l[klen] != '\0' && l[klen] != ' ' && l[klen] != '='))
            continue;
        const char *p = l + klen;
        while (*p == ' ' || *p == '=')
            p++;
        if (args_r != NULL)
            *args_r = p;
        return true;
    }
    return false;
}
