/*
 * smtp_access.c - parse access(5) table results into actions for the
 * SMTP server's restriction lists (see smtp_access.h).
 */
#include "smtp_access.h"
#include "str.h"

#include <ctype.h>
#include <strings.h>

bool smtp_dsn_valid(const char *s, size_t len)
{
    if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return false;
    size_t i = 2, digits = 0, parts = 2; /* "C." read: now in the subject */
    for (; i < len; i++) {
        if (s[i] == '.') {
            if (digits == 0 || ++parts > 3)
                return false;
            digits = 0;
        } else if (isdigit((unsigned char)s[i])) {
            if (++digits > 3)
                return false;
        } else
            return false;
    }
    return parts == 3 && digits > 0;
}

static size_t smtp_word_len(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0' && s[n] != ' ' && s[n] != '\t')
        n++;
    return n;
}

static const char *smtp_skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static bool smtp_word_is(const char *s, size_t n, const char *word)
{
    return n == strlen(word) && strncasecmp(s, word, n) == 0;
}

static bool smtp_all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* Set REJECT with code, dsn (from the text when it starts with one) and text. */
static int smtp_access_reject(struct smtp_access_result *r, int code, const char *text,
                              const char *def_text, const char **error_r)
{
    char cls = (char)('0' + code / 100);
    size_t n = smtp_word_len(text);
    r->action = SMTP_ACCESS_REJECT;
    r->code = code;
    if (n > 0 && smtp_dsn_valid(text, n)) {
        if (text[0] != cls) {
            *error_r = "enhanced status code does not match the reply code";
            return -1;
        }
        memcpy(r->dsn, text, n);
        r->dsn[n] = '\0';
        text = smtp_skip_space(text + n);
    } else
        snprintf(r->dsn, sizeof(r->dsn), "%c.7.1", cls);
    if (*text == '\0')
        text = def_text;
    for (const char *p = text; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *error_r = "control character in the reply text";
            return -1;
        }
    if (str_lcpy(r->text, text, sizeof(r->text)) < 0) {
        *error_r = "reply text too long";
        return -1;
    }
    return 0;
}

int smtp_access_parse(const char *value, struct smtp_access_result *r, const char **error_r)
{
    memset(r, 0, sizeof(*r));
    value = smtp_skip_space(value);
    size_t n = smtp_word_len(value);
    const char *rest = smtp_skip_space(value + n);
    if (n == 0) {
        *error_r = "empty access table result";
        return -1;
    }
    if (smtp_word_is(value, n, "OK") || smtp_word_is(value, n, "PERMIT") ||
        smtp_all_digits(value)) {
        r->action = SMTP_ACCESS_PERMIT;
        return 0;
    }
    if (smtp_word_is(value, n, "DUNNO")) {
        r->action = SMTP_ACCESS_DUNNO;
        return 0;
    }
    if (smtp_word_is(value, n, "REJECT"))
        return smtp_access_reject(r, 554, rest, "Access denied", error_r);
    if (smtp_word_is(value, n, "DEFER"))
        return smtp_access_reject(r, 450, rest, "Access denied", error_r);
    if (n == 3 && isdigit((unsigned char)value[0]) && isdigit((unsigned char)value[1]) &&
        isdigit((unsigned char)value[2])) {
        int code = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
        if (code < 400 || code > 599) {
            *error_r = "reply code is not 4xx or 5xx";
            return -1;
        }
        return smtp_access_reject(r, code, rest, "Access denied", error_r);
    }
    r->action = SMTP_ACCESS_RESTRICTIONS;
    if (str_lcpy(r->text, value, sizeof(r->text)) < 0) {
        *error_r = "access table result too long";
        return -1;
    }
    return 0;
}
