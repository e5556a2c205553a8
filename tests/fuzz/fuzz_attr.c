/*
 * fuzz_attr.c - libFuzzer target for the attribute protocol reader.
 *
 * The input is fed through a memory stream layer (in small chunks, so that
 * lines straddle buffer refills) into attr_read until it fails, and also
 * into attr_parse.  Checks: the two readers agree on the first record, and
 * a record that was read re-encodes (attr_put_*) to text that reads back
 * to the same list.
 */
#include "sys.h"
#include "attr.h"
#include "mem.h"
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

static bool lists_equal(const struct attr_list *a, const struct attr_list *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++) {
        const struct attr *x = &a->items[i], *y = &b->items[i];
        if (strcmp(x->name, y->name) != 0 || x->len != y->len ||
            memcmp(x->value, y->value, x->len) != 0 || x->value[x->len] != '\0')
            return false;
    }
    return true;
}

/* Encode list with the writer and parse it back: must be identical. */
static void check_reencode(const struct attr_list *list, const struct attr_limits *lim)
{
    struct memio m = {.out = str_new(256)};
    stream_t *w = mem_stream(&m);
    for (size_t i = 0; i < list->count; i++)
        attr_put_data(w, list->items[i].name, list->items[i].value, list->items[i].len);
    attr_end(w);
    if (stream_flush(w) != STREAM_OK)
        abort();
    struct attr_list *again = attr_list_new();
    size_t used;
    if (attr_parse(m.out->s, m.out->len, again, lim, &used, NULL) != 0 || used != m.out->len ||
        !lists_equal(list, again))
        abort();
    attr_list_free(&again);
    stream_close(&w);
    str_free(&m.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    /* The first bytes choose small limits and the read chunk size. */
    struct attr_limits lim = {.max_name = 1 + data[0] % 32,
                              .max_value = 1 + (size_t)data[1] * 4,
                              .max_attrs = 1 + data[2] % 16};
    struct memio m = {.data = data + 3, .len = size - 3, .chunk = 1 + data[0] / 32};

    struct attr_list *parsed = attr_list_new();
    size_t used = 0;
    int pr = attr_parse(m.data, m.len, parsed, &lim, &used, NULL);

    stream_t *s = mem_stream(&m);
    struct attr_list *list = attr_list_new();
    const char *err;
    int r = attr_read(s, list, &lim, &err);
    if ((r == 0) != (pr == 0))
        abort();
    if (r == 0) {
        if (!lists_equal(list, parsed))
            abort();
        check_reencode(list, &lim);
        long long v;
        const char *str;
        for (size_t i = 0; i < list->count; i++) {
            attr_get_int(list, list->items[i].name, &v);
            attr_get_str(list, list->items[i].name, &str);
        }
        attr_require(list, "a", "b", NULL);
        while (attr_read(s, list, &lim, &err) == 0)
            ;
    }
    attr_list_free(&list);
    attr_list_free(&parsed);
    stream_close(&s);
    return 0;
}
