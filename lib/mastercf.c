/*
 * mastercf.c - master.cf parser (see mastercf.h).
 *
 * Each logical line (config_read_line: comments, blank lines and
 * continuation lines as in main.cf) is split into whitespace-separated
 * tokens; a token starting with '{' runs to the matching '}' and may hold
 * spaces (Postfix 3 grouping: "-o { name = value with spaces }").  Every
 * field is checked and every error is reported with its line; one error
 * makes the whole file fail so master never runs half a configuration.
 *
 * The entry's argv holds the command and all its arguments as written,
 * including "-o" and each "name=value" (normalised, braces removed), so it
 * can be handed to exec; overrides repeats just the "name=value" strings.
 */
#include "mastercf.h"

#include "config.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>

#define MCF_FILE_MAX (4 * 1024 * 1024)
#define MCF_FIELDS 8

struct mcf_parse {
    const char *file;
    int line;
    char **tok;
    int ntok;
};

static int mcf_err(const struct mcf_parse *mp, const char *fmt, ...) TERN_PRINTF(2, 3);

static int mcf_err(const struct mcf_parse *mp, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    msg_error("%s, line %d: %s", mp->file, mp->line, text);
    return -1;
}

/* A printable copy of untrusted text for messages (static buffer). */
static const char *shown(const char *text)
{
    static char buf[128];
    str_t *s = str_new(64);
    str_append_printable(s, text, strlen(text), 80);
    str_lcpy(buf, str_c(s), sizeof(buf));
    str_free(&s);
    return buf;
}

/* ---- tokens ------------------------------------------------------------- */

static void tok_free(struct mcf_parse *mp)
{
    for (int i = 0; i < mp->ntok; i++)
        free(mp->tok[i]);
    xfree(mp->tok);
    mp->ntok = 0;
}

static void tok_add(struct mcf_parse *mp, const char *p, size_t len)
{
    mp->tok = xreallocarray(mp->tok, (size_t)mp->ntok + 2, sizeof(*mp->tok));
    mp->tok[mp->ntok++] = xstrndup(p, len);
    mp->tok[mp->ntok] = NULL;
}

/* "{ text }" -> "text" without the surrounding whitespace. */
static int tok_group(struct mcf_parse *mp, const char **pp)
{
    const char *p = *pp;
    int level = 0;
    const char *q = p;
    for (; *q; q++) {
        if (*q == '{')
            level++;
        else if (*q == '}' && --level == 0)
            break;
    }
    if (*q != '}')
        return mcf_err(mp, "missing '}' after \"%s\"", shown(p));
    if (q[1] != '\0' && !isspace((unsigned char)q[1]))
        return mcf_err(mp, "text after '}' in \"%s\"", shown(p));
    const char *b = p + 1, *e = q;
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    tok_add(mp, b, (size_t)(e - b));
    *pp = q + 1;
    return 0;
}

static int tok_split(struct mcf_parse *mp, const char *line)
{
    const char *p = line;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            return 0;
        if (*p == '{' && mp->ntok >= MCF_FIELDS) {
            if (tok_group(mp, &p) < 0)
                return -1;
            continue;
        }
        size_t len = 0;
        while (p[len] && !isspace((unsigned char)p[len]))
            len++;
        tok_add(mp, p, len);
        p += len;
    }
}

/* ---- fields ------------------------------------------------------------- */

static int field_type(struct mcf_parse *mp, const char *text, enum mastercf_type *type_r)
{
    static const struct {
        const char *name;
        enum mastercf_type type;
    } types[] = {{"inet", MCF_INET}, {"unix", MCF_UNIX}, {"fifo", MCF_FIFO}, {"pass", MCF_PASS}};
    for (size_t i = 0; i < N_ELEMENTS(types); i++) {
        if (strcmp(text, types[i].name) == 0) {
            *type_r = types[i].type;
            return 0;
        }
    }
    return mcf_err(mp, "bad service type \"%s\" (use inet, unix, fifo or pass)", shown(text));
}

static int field_yn(struct mcf_parse *mp, const char *what, const char *text, bool def, bool *v)
{
    if (strcmp(text, "-") == 0)
        *v = def;
    else if (strcmp(text, "y") == 0)
        *v = true;
    else if (strcmp(text, "n") == 0)
        *v = false;
    else
        return mcf_err(mp, "bad %s field \"%s\" (use y, n or -)", what, shown(text));
    return 0;
}

/* A non-negative decimal int; -1 when malformed or too large. */
static int parse_count(const char *text, size_t len)
{
    long v = 0;
    if (len == 0 || len > 9)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)text[i]))
            return -1;
        v = v * 10 + (text[i] - '0');
    }
    return (int)v;
}

static int field_wakeup(struct mcf_parse *mp, const char *text, struct mastercf_entry *e)
{
    e->wakeup = 0;
    e->wakeup_if_used = false;
    if (strcmp(text, "-") == 0)
        return 0;
    size_t len = strlen(text);
    if (len > 0 && text[len - 1] == '?') {
        e->wakeup_if_used = true;
        len--;
    }
    if ((e->wakeup = parse_count(text, len)) < 0)
        return mcf_err(mp, "bad wakeup field \"%s\" (use seconds, optionally with '?', or -)",
                       shown(text));
    return 0;
}

static int field_maxproc(struct mcf_parse *mp, const char *text, struct mastercf_entry *e)
{
    if (strcmp(text, "-") == 0) {
        e->maxproc = -1;
        return 0;
    }
    if ((e->maxproc = parse_count(text, strlen(text))) < 0)
        return mcf_err(mp, "bad maxproc field \"%s\" (use a number >= 0 or -)", shown(text));
    return 0;
}

/* A socket name under the queue directory: no path tricks. */
static bool local_name_ok(const char *name)
{
    if (*name == '\0' || *name == '.')
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && strchr("._-+", *p) == NULL)
            return false;
    return true;
}

static bool port_ok(const char *port)
{
    if (*port == '\0')
        return false;
    if (isdigit((unsigned char)*port)) {
        int n = parse_count(port, strlen(port));
        return n >= 1 && n <= 65535;
    }
    for (const char *p = port; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return false;
    return true;
}

static bool host_ok(const char *host)
{
    for (const char *p = host; *p; p++)
        if (!isalnum((unsigned char)*p) && strchr(".-_:*", *p) == NULL)
            return false;
    return *host != '\0';
}

/* "port", "host:port", "[v6addr]:port"; host "*" means all interfaces. */
static int field_inet(struct mcf_parse *mp, const char *text, struct mastercf_entry *e)
{
    const char *colon;
    char *host = NULL;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return mcf_err(mp, "bad inet service \"%s\" (use [address]:port)", shown(text));
        host = xstrndup(text + 1, (size_t)(close - text - 1));
        colon = close + 1;
    } else if ((colon = strrchr(text, ':')) != NULL) {
        host = xstrndup(text, (size_t)(colon - text));
    }
    const char *port = colon ? colon + 1 : text;
    if ((host && !host_ok(host)) || !port_ok(port)) {
        free(host);
        return mcf_err(mp, "bad inet service \"%s\" (use port, host:port or [address]:port)",
                       shown(text));
    }
    if (host && strcmp(host, "*") == 0)
        xfree(host);
    e->host = host;
    e->port = xstrdup(port);
    return 0;
}

static int field_service(struct mcf_parse *mp, const char *text, struct mastercf_entry *e)
{
    if (e->type == MCF_INET)
        return field_inet(mp, text, e);
    if (!local_name_ok(text))
        return mcf_err(mp, "bad service name \"%s\" (letters, digits, '.', '-', '_', '+'; no '/')",
                       shown(text));
    return 0;
}

/* ---- arguments ---------------------------------------------------------- */

/* "name=value" or "name = value" (from a group) -> "name=value". */
static char *override_norm(struct mcf_parse *mp, const char *text)
{
    const char *eq = strchr(text, '=');
    if (eq == NULL) {
        mcf_err(mp, "-o %s: missing '=' (write -o name=value)", shown(text));
        return NULL;
    }
    const char *ne = eq;
    while (ne > text && isspace((unsigned char)ne[-1]))
        ne--;
    const char *v = eq + 1;
    while (isspace((unsigned char)*v))
        v++;
    bool good = ne > text;
    for (const char *p = text; p < ne; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            good = false;
    if (!good) {
        mcf_err(mp, "-o %s: bad parameter name", shown(text));
        return NULL;
    }
    return xasprintf("%.*s=%s", (int)(ne - text), text, v);
}

static void entry_push_arg(struct mastercf_entry *e, char *arg)
{
    e->argv = xreallocarray(e->argv, (size_t)e->argc + 2, sizeof(*e->argv));
    e->argv[e->argc++] = arg;
    e->argv[e->argc] = NULL;
}

static void entry_push_override(struct mastercf_entry *e, const char *nv)
{
    e->overrides = xreallocarray(e->overrides, (size_t)e->noverrides + 2, sizeof(*e->overrides));
    e->overrides[e->noverrides++] = xstrdup(nv);
    e->overrides[e->noverrides] = NULL;
}

static int entry_args(struct mcf_parse *mp, struct mastercf_entry *e)
{
    const char *cmd = mp->tok[MCF_FIELDS - 1];
    if (!local_name_ok(cmd))
        return mcf_err(mp, "bad command \"%s\" (a program name in daemon_directory, no '/')",
                       shown(cmd));
    e->command = xstrdup(cmd);
    entry_push_arg(e, xstrdup(cmd));
    e->overrides = xcalloc(1, sizeof(*e->overrides));
    for (int i = MCF_FIELDS; i < mp->ntok; i++) {
        if (strcmp(mp->tok[i], "-o") != 0) {
            entry_push_arg(e, xstrdup(mp->tok[i]));
            continue;
        }
        if (i + 1 >= mp->ntok)
            return mcf_err(mp, "-o without name=value at the end of the line");
        char *nv = override_norm(mp, mp->tok[++i]);
        if (nv == NULL)
            return -1;
        entry_push_arg(e, xstrdup("-o"));
        entry_push_arg(e, nv);
        entry_push_override(e, nv);
    }
    return 0;
}

/* ---- entries ------------------------------------------------------------ */

static void entry_clear(struct mastercf_entry *e)
{
    free(e->name);
    free(e->host);
    free(e->port);
    free(e->command);
    for (int i = 0; i < e->argc; i++)
        free(e->argv[i]);
    free(e->argv);
    for (int i = 0; i < e->noverrides; i++)
        free(e->overrides[i]);
    free(e->overrides);
    free(e->file);
    memset(e, 0, sizeof(*e));
}

static int entry_fields(struct mcf_parse *mp, struct mastercf_entry *e)
{
    if (mp->ntok < MCF_FIELDS)
        return mcf_err(mp,
                       "only %d fields; a service needs at least %d "
                       "(service type private unpriv chroot wakeup maxproc command)",
                       mp->ntok, MCF_FIELDS);
    e->name = xstrdup(mp->tok[0]);
    e->file = xstrdup(mp->file);
    e->line = mp->line;
    if (field_type(mp, mp->tok[1], &e->type) < 0 || field_service(mp, mp->tok[0], e) < 0)
        return -1;
    if (field_yn(mp, "private", mp->tok[2], e->type != MCF_INET, &e->private_) < 0 ||
        field_yn(mp, "unpriv", mp->tok[3], true, &e->unpriv) < 0 ||
        field_yn(mp, "chroot", mp->tok[4], false, &e->chroot) < 0 ||
        field_wakeup(mp, mp->tok[5], e) < 0 || field_maxproc(mp, mp->tok[6], e) < 0)
        return -1;
    if (e->type == MCF_INET && e->private_)
        return mcf_err(mp, "an inet service cannot be private (use n or - in field 3)");
    return entry_args(mp, e);
}

static bool entry_duplicate(const struct mastercf *m, const struct mastercf_entry *e, int *line_r)
{
    for (size_t i = 0; i < m->count; i++) {
        if (m->entries[i].type == e->type && strcmp(m->entries[i].name, e->name) == 0) {
            *line_r = m->entries[i].line;
            return true;
        }
    }
    return false;
}

static const char *type_name(enum mastercf_type t)
{
    static const char *const names[] = {"inet", "unix", "fifo", "pass"};
    return names[t];
}

/* Parse one logical line into a new entry of m; -1 on error. */
static int mcf_line(struct mcf_parse *mp, struct mastercf *m, const char *line)
{
    struct mastercf_entry e = {0};
    int rc = tok_split(mp, line);
    if (rc == 0)
        rc = entry_fields(mp, &e);
    int prev;
    if (rc == 0 && entry_duplicate(m, &e, &prev))
        rc = mcf_err(mp, "duplicate service %s/%s (first defined on line %d)", shown(e.name),
                     type_name(e.type), prev);
    tok_free(mp);
    if (rc < 0) {
        entry_clear(&e);
        return -1;
    }
    m->entries = xreallocarray(m->entries, m->count + 1, sizeof(*m->entries));
    m->entries[m->count++] = e;
    return 0;
}

struct mastercf *mastercf_parse_string(const char *text, size_t len, const char *name)
{
    struct mastercf *m = xcalloc(1, sizeof(*m));
    struct mcf_parse mp = {.file = name ? name : "(string)"};
    struct config_reader rd;
    str_t *line = str_new(256);
    int got, bad = 0;
    config_reader_init(&rd, text, len);
    while ((got = config_read_line(&rd, line, &mp.line)) != 0) {
        if (got < 0)
            bad |= mcf_err(&mp, "continuation line without a service before it");
        else if (memchr(str_c(line), '\0', str_len(line)) != NULL)
            bad |= mcf_err(&mp, "NUL byte in line");
        else if (mcf_line(&mp, m, str_c(line)) < 0)
            bad = -1;
    }
    str_free(&line);
    if (bad)
        mastercf_free(&m);
    return m;
}

struct mastercf *mastercf_parse_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        msg_error("open %s: %s", path, strerror(errno));
        return NULL;
    }
    str_t *buf = str_new_max(8192, MCF_FILE_MAX);
    char chunk[8192];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || str_append(buf, chunk, (size_t)n) < 0) {
            msg_error("read %s: %s", path, n < 0 ? strerror(errno) : "file too large");
            close(fd);
            str_free(&buf);
            return NULL;
        }
    }
    close(fd);
    struct mastercf *m = mastercf_parse_string(str_c(buf), str_len(buf), path);
    str_free(&buf);
    return m;
}

void mastercf_free(struct mastercf **mp)
{
    struct mastercf *m = *mp;
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->count; i++)
        entry_clear(&m->entries[i]);
    free(m->entries);
    xfree(*mp);
}
