/*
 * cleanup_envelope.c - a client's envelope and recipients (struct
 * cleanup_envelope, from the cleanup protocol or from a caller in the
 * same process), checked strictly and taken over into the message state.
 */
#include "sys.h"
#include "cleanup_state.h"

#include "cleanup_proto.h"
#include "log.h"
#include "mem.h"

#include <strings.h>

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

/* A copy of an optional string; NULL when absent or empty. */
static char *opt_copy(const char *v)
{
    return v != NULL && v[0] != '\0' ? xstrdup(v) : NULL;
}

static int take_rcpt(struct cleanup_state *st, const struct cleanup_rcpt *r, char **error_r)
{
    const char *addr = r->address;
    unsigned bits = 0;
    if (addr == NULL || addr[0] == '\0' || !addr_ok(addr, strlen(addr)) ||
        (r->orcpt != NULL && !addr_ok(r->orcpt, strlen(r->orcpt))) ||
        (r->notify != NULL && parse_notify(r->notify, &bits) < 0)) {
        *error_r = xstrdup("recipient record: malformed rcpt, orcpt or notify");
        return -1;
    }
    if (cleanup_add_rcpt(st, addr, strlen(addr), r->orcpt, bits) < 0) {
        *error_r = xasprintf("recipient record: more than %zu recipients", st->cf->rcpt_limit);
        return -1;
    }
    return 0;
}

int cleanup_set_envelope(struct cleanup_state *st, const struct cleanup_envelope *env,
                         char **error_r)
{
    const char *origin = env->origin != NULL ? env->origin : "";
    const char *sender = env->sender != NULL ? env->sender : "";
    if (strcmp(origin, "smtpd") != 0 && strcmp(origin, "pickup") != 0 &&
        strcmp(origin, "bounce") != 0) {
        *error_r = xstrdup("envelope record: bad request or origin");
        return -1;
    }
    if (!addr_ok(sender, strlen(sender))) {
        *error_r = xstrdup("envelope record: malformed sender");
        return -1;
    }
    if (env->ret != NULL && env->ret[0] != '\0' && strcasecmp(env->ret, "FULL") != 0 &&
        strcasecmp(env->ret, "HDRS") != 0) {
        *error_r = xstrdup("envelope record: bad ret");
        return -1;
    }
    if (env->rcpt_count > st->cf->rcpt_limit) {
        *error_r = xasprintf("envelope record: more than %zu recipients", st->cf->rcpt_limit);
        return -1;
    }
    st->client_name = opt_copy(env->client_name);
    st->client_addr = opt_copy(env->client_addr);
    st->client_port = opt_copy(env->client_port);
    st->helo = opt_copy(env->helo_name);
    st->protocol = opt_copy(env->protocol);
    st->sasl_method = opt_copy(env->sasl_method);
    st->sasl_username = opt_copy(env->sasl_username);
    st->tls_info = opt_copy(env->tls_info);
    st->envid = opt_copy(env->envid);
    st->ret = opt_copy(env->ret);
    st->submit_uid = opt_copy(env->submit_uid);
    st->local_submission = env->local_submission;
    st->extract = env->extract_recipients;
    st->smtputf8 = env->smtputf8;
    st->origin = xstrdup(origin);
    st->sender = cleanup_qualify(st, sender, strlen(sender));
    for (size_t i = 0; i < env->rcpt_count; i++)
        if (take_rcpt(st, &env->rcpts[i], error_r) < 0)
            return -1;
    return 0;
}
