/*
 * addr_esmtp.c - ESMTP parameters of MAIL FROM / RCPT TO: the generic
 * keyword[=value] list (RFC 5321 4.1.2), xtext (RFC 3461 4), and the
 * value checks for SIZE, BODY, RET, ENVID, NOTIFY, ORCPT, SMTPUTF8 and
 * AUTH.  Input is untrusted and need not be NUL-terminated; every element
 * is bounded.
 */
#include "addr.h"
#include "mem.h"
#include "str.h"

#include <strings.h>

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_sep(unsigned char c, bool strict)
{
    return c == ' ' || (c == '\t' && !strict);
}

/* ---- the parameter list ----------------------------------------------- */

struct pscan {
    const unsigned char *s;
    size_t len;
    size_t pos;
    int flags;
};

/* esmtp-keyword; returns its length or -1. */
static int scan_keyword(struct pscan *ps, char **error_r)
{
    size_t start = ps->pos;
    if (ps->pos >= ps->len || !is_alnum(ps->s[ps->pos]))
        return error_set(error_r, "Bad parameter keyword");
    while (ps->pos < ps->len && (is_alnum(ps->s[ps->pos]) || ps->s[ps->pos] == '-'))
        ps->pos++;
    if (ps->pos - start > ADDR_PARAM_NAME_MAX)
        return error_set(error_r, "Parameter keyword too long");
    return (int)(ps->pos - start);
}

/* esmtp-value after '='; returns its length or -1. */
static int scan_value(struct pscan *ps, char **error_r)
{
    bool strict = (ps->flags & ADDR_F_STRICT) != 0;
    size_t start = ps->pos;
    while (ps->pos < ps->len && !is_sep(ps->s[ps->pos], strict)) {
        unsigned char c = ps->s[ps->pos];
        if (c >= 33 && c <= 126 && c != '=') {
            ps->pos++;
            continue;
        }
        size_t n = 0;
        if (c >= 0x80 && (ps->flags & ADDR_F_SMTPUTF8))
            n = addr_utf8_seq(ps->s + ps->pos, ps->len - ps->pos);
        if (n == 0)
            return error_set(error_r, "Bad character in parameter value");
        ps->pos += n;
    }
    if (ps->pos == start)
        return error_set(error_r, "Empty parameter value");
    if (ps->pos - start > ADDR_PARAM_VALUE_MAX)
        return error_set(error_r, "Parameter value too long");
    return (int)(ps->pos - start);
}

/* The separator after a parameter: end of input, or SP before the next. */
static int scan_separator(struct pscan *ps, char **error_r)
{
    bool strict = (ps->flags & ADDR_F_STRICT) != 0;
    if (ps->pos >= ps->len)
        return 0;
    if (!is_sep(ps->s[ps->pos], strict))
        return error_set(error_r, "Bad character after parameter");
    if (!strict) {
        while (ps->pos < ps->len && is_sep(ps->s[ps->pos], false))
            ps->pos++;
        return 0;
    }
    ps->pos++;
    if (ps->pos >= ps->len || ps->s[ps->pos] == ' ')
        return error_set(error_r, "Stray space in parameters");
    return 0;
}

const struct addr_param *addr_esmtp_param_find(const struct addr_params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcasecmp(p->v[i].name, name) == 0)
            return &p->v[i];
    return NULL;
}

/* Parse one keyword[=value] and add it to out. */
static int scan_param(struct pscan *ps, struct addr_params *out, char **error_r)
{
    size_t kstart = ps->pos;
    int klen = scan_keyword(ps, error_r);
    if (klen < 0)
        return -1;
    char *value = NULL;
    if (ps->pos < ps->len && ps->s[ps->pos] == '=') {
        size_t vstart = ++ps->pos;
        int vlen = scan_value(ps, error_r);
        if (vlen < 0)
            return -1;
        value = xstrndup((const char *)ps->s + vstart, (size_t)vlen);
    }
    char *name = xstrndup((const char *)ps->s + kstart, (size_t)klen);
    if (addr_esmtp_param_find(out, name) != NULL) {
        int rc = error_set(error_r, "Duplicate parameter %s", name);
        free(name);
        free(value);
        return rc;
    }
    out->v[out->n].name = name;
    out->v[out->n].value = value;
    out->n++;
    return scan_separator(ps, error_r);
}

int addr_esmtp_params_parse(const char *s, size_t len, int flags, struct addr_params *out,
                            char **error_r)
{
    struct pscan ps = {.s = (const unsigned char *)s, .len = s != NULL ? len : 0, .flags = flags};
    *out = (struct addr_params){0};
    if (error_r != NULL)
        *error_r = NULL;
    if (!(flags & ADDR_F_STRICT))
        while (ps.pos < ps.len && is_sep(ps.s[ps.pos], false))
            ps.pos++;
    out->v = xcalloc(ADDR_PARAMS_MAX, sizeof(*out->v));
    int rc = 0;
    while (rc == 0 && ps.pos < ps.len) {
        if (out->n == ADDR_PARAMS_MAX)
            rc = error_set(error_r, "Too many parameters");
        else
            rc = scan_param(&ps, out, error_r);
    }
    if (rc == 0)
        return 0;
    addr_esmtp_params_free(out);
    out->reply = 501;
    out->dsn = "5.5.4";
    return -1;
}

void addr_esmtp_params_free(struct addr_params *p)
{
    for (size_t i = 0; p->v != NULL && i < p->n; i++) {
        xfree(p->v[i].name);
        xfree(p->v[i].value);
    }
    xfree(p->v);
    p->n = 0;
}

/* ---- xtext ------------------------------------------------------------ */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * Decoded controls (CR, LF, NUL, ...) are refused: ENVID, ORCPT and AUTH
 * never need them and they would only serve to smuggle lines.
 */
int addr_xtext_decode(str_t *dst, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    str_t *tmp = str_new(len);
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        unsigned char c = u[i];
        if (c == '+') {
            int hi = i + 2 < len ? hexval(u[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(u[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                rc = -1;
            else {
                c = (unsigned char)(hi * 16 + lo);
                i += 2;
                rc = (c < 0x20 || c == 0x7f) ? -1 : str_appendc(tmp, (char)c);
            }
        } else if (c >= 33 && c <= 126 && c != '=')
            rc = str_appendc(tmp, (char)c);
        else
            rc = -1;
    }
    if (rc == 0 && !addr_utf8_valid(str_c(tmp), str_len(tmp)))
        rc = -1;
    if (rc == 0)
        rc = str_append(dst, str_c(tmp), str_len(tmp));
    str_free(&tmp);
    return rc;
}

void addr_xtext_encode(str_t *dst, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 33 && c <= 126 && c != '+' && c != '=') {
            str_appendc(dst, (char)c);
        } else {
            char enc[3] = {'+', hex[c >> 4], hex[c & 15]};
            str_append(dst, enc, 3);
        }
    }
}

/* ---- single parameter values ------------------------------------------ */

int addr_param_size(const char *value, uint64_t *size_r, char **error_r)
{
    uint64_t v = 0;
    size_t n = value != NULL ? strlen(value) : 0;
    if (n == 0 || n > 20)
        return error_set(error_r, "Bad message size syntax");
    for (size_t i = 0; i < n; i++) {
        if (value[i] < '0' || value[i] > '9')
            return error_set(error_r, "Bad message size syntax");
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(value[i] - '0'), &v))
            return error_set(error_r, "Message size out of range");
    }
    *size_r = v;
    return 0;
}

int addr_param_body(const char *value, enum addr_body *body_r, char **error_r)
{
    if (value == NULL)
        return error_set(error_r, "BODY needs a value");
    if (strcasecmp(value, "7BIT") == 0)
        *body_r = ADDR_BODY_7BIT;
    else if (strcasecmp(value, "8BITMIME") == 0)
        *body_r = ADDR_BODY_8BITMIME;
    else if (strcasecmp(value, "BINARYMIME") == 0)
        *body_r = ADDR_BODY_BINARYMIME;
    else
        return error_set(error_r, "Bad BODY value (7BIT, 8BITMIME or BINARYMIME)");
    return 0;
}

int addr_param_ret(const char *value, enum addr_ret *ret_r, char **error_r)
{
    if (value != NULL && strcasecmp(value, "FULL") == 0)
        *ret_r = ADDR_RET_FULL;
    else if (value != NULL && strcasecmp(value, "HDRS") == 0)
        *ret_r = ADDR_RET_HDRS;
    else
        return error_set(error_r, "Bad RET value (FULL or HDRS)");
    return 0;
}

static unsigned notify_word(const char *w, size_t n)
{
    static const struct {
        const char *name;
        unsigned bit;
    } words[] = {{"NEVER", ADDR_NOTIFY_NEVER},
                 {"SUCCESS", ADDR_NOTIFY_SUCCESS},
                 {"FAILURE", ADDR_NOTIFY_FAILURE},
                 {"DELAY", ADDR_NOTIFY_DELAY}};
    for (size_t i = 0; i < N_ELEMENTS(words); i++)
        if (strlen(words[i].name) == n && strncasecmp(w, words[i].name, n) == 0)
            return words[i].bit;
    return 0;
}

int addr_param_notify(const char *value, unsigned *notify_r, char **error_r)
{
    unsigned all = 0;
    if (value == NULL || *value == '\0')
        return error_set(error_r, "NOTIFY needs a value");
    for (const char *p = value;;) {
        size_t n = strcspn(p, ",");
        unsigned bit = notify_word(p, n);
        if (bit == 0)
            return error_set(error_r, "Bad NOTIFY value (NEVER or SUCCESS,FAILURE,DELAY)");
        if (all & bit)
            return error_set(error_r, "Duplicate NOTIFY keyword");
        all |= bit;
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    if ((all & ADDR_NOTIFY_NEVER) && all != ADDR_NOTIFY_NEVER)
        return error_set(error_r, "NOTIFY=NEVER cannot be combined");
    *notify_r = all;
    return 0;
}

/* Decode an xtext value into a new string. */
static int xtext_dup(const char *value, size_t n, char **out_r)
{
    str_t *d = str_new(n);
    if (addr_xtext_decode(d, value, n) < 0) {
        str_free(&d);
        return -1;
    }
    *out_r = str_steal(&d);
    return 0;
}

int addr_param_envid(const char *value, char **envid_r, char **error_r)
{
    size_t n = value != NULL ? strlen(value) : 0;
    if (n == 0)
        return error_set(error_r, "ENVID needs a value");
    if (n > ADDR_ENVID_MAX)
        return error_set(error_r, "ENVID longer than %d characters", ADDR_ENVID_MAX);
    if (xtext_dup(value, n, envid_r) < 0)
        return error_set(error_r, "Bad ENVID xtext");
    return 0;
}

static bool is_atom(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum((unsigned char)s[i]) && strchr("!#$%&'*+-/=?^_`{|}~", s[i]) == NULL)
            return false;
    return true;
}

int addr_param_orcpt(const char *value, char **type_r, char **addr_r, char **error_r)
{
    size_t n = value != NULL ? strlen(value) : 0;
    if (n == 0)
        return error_set(error_r, "ORCPT needs a value");
    if (n > ADDR_ORCPT_MAX)
        return error_set(error_r, "ORCPT longer than %d characters", ADDR_ORCPT_MAX);
    const char *semi = strchr(value, ';');
    if (semi == NULL || !is_atom(value, (size_t)(semi - value)) || semi[1] == '\0')
        return error_set(error_r, "Bad ORCPT syntax (addr-type;xtext)");
    char *addr;
    if (xtext_dup(semi + 1, strlen(semi + 1), &addr) < 0)
        return error_set(error_r, "Bad ORCPT xtext");
    *type_r = xstrndup(value, (size_t)(semi - value));
    *addr_r = addr;
    return 0;
}

int addr_param_auth(const char *value, char **mailbox_r, char **error_r)
{
    size_t n = value != NULL ? strlen(value) : 0;
    if (n == 0)
        return error_set(error_r, "AUTH needs a value");
    if (strcmp(value, "<>") == 0) {
        *mailbox_r = xstrdup("<>");
        return 0;
    }
    if (n > ADDR_PATH_MAX * 3 || xtext_dup(value, n, mailbox_r) < 0)
        return error_set(error_r, "Bad AUTH xtext");
    return 0;
}

/* ---- whole MAIL / RCPT parameter sets --------------------------------- */

/* Decode one MAIL parameter into out; 1 = not a MAIL parameter here. */
static int mail_one(const struct addr_param *p, unsigned ext, struct addr_mail_opts *o,
                    char **error_r)
{
    const char *n = p->name, *v = p->value;
    if (strcasecmp(n, "SIZE") == 0 && (ext & ADDR_EXT_SIZE)) {
        o->size_set = true;
        return addr_param_size(v, &o->size, error_r);
    }
    if (strcasecmp(n, "BODY") == 0 && (ext & (ADDR_EXT_8BITMIME | ADDR_EXT_BINARYMIME))) {
        if (addr_param_body(v, &o->body, error_r) < 0)
            return -1;
        if ((o->body == ADDR_BODY_8BITMIME && !(ext & ADDR_EXT_8BITMIME)) ||
            (o->body == ADDR_BODY_BINARYMIME && !(ext & ADDR_EXT_BINARYMIME)))
            return 1;
        return 0;
    }
    if (strcasecmp(n, "RET") == 0 && (ext & ADDR_EXT_DSN))
        return addr_param_ret(v, &o->ret, error_r);
    if (strcasecmp(n, "ENVID") == 0 && (ext & ADDR_EXT_DSN))
        return addr_param_envid(v, &o->envid, error_r);
    if (strcasecmp(n, "AUTH") == 0 && (ext & ADDR_EXT_AUTH))
        return addr_param_auth(v, &o->auth, error_r);
    if (strcasecmp(n, "SMTPUTF8") == 0 && (ext & ADDR_EXT_SMTPUTF8)) {
        o->smtputf8 = true;
        return v == NULL ? 0 : error_set(error_r, "SMTPUTF8 takes no value");
    }
    return 1;
}

static int rcpt_one(const struct addr_param *p, unsigned ext, struct addr_rcpt_opts *o,
                    char **error_r)
{
    if (!(ext & ADDR_EXT_DSN))
        return 1;
    if (strcasecmp(p->name, "NOTIFY") == 0)
        return addr_param_notify(p->value, &o->notify, error_r);
    if (strcasecmp(p->name, "ORCPT") == 0)
        return addr_param_orcpt(p->value, &o->orcpt_type, &o->orcpt, error_r);
    return 1;
}

/* Turn the result of one parameter into the reply code and reason. */
static int opts_result(int rc, const char *name, int *reply, const char **dsn, char **error_r)
{
    if (rc == 0)
        return 0;
    *dsn = "5.5.4";
    if (rc > 0) {
        *reply = 555;
        return error_set(error_r, "Unsupported option: %s", name);
    }
    *reply = 501;
    return -1;
}

int addr_mail_opts_get(const struct addr_params *p, unsigned ext, struct addr_mail_opts *out,
                       char **error_r)
{
    *out = (struct addr_mail_opts){0};
    if (error_r != NULL)
        *error_r = NULL;
    for (size_t i = 0; i < p->n; i++) {
        int reply = 0;
        const char *dsn = NULL;
        int rc = mail_one(&p->v[i], ext, out, error_r);
        if (opts_result(rc, p->v[i].name, &reply, &dsn, error_r) < 0) {
            addr_mail_opts_free(out);
            out->reply = reply;
            out->dsn = dsn;
            return -1;
        }
    }
    return 0;
}

void addr_mail_opts_free(struct addr_mail_opts *o)
{
    xfree(o->envid);
    xfree(o->auth);
    *o = (struct addr_mail_opts){0};
}

int addr_rcpt_opts_get(const struct addr_params *p, unsigned ext, struct addr_rcpt_opts *out,
                       char **error_r)
{
    *out = (struct addr_rcpt_opts){0};
    if (error_r != NULL)
        *error_r = NULL;
    for (size_t i = 0; i < p->n; i++) {
        int reply = 0;
        const char *dsn = NULL;
        int rc = rcpt_one(&p->v[i], ext, out, error_r);
        if (opts_result(rc, p->v[i].name, &reply, &dsn, error_r) < 0) {
            addr_rcpt_opts_free(out);
            out->reply = reply;
            out->dsn = dsn;
            return -1;
        }
    }
    return 0;
}

void addr_rcpt_opts_free(struct addr_rcpt_opts *o)
{
    xfree(o->orcpt_type);
    xfree(o->orcpt);
    *o = (struct addr_rcpt_opts){0};
}

/* ---- whole commands ----------------------------------------------------- */

static int cmd_fail(int reply, const char *dsn, int *reply_r, const char **dsn_r)
{
    *reply_r = reply;
    *dsn_r = dsn;
    return -1;
}

/* Path then parameter list; on success both are the caller's to free. */
static int cmd_path_params(const char *arg, size_t len, int flags, struct addr_path *path,
                           struct addr_params *ps, int *reply_r, const char **dsn_r, char **error_r)
{
    if (addr_parse_path(arg, len, flags, path, error_r) < 0)
        return cmd_fail(path->reply, path->dsn, reply_r, dsn_r);
    if (addr_esmtp_params_parse(path->params, path->params_len, flags, ps, error_r) < 0) {
        addr_path_free(path);
        return cmd_fail(ps->reply, ps->dsn, reply_r, dsn_r);
    }
    return 0;
}

int addr_mail_parse(const char *arg, size_t len, int flags, unsigned ext, struct addr_path *path,
                    struct addr_mail_opts *opts, int *reply_r, const char **dsn_r, char **error_r)
{
    struct addr_params ps;
    *opts = (struct addr_mail_opts){0};
    flags = (flags & ~ADDR_F_SMTPUTF8) | ADDR_F_MAIL;
    if (ext & ADDR_EXT_SMTPUTF8)
        flags |= ADDR_F_SMTPUTF8;
    if (cmd_path_params(arg, len, flags, path, &ps, reply_r, dsn_r, error_r) < 0)
        return -1;
    int rc = addr_mail_opts_get(&ps, ext, opts, error_r);
    addr_esmtp_params_free(&ps);
    if (rc < 0) {
        addr_path_free(path);
        return cmd_fail(opts->reply, opts->dsn, reply_r, dsn_r);
    }
    if (path->utf8 && !opts->smtputf8) {
        addr_path_free(path);
        addr_mail_opts_free(opts);
        error_set(error_r, "Must declare SMTPUTF8 to send unicode address");
        return cmd_fail(553, "5.6.7", reply_r, dsn_r);
    }
    return 0;
}

int addr_rcpt_parse(const char *arg, size_t len, int flags, unsigned ext, struct addr_path *path,
                    struct addr_rcpt_opts *opts, int *reply_r, const char **dsn_r, char **error_r)
{
    struct addr_params ps;
    *opts = (struct addr_rcpt_opts){0};
    flags &= ~ADDR_F_MAIL;
    if (cmd_path_params(arg, len, flags, path, &ps, reply_r, dsn_r, error_r) < 0)
        return -1;
    int rc = addr_rcpt_opts_get(&ps, ext, opts, error_r);
    addr_esmtp_params_free(&ps);
    if (rc < 0) {
        addr_path_free(path);
        return cmd_fail(opts->reply, opts->dsn, reply_r, dsn_r);
    }
    return 0;
}
