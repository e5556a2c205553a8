/*
 * fuzz_deliver.c - libFuzzer target for deliver_request_read (the agent
 * side of lib/deliver.h, which reads what qmgr sends).
 *
 * The input is fed through a memory stream layer in small chunks.  Every
 * request read must satisfy the documented bounds, re-encode with
 * deliver_request_send and read back identically; results filled in for
 * it must go out and come back through deliver_results_read.
 */
#include "sys.h"
#include "deliver.h"
#include "mem.h"
#include "queue_id.h"
#include "str.h"
#include "stream.h"

struct memio {
    const uint8_t *data;
    size_t len, pos, chunk;
    str_t *out;
};

static ssize_t mem_read(void *ctx, int fd, void *buf, size_t len, int64_t deadline)
{
    struct memio *m = ctx;
    (void)fd;
    (void)deadline;
    size_t n = m->len - m->pos;
    if (n > len)
        n = len;
    if (n > m->chunk)
        n = m->chunk;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static ssize_t mem_write(void *ctx, int fd, const void *buf, size_t len, int64_t deadline)
{
    struct memio *m = ctx;
    (void)fd;
    (void)deadline;
    str_append(m->out, buf, len);
    return (ssize_t)len;
}

static const struct stream_layer mem_layer = {.read = mem_read, .write = mem_write};

static stream_t *mem_stream(struct memio *m)
{
    stream_t *s = stream_open_fd(-1, 0);
    stream_set_layer(s, &mem_layer, m);
    return s;
}

static void same(const char *a, const char *b)
{
    if (strcmp(a, b) != 0)
        abort();
}

static void check_equal(const struct deliver_request *a, const struct deliver_request *b)
{
    same(a->queue_id, b->queue_id);
    same(a->queue_file, b->queue_file);
    same(a->sender, b->sender);
    same(a->nexthop, b->nexthop);
    same(a->envid, b->envid);
    same(a->ret, b->ret);
    if (a->nrcpts != b->nrcpts)
        abort();
    for (size_t i = 0; i < a->nrcpts; i++) {
        if (a->rcpts[i].index != b->rcpts[i].index)
            abort();
        same(a->rcpts[i].rcpt, b->rcpts[i].rcpt);
        same(a->rcpts[i].orig_rcpt, b->rcpts[i].orig_rcpt);
        same(a->rcpts[i].orcpt, b->rcpts[i].orcpt);
        same(a->rcpts[i].notify, b->rcpts[i].notify);
    }
}

/* Send req (and its results) through memory and read both back. */
static void check_roundtrip(struct deliver_request *req)
{
    struct memio wm = {.out = str_new(1024)};
    stream_t *w = mem_stream(&wm);
    char *err = NULL;
    if (deliver_request_send(w, req, &err) != 0)
        abort();
    struct memio rm = {
        .data = (const uint8_t *)str_c(wm.out), .len = str_len(wm.out), .chunk = 4096};
    stream_t *r = mem_stream(&rm);
    struct deliver_request again;
    if (deliver_request_read(r, &again, &err) != 1)
        abort();
    check_equal(req, &again);
    for (size_t i = 0; i < req->nrcpts; i++)
        deliver_rcpt_result(&req->rcpts[i], i % 2 ? DELIVER_PERM : DELIVER_OK,
                            i % 2 ? "5.1.1" : "2.0.0", "r%zu", i);
    str_reset(wm.out);
    if (deliver_results_send(w, req) != 0)
        abort();
    rm.data = (const uint8_t *)str_c(wm.out);
    rm.len = str_len(wm.out);
    rm.pos = 0;
    if (deliver_results_read(r, &again, &err) != 0)
        abort();
    deliver_request_clear(&again);
    stream_close(&r);
    stream_close(&w);
    str_free(&wm.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct memio m = {.data = data + 1, .len = size - 1, .chunk = 1 + data[0] % 64};
    stream_t *s = mem_stream(&m);
    struct deliver_request req;
    char *err = NULL;
    int rc;
    while ((rc = deliver_request_read(s, &req, &err)) == 1) {
        if (!queue_id_valid(req.queue_id) || req.nrcpts == 0 || req.nrcpts > 10000 ||
            req.queue_file[0] == '/')
            abort();
        check_roundtrip(&req);
        deliver_request_clear(&req);
    }
    if (rc == -1 && !err)
        abort();
    free(err);
    stream_close(&s);
    return 0;
}
