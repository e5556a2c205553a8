/*
 * local_state.c - one recipient's result while its expansion runs: the
 * worst outcome wins (defer over bounce over delivered), so a recipient
 * is reported delivered only when every destination it expanded to was.
 */
#include "local.h"

#include "log.h"
#include "mem.h"

#include <strings.h>

static int local_rank(int status)
{
    switch (status) {
    case DELIVER_TEMP:
        return 3;
    case DELIVER_PERM:
        return 2;
    case DELIVER_OK:
        return 1;
    default:
        return 0;
    }
}

static void local_note_text(struct local_rcpt_state *st, int status, const char *dsn,
                            const char *text)
{
    if (local_rank(status) <= local_rank(st->status))
        return;
    st->status = status;
    str_lcpy(st->dsn, dsn, sizeof(st->dsn));
    str_setz(st->reason, text);
}

void local_note(struct local_rcpt_state *st, int status, const char *dsn, const char *fmt, ...)
{
    str_t *s = str_new(128);
    va_list ap;
    va_start(ap, fmt);
    str_vappendf(s, fmt, ap);
    va_end(ap);
    local_note_text(st, status, dsn, str_c(s));
    str_free(&s);
}

void local_note_outcome(struct local_rcpt_state *st, const struct local_outcome *o)
{
    local_note_text(st, o->status, o->dsn, o->text);
}

void local_outcome_set(struct local_outcome *o, int status, const char *dsn, const char *fmt, ...)
{
    va_list ap;
    o->status = status;
    str_lcpy(o->dsn, dsn, sizeof(o->dsn));
    va_start(ap, fmt);
    vsnprintf(o->text, sizeof(o->text), fmt, ap);
    va_end(ap);
}

static bool local_list_has(char *const *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(v[i], key) == 0)
            return true;
    return false;
}

bool local_seen_add(struct local_rcpt_state *st, const char *key)
{
    if (local_list_has(st->seen, st->nseen, key))
        return false;
    st->seen = xreallocarray(st->seen, st->nseen + 1, sizeof(*st->seen));
    st->seen[st->nseen++] = xstrdup(key);
    return true;
}

bool local_chain_has(const struct local_rcpt_state *st, const char *key)
{
    return local_list_has(st->chain, st->nchain, key);
}

void local_chain_push(struct local_rcpt_state *st, const char *key)
{
    st->chain = xreallocarray(st->chain, st->nchain + 1, sizeof(*st->chain));
    st->chain[st->nchain++] = xstrdup(key);
}

void local_chain_pop(struct local_rcpt_state *st)
{
    if (st->nchain == 0)
        msg_panic("local_chain_pop: empty chain");
    st->nchain--;
    xfree(st->chain[st->nchain]);
}

static void local_strv_free(char ***vp, size_t *np)
{
    for (size_t i = 0; i < *np; i++)
        free((*vp)[i]);
    xfree(*vp);
    *np = 0;
}

void local_state_free(struct local_rcpt_state *st)
{
    local_strv_free(&st->seen, &st->nseen);
    local_strv_free(&st->chain, &st->nchain);
    local_strv_free(&st->fwd, &st->nfwd);
    str_free(&st->reason);
}
