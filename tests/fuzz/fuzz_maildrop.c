/*
 * fuzz_maildrop.c - libFuzzer target for what terndrop reads from an
 * untrusted sendmail: the request record (maildrop_request_read) and the
 * content chunks after it (maildrop_chunk_read).  Checks: an accepted
 * request has a sender, canonical recipients that check again unchanged,
 * and recipients unless -t; chunks are never longer than the maximum.
 */
#include "sys.h"
#include "maildrop.h"
#include "mem.h"
#include "str.h"
#include "stream.h"

struct memio {
    const uint8_t *data;
    size_t len, pos;
};

static ssize_t mem_read(void *ctx, int fd, void *buf, size_t len, int64_t deadline)
{
    struct memio *m = ctx;
    (void)fd;
    (void)deadline;
    size_t n = m->len - m->pos;
    if (n > len)
        n = len;
    if (n > 7) /* small reads so records straddle refills */
        n = 7;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static ssize_t mem_write(void *ctx, int fd, const void *buf, size_t len, int64_t deadline)
{
    (void)ctx, (void)fd, (void)buf, (void)deadline;
    return (ssize_t)len;
}

static void mem_free(void *ctx)
{
    free(ctx);
}

static const struct stream_layer mem_layer = {mem_read, mem_write, mem_free};

static void check_request(const struct maildrop_request *r)
{
    if (r->sender == NULL || (r->rcpt_count == 0 && !r->extract_recipients) ||
        r->rcpt_count > MAILDROP_RCPT_MAX)
        abort();
    for (size_t i = 0; i < r->rcpt_count; i++) {
        char *err = NULL;
        char *again = maildrop_addr_check(r->rcpts[i], false, &err);
        if (again == NULL || strcmp(again, r->rcpts[i]) != 0)
            abort();
        free(again);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct memio *m = xcalloc(1, sizeof(*m));
    m->data = data;
    m->len = size;
    stream_t *s = stream_open_fd(-1, 0);
    stream_set_layer(s, &mem_layer, m);
    struct maildrop_request r;
    char *err = NULL;
    if (maildrop_request_read(s, &r, &err) == 0) {
        check_request(&r);
        str_t *out = str_new(0);
        ssize_t n;
        while ((n = maildrop_chunk_read(s, out, &err)) > 0) {
            if (n > MAILDROP_CHUNK_MAX)
                abort();
            str_reset(out);
        }
        str_free(&out);
        maildrop_request_clear(&r);
    }
    free(err);
    stream_close(&s);
    return 0;
}
