/*
 * edit.c - `ternconf -e name=value` and `ternconf -X name`: change main.cf
 * in place, keeping comments, order and unrelated lines as they are.
 *
 * A setting is its "name = value" line plus the continuation lines after
 * it.  The first setting of a name is replaced (or removed), later ones of
 * the same name are removed so the result is unambiguous, and names not
 * present are appended.  The new text is checked by loading it before it
 * replaces the file, via a temporary file and rename(2), so a reader never
 * sees half a file and a failed edit leaves the old file untouched.
 */
#include "ternconf.h"

#include "config.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>

struct edit {
    char *name;
    char *value; /* NULL: remove */
    bool done;
};

static bool edit_name_ok(const char *name, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_')
            return false;
    return true;
}

/* Parse one argument; returns -1 with a logged error. */
static int edit_parse(const char *arg, bool remove, struct edit *ed)
{
    const char *eq = remove ? NULL : strchr(arg, '=');
    if (!remove && eq == NULL) {
        msg_error("%s: missing '=' (use -e name=value)", arg);
        return -1;
    }
    size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
    while (nlen > 0 && isspace((unsigned char)arg[nlen - 1]))
        nlen--;
    if (!edit_name_ok(arg, nlen)) {
        msg_error("%s: bad parameter name", arg);
        return -1;
    }
    ed->name = xstrndup(arg, nlen);
    ed->value = NULL;
    ed->done = false;
    if (eq) {
        const char *v = eq + 1;
        while (isspace((unsigned char)*v))
            v++;
        for (const char *p = v; *p; p++) {
            if ((unsigned char)*p < 0x20 && *p != '\t') {
                msg_error("%s: control character in value", ed->name);
                return -1;
            }
        }
        ed->value = xstrdup(v);
    }
    return 0;
}

/* The edit whose name this physical line sets ("name =" at column 0). */
static struct edit *edit_match(struct edit *eds, int n, const char *line, const char *eol)
{
    const char *p = line;
    while (p < eol && (isalnum((unsigned char)*p) || *p == '_'))
        p++;
    const char *q = p;
    while (q < eol && (*q == ' ' || *q == '\t'))
        q++;
    if (p == line || q == eol || *q != '=')
        return NULL;
    for (int i = 0; i < n; i++)
        if (strlen(eds[i].name) == (size_t)(p - line) &&
            memcmp(eds[i].name, line, (size_t)(p - line)) == 0)
            return &eds[i];
    return NULL;
}

static bool is_continuation(const char *p, const char *eol)
{
    if (p == eol || (*p != ' ' && *p != '\t'))
        return false;
    while (p < eol && isspace((unsigned char)*p))
        p++;
    return p < eol && *p != '#';
}

static void edit_emit(str_t *out, struct edit *ed)
{
    if (ed->value && !ed->done)
        str_appendf(out, "%s =%s%s\n", ed->name, *ed->value ? " " : "", ed->value);
    ed->done = true;
}

/* Produce the edited text of main.cf. */
static void edit_apply(const str_t *in, struct edit *eds, int n, str_t *out)
{
    const char *p = str_c(in), *end = p + str_len(in);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end, *next = nl ? nl + 1 : end;
        struct edit *ed = edit_match(eds, n, p, eol);
        if (ed == NULL) {
            str_append(out, p, (size_t)(next - p));
            if (nl == NULL)
                str_appendc(out, '\n');
            p = next;
            continue;
        }
        edit_emit(out, ed);
        for (p = next; p < end; p = next) {
            nl = memchr(p, '\n', (size_t)(end - p));
            eol = nl ? nl : end;
            next = nl ? nl + 1 : end;
            if (!is_continuation(p, eol))
                break;
        }
    }
    for (int i = 0; i < n; i++)
        edit_emit(out, &eds[i]);
}

static int file_read(const char *path, str_t *buf, mode_t *mode_r)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    *mode_r = 0644;
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        msg_error("open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) == 0)
        *mode_r = sb.st_mode & 07777;
    char chunk[8192];
    ssize_t got;
    while ((got = read(fd, chunk, sizeof(chunk))) > 0)
        str_append(buf, chunk, (size_t)got);
    close(fd);
    if (got < 0) {
        msg_error("read %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Replace path with text: temporary file in the same directory, fsync, rename. */
static int file_replace(const char *path, const str_t *text, mode_t mode)
{
    char *tmp = xasprintf("%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp), rc = -1;
    if (fd < 0) {
        msg_error("create %s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    size_t off = 0;
    while (off < str_len(text)) {
        ssize_t n = write(fd, str_c(text) + off, str_len(text) - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    if (off == str_len(text) && fchmod(fd, mode) == 0 && fsync(fd) == 0 && close(fd) == 0) {
        fd = -1;
        if (rename(tmp, path) == 0)
            rc = 0;
    }
    if (rc < 0) {
        msg_error("write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

int ternconf_edit(const char *dir, char **args, int nargs, bool remove)
{
    struct edit *eds = xcalloc((size_t)nargs, sizeof(*eds));
    char *path = xasprintf("%s/main.cf", dir);
    str_t *in = str_new(4096), *out = str_new(4096);
    mode_t mode;
    int rc = 0;
    for (int i = 0; i < nargs && rc == 0; i++)
        rc = edit_parse(args[i], remove, &eds[i]);
    if (rc == 0)
        rc = file_read(path, in, &mode);
    if (rc == 0) {
        edit_apply(in, eds, nargs, out);
        if (config_load_string(str_c(out), str_len(out), path) < 0) {
            msg_error("%s: not changed, the edited file would not be valid", path);
            rc = -1;
        }
    }
    if (rc == 0)
        rc = file_replace(path, out, mode);
    for (int i = 0; i < nargs; i++) {
        free(eds[i].name);
        free(eds[i].value);
    }
    free(eds);
    free(path);
    str_free(&in);
    str_free(&out);
    return rc;
}
