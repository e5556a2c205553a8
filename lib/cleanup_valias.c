/*
 * cleanup_valias.c - virtual_alias_maps rewriting of the envelope
 * recipients (virtual(5)), done once the recipients are complete (those
 * from the envelope and, with sendmail -t, from the header) and before the
 * queue file is written.  Each rewritten recipient keeps the address it
 * replaced as its "original" (queue file, DSN, logs); its ORCPT and
 * NOTIFY carry over.  A table error or a runaway expansion (loop) is a
 * temporary failure: the client is told to try again later, and nothing
 * is queued.
 */
#include "sys.h"
#include "cleanup_state.h"

#include "cleanup_proto.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "valias.h"

/* Add one expanded recipient (taking addr); -1 over cleanup_recipient_limit. */
static int valias_add(struct cleanup_state *st, char *addr, const struct cleanup_rcpt_entry *from)
{
    for (size_t i = 0; i < st->nrcpt; i++) {
        if (strcmp(st->rcpts[i].addr, addr) == 0) { /* duplicate: keep the first */
            free(addr);
            return 0;
        }
    }
    if (st->nrcpt >= st->cf->rcpt_limit) {
        free(addr);
        return -1;
    }
    if (st->nrcpt == st->rcpt_cap) {
        st->rcpt_cap = st->rcpt_cap ? size_mul(st->rcpt_cap, 2) : 8;
        st->rcpts = xreallocarray(st->rcpts, st->rcpt_cap, sizeof(*st->rcpts));
    }
    const char *orig = from->original ? from->original : from->addr;
    bool same = strcmp(addr, from->addr) == 0;
    st->rcpts[st->nrcpt++] = (struct cleanup_rcpt_entry){
        .addr = addr,
        .orcpt = from->orcpt ? xstrdup(from->orcpt) : NULL,
        .original = same && from->original == NULL ? NULL : xstrdup(orig),
        .notify = from->notify,
    };
    return 0;
}

static void valias_entry_clear(struct cleanup_rcpt_entry *e)
{
    xfree(e->addr);
    xfree(e->orcpt);
    xfree(e->original);
}

/* Note a failed expansion: logged once here, the client gets a 4xx. */
static void valias_fail(struct cleanup_state *st, enum valias_status vs, const char *addr,
                        const char *err)
{
    str_t *shown = str_new(64);
    str_append_printable(shown, addr, strlen(addr), 300);
    msg_warn("%s: to=<%s>: %s -- message not accepted, try again later", cleanup_log_id(st),
             str_c(shown), err);
    str_free(&shown);
    if (vs == VALIAS_LIMIT)
        cleanup_fail(st, CLEANUP_STAT_TEMP, "4.3.5",
                     "virtual alias expansion loop or limit; server configuration error");
    else
        cleanup_fail(st, CLEANUP_STAT_TEMP, "4.3.0", "virtual alias table lookup failed");
    st->logged = true;
}

/* Expand one old recipient into st->rcpts; 0 or -1 (noted). */
static int valias_one(struct cleanup_state *st, const struct cleanup_rcpt_entry *e)
{
    char **list = NULL, *err = NULL;
    enum valias_status vs = valias_expand(e->addr, &list, &err);
    int rc = 0;
    if (vs != VALIAS_OK) {
        valias_fail(st, vs, e->addr, err);
        rc = -1;
    }
    for (char **p = list; rc == 0 && p != NULL && *p != NULL; p++) {
        if (valias_add(st, xstrdup(*p), e) < 0) {
            cleanup_fail(st, CLEANUP_STAT_PERM, "5.5.3",
                         "too many recipients after virtual alias expansion");
            rc = -1;
        }
    }
    cfg_list_free(&list);
    free(err);
    return rc;
}

int cleanup_valias(struct cleanup_state *st)
{
    if (!st->cf->valias)
        return 0;
    struct cleanup_rcpt_entry *old = st->rcpts;
    size_t nold = st->nrcpt;
    st->rcpts = NULL;
    st->nrcpt = st->rcpt_cap = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nold; i++)
        rc = valias_one(st, &old[i]);
    for (size_t i = 0; i < nold; i++)
        valias_entry_clear(&old[i]);
    free(old);
    return rc;
}
