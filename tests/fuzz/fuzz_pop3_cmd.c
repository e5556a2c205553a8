/*
 * fuzz_pop3_cmd.c - the POP3 server's parsers of untrusted input: command
 * lines, message numbers and TOP arguments (pop3d/common/pop3_cmd.c, included
 * whole), the message converter (output must be CRLF-only lines with no
 * line starting with a lone '.', and its size must match the counting
 * pass), and the tern-uidlist text form (lib/maildir_uid.c: whatever
 * parses must format and parse back to the same text).
 */
#include "../../pop3d/common/pop3_cmd.c"

#include "maildir_uid.h"
#include "mem.h"

static void fuzz_cmd(const uint8_t *data, size_t size)
{
    char *line = xmalloc(size + 1);
    memcpy(line, data, size);
    line[size] = '\0';
    struct pop3_cmd c;
    if (pop3_cmd_parse(line, size, &c) == 0) {
        size_t n;
        long l;
        if (strlen(c.verb) == 0 || strlen(c.verb) > POP3_VERB_MAX)
            abort();
        if (pop3_parse_num(c.args, 1000, &n) == 0 && (n < 1 || n > 1000))
            abort();
        if (pop3_parse_top(c.args, 1000, &n, &l) == 0 && (n < 1 || n > 1000 || l < 0))
            abort();
    }
    free(line);
}

static void fuzz_conv(const uint8_t *data, size_t size)
{
    long lines = size > 0 ? (long)(data[0] % 4) - 1 : -1;
    struct pop3_conv cv, cnt;
    str_t *out = str_new(size * 2 + 16);
    pop3_conv_init(&cv, true, lines);
    size_t pos = 0;
    while (pos < size && !cv.done)
        pos += pop3_conv_run(&cv, (const char *)data + pos, size - pos > 7 ? 7 : size - pos, out);
    pop3_conv_finish(&cv, out);
    const char *s = str_c(out);
    size_t len = str_len(out), dots = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
            abort(); /* bare LF on the wire */
        bool bol = i == 0 || s[i - 1] == '\n';
        if (bol && s[i] == '.') {
            if (i + 1 >= len || s[i + 1] != '.')
                abort(); /* a line starting with a lone dot */
            dots++;
        }
    }
    if (len > 0 && (len < 2 || s[len - 2] != '\r' || s[len - 1] != '\n'))
        abort();
    if (cv.out_bytes + dots != len)
        abort();
    if (lines < 0) {
        pop3_conv_init(&cnt, false, -1);
        (void)pop3_conv_run(&cnt, (const char *)data, size, NULL);
        pop3_conv_finish(&cnt, NULL);
        if (cnt.out_bytes != cv.out_bytes)
            abort();
    }
    str_free(&out);
}

static void fuzz_uidlist(const uint8_t *data, size_t size)
{
    maildir_uidlist_t *l = maildir_uid_new(1);
    char *err = NULL;
    if (maildir_uid_parse(l, (const char *)data, size, &err) == 0) {
        str_t *a = str_new(size + 64), *b = str_new(size + 64);
        maildir_uid_format(l, false, a);
        maildir_uidlist_t *l2 = maildir_uid_new(1);
        if (maildir_uid_parse(l2, str_c(a), str_len(a), NULL) != 0)
            abort();
        maildir_uid_format(l2, false, b);
        if (str_len(a) != str_len(b) || memcmp(str_c(a), str_c(b), str_len(a)) != 0)
            abort();
        maildir_uid_abort(&l2);
        str_free(&a);
        str_free(&b);
    }
    free(err);
    maildir_uid_abort(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_cmd(data + 1, size - 1);
        break;
    case 1:
        fuzz_conv(data + 1, size - 1);
        break;
    default:
        fuzz_uidlist(data + 1, size - 1);
        break;
    }
    return 0;
}
