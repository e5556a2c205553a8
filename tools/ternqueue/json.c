/*
 * json.c - JSON string output for `ternqueue -j`: quotes, backslashes and
 * control characters escaped, valid UTF-8 passed through, any byte that
 * is not part of a valid UTF-8 sequence written as U+FFFD, so the output
 * is always valid JSON whatever bytes an envelope holds.
 */
#include "sys.h"

#include "ternqueue.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t tq_utf8_len(const unsigned char *s)
{
    size_t n;
    unsigned min;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        n = 2, min = 0x80, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        n = 3, min = 0x800, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        n = 4, min = 0x10000, cp = s[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0; /* overlong, out of range, or a surrogate */
    return n;
}

static void tq_json_char(FILE *fp, unsigned char c)
{
    switch (c) {
    case '"':
        fputs("\\\"", fp);
        break;
    case '\\':
        fputs("\\\\", fp);
        break;
    case '\n':
        fputs("\\n", fp);
        break;
    case '\r':
        fputs("\\r", fp);
        break;
    case '\t':
        fputs("\\t", fp);
        break;
    default:
        if (c < 0x20 || c == 0x7f)
            fprintf(fp, "\\u%04x", c);
        else
            fputc(c, fp);
    }
}

void tq_json_string(FILE *fp, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', fp);
    while (*p != '\0') {
        size_t n = tq_utf8_len(p);
        if (n == 0) {
            fputs("\\ufffd", fp);
            p++;
        } else if (n == 1) {
            tq_json_char(fp, *p++);
        } else {
            fwrite(p, 1, n, fp);
            p += n;
        }
    }
    fputc('"', fp);
}
