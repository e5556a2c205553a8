/*
 * config.c - main.cf loading, $name expansion and typed access (config.h).
 *
 * A configuration is a set of raw values over the defaults in params.c.
 * Loading parses into a fresh state, then expands and type-checks every
 * parameter; only a state that passes replaces the current one, so a bad
 * reload leaves a running process on its previous configuration.  Because
 * every value was expanded and checked at load time, cfg_*() never fail.
 *
 * Expansion follows Postfix: $name, ${name}, $(name), ${name?text} (text
 * when name is non-empty), ${name:text} (text when name is empty); "$$" is
 * a literal '$'.  Undefined names expand to nothing.  Recursion is bounded
 * in depth, in work and in output size, and a loop is an error.
 */
#include "config.h"

#include "log.h"
#include "mem.h"
#include "str.h"

#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>

#ifndef TERN_SYSCONFDIR
#define TERN_SYSCONFDIR "/etc/tern"
#endif

#define CFG_DEPTH_MAX 32            /* nested $name references */
#define CFG_WORK_MAX 100000         /* $name references per expansion */
#define CFG_VALUE_MAX (1024 * 1024) /* bytes of one expanded value */
#define CFG_FILE_MAX (16 * 1024 * 1024)

struct cfg_entry {
    char *name;     /* unknown entries only */
    char *raw;      /* NULL: not set, use the default */
    int line;       /* where it was set (0: -o) */
    char *expanded; /* computed by state_check */
    char *def;      /* computed default text (cfg_default) */
};

struct cfg_state {
    struct cfg_entry *known; /* parallel to param_table */
    struct cfg_entry *unknown;
    size_t nunknown;
    char *dir;    /* NULL: loaded from a string */
    char *source; /* file name for messages */
};

struct expand_ctx {
    const struct cfg_state *st;
    const char *stack[CFG_DEPTH_MAX];
    int depth;
    long work;
    str_t *err; /* first error, empty if none */
};

static struct cfg_state *cfg_cur;

/* ---- small helpers ------------------------------------------------------ */

static bool name_char(int c)
{
    return isalnum(c) || c == '_';
}

static bool name_valid(const char *name)
{
    if (*name == '\0')
        return false;
    for (const char *p = name; *p; p++)
        if (!name_char((unsigned char)*p))
            return false;
    return true;
}

static size_t param_index(const char *name)
{
    const struct param_def *def = param_find(name);
    return def ? (size_t)(def - param_table) : (size_t)-1;
}

static size_t param_index_or_panic(const char *name, const char *caller)
{
    size_t idx = param_index(name);
    if (idx == (size_t)-1)
        msg_panic("%s: unknown parameter \"%s\"", caller, name);
    return idx;
}

static const char *host_name(void)
{
    static char host[256];
    if (host[0] == '\0' && (gethostname(host, sizeof(host)) != 0 || host[0] == '\0'))
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    return host;
}

static const char *default_dir(void)
{
    const char *env = getenv("MAIL_CONFIG");
    return env && *env ? env : TERN_SYSCONFDIR;
}

/* ---- state -------------------------------------------------------------- */

static struct cfg_state *state_new(const char *dir, const char *source)
{
    struct cfg_state *st = xcalloc(1, sizeof(*st));
    st->known = xcalloc(param_table_count, sizeof(*st->known));
    st->dir = dir ? xstrdup(dir) : NULL;
    st->source = xstrdup(source);
    return st;
}

static void entry_clear(struct cfg_entry *e)
{
    xfree(e->name);
    xfree(e->raw);
    xfree(e->expanded);
    xfree(e->def);
}

static void state_free(struct cfg_state **stp)
{
    struct cfg_state *st = *stp;
    if (st == NULL)
        return;
    for (size_t i = 0; i < param_table_count; i++)
        entry_clear(&st->known[i]);
    for (size_t i = 0; i < st->nunknown; i++)
        entry_clear(&st->unknown[i]);
    free(st->known);
    free(st->unknown);
    free(st->dir);
    free(st->source);
    xfree(*stp);
}

static struct cfg_entry *state_unknown(const struct cfg_state *st, const char *name)
{
    for (size_t i = 0; i < st->nunknown; i++)
        if (strcmp(st->unknown[i].name, name) == 0)
            return &st->unknown[i];
    return NULL;
}

static void state_set(struct cfg_state *st, const char *name, const char *value, int line)
{
    size_t idx = param_index(name);
    struct cfg_entry *e;
    if (idx != (size_t)-1) {
        e = &st->known[idx];
    } else if ((e = state_unknown(st, name)) == NULL) {
        st->unknown = xreallocarray(st->unknown, st->nunknown + 1, sizeof(*st->unknown));
        e = &st->unknown[st->nunknown++];
        memset(e, 0, sizeof(*e));
        e->name = xstrdup(name);
    }
    free(e->raw);
    e->raw = xstrdup(value);
    e->line = line;
}

/* ---- expansion ---------------------------------------------------------- */

static int expand_text(struct expand_ctx *x, const char *text, size_t len, str_t *out);

static int expand_fail(struct expand_ctx *x, const char *fmt, const char *arg)
{
    if (str_len(x->err) == 0)
        str_appendf(x->err, fmt, arg);
    return -1;
}

static int expand_put(struct expand_ctx *x, str_t *out, const char *data, size_t n)
{
    if (str_append(out, data, n) < 0)
        return expand_fail(x, "value longer than %s bytes after expansion", "1048576");
    return 0;
}

static int expand_loop_error(struct expand_ctx *x, const char *name)
{
    str_t *path = str_new(64);
    for (int i = 0; i < x->depth; i++)
        str_appendf(path, "%s -> ", x->stack[i]);
    str_appendz(path, name);
    expand_fail(x, "expansion loop: %s", str_c(path));
    str_free(&path);
    return -1;
}

/* "@domain": $myhostname without its first label, else "localdomain". */
static int expand_domain(struct expand_ctx *x, str_t *out)
{
    str_t *host = str_new_max(64, CFG_VALUE_MAX);
    int rc = expand_text(x, "$myhostname", 11, host);
    if (rc == 0) {
        const char *dot = strchr(str_c(host), '.');
        const char *dom = dot && dot[1] ? dot + 1 : "localdomain";
        rc = expand_put(x, out, dom, strlen(dom));
    }
    str_free(&host);
    return rc;
}

/* Expand a table default, resolving the computed '@' forms. */
static int expand_default(struct expand_ctx *x, const char *def, str_t *out)
{
    if (strcmp(def, "@hostname") == 0)
        return expand_put(x, out, host_name(), strlen(host_name()));
    if (strcmp(def, "@domain") == 0)
        return expand_domain(x, out);
    if (strcmp(def, "@config_dir") == 0) {
        const char *dir = x->st->dir ? x->st->dir : default_dir();
        return expand_put(x, out, dir, strlen(dir));
    }
    return expand_text(x, def, strlen(def), out);
}

/* Append the expanded value of parameter name (empty when undefined). */
static int expand_name(struct expand_ctx *x, const char *name, str_t *out)
{
    if (++x->work > CFG_WORK_MAX)
        return expand_fail(x, "too many $name references while expanding %s", name);
    for (int i = 0; i < x->depth; i++)
        if (strcmp(x->stack[i], name) == 0)
            return expand_loop_error(x, name);
    if (x->depth >= CFG_DEPTH_MAX)
        return expand_fail(x, "$name references nested too deeply at %s", name);

    size_t idx = param_index(name);
    const struct cfg_entry *e = idx != (size_t)-1 ? &x->st->known[idx] : state_unknown(x->st, name);
    if (e == NULL)
        return 0;
    x->stack[x->depth++] = name;
    int rc;
    if (e->raw)
        rc = expand_text(x, e->raw, strlen(e->raw), out);
    else if (idx != (size_t)-1)
        rc = expand_default(x, param_table[idx].def, out);
    else
        rc = 0;
    x->depth--;
    return rc;
}

/* Find the bracket closing the one at text[0]; returns its offset or 0. */
static size_t match_close(const char *text, size_t len)
{
    char open = text[0], close = open == '{' ? '}' : ')';
    int level = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == open)
            level++;
        else if (text[i] == close && --level == 0)
            return i;
    }
    return 0;
}

/* ${name}, ${name?text}, ${name:text}: body is what lies between the brackets. */
static int expand_bracketed(struct expand_ctx *x, const char *body, size_t len, str_t *out)
{
    size_t n = 0;
    while (n < len && name_char((unsigned char)body[n]))
        n++;
    if (n == 0 || n > 256)
        return expand_fail(x, "bad parameter name in $%s", "{...}");
    char name[257];
    memcpy(name, body, n);
    name[n] = '\0';
    if (n == len)
        return expand_name(x, name, out);
    if (body[n] != '?' && body[n] != ':')
        return expand_fail(x, "bad character after parameter name %s in ${...}", name);

    str_t *val = str_new_max(64, CFG_VALUE_MAX);
    int rc = expand_name(x, name, val);
    bool want = body[n] == '?' ? str_len(val) > 0 : str_len(val) == 0;
    str_free(&val);
    if (rc == 0 && want)
        rc = expand_text(x, body + n + 1, len - n - 1, out);
    return rc;
}

/* Handle the reference starting after a '$'; *used_r is how much was consumed. */
static int expand_ref(struct expand_ctx *x, const char *p, size_t len, str_t *out, size_t *used_r)
{
    if (len > 0 && p[0] == '$') {
        *used_r = 1;
        return expand_put(x, out, "$", 1);
    }
    if (len > 0 && (p[0] == '{' || p[0] == '(')) {
        size_t close = match_close(p, len);
        if (close == 0)
            return expand_fail(x, "missing '%s' in parameter reference", p[0] == '{' ? "}" : ")");
        *used_r = close + 1;
        return expand_bracketed(x, p + 1, close - 1, out);
    }
    size_t n = 0;
    while (n < len && name_char((unsigned char)p[n]))
        n++;
    if (n == 0) { /* a lone '$' stays as it is */
        *used_r = 0;
        return expand_put(x, out, "$", 1);
    }
    if (n > 256)
        return expand_fail(x, "parameter name too long in %s", "$name");
    char name[257];
    memcpy(name, p, n);
    name[n] = '\0';
    *used_r = n;
    return expand_name(x, name, out);
}

static int expand_text(struct expand_ctx *x, const char *text, size_t len, str_t *out)
{
    size_t i = 0;
    while (i < len) {
        const char *dollar = memchr(text + i, '$', len - i);
        size_t run = dollar ? (size_t)(dollar - (text + i)) : len - i;
        if (expand_put(x, out, text + i, run) < 0)
            return -1;
        i += run;
        if (i >= len)
            break;
        size_t used;
        if (expand_ref(x, text + i + 1, len - i - 1, out, &used) < 0)
            return -1;
        i += 1 + used;
    }
    return 0;
}

/*
 * Expand text (the value of parameter name, or free text when name is
 * NULL) against st.  Returns the result (never NULL); on error *err is set.
 */
static char *state_expand(const struct cfg_state *st, const char *name, const char *text,
                          str_t *err)
{
    struct expand_ctx x = {.st = st, .err = err};
    str_t *out = str_new_max(64, CFG_VALUE_MAX);
    if (name)
        x.stack[x.depth++] = name;
    if (expand_text(&x, text, strlen(text), out) < 0 && str_len(err) == 0)
        str_setz(err, "expansion failed");
    return str_steal(&out);
}

/* ---- value syntax ------------------------------------------------------- */

static int parse_ll(const char *text, long long *value_r)
{
    const char *p = text;
    if (*p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return -1;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return -1;
    errno = 0;
    long long v = strtoll(text, NULL, 10);
    if (errno == ERANGE)
        return -1;
    *value_r = v;
    return 0;
}

static long long unit_seconds(char unit)
{
    switch (unit) {
    case 's':
        return 1;
    case 'm':
        return 60;
    case 'h':
        return 3600;
    case 'd':
        return 86400;
    case 'w':
        return 7 * 86400;
    default:
        return 0;
    }
}

int config_parse_time(const char *text, char default_unit, long long *secs_r)
{
    const char *p = text;
    long long n = 0;
    if (!isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++)
        if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, *p - '0', &n))
            return -1;
    char unit = *p ? *p : default_unit ? default_unit : 's';
    if (*p && p[1] != '\0')
        return -1;
    long long mult = unit_seconds(unit);
    if (mult == 0 || __builtin_mul_overflow(n, mult, &n))
        return -1;
    *secs_r = n;
    return 0;
}

int config_parse_bool(const char *text, bool *value_r)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < N_ELEMENTS(yes); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *value_r = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *value_r = false;
            return 0;
        }
    }
    return -1;
}

/* Check an expanded value against its parameter type; a reason goes to err. */
static int value_check(const struct param_def *def, const char *value, str_t *err)
{
    long long n;
    bool b;
    switch (def->type) {
    case PARAM_INT:
    case PARAM_SIZE:
        if (parse_ll(value, &n) < 0)
            return str_setf(err, "bad numeric value \"%.100s\"", value), -1;
        break;
    case PARAM_TIME:
        if (config_parse_time(value, def->time_unit, &n) < 0)
            return str_setf(err,
                            "bad time value \"%.100s\" (use a number with unit s, m, h, d or w)",
                            value),
                   -1;
        break;
    case PARAM_BOOL:
        if (config_parse_bool(value, &b) < 0)
            return str_setf(err, "bad boolean value \"%.100s\" (use yes or no)", value), -1;
        return 0;
    case PARAM_LIST: {
        const char *why = config_list_check(value);
        if (why != NULL)
            return str_setf(err, "%s: \"%.100s\"", why, value), -1;
        return 0;
    }
    default:
        return 0;
    }
    if (n < def->min)
        return str_setf(err, "value \"%.100s\" is below the minimum %lld", value, def->min), -1;
    return 0;
}

/* ---- checking a whole state --------------------------------------------- */

static void check_report(const struct cfg_state *st, const struct cfg_entry *e, const char *name,
                         const str_t *err)
{
    if (e->raw && e->line > 0)
        msg_error("%s, line %d: parameter %s: %s", st->source, e->line, name, str_c(err));
    else if (e->raw)
        msg_error("-o %s=%.100s: %s", name, e->raw, str_c(err));
    else
        msg_error("%s: parameter %s (default): %s", st->source, name, str_c(err));
}

/* Expand and type-check everything, caching the results; -1 if any fails. */
static int state_check(struct cfg_state *st)
{
    int rc = 0;
    str_t *err = str_new(64);
    for (size_t i = 0; i < param_table_count; i++) {
        struct cfg_entry *e = &st->known[i];
        const struct param_def *def = &param_table[i];
        str_reset(err);
        xfree(e->expanded);
        xfree(e->def);
        if (e->raw)
            e->expanded = state_expand(st, def->name, e->raw, err);
        else {
            struct expand_ctx x = {.st = st, .err = err};
            str_t *out = str_new_max(64, CFG_VALUE_MAX);
            x.stack[x.depth++] = def->name;
            expand_default(&x, def->def, out);
            e->expanded = str_steal(&out);
        }
        if (str_len(err) == 0)
            value_check(def, e->expanded, err);
        if (str_len(err) > 0) {
            check_report(st, e, def->name, err);
            rc = -1;
        }
    }
    for (size_t i = 0; i < st->nunknown; i++) {
        struct cfg_entry *e = &st->unknown[i];
        str_reset(err);
        xfree(e->expanded);
        e->expanded = state_expand(st, e->name, e->raw, err);
        if (str_len(err) > 0) {
            check_report(st, e, e->name, err);
            rc = -1;
        }
    }
    str_free(&err);
    return rc;
}

/* ---- parsing main.cf ---------------------------------------------------- */

void config_reader_init(struct config_reader *rd, const char *text, size_t len)
{
    rd->pos = text;
    rd->end = text + len;
    rd->lineno = 0;
}

enum line_kind { LINE_SKIP, LINE_CONT, LINE_START };

static enum line_kind line_classify(const char *p, const char *eol)
{
    const char *q = p;
    while (q < eol && isspace((unsigned char)*q))
        q++;
    if (q == eol || *q == '#')
        return LINE_SKIP;
    return q == p ? LINE_START : LINE_CONT;
}

/* Append [p, eol) with surrounding whitespace removed. */
static void line_append_trimmed(str_t *out, const char *p, const char *eol)
{
    while (p < eol && isspace((unsigned char)*p))
        p++;
    while (eol > p && isspace((unsigned char)eol[-1]))
        eol--;
    str_append(out, p, (size_t)(eol - p));
}

int config_read_line(struct config_reader *rd, str_t *out, int *line_r)
{
    bool have = false;
    str_reset(out);
    while (rd->pos < rd->end) {
        const char *nl = memchr(rd->pos, '\n', (size_t)(rd->end - rd->pos));
        const char *eol = nl ? nl : rd->end;
        enum line_kind kind = line_classify(rd->pos, eol);
        if (have && kind == LINE_START)
            break;
        rd->lineno++;
        const char *p = rd->pos;
        rd->pos = nl ? nl + 1 : rd->end;
        if (kind == LINE_SKIP)
            continue;
        if (!have && kind == LINE_CONT) {
            *line_r = rd->lineno;
            return -1;
        }
        if (have)
            str_appendc(out, ' ');
        else
            *line_r = rd->lineno;
        line_append_trimmed(out, p, eol);
        have = true;
    }
    return have ? 1 : 0;
}

/* Split "name = value"; returns NULL or a reason. Modifies line. */
static const char *parse_assignment(char *line, char **name_r, char **value_r)
{
    char *eq = strchr(line, '=');
    if (eq == NULL)
        return "missing '=' after parameter name";
    char *end = eq;
    while (end > line && isspace((unsigned char)end[-1]))
        end--;
    *end = '\0';
    char *value = eq + 1;
    while (isspace((unsigned char)*value))
        value++;
    if (*line == '\0')
        return "missing parameter name before '='";
    if (!name_valid(line))
        return "bad parameter name (use letters, digits and '_')";
    *name_r = line;
    *value_r = value;
    return NULL;
}

static int state_parse(struct cfg_state *st, const char *text, size_t len)
{
    struct config_reader rd;
    str_t *line = str_new(256);
    int rc = 0, lineno = 0, got;
    config_reader_init(&rd, text, len);
    while ((got = config_read_line(&rd, line, &lineno)) != 0) {
        if (got < 0) {
            msg_error("%s, line %d: continuation line without a parameter before it", st->source,
                      lineno);
            rc = -1;
            continue;
        }
        if (memchr(str_c(line), '\0', str_len(line)) != NULL) {
            msg_error("%s, line %d: NUL byte in line", st->source, lineno);
            rc = -1;
            continue;
        }
        char *name, *value;
        const char *why = parse_assignment(line->s, &name, &value);
        if (why) {
            str_t *shown = str_new(64);
            str_append_printable(shown, str_c(line), strlen(str_c(line)), 60);
            msg_error("%s, line %d: %s: \"%s\"", st->source, lineno, why, str_c(shown));
            str_free(&shown);
            rc = -1;
            continue;
        }
        if (param_find(name) == NULL && param_service_suffix(name) == NULL)
            msg_warn("%s, line %d: unknown parameter %s", st->source, lineno, name);
        state_set(st, name, value, lineno);
    }
    str_free(&line);
    return rc;
}

/* Replace the current state with st if it parses and checks. */
static int state_install(struct cfg_state *st, const char *text, size_t len)
{
    int rc = state_parse(st, text, len);
    if (state_check(st) < 0)
        rc = -1;
    if (rc < 0) {
        state_free(&st);
        return -1;
    }
    state_free(&cfg_cur);
    cfg_cur = st;
    return 0;
}

static struct cfg_state *cfg_get(void)
{
    if (cfg_cur == NULL) {
        struct cfg_state *st = state_new(NULL, "(defaults)");
        if (state_check(st) < 0)
            msg_panic("config: the built-in defaults do not check");
        cfg_cur = st;
    }
    return cfg_cur;
}

/* Read a whole file into a str; -1 with a logged error. */
static int file_slurp(const char *path, str_t *buf)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        msg_error("open %s: %s", path, strerror(errno));
        return -1;
    }
    char chunk[8192];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || str_append(buf, chunk, (size_t)n) < 0) {
            msg_error("read %s: %s", path, n < 0 ? strerror(errno) : "file too large");
            close(fd);
            return -1;
        }
    }
    close(fd);
    return 0;
}

int config_load(const char *dir)
{
    if (dir == NULL)
        dir = default_dir();
    char *path = xasprintf("%s/main.cf", dir);
    str_t *buf = str_new_max(8192, CFG_FILE_MAX);
    int rc = file_slurp(path, buf);
    if (rc == 0)
        rc = state_install(state_new(dir, path), str_c(buf), str_len(buf));
    str_free(&buf);
    free(path);
    return rc;
}

int config_load_string(const char *text, size_t len, const char *name)
{
    return state_install(state_new(NULL, name ? name : "(string)"), text, len);
}

int config_override(const char *name_value)
{
    struct cfg_state *st = cfg_get();
    char *copy = xstrdup(name_value), *name, *value;
    const char *why = parse_assignment(copy, &name, &value);
    if (why) {
        msg_error("-o %.100s: %s", name_value, why);
        free(copy);
        return -1;
    }
    size_t end = strlen(value);
    while (end > 0 && isspace((unsigned char)value[end - 1]))
        value[--end] = '\0';
    if (param_find(name) == NULL && param_service_suffix(name) == NULL)
        msg_warn("-o %s: unknown parameter %s", name_value, name);

    size_t idx = param_index(name);
    struct cfg_entry *e = idx != (size_t)-1 ? &st->known[idx] : state_unknown(st, name);
    char *old_raw = e && e->raw ? xstrdup(e->raw) : NULL;
    int old_line = e ? e->line : 0;
    state_set(st, name, value, 0);
    int rc = 0;
    if (state_check(st) < 0) {
        e = idx != (size_t)-1 ? &st->known[idx] : state_unknown(st, name);
        free(e->raw);
        e->raw = old_raw;
        e->line = old_line;
        old_raw = NULL;
        if (e->raw == NULL && idx == (size_t)-1) /* it was new: drop it again */
            entry_clear(&st->unknown[--st->nunknown]);
        state_check(st);
        rc = -1;
    }
    free(old_raw);
    free(copy);
    return rc;
}

const char *config_dir(void)
{
    const struct cfg_state *st = cfg_get();
    return st->dir ? st->dir : default_dir();
}

/* ---- typed access ------------------------------------------------------- */

static const struct cfg_entry *entry_typed(const char *name, const char *caller, enum param_type t1,
                                           enum param_type t2)
{
    size_t idx = param_index_or_panic(name, caller);
    if (param_table[idx].type != t1 && param_table[idx].type != t2)
        msg_panic("%s: parameter %s has another type", caller, name);
    return &cfg_get()->known[idx];
}

const char *cfg_str(const char *name)
{
    size_t idx = param_index_or_panic(name, "cfg_str");
    return cfg_get()->known[idx].expanded;
}

long long cfg_int(const char *name)
{
    const struct cfg_entry *e = entry_typed(name, "cfg_int", PARAM_INT, PARAM_SIZE);
    long long v = 0;
    parse_ll(e->expanded, &v);
    return v;
}

bool cfg_bool(const char *name)
{
    const struct cfg_entry *e = entry_typed(name, "cfg_bool", PARAM_BOOL, PARAM_BOOL);
    bool v = false;
    config_parse_bool(e->expanded, &v);
    return v;
}

long long cfg_time(const char *name)
{
    const struct cfg_entry *e = entry_typed(name, "cfg_time", PARAM_TIME, PARAM_TIME);
    long long v = 0;
    config_parse_time(e->expanded, param_find(name)->time_unit, &v);
    return v;
}

/* ---- lists -------------------------------------------------------------- */

static const char list_sep[] = ", \t\r\n";

static bool list_is_sep(char c)
{
    return c != '\0' && strchr(list_sep, c) != NULL;
}

/* Length of the element at p: up to a separator outside any "{...}". */
static size_t list_elem_len(const char *p)
{
    size_t i = 0;
    long depth = 0;
    for (; p[i] != '\0' && (depth > 0 || !list_is_sep(p[i])); i++) {
        if (p[i] == '{')
            depth++;
        else if (p[i] == '}' && depth > 0)
            depth--;
    }
    return i;
}

/* Whether the '{' at p[0] is closed by p[len - 1] (the group is the element). */
static bool list_whole_group(const char *p, size_t len)
{
    long depth = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '{')
            depth++;
        else if (p[i] == '}' && --depth == 0)
            return i == len - 1;
    }
    return false;
}

/* The element text: a bare "{ text }" loses its braces and inner white space. */
static char *list_elem_copy(const char *p, size_t len)
{
    if (len >= 2 && p[0] == '{' && list_whole_group(p, len)) {
        p++;
        len -= 2;
        while (len > 0 && isspace((unsigned char)*p))
            p++, len--;
        while (len > 0 && isspace((unsigned char)p[len - 1]))
            len--;
    }
    return xstrndup(p, len);
}

char **config_list_split(const char *text)
{
    size_t n = 0, cap = 4;
    char **list = xreallocarray(NULL, cap, sizeof(*list));
    const char *p = text;
    for (;;) {
        p += strspn(p, list_sep);
        if (*p == '\0')
            break;
        size_t len = list_elem_len(p);
        char *elem = list_elem_copy(p, len);
        p += len;
        if (*elem == '\0') { /* "{}" is no element */
            free(elem);
            continue;
        }
        if (n + 1 >= cap) {
            cap = size_mul(cap, 2);
            list = xreallocarray(list, cap, sizeof(*list));
        }
        list[n++] = elem;
    }
    list[n] = NULL;
    return list;
}

const char *config_list_check(const char *text)
{
    long depth = 0;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '{')
            depth++;
        else if (*p == '}' && --depth < 0)
            return "unexpected '}' in list (a '{' must come first)";
    }
    return depth > 0 ? "missing '}' in list" : NULL;
}

char **cfg_list(const char *name)
{
    return config_list_split(cfg_str(name));
}

void cfg_list_free(char ***listp)
{
    if (*listp == NULL)
        return;
    for (char **p = *listp; *p; p++)
        free(*p);
    xfree(*listp);
}

const char *cfg_raw(const char *name, bool *is_set_r)
{
    size_t idx = param_index_or_panic(name, "cfg_raw");
    const struct cfg_entry *e = &cfg_get()->known[idx];
    if (is_set_r)
        *is_set_r = e->raw != NULL;
    return e->raw ? e->raw : cfg_default(name);
}

const char *cfg_default(const char *name)
{
    size_t idx = param_index_or_panic(name, "cfg_default");
    struct cfg_state *st = cfg_get();
    struct cfg_entry *e = &st->known[idx];
    const char *def = param_table[idx].def;
    if (def[0] != '@')
        return def;
    if (e->def == NULL) {
        str_t *err = str_new(64);
        struct expand_ctx x = {.st = st, .err = err};
        str_t *out = str_new_max(64, CFG_VALUE_MAX);
        x.stack[x.depth++] = name;
        expand_default(&x, def, out);
        e->def = str_steal(&out);
        str_free(&err);
    }
    return e->def;
}

char *cfg_expand(const char *text)
{
    str_t *err = str_new(64);
    char *out = state_expand(cfg_get(), NULL, text, err);
    if (str_len(err) > 0)
        msg_warn("expanding \"%.100s\": %s", text, str_c(err));
    str_free(&err);
    return out;
}

char **config_unknown_names(void)
{
    const struct cfg_state *st = cfg_get();
    char **names = xreallocarray(NULL, st->nunknown + 1, sizeof(*names));
    for (size_t i = 0; i < st->nunknown; i++)
        names[i] = xstrdup(st->unknown[i].name);
    names[st->nunknown] = NULL;
    return names;
}

const char *config_unknown_value(const char *name)
{
    const struct cfg_entry *e = state_unknown(cfg_get(), name);
    return e ? e->raw : NULL;
}
