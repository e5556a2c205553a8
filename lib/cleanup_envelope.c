/*
 * cleanup_envelope.c - the envelope and recipient records of the cleanup
 * protocol (cleanup_proto.h), checked strictly and bounded.
 */
#include "sys.h"
#include "cleanup.h"

#include "attr.h"
#include "cleanup_proto.h"
#include "log.h"
#include "mem.h"

#define ENV_MAX_VALUE 4096 /* longest envelope attribute value */

static const struct attr_limits env_limits = {
    .max_name = 64,
    .max_value = ENV_MAX_VALUE,
    .max_attrs = 64,
};

char *cleanup_qualify(const struct cleanup_state *st, const char *addr, size_t len)
{
    if (!st->cf->append_at_myorigin || len == 0 || memchr(addr, '@', len) != NULL)
        return xstrndup(addr, len);
    return xasprintf("%.*s@%s", (int)len, addr, st->cf->myorigin);
}

/* Whether an address is safe to store and log: no controls, no NUL. */
static bool addr_ok(const char *a, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)a[i] < 0x20 || a[i] == 0x7f)
            return false;
    return true;
}

int cleanup_add_rcpt(struct cleanup_state *st, const char *addr, size_t len, const char *orcpt,
                     unsigned notify)
{
    char *q = cleanup_qualify(st, addr, len);
    for (size_t i = 0; i < st->nrcpt; i++) {
        if (strcmp(st->rcpts[i].addr, q) == 0) { /* duplicate: keep one */
            free(q);
            return 0;
        }
    }
    if (st->nrcpt >= st->cf->rcpt_limit) {
        free(q);
        return -1;
    }
    if (st->nrcpt == st->rcpt_cap) {
        st->rcpt_cap = st->rcpt_cap ? size_mul(st->rcpt_cap, 2) : 8;
        st->rcpts = xreallocarray(st->rcpts, st->rcpt_cap, sizeof(*st->rcpts));
    }
    st->rcpts[st->nrcpt++] = (struct cleanup_rcpt_entry){
        .addr = q, .orcpt = orcpt ? xstrdup(orcpt) : NULL, .notify = notify};
    return 0;
}

/* DSN NOTIFY text to bits; -1 when malformed. */
static int parse_notify(const char *text, unsigned *bits_r)
{
    *bits_r = 0;
    if (strcasecmp(text, "NEVER") == 0) {
        *bits_r = QFILE_NOTIFY_NEVER;
        return 0;
    }
    char *copy = xstrdup(text), *save = NULL;
    int rc = 0;
    for (char *w = strtok_r(copy, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
        if (strcasecmp(w, "SUCCESS") == 0)
            *bits_r |= QFILE_NOTIFY_SUCCESS;
        else if (strcasecmp(w, "FAILURE") == 0)
            *bits_r |= QFILE_NOTIFY_FAILURE;
        else if (strcasecmp(w, "DELAY") == 0)
            *bits_r |= QFILE_NOTIFY_DELAY;
        else
            rc = -1;
    }
    free(copy);
    return *bits_r == 0 ? -1 : rc;
}

/* An optional string attribute, copied (NULL when absent or empty). */
static int opt_copy(struct attr_list *l, const char *name, char **out)
{
    const char *v;
    if (attr_get_str_opt(l, name, "", &v) < 0)
        return -1;
    *out = v[0] != '\0' ? xstrdup(v) : NULL;
    return 0;
}

static int opt_bool(struct attr_list *l, const char *name, bool *out)
{
    long long v = 0;
    if (attr_find(l, name) != NULL && attr_get_int_range(l, name, 0, 1, &v) < 0)
        return -1;
    *out = v != 0;
    return 0;
}

static int read_rcpt(struct cleanup_state *st, stream_t *client, struct attr_list *l)
{
    const char *err, *addr, *orcpt, *notify;
    unsigned bits = 0;
    if (attr_read(client, l, &env_limits, &err) < 0) {
        msg_warn("recipient record: %s", err);
        return -1;
    }
    if (attr_get_str(l, "rcpt", &addr) < 0 || attr_get_str_opt(l, "orcpt", NULL, &orcpt) < 0 ||
        attr_get_str_opt(l, "notify", NULL, &notify) < 0) {
        msg_warn("recipient record: %s", attr_error(l));
        return -1;
    }
    if (addr[0] == '\0' || !addr_ok(addr, strlen(addr)) ||
        (orcpt != NULL && !addr_ok(orcpt, strlen(orcpt))) ||
        (notify != NULL && parse_notify(notify, &bits) < 0)) {
        msg_warn("recipient record: malformed rcpt, orcpt or notify");
        return -1;
    }
    if (cleanup_add_rcpt(st, addr, strlen(addr), orcpt, bits) < 0) {
        msg_warn("recipient record: more than %zu recipients", st->cf->rcpt_limit);
        return -1;
    }
    return 0;
}

static int parse_envelope(struct cleanup_state *st, struct attr_list *l, long long *nrcpt_r)
{
    const char *req, *origin, *sender;
    if (attr_get_str(l, "request", &req) < 0 || attr_get_str(l, "origin", &origin) < 0 ||
        attr_get_str(l, "sender", &sender) < 0 ||
        attr_get_int_range(l, "rcpt_count", 0, (long long)st->cf->rcpt_limit, nrcpt_r) < 0 ||
        opt_copy(l, "client_name", &st->client_name) < 0 ||
        opt_copy(l, "client_addr", &st->client_addr) < 0 ||
        opt_copy(l, "client_port", &st->client_port) < 0 ||
        opt_copy(l, "helo_name", &st->helo) < 0 || opt_copy(l, "protocol", &st->protocol) < 0 ||
        opt_copy(l, "sasl_method", &st->sasl_method) < 0 ||
        opt_copy(l, "sasl_username", &st->sasl_username) < 0 ||
        opt_copy(l, "tls_info", &st->tls_info) < 0 || opt_copy(l, "envid", &st->envid) < 0 ||
        opt_copy(l, "ret", &st->ret) < 0 || opt_copy(l, "submit_uid", &st->submit_uid) < 0 ||
        opt_bool(l, "local_submission", &st->local_submission) < 0 ||
        opt_bool(l, "extract_recipients", &st->extract) < 0 ||
        opt_bool(l, "smtputf8", &st->smtputf8) < 0) {
        msg_warn("envelope record: %s", attr_error(l));
        return -1;
    }
    if (strcmp(req, "submit") != 0 ||
        (strcmp(origin, "smtpd") != 0 && strcmp(origin, "pickup") != 0 &&
         strcmp(origin, "bounce") != 0)) {
        msg_warn("envelope record: bad request or origin");
        return -1;
    }
    if (!addr_ok(sender, strlen(sender))) {
        msg_warn("envelope record: malformed sender");
        return -1;
    }
    if (st->ret != NULL && strcasecmp(st->ret, "FULL") != 0 && strcasecmp(st->ret, "HDRS") != 0) {
        msg_warn("envelope record: bad ret");
        return -1;
    }
    st->origin = xstrdup(origin);
    st->sender = cleanup_qualify(st, sender, strlen(sender));
    return 0;
}

int cleanup_read_envelope(struct cleanup_state *st, stream_t *client)
{
    struct attr_list *l = attr_list_new();
    const char *err;
    long long nrcpt = 0;
    int rc = attr_read(client, l, &env_limits, &err);
    if (rc == ATTR_EOF) {
        attr_list_free(&l);
        return -1;
    }
    if (rc < 0) {
        msg_warn("envelope record: %s", err);
    } else if (parse_envelope(st, l, &nrcpt) == 0) {
        for (long long i = 0; i < nrcpt && rc == 0; i++)
            rc = read_rcpt(st, client, l);
    } else {
        rc = -1;
    }
    attr_list_free(&l);
    return rc;
}
