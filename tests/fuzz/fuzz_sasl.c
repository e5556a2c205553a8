/*
 * fuzz_sasl.c - libFuzzer target for the SASL server helpers: strict
 * base64, PLAIN and LOGIN exchanges.
 *
 * The input's first byte picks the mechanism and whether the first line
 * is an initial response; the rest is split at '\n' into client lines.
 * Checks: decoding never exceeds its bound and re-encodes to the same
 * text; a finished exchange has a non-empty user and password within
 * SASL_FIELD_MAX bytes and without NULs.
 */
#include "sys.h"
#include "log.h"
#include "sasl.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_base64(const char *line, size_t len)
{
    str_t *out = str_new(16), *back = str_new(16);
    if (sasl_base64_decode(line, len, out, SASL_DECODED_MAX, NULL) == 0) {
        if (str_len(out) > SASL_DECODED_MAX)
            abort();
        sasl_base64_encode(str_c(out), str_len(out), back);
        if (str_len(back) != len || memcmp(str_c(back), line, len) != 0)
            abort();
    }
    str_free(&out);
    str_free(&back);
}

static void check_field(const char *f)
{
    size_t n = strlen(f);
    if (n == 0 || n > SASL_FIELD_MAX)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *mech = (data[0] & 1) ? "LOGIN" : "PLAIN";
    bool initial = (data[0] & 2) != 0;
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    struct sasl_server x;
    const char *ch;
    int rc = SASL_CONTINUE;
    bool started = false;
    while (p <= end && rc == SASL_CONTINUE) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char *line = strndup(p, n);
        check_base64(p, n);
        if (!started) {
            rc = sasl_server_start(&x, mech, initial ? line : NULL, &ch, NULL);
            started = true;
            if (initial) {
                free(line);
                p += n + 1;
                continue;
            }
        }
        if (rc == SASL_CONTINUE)
            rc = sasl_server_step(&x, p, n, &ch, NULL);
        free(line);
        p += n + 1;
    }
    if (rc == SASL_DONE) {
        check_field(x.creds.authcid);
        check_field(x.creds.password);
        if (strlen(x.creds.authzid) > SASL_FIELD_MAX)
            abort();
    }
    if (started)
        sasl_server_clear(&x);
    return 0;
}
