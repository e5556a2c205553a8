/*
 * dict_util.c - helpers shared by the table types: error collection with
 * "FILE, line N" positions, whole-file reads, and the logical-line
 * splitter for the line-oriented table formats (comments, blank lines,
 * continuation lines starting with whitespace).
 */
#include "dict.h"
#include "log.h"
#include "mem.h"

#include <fcntl.h>
#include <sys/stat.h>

#define DICT_MAX_FILE (256u * 1024 * 1024) /* refuse absurd source files */

void dict_error_add(struct dict_errors *e, const char *file, int line, const char *fmt, ...)
{
    str_t *s = str_new(128);
    if (line > 0)
        str_appendf(s, "%s, line %d: ", file, line);
    else
        str_appendf(s, "%s: ", file);
    va_list ap;
    va_start(ap, fmt);
    str_vappendf(s, fmt, ap);
    va_end(ap);
    msg_error("%s", str_c(s));
    if (e->first == NULL)
        e->first = str_steal(&s);
    else
        str_free(&s);
    e->count++;
}

void dict_error_take(struct dict_errors *e, char **error_r)
{
    if (error_r != NULL && *error_r == NULL && e->first != NULL) {
        if (e->count > 1)
            *error_r = xasprintf("%s (and %d more errors)", e->first, e->count - 1);
        else
            *error_r = xstrdup(e->first);
    }
    xfree(e->first);
    e->count = 0;
}

char *dict_read_file(const char *path, size_t *len_r, char **error_r)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *error_r = xasprintf("open %s: %s", path, strerror(errno));
        return NULL;
    }
    str_t *s = str_new_max(4096, DICT_MAX_FILE);
    char buf[8192];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *error_r = xasprintf("read %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0) {
            close(fd);
            *len_r = str_len(s);
            return str_steal(&s);
        }
        if (str_append(s, buf, (size_t)n) < 0) {
            *error_r = xasprintf("read %s: file larger than %u bytes", path, DICT_MAX_FILE);
            break;
        }
    }
    close(fd);
    str_free(&s);
    return NULL;
}

static bool dict_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Flush a pending logical line to fn; 0, or -1 when fn asked to stop. */
static int dict_lines_flush(str_t *logical, int *start, dict_line_fn fn, void *ctx)
{
    if (*start == 0)
        return 0;
    int lineno = *start;
    *start = 0;
    return fn(str_c(logical), lineno, ctx) < 0 ? -1 : 0;
}

int dict_lines(const char *text, size_t len, const char *name, struct dict_errors *errs,
               dict_line_fn fn, void *ctx)
{
    str_t *logical = str_new(256);
    int lineno = 0, start = 0, ret = 0;
    size_t pos = 0;
    while (pos < len && ret == 0) {
        const char *p = text + pos;
        const char *nl = memchr(p, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - p) : len - pos;
        pos += nl ? n + 1 : n;
        lineno++;
        while (n > 0 && dict_is_blank(p[n - 1]))
            n--;
        size_t lead = 0;
        while (lead < n && dict_is_blank(p[lead]))
            lead++;
        if (lead == n || p[lead] == '#')
            continue;
        if (memchr(p, '\0', n) != NULL) {
            dict_error_add(errs, name, lineno, "NUL byte in line");
            continue;
        }
        if (lead > 0) {
            if (start == 0) {
                dict_error_add(errs, name, lineno,
                               "continuation line without a preceding line to continue");
                continue;
            }
            str_appendc(logical, ' ');
            str_append(logical, p + lead, n - lead);
            continue;
        }
        ret = dict_lines_flush(logical, &start, fn, ctx);
        str_set(logical, p, n);
        start = lineno;
    }
    if (ret == 0)
        ret = dict_lines_flush(logical, &start, fn, ctx);
    str_free(&logical);
    return ret;
}

dict_t *dict_open_file(const char *name, int flags, dict_text_open_fn open_text, char **error_r)
{
    size_t len;
    char *text = dict_read_file(name, &len, error_r);
    if (text == NULL)
        return NULL;
    dict_t *d = open_text(name, text, len, flags, error_r);
    free(text);
    return d;
}
