/*
 * maildrop.c - the sendmail -> terndrop request and its checks
 * (maildrop.h).  terndrop runs with the maildrop group, so everything
 * read here is untrusted: bounded records, strict values.
 */
#include "sys.h"

#include "addr.h"
#include "attr.h"
#include "maildrop.h"
#include "mem.h"
#include "qfile.h"

void maildrop_request_add_rcpt(struct maildrop_request *r, const char *addr)
{
    r->rcpts = xreallocarray(r->rcpts, r->rcpt_count + 1, sizeof(*r->rcpts));
    r->rcpts[r->rcpt_count++] = xstrdup(addr);
}

void maildrop_request_clear(struct maildrop_request *r)
{
    for (size_t i = 0; i < r->rcpt_count; i++)
        free(r->rcpts[i]);
    free(r->rcpts);
    free(r->sender);
    free(r->full_name);
    free(r->envid);
    free(r->ret);
    free(r->notify);
    memset(r, 0, sizeof(*r));
}

int maildrop_request_write(stream_t *s, const struct maildrop_request *r)
{
    attr_put_str(s, "request", "submit");
    attr_put_str(s, "sender", r->sender ? r->sender : "");
    if (r->full_name)
        attr_put_str(s, "full_name", r->full_name);
    attr_put_int(s, "extract_recipients", r->extract_recipients ? 1 : 0);
    if (r->envid)
        attr_put_str(s, "envid", r->envid);
    if (r->ret)
        attr_put_str(s, "ret", r->ret);
    if (r->notify)
        attr_put_str(s, "notify", r->notify);
    for (size_t i = 0; i < r->rcpt_count; i++)
        attr_put_str(s, "rcpt", r->rcpts[i]);
    return attr_end(s);
}

char *maildrop_addr_check(const char *addr, bool sender, char **error_r)
{
    if (sender && *addr == '\0')
        return xstrdup("");
    if (*addr == '\0') {
        *error_r = xstrdup("empty recipient address");
        return NULL;
    }
    if (strlen(addr) > ADDR_PATH_MAX) {
        *error_r = xstrdup("address too long");
        return NULL;
    }
    char *path = xasprintf("<%s>", addr);
    struct addr_path p;
    char *err = NULL;
    char *canon = NULL;
    int flags = (sender ? ADDR_F_MAIL : 0) | (addr_utf8_valid(addr, strlen(addr)) ? ADDR_F_SMTPUTF8 : 0);
    if (addr_parse_path(path, strlen(path), flags, &p, &err) < 0) {
        str_t *s = str_new(64);
        str_appendz(s, "bad address <");
        str_append_printable(s, addr, strlen(addr), 200);
        str_appendf(s, ">: %s", err ? err : "syntax error");
        *error_r = str_steal(&s);
    } else if (p.params_len > 0 || p.source_route || p.null_sender) {
        *error_r = xstrdup("unexpected text in address");
        addr_path_free(&p);
    } else {
        canon = xstrdup(p.addr);
        addr_path_free(&p);
    }
    free(err);
    free(path);
    return canon;
}

int maildrop_notify_bits(const char *text, unsigned *bits_r)
{
    unsigned a = 0;
    char *err = NULL;
    if (addr_param_notify(text, &a, &err) < 0) {
        free(err);
        return -1;
    }
    unsigned b = 0;
    if (a & ADDR_NOTIFY_NEVER)
        b |= QFILE_NOTIFY_NEVER;
    if (a & ADDR_NOTIFY_SUCCESS)
        b |= QFILE_NOTIFY_SUCCESS;
    if (a & ADDR_NOTIFY_FAILURE)
        b |= QFILE_NOTIFY_FAILURE;
    if (a & ADDR_NOTIFY_DELAY)
        b |= QFILE_NOTIFY_DELAY;
    *bits_r = b;
    return 0;
}

char *maildrop_notify_text(unsigned bits)
{
    if (bits == 0)
        return NULL;
    if (bits & QFILE_NOTIFY_NEVER)
        return xstrdup("NEVER");
    str_t *s = str_new(32);
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{QFILE_NOTIFY_SUCCESS, "SUCCESS"},
                 {QFILE_NOTIFY_FAILURE, "FAILURE"},
                 {QFILE_NOTIFY_DELAY, "DELAY"}};
    for (size_t i = 0; i < N_ELEMENTS(names); i++)
        if (bits & names[i].bit)
            str_appendf(s, "%s%s", str_len(s) ? "," : "", names[i].name);
    return str_steal(&s);
}

/* An optional string attribute, copied; -1 when repeated or holding NUL. */
static int maildrop_opt(struct attr_list *l, const char *name, char **out)
{
    const char *v = NULL;
    if (attr_find(l, name) == NULL)
        return 0;
    if (attr_get_str(l, name, &v) < 0)
        return -1;
    *out = xstrdup(v);
    return 0;
}

static int maildrop_fail(char **error_r, const char *what, const char *detail)
{
    *error_r = xasprintf("%s%s%s", what, detail ? ": " : "", detail ? detail : "");
    return -1;
}

static int maildrop_read_dsn(struct maildrop_request *r, char **error_r)
{
    unsigned bits;
    if (r->ret && strcasecmp(r->ret, "FULL") != 0 && strcasecmp(r->ret, "HDRS") != 0)
        return maildrop_fail(error_r, "bad DSN RET value (FULL or HDRS)", NULL);
    if (r->notify && maildrop_notify_bits(r->notify, &bits) < 0)
        return maildrop_fail(error_r, "bad DSN NOTIFY value", NULL);
    if (r->envid && (strlen(r->envid) > ADDR_ENVID_MAX || !addr_utf8_valid(r->envid, strlen(r->envid))))
        return maildrop_fail(error_r, "bad DSN ENVID value", NULL);
    for (char *p = r->envid; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return maildrop_fail(error_r, "bad DSN ENVID value", NULL);
    if (r->full_name && strlen(r->full_name) > 256)
        return maildrop_fail(error_r, "full name too long", NULL);
    for (char *p = r->full_name; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return maildrop_fail(error_r, "bad character in full name", NULL);
    return 0;
}

static int maildrop_read_rcpts(struct attr_list *l, struct maildrop_request *r, char **error_r)
{
    for (size_t i = 0; i < l->count; i++) {
        if (strcmp(l->items[i].name, "rcpt") != 0)
            continue;
        if (memchr(l->items[i].value, '\0', l->items[i].len) != NULL)
            return maildrop_fail(error_r, "NUL in recipient", NULL);
        char *canon = maildrop_addr_check(l->items[i].value, false, error_r);
        if (canon == NULL)
            return -1;
        maildrop_request_add_rcpt(r, canon);
        free(canon);
    }
    return 0;
}

static int maildrop_read_fields(struct attr_list *l, struct maildrop_request *r, char **error_r)
{
    const char *req, *sender;
    long long extract = 0;
    if (attr_require(l, "request", "sender", NULL) < 0 || attr_get_str(l, "request", &req) < 0 ||
        attr_get_str(l, "sender", &sender) < 0 ||
        (attr_find(l, "extract_recipients") &&
         attr_get_int_range(l, "extract_recipients", 0, 1, &extract) < 0) ||
        maildrop_opt(l, "full_name", &r->full_name) < 0 || maildrop_opt(l, "envid", &r->envid) < 0 ||
        maildrop_opt(l, "ret", &r->ret) < 0 || maildrop_opt(l, "notify", &r->notify) < 0)
        return maildrop_fail(error_r, "malformed request", attr_error(l));
    if (strcmp(req, "submit") != 0)
        return maildrop_fail(error_r, "unknown request", NULL);
    r->extract_recipients = extract == 1;
    r->sender = maildrop_addr_check(sender, true, error_r);
    if (r->sender == NULL)
        return -1;
    if (attr_count(l, "rcpt") > MAILDROP_RCPT_MAX)
        return maildrop_fail(error_r, "too many recipients", NULL);
    if (maildrop_read_dsn(r, error_r) < 0 || maildrop_read_rcpts(l, r, error_r) < 0)
        return -1;
    if (r->rcpt_count == 0 && !r->extract_recipients)
        return maildrop_fail(error_r, "no recipients", NULL);
    return 0;
}

int maildrop_request_read(stream_t *s, struct maildrop_request *r, char **error_r)
{
    static const struct attr_limits lim = {
        .max_name = 32, .max_value = MAILDROP_VALUE_MAX, .max_attrs = MAILDROP_RCPT_MAX + 16};
    struct attr_list *l = attr_list_new();
    const char *err = NULL;
    int rc = -1;
    memset(r, 0, sizeof(*r));
    if (attr_read(s, l, &lim, &err) != 0)
        *error_r = xasprintf("reading the request: %s", err ? err : "end of input");
    else
        rc = maildrop_read_fields(l, r, error_r);
    if (rc < 0)
        maildrop_request_clear(r);
    attr_list_free(&l);
    return rc;
}

int maildrop_chunk_write(stream_t *s, const void *data, size_t len)
{
    attr_put_int(s, "chunk", (long long)len);
    attr_end(s);
    if (len > 0)
        stream_write(s, data, len);
    return stream_error(s);
}

ssize_t maildrop_chunk_read(stream_t *s, str_t *out, char **error_r)
{
    static const struct attr_limits lim = {.max_name = 16, .max_value = 16, .max_attrs = 1};
    struct attr_list *l = attr_list_new();
    const char *err = NULL;
    long long n = -1;
    if (attr_read(s, l, &lim, &err) != 0)
        *error_r = xasprintf("reading the content: %s", err ? err : "end of input");
    else if (attr_get_int_range(l, "chunk", 0, MAILDROP_CHUNK_MAX, &n) < 0)
        *error_r = xasprintf("malformed content record: %s", attr_error(l));
    else if (n > 0 && stream_read_append(s, out, (size_t)n) != STREAM_OK) {
        *error_r = xstrdup("content ends early");
        n = -1;
    }
    attr_list_free(&l);
    return (ssize_t)n;
}
