/*
 * fuzz_smtp_reply.c - libFuzzer target for lib/smtp_reply.c: what a
 * remote SMTP server says to tern's SMTP client.  The input is split into
 * lines and fed to smtp_reply_add_line(), starting a new reply after each
 * complete one; EHLO keywords are looked up in each.  Invariants checked
 * (trap when broken): a complete reply has a code 200..599 and an
 * enhanced code of its class, the summary stays within its bound and is
 * printable, the line count stays within its bound.
 */
#include "sys.h"
#include "smtp_reply.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

static void check_reply(const struct smtp_reply *r)
{
    CHECK(r->code >= 200 && r->code <= 599);
    CHECK(r->enh[0] == (char)('0' + r->code / 100) && r->enh[1] == '.');
    CHECK(str_len(r->text) <= SMTP_REPLY_TEXT_MAX);
    CHECK(r->nlines >= 1 && r->nlines <= SMTP_REPLY_LINES_MAX);
    for (size_t i = 0; i < str_len(r->text); i++)
        CHECK(r->text->s[i] >= 0x20 && r->text->s[i] <= 0x7e);
    const char *args = NULL;
    if (smtp_reply_ehlo_has(r, "SIZE", &args))
        CHECK(args != NULL);
    (void)smtp_reply_ehlo_has(r, "PIPELINING", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    struct smtp_reply r;
    smtp_reply_init(&r);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char *err = NULL;
        int rc = smtp_reply_add_line(&r, p, n, &err);
        if (rc < 0) {
            CHECK(err != NULL);
            free(err);
            smtp_reply_reset(&r);
        } else {
            CHECK(err == NULL);
            if (rc == 0) {
                check_reply(&r);
                smtp_reply_reset(&r);
            }
        }
        p += n + (nl != NULL);
    }
    smtp_reply_clear(&r);
    return 0;
}
