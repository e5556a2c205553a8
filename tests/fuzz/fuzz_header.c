/*
 * fuzz_header.c - libFuzzer target for lib/header.c: the header section
 * reader fed in pieces (whose size comes from the first input byte), and
 * on every field the split, unfold and address-list parsers.
 * Invariant: the FIELD and BODY bytes put together are exactly the input,
 * whatever the piece size; at most one END, and no FIELD after it.
 */
#include "sys.h"
#include "header.h"
#include "str.h"

struct fz {
    str_t *out;
    int ends;
    bool after_end;
};

static int fz_addr(const char *addr, size_t len, void *ctx)
{
    (void)ctx;
    if (len == 0 || len > HEADER_ADDR_MAX || addr == NULL)
        __builtin_trap();
    return 0;
}

static void fz_field(const char *data, size_t len)
{
    const char *name, *value;
    size_t nl, vl;
    if (header_split(data, len, &name, &nl, &value, &vl) < 0)
        return;
    if (nl == 0 || value < data || value + vl > data + len)
        __builtin_trap();
    str_t *u = str_new_max(0, 4096);
    (void)header_unfold(u, value, vl);
    str_free(&u);
    (void)header_addr_list(value, vl, fz_addr, NULL);
}

static int fz_event(enum header_event ev, const char *data, size_t len, void *ctx)
{
    struct fz *f = ctx;
    switch (ev) {
    case HEADER_EV_FIELD:
        if (f->after_end || len == 0)
            __builtin_trap();
        fz_field(data, len);
        str_append(f->out, data, len);
        break;
    case HEADER_EV_END:
        f->ends++;
        f->after_end = true;
        break;
    case HEADER_EV_BODY:
        if (!f->after_end)
            __builtin_trap();
        str_append(f->out, data, len);
        break;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t piece = (size_t)data[0] + 1;
    size_t max = (size_t)data[1] * 8 + 1;
    data += 2;
    size -= 2;
    struct fz f = {.out = str_new(size)};
    header_reader_t *r = header_reader_new(max, fz_event, &f);
    for (size_t i = 0; i < size; i += piece)
        (void)header_reader_feed(r, data + i, size - i < piece ? size - i : piece);
    (void)header_reader_finish(r);
    if (f.ends != 1 || str_len(f.out) != size || memcmp(str_c(f.out), data, size) != 0)
        __builtin_trap();
    header_reader_free(&r);
    str_free(&f.out);
    return 0;
}
