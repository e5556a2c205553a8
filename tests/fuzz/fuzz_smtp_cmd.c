/*
 * fuzz_smtp_cmd.c - libFuzzer target for lib/smtp_cmd.c and
 * lib/smtp_access.c: the SMTP command line parser, the DATA/BDAT content
 * decoder and access(5) result parsing.  Invariants checked (trap when
 * broken): a parsed argument lies inside the line; the decoder never
 * emits more bytes than it consumed, consumes exactly what it reports,
 * gives the same result fed whole or byte by byte, and only ever ends a
 * DOT-mode message right after "\r\n.\r\n" (or ".\r\n" at the start).
 */
#include "sys.h"
#include "mem.h"
#include "smtp_access.h"
#include "smtp_cmd.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

static void fuzz_cmd(const char *b, size_t n)
{
    struct smtp_cmd c;
    if (smtp_cmd_parse(b, n, &c) == 0) {
        CHECK(c.arg >= b && c.arg + c.arg_len <= b + n);
        CHECK(c.name != NULL);
    } else
        CHECK(c.reply >= 500 && c.reply <= 502 && c.error != NULL);
}

static int fuzz_decode(const char *b, size_t n, enum smtp_data_mode mode, bool lf_ok, bool split,
                       str_t *out, size_t *used_r)
{
    struct smtp_data d;
    smtp_data_init(&d, mode, lf_ok);
    size_t pos = 0;
    int st = SMTP_DATA_MORE;
    while (pos < n && st == SMTP_DATA_MORE) {
        size_t used, want = split ? 1 : n - pos;
        st = smtp_data_feed(&d, b + pos, want, out, &used);
        CHECK(used <= want && (st != SMTP_DATA_MORE || used == want));
        pos += used;
    }
    *used_r = pos;
    return st;
}

static void fuzz_data(const char *b, size_t n, unsigned char mode)
{
    enum smtp_data_mode m = (mode & 1) ? SMTP_DATA_RAW : SMTP_DATA_DOT;
    bool lf_ok = (mode & 2) != 0;
    str_t *a = str_new(n + 1), *c = str_new(n + 1);
    size_t ua, uc;
    int sa = fuzz_decode(b, n, m, lf_ok, false, a, &ua);
    int sc = fuzz_decode(b, n, m, lf_ok, true, c, &uc);
    CHECK(sa == sc && ua == uc && str_len(a) == str_len(c));
    CHECK(memcmp(str_c(a), str_c(c), str_len(a)) == 0);
    CHECK(str_len(a) <= ua);
    if (sa == SMTP_DATA_END) {
        CHECK(m == SMTP_DATA_DOT);
        CHECK((ua == 3 && memcmp(b, ".\r\n", 3) == 0) ||
              (ua >= 5 && memcmp(b + ua - 5, "\r\n.\r\n", 5) == 0));
    }
    if (m == SMTP_DATA_RAW)
        CHECK(sa == SMTP_DATA_MORE);
    str_free(&a);
    str_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned char sel = data[0];
    char *b = xmemdup(data + 1, size - 1); /* exactly sized: ASan sees overreads */
    size_t n = size - 1;
    switch (sel % 3) {
    case 0:
        fuzz_cmd(b, n);
        break;
    case 1:
        fuzz_data(b, n, (unsigned char)(sel >> 2));
        break;
    default: {
        char *z = xstrndup(b, n);
        struct smtp_access_result r;
        const char *err;
        if (smtp_access_parse(z, &r, &err) == 0 && r.action == SMTP_ACCESS_REJECT)
            CHECK(r.code >= 400 && r.code <= 599 && r.dsn[0] == (char)('0' + r.code / 100));
        free(z);
        break;
    }
    }
    free(b);
    return 0;
}
