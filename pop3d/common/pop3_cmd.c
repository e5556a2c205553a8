/*
 * pop3_cmd.c - POP3 command lines and the message converter: pure
 * functions without I/O, so that the unit tests and the fuzz target can
 * include this file on its own.
 */
#include "../pop3d.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>

int pop3_cmd_parse(char *line, size_t len, struct pop3_cmd *c)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    line[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch < 0x20 || ch == 0x7f)
            return -1;
    }
    size_t v = 0;
    while (v < len && isalpha((unsigned char)line[v]))
        v++;
    if (v == 0 || v > POP3_VERB_MAX || (v < len && line[v] != ' '))
        return -1;
    for (size_t i = 0; i < v; i++)
        c->verb[i] = (char)toupper((unsigned char)line[i]);
    c->verb[v] = '\0';
    c->args = v < len ? line + v + 1 : line + len;
    return 0;
}

/* Strict decimal without sign or leading zero, up to max; end at *end_r. */
static int pop3_decimal(const char *s, unsigned long long max, unsigned long long *v_r,
                        const char **end_r)
{
    unsigned long long v = 0;
    const char *p = s;
    if (!isdigit((unsigned char)*p) || (p[0] == '0' && isdigit((unsigned char)p[1])))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > max / 10 || (v == max / 10 && d > max % 10))
            return -1;
        v = v * 10 + d;
    }
    *v_r = v;
    *end_r = p;
    return 0;
}

int pop3_parse_num(const char *s, size_t max, size_t *n_r)
{
    unsigned long long v;
    const char *end;
    if (pop3_decimal(s, max, &v, &end) < 0 || *end != '\0' || v < 1)
        return -1;
    *n_r = (size_t)v;
    return 0;
}

int pop3_parse_top(const char *s, size_t max, size_t *n_r, long *lines_r)
{
    unsigned long long v, l;
    const char *end;
    if (pop3_decimal(s, max, &v, &end) < 0 || v < 1 || *end != ' ' ||
        pop3_decimal(end + 1, LONG_MAX, &l, &end) < 0 || *end != '\0')
        return -1;
    *n_r = (size_t)v;
    *lines_r = (long)l;
    return 0;
}

void pop3_conv_init(struct pop3_conv *cv, bool stuff, long max_body_lines)
{
    *cv = (struct pop3_conv){.stuff = stuff, .max_body_lines = max_body_lines};
}

static void pop3_conv_put(struct pop3_conv *cv, str_t *out, const char *p, size_t n)
{
    cv->out_bytes += n;
    if (out != NULL)
        (void)str_append(out, p, n);
}

/* A line ended: header/body bookkeeping and the TOP limit. */
static void pop3_conv_eol(struct pop3_conv *cv)
{
    if (!cv->in_body) {
        if (cv->line_chars == 0) {
            cv->in_body = true;
            if (cv->max_body_lines == 0)
                cv->done = true;
        }
    } else if (cv->max_body_lines >= 0 && ++cv->body_lines >= cv->max_body_lines)
        cv->done = true;
    cv->mid_line = false;
    cv->prev_cr = false;
    cv->line_chars = 0;
}

/*
 * Line by line with memchr(3): bytes are copied in runs, broken only
 * where a stuffing dot or a CR goes in, so a message costs a few calls
 * per line rather than work per byte.
 */
size_t pop3_conv_run(struct pop3_conv *cv, const char *in, size_t n, str_t *out)
{
    size_t i = 0, run = 0; /* in[run..i) is copied verbatim */
    while (i < n && !cv->done) {
        if (!cv->mid_line && in[i] == '.' && cv->stuff) {
            pop3_conv_put(cv, out, in + run, i - run);
            if (out != NULL)
                (void)str_appendc(out, '.'); /* not counted: the client removes it */
            run = i;
        }
        cv->mid_line = true;
        const char *nl = memchr(in + i, '\n', n - i);
        size_t end = nl != NULL ? (size_t)(nl - in) : n; /* in[i..end) has no LF */
        if (end > i) {
            if (!cv->in_body && cv->line_chars == 0)
                for (size_t k = i; k < end && cv->line_chars == 0; k++)
                    cv->line_chars += in[k] != '\r'; /* only "empty or not" matters */
            cv->prev_cr = in[end - 1] == '\r';
        }
        if (nl == NULL) {
            i = n;
            break;
        }
        if (!cv->prev_cr) {
            pop3_conv_put(cv, out, in + run, end - run);
            pop3_conv_put(cv, out, "\r", 1);
            run = end;
        }
        i = end + 1;
        pop3_conv_eol(cv);
    }
    pop3_conv_put(cv, out, in + run, i - run);
    return i;
}

void pop3_conv_finish(struct pop3_conv *cv, str_t *out)
{
    if (cv->mid_line) {
        if (cv->prev_cr)
            pop3_conv_put(cv, out, "\n", 1);
        else
            pop3_conv_put(cv, out, "\r\n", 2);
        cv->mid_line = false;
        cv->prev_cr = false;
    }
}
