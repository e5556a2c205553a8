/*
 * attr.c - the attribute protocol: "name=value" lines, an empty line ends
 * a record, values %XX-escaped (see attr.h for the format).
 */
#include "attr.h"
#include "log.h"
#include "mem.h"
#include "sock.h"
#include "str.h"

#include <limits.h>

static const char attr_hex[] = "0123456789ABCDEF";

/* A byte that may appear unescaped in a value on the wire. */
static bool attr_plain_byte(unsigned char c)
{
    return c >= 0x20 && c <= 0x7e && c != '%';
}

static bool attr_name_byte(unsigned char c, bool first)
{
    if (c >= 'a' && c <= 'z')
        return true;
    return !first && ((c >= '0' && c <= '9') || c == '_');
}

static bool attr_name_valid(const char *name, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!attr_name_byte((unsigned char)name[i], i == 0))
            return false;
    return true;
}

/* ---- writing ------------------------------------------------------ */

/* Write value escaped: runs of plain bytes as they are, others as %XX. */
static int attr_put_escaped(stream_t *s, const unsigned char *p, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (attr_plain_byte(p[i]))
            continue;
        if (i > run)
            stream_write(s, p + run, i - run);
        char esc[3] = {'%', attr_hex[p[i] >> 4], attr_hex[p[i] & 15]};
        stream_write(s, esc, sizeof(esc));
        run = i + 1;
    }
    if (len > run)
        stream_write(s, p + run, len - run);
    return stream_error(s);
}

int attr_put_data(stream_t *s, const char *name, const void *data, size_t len)
{
    if (name == NULL || !attr_name_valid(name, strlen(name)))
        msg_panic("attr_put: bad attribute name '%s'", name ? name : "(null)");
    if (data == NULL && len > 0)
        msg_panic("attr_put: attribute '%s': NULL data", name);
    stream_puts(s, name);
    stream_write(s, "=", 1);
    attr_put_escaped(s, data, len);
    return stream_write(s, "\n", 1);
}

int attr_put_str(stream_t *s, const char *name, const char *value)
{
    if (value == NULL)
        msg_panic("attr_put_str: attribute '%s': NULL value", name ? name : "(null)");
    return attr_put_data(s, name, value, strlen(value));
}

int attr_put_int(stream_t *s, const char *name, long long value)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%lld", value);
    return attr_put_data(s, name, buf, (size_t)n);
}

int attr_end(stream_t *s)
{
    return stream_write(s, "\n", 1);
}

/* ---- the list ----------------------------------------------------- */

struct attr_list *attr_list_new(void)
{
    return xcalloc(1, sizeof(struct attr_list));
}

void attr_list_reset(struct attr_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].name);
        free(list->items[i].value);
    }
    list->count = 0;
    xfree(list->error);
}

void attr_list_free(struct attr_list **listp)
{
    struct attr_list *list = *listp;
    if (list == NULL)
        return;
    attr_list_reset(list);
    free(list->items);
    str_free(&list->line);
    xfree(*listp);
}

/* Record the reason for a failure; always returns ATTR_ERROR. */
static int attr_fail(struct attr_list *list, const char *fmt, ...) TERN_PRINTF(2, 3);
static int attr_fail(struct attr_list *list, const char *fmt, ...)
{
    str_t *s = str_new(128);
    va_list ap;
    va_start(ap, fmt);
    str_vappendf(s, fmt, ap);
    va_end(ap);
    free(list->error);
    list->error = str_steal(&s);
    return ATTR_ERROR;
}

const char *attr_error(const struct attr_list *list)
{
    return list->error ? list->error : "";
}

static void attr_list_push(struct attr_list *list, char *name, char *value, size_t len)
{
    if (list->count == list->cap) {
        list->cap = list->cap ? size_mul(list->cap, 2) : 8;
        list->items = xreallocarray(list->items, list->cap, sizeof(*list->items));
    }
    list->items[list->count++] = (struct attr){.name = name, .value = value, .len = len};
}

/* ---- decoding ----------------------------------------------------- */

static void attr_limits_fill(struct attr_limits *lim, const struct attr_limits *in)
{
    *lim = in ? *in : (struct attr_limits){0};
    if (lim->max_name == 0)
        lim->max_name = ATTR_DEFAULT_MAX_NAME;
    if (lim->max_value == 0)
        lim->max_value = ATTR_DEFAULT_MAX_VALUE;
    if (lim->max_attrs == 0)
        lim->max_attrs = ATTR_DEFAULT_MAX_ATTRS;
}

static int attr_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* A printable excerpt of untrusted bytes for an error message. */
static char *attr_excerpt(const void *p, size_t len)
{
    str_t *s = str_new(40);
    str_append_printable(s, p, len, 32);
    return str_steal(&s);
}

/* Decode the value p[0..len) of attribute name; NULL on error. */
static char *attr_decode(struct attr_list *list, const char *name, const char *p, size_t len,
                         size_t max, size_t *len_r)
{
    char *out = xmalloc(size_add(len, 1));
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '%') {
            int hi = i + 2 < len ? attr_hex_value((unsigned char)p[i + 1]) : -1;
            int lo = hi >= 0 ? attr_hex_value((unsigned char)p[i + 2]) : -1;
            if (lo < 0) {
                attr_fail(list, "attribute '%s': '%%' not followed by two hex digits", name);
                goto fail;
            }
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else if (c < 0x20 || c > 0x7e) {
            attr_fail(list, "attribute '%s': unescaped byte 0x%02x in value", name, c);
            goto fail;
        }
        if (n == max) {
            attr_fail(list, "attribute '%s': value longer than %zu bytes", name, max);
            goto fail;
        }
        out[n++] = (char)c;
    }
    out[n] = '\0';
    *len_r = n;
    return out;
fail:
    free(out);
    return NULL;
}

/* Add one "name=value" line (without its "\n") to the list. */
static int attr_add_line(struct attr_list *list, const char *p, size_t len,
                         const struct attr_limits *lim)
{
    if (list->count >= lim->max_attrs)
        return attr_fail(list, "more than %zu attributes in one record", lim->max_attrs);
    const char *eq = memchr(p, '=', len);
    size_t nlen = eq ? (size_t)(eq - p) : len;
    if (nlen > lim->max_name)
        return attr_fail(list, "attribute name longer than %zu bytes", lim->max_name);
    if (eq == NULL || !attr_name_valid(p, nlen)) {
        char *ex = attr_excerpt(p, len);
        attr_fail(list, "malformed attribute line '%s'%s", ex, eq ? ": bad name" : ": no '='");
        free(ex);
        return ATTR_ERROR;
    }
    char *name = xstrndup(p, nlen);
    size_t vlen;
    char *value = attr_decode(list, name, eq + 1, len - nlen - 1, lim->max_value, &vlen);
    if (value == NULL) {
        free(name);
        return ATTR_ERROR;
    }
    attr_list_push(list, name, value, vlen);
    return 0;
}

/* Explain a line that stream_read_line found too long. */
static int attr_toolong(struct attr_list *list, const str_t *line, const struct attr_limits *lim)
{
    size_t scan = line->len < lim->max_name + 1 ? line->len : lim->max_name + 1;
    const char *eq = memchr(line->s, '=', scan);
    if (eq == NULL)
        return attr_fail(list, "attribute name longer than %zu bytes", lim->max_name);
    char *name = attr_excerpt(line->s, (size_t)(eq - line->s));
    attr_fail(list, "attribute '%s': value longer than %zu bytes", name, lim->max_value);
    free(name);
    return ATTR_ERROR;
}

int attr_read(stream_t *s, struct attr_list *list, const struct attr_limits *limits,
              const char **error_r)
{
    struct attr_limits lim;
    attr_limits_fill(&lim, limits);
    attr_list_reset(list);
    if (list->line == NULL)
        list->line = str_new(256);
    /* name '=' value-with-every-byte-escaped '\n' */
    size_t linemax = size_add(size_add(lim.max_name, 2), size_mul(lim.max_value, 3));
    int ret = ATTR_ERROR;
    for (bool first = true;; first = false) {
        int st = stream_read_line(s, list->line, linemax);
        if (st == STREAM_EOF && first) {
            attr_fail(list, "connection closed");
            ret = ATTR_EOF;
            break;
        }
        if (st == STREAM_TOOLONG) {
            attr_toolong(list, list->line, &lim);
            break;
        }
        if (st == STREAM_EOF ||
            (st == STREAM_OK &&
             !(list->line->len > 0 && list->line->s[list->line->len - 1] == '\n'))) {
            attr_fail(list, "unexpected end of input inside a record");
            break;
        }
        if (st != STREAM_OK) {
            attr_fail(list, "read: %s", stream_strstatus(st));
            break;
        }
        if (list->line->len == 1) {
            ret = 0;
            break;
        }
        if (attr_add_line(list, list->line->s, list->line->len - 1, &lim) < 0)
            break;
    }
    if (list->line->cap > 65536)
        str_free(&list->line); /* don't keep a huge buffer around */
    else
        str_reset(list->line);
    if (ret == 0)
        xfree(list->error);
    if (ret != 0 && error_r != NULL)
        *error_r = list->error;
    return ret;
}

int attr_parse(const void *buf, size_t len, struct attr_list *list,
               const struct attr_limits *limits, size_t *used_r, const char **error_r)
{
    struct attr_limits lim;
    attr_limits_fill(&lim, limits);
    attr_list_reset(list);
    const char *p = buf, *end = p + len;
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            attr_fail(list, "unexpected end of input inside a record");
            break;
        }
        if (nl == p) {
            if (used_r != NULL)
                *used_r = (size_t)(nl + 1 - (const char *)buf);
            return 0;
        }
        if (attr_add_line(list, p, (size_t)(nl - p), &lim) < 0)
            break;
        p = nl + 1;
    }
    if (error_r != NULL)
        *error_r = list->error;
    return ATTR_ERROR;
}

/* ---- getters ------------------------------------------------------ */

const struct attr *attr_find(const struct attr_list *list, const char *name)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].name, name) == 0)
            return &list->items[i];
    return NULL;
}

size_t attr_count(const struct attr_list *list, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].name, name) == 0)
            n++;
    return n;
}

int attr_require(struct attr_list *list, ...)
{
    va_list ap;
    va_start(ap, list);
    const char *name;
    int ret = 0;
    while ((name = va_arg(ap, const char *)) != NULL) {
        if (attr_find(list, name) == NULL) {
            ret = attr_fail(list, "missing attribute '%s'", name);
            break;
        }
    }
    va_end(ap);
    return ret;
}

/* The single attribute called name; missing or repeated is an error. */
static const struct attr *attr_get_one(struct attr_list *list, const char *name)
{
    size_t n = attr_count(list, name);
    if (n == 0) {
        attr_fail(list, "missing attribute '%s'", name);
        return NULL;
    }
    if (n > 1) {
        attr_fail(list, "attribute '%s' appears %zu times", name, n);
        return NULL;
    }
    return attr_find(list, name);
}

int attr_get_data(struct attr_list *list, const char *name, const void **data_r, size_t *len_r)
{
    const struct attr *a = attr_get_one(list, name);
    if (a == NULL)
        return -1;
    *data_r = a->value;
    *len_r = a->len;
    return 0;
}

int attr_get_str(struct attr_list *list, const char *name, const char **value_r)
{
    const struct attr *a = attr_get_one(list, name);
    if (a == NULL)
        return -1;
    if (memchr(a->value, '\0', a->len) != NULL)
        return attr_fail(list, "attribute '%s' contains a NUL byte", name);
    *value_r = a->value;
    return 0;
}

int attr_get_str_opt(struct attr_list *list, const char *name, const char *def,
                     const char **value_r)
{
    if (attr_find(list, name) == NULL) {
        *value_r = def;
        return 0;
    }
    return attr_get_str(list, name, value_r);
}

int attr_parse_int(const char *text, size_t len, long long *value_r)
{
    size_t i = 0;
    bool neg = len > 0 && text[0] == '-';
    if (neg)
        i++;
    if (i == len || (text[i] == '0' && (len - i > 1 || neg)))
        return -1; /* empty, leading zero, or "-0" */
    long long v = 0;
    for (; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        /* Accumulate negatively so that LLONG_MIN fits. */
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_sub_overflow(v, text[i] - '0', &v))
            return -1;
    }
    if (!neg) {
        if (v == LLONG_MIN)
            return -1;
        v = -v;
    }
    *value_r = v;
    return 0;
}

int attr_get_int_range(struct attr_list *list, const char *name, long long min, long long max,
                       long long *value_r)
{
    const struct attr *a = attr_get_one(list, name);
    if (a == NULL)
        return -1;
    long long v;
    if (attr_parse_int(a->value, a->len, &v) < 0) {
        char *ex = attr_excerpt(a->value, a->len);
        attr_fail(list, "attribute '%s': bad integer '%s'", name, ex);
        free(ex);
        return -1;
    }
    if (v < min || v > max)
        return attr_fail(list, "attribute '%s': %lld is out of range %lld..%lld", name, v, min,
                         max);
    *value_r = v;
    return 0;
}

int attr_get_int(struct attr_list *list, const char *name, long long *value_r)
{
    return attr_get_int_range(list, name, LLONG_MIN, LLONG_MAX, value_r);
}

/* ---- connecting --------------------------------------------------- */

stream_t *attr_connect(const char *path, int timeout_ms, char **error_r)
{
    int fd = unix_connect(path, timeout_ms, error_r);
    if (fd < 0)
        return NULL;
    stream_t *s = stream_open_fd(fd, STREAM_OWN_FD);
    stream_set_timeout_ms(s, timeout_ms);
    return s;
}
