/*
 * smtp_cmd.c - SMTP command line parsing and DATA/BDAT content decoding
 * for the SMTP server (see smtp_cmd.h).  Pure functions over bounded
 * input: shared by smtpd, its unit tests and its fuzz target.
 */
#include "smtp_cmd.h"

#include <strings.h>

enum smtp_arg { ARG_NONE, ARG_OPTIONAL, ARG_REQUIRED, ARG_MAIL, ARG_RCPT, ARG_BDAT };

struct smtp_verb_def {
    const char *name;
    enum smtp_verb verb;
    enum smtp_arg arg;
    bool ends_group;
    const char *syntax; /* the 501 text */
};

static const struct smtp_verb_def smtp_verbs[] = {
    {"EHLO", SMTP_VERB_EHLO, ARG_REQUIRED, true, "Syntax: EHLO hostname"},
    {"HELO", SMTP_VERB_HELO, ARG_REQUIRED, true, "Syntax: HELO hostname"},
    {"MAIL", SMTP_VERB_MAIL, ARG_MAIL, false, "Syntax: MAIL FROM:<address>"},
    {"RCPT", SMTP_VERB_RCPT, ARG_RCPT, false, "Syntax: RCPT TO:<address>"},
    {"DATA", SMTP_VERB_DATA, ARG_NONE, true, "Syntax: DATA"},
    {"BDAT", SMTP_VERB_BDAT, ARG_BDAT, false, "Syntax: BDAT size [LAST]"},
    {"RSET", SMTP_VERB_RSET, ARG_NONE, false, "Syntax: RSET"},
    {"NOOP", SMTP_VERB_NOOP, ARG_OPTIONAL, true, "Syntax: NOOP"},
    {"QUIT", SMTP_VERB_QUIT, ARG_NONE, false, "Syntax: QUIT"},
    {"VRFY", SMTP_VERB_VRFY, ARG_REQUIRED, true, "Syntax: VRFY address"},
    {"EXPN", SMTP_VERB_EXPN, ARG_REQUIRED, true, "Syntax: EXPN name"},
    {"HELP", SMTP_VERB_HELP, ARG_OPTIONAL, true, "Syntax: HELP"},
    {"STARTTLS", SMTP_VERB_STARTTLS, ARG_NONE, true, "Syntax: STARTTLS"},
    {"AUTH", SMTP_VERB_AUTH, ARG_REQUIRED, true, "Syntax: AUTH mechanism"},
    {"ETRN", SMTP_VERB_ETRN, ARG_REQUIRED, true, "Syntax: ETRN domain"},
};

#define SMTP_VERB_MAXLEN 8

const char *smtp_verb_name(enum smtp_verb verb)
{
    for (size_t i = 0; i < N_ELEMENTS(smtp_verbs); i++)
        if (smtp_verbs[i].verb == verb)
            return smtp_verbs[i].name;
    return "unknown";
}

static int smtp_cmd_fail(struct smtp_cmd *out, int reply, const char *dsn, const char *error)
{
    out->reply = reply;
    out->dsn = dsn;
    out->error = error;
    return -1;
}

static bool smtp_is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Control characters (other than TAB) never belong in a command line. */
static bool smtp_line_clean(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static const struct smtp_verb_def *smtp_verb_find(const char *s, size_t len)
{
    if (len == 0 || len > SMTP_VERB_MAXLEN)
        return NULL;
    for (size_t i = 0; i < N_ELEMENTS(smtp_verbs); i++)
        if (strlen(smtp_verbs[i].name) == len && strncasecmp(smtp_verbs[i].name, s, len) == 0)
            return &smtp_verbs[i];
    return NULL;
}

/* "FROM:" / "TO:" prefix, case-insensitive; moves past it. */
static bool smtp_take_prefix(const char **s, size_t *len, const char *prefix)
{
    size_t n = strlen(prefix);
    if (*len < n || strncasecmp(*s, prefix, n) != 0)
        return false;
    *s += n;
    *len -= n;
    return true;
}

/* BDAT argument: 1*DIGIT [SP "LAST"]. */
static bool smtp_parse_bdat(const char *s, size_t len, struct smtp_cmd *out)
{
    size_t i = 0;
    uint64_t v = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v))
            return false;
        i++;
    }
    if (i == 0 || i > 19 || v > SMTP_BDAT_MAX)
        return false;
    out->bdat_size = v;
    if (i == len)
        return true;
    if (!smtp_is_space(s[i]))
        return false;
    while (i < len && smtp_is_space(s[i]))
        i++;
    if (len - i != 4 || strncasecmp(s + i, "LAST", 4) != 0)
        return false;
    out->bdat_last = true;
    return true;
}

static int smtp_cmd_args(const struct smtp_verb_def *def, const char *arg, size_t len,
                         struct smtp_cmd *out)
{
    switch (def->arg) {
    case ARG_NONE:
        if (len > 0)
            return smtp_cmd_fail(out, 501, "5.5.4", def->syntax);
        break;
    case ARG_OPTIONAL:
        break;
    case ARG_REQUIRED:
        if (len == 0)
            return smtp_cmd_fail(out, 501, "5.5.4", def->syntax);
        break;
    case ARG_MAIL:
    case ARG_RCPT:
        if (!smtp_take_prefix(&arg, &len, def->arg == ARG_MAIL ? "FROM:" : "TO:"))
            return smtp_cmd_fail(out, 501, "5.5.4", def->syntax);
        break;
    case ARG_BDAT:
        if (!smtp_parse_bdat(arg, len, out))
            return smtp_cmd_fail(out, 501, "5.5.4", def->syntax);
        break;
    }
    out->arg = arg;
    out->arg_len = len;
    return 0;
}

int smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *out)
{
    memset(out, 0, sizeof(*out));
    out->arg = line + len;
    if (!smtp_line_clean(line, len))
        return smtp_cmd_fail(out, 500, "5.5.2", "Error: bad syntax");
    while (len > 0 && smtp_is_space(line[len - 1]))
        len--;
    if (len == 0)
        return smtp_cmd_fail(out, 500, "5.5.2", "Error: bad syntax");
    size_t vlen = 0;
    while (vlen < len && !smtp_is_space(line[vlen]))
        vlen++;
    const struct smtp_verb_def *def = smtp_verb_find(line, vlen);
    if (def == NULL)
        return smtp_cmd_fail(out, 502, "5.5.2", "Error: command not recognized");
    out->verb = def->verb;
    out->name = def->name;
    out->ends_group = def->ends_group;
    size_t i = vlen;
    while (i < len && smtp_is_space(line[i]))
        i++;
    return smtp_cmd_args(def, line + i, len - i, out);
}

/* ---- content decoder ---------------------------------------------------- */

void smtp_data_init(struct smtp_data *d, enum smtp_data_mode mode, bool bare_lf_ok)
{
    memset(d, 0, sizeof(*d));
    d->mode = mode;
    d->bare_lf_ok = bare_lf_ok || mode == SMTP_DATA_RAW;
    d->bol = true;
    d->bol_crlf = true;
}

/* One byte outside the dot states; false on a forbidden bare LF. */
static bool smtp_data_byte(struct smtp_data *d, char c, str_t *out)
{
    if (d->cr) {
        d->cr = false;
        if (c == '\n') {
            (void)str_appendc(out, '\n');
            d->bol = true;
            d->bol_crlf = true;
            return true;
        }
        d->saw_bare_cr = true;
        (void)str_appendc(out, '\r');
    }
    if (c == '\r') {
        d->cr = true;
        d->bol = false;
        return true;
    }
    if (c == '\n') {
        d->saw_bare_lf = true;
        if (!d->bare_lf_ok)
            return false;
        (void)str_appendc(out, '\n');
        d->bol = true;
        d->bol_crlf = false; /* "\n.\r\n" must not end the message */
        return true;
    }
    (void)str_appendc(out, c);
    d->bol = false;
    return true;
}

/* DOT mode: a byte after "." (dot 1) or ".\r" (dot 2) at a line start. */
static int smtp_data_dot(struct smtp_data *d, char c, str_t *out)
{
    if (d->dot == 1) {
        if (c == '\r') {
            d->dot = 2;
            return SMTP_DATA_MORE;
        }
        d->dot = 0;
        d->bol = false;
        if (c == '\n') /* ".\n": content, never an end */
            (void)str_appendc(out, '.');
        return smtp_data_byte(d, c, out) ? SMTP_DATA_MORE : SMTP_DATA_BARE_LF;
    }
    d->dot = 0;
    if (c == '\n' && d->bol_crlf)
        return SMTP_DATA_END;
    if (c == '\n') { /* ".\r\n" after a bare LF: a content line "." */
        (void)str_appendc(out, '.');
        d->cr = true;
        return smtp_data_byte(d, c, out) ? SMTP_DATA_MORE : SMTP_DATA_BARE_LF;
    }
    /* ".\r" then something else: the dot was stuffing, the CR is bare. */
    d->cr = true;
    d->bol = false;
    return smtp_data_byte(d, c, out) ? SMTP_DATA_MORE : SMTP_DATA_BARE_LF;
}

enum smtp_data_status smtp_data_feed(struct smtp_data *d, const char *buf, size_t len, str_t *out,
                                     size_t *used_r)
{
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        int st = SMTP_DATA_MORE;
        if (d->mode == SMTP_DATA_DOT && d->dot > 0)
            st = smtp_data_dot(d, c, out);
        else if (d->mode == SMTP_DATA_DOT && d->bol && c == '.')
            d->dot = 1;
        else if (!smtp_data_byte(d, c, out))
            st = SMTP_DATA_BARE_LF;
        if (st != SMTP_DATA_MORE) {
            *used_r = i + 1;
            return st;
        }
    }
    *used_r = len;
    return SMTP_DATA_MORE;
}

void smtp_data_finish(struct smtp_data *d, str_t *out)
{
    if (d->cr)
        (void)str_appendc(out, '\r');
    d->cr = false;
}
