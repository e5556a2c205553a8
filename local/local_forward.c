/*
 * local_forward.c - addresses an expansion found outside our domains
 * are sent on as a new message through cleanup, with the original
 * envelope sender and a Delivered-To header for the recipient we were
 * delivering to (so a forwarding loop comes back to us and bounces).
 */
#include "local.h"

#include "cleanup_client.h"
#include "log.h"
#include "mem.h"

static int local_cleanup_write(void *ctx, const void *data, size_t len)
{
    return cleanup_write(ctx, data, len);
}

/* Delivered-To then the content (no Return-Path: cleanup's business). */
static int local_forward_content(struct local_rcpt_state *st, cleanup_t *h, char **error_r)
{
    str_t *hdr = str_new(128);
    str_appendf(hdr, "Delivered-To: %s\n", st->rcpt);
    cleanup_write(h, str_c(hdr), str_len(hdr));
    str_free(&hdr);
    char buf[65536];
    ssize_t n;
    qfile_content_rewind(st->msg->qf);
    while ((n = qfile_content_read(st->msg->qf, buf, sizeof(buf), error_r)) > 0)
        if (local_cleanup_write(h, buf, (size_t)n) < 0)
            break;
    return n < 0 ? -1 : 0;
}

void local_forward(struct local_rcpt_state *st)
{
    if (st->nfwd == 0)
        return;
    const struct deliver_request *req = st->msg->req;
    struct cleanup_rcpt *rcpts = xcalloc(st->nfwd, sizeof(*rcpts));
    for (size_t i = 0; i < st->nfwd; i++)
        rcpts[i].address = st->fwd[i];
    struct cleanup_envelope env = {
        .origin = "pickup",
        .sender = req->sender,
        .protocol = "LOCAL",
        .rcpts = rcpts,
        .rcpt_count = st->nfwd,
    };
    char *err = NULL;
    cleanup_t *h = cleanup_open(&env, &err);
    if (h == NULL) {
        local_note(st, DELIVER_TEMP, "4.3.0", "cannot forward: %s", err);
    } else if (local_forward_content(st, h, &err) < 0) {
        cleanup_abort(&h);
        local_note(st, DELIVER_TEMP, "4.3.0", "cannot forward: %s", err);
    } else {
        struct cleanup_result res;
        cleanup_finish(&h, &res);
        if (res.status == CLEANUP_STAT_OK) {
            local_note(st, DELIVER_OK, "2.0.0", "forwarded as %s", res.queue_id);
            msg_info("%s: <%s>: forwarded to %zu address(es) as %s", req->queue_id, st->rcpt,
                     st->nfwd, res.queue_id);
        } else {
            local_note(st, res.status == CLEANUP_STAT_PERM ? DELIVER_PERM : DELIVER_TEMP,
                       res.status == CLEANUP_STAT_PERM ? "5.3.0" : "4.3.0", "cannot forward: %s %s",
                       res.dsn, res.reason);
        }
    }
    free(err);
    free(rcpts);
}
