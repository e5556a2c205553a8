/*
 * local.c - the local delivery agent: reads delivery requests from qmgr
 * (lib/deliver.h) on private/local, delivers each recipient (aliases,
 * .forward, system users' and virtual Maildirs, files, commands, forwards)
 * and answers one result per recipient.
 *
 * master.cf: "local unix - n n - - local" (unpriv n): as root it stays
 * root so that each delivery can run as its owner in a child process;
 * a non-root instance delivers everything as the invoking user.
 */
#include "local.h"

#include "config.h"
#include "log.h"
#include "mem.h"
#include "server.h"

#include <strings.h>

static void local_msg_free(struct local_msg *m)
{
    for (size_t i = 0; i < m->ndelivered_to; i++)
        free(m->delivered_to[i]);
    xfree(m->delivered_to);
    qfile_close(&m->qf);
}

/* Deliver one recipient of the request and fill in its result. */
static void local_recipient(struct local_msg *m, struct deliver_rcpt *r)
{
    struct local_rcpt_state st = {.msg = m, .rcpt = r->rcpt, .status = -1, .reason = str_new(128)};
    if (local_has_delivered_to(m, r->rcpt)) {
        local_note(&st, DELIVER_PERM, "5.4.6", "mail forwarding loop for %s", r->rcpt);
    } else {
        struct local_id top = {.uid = getuid(), .gid = getgid()};
        local_expand_addr(&st, r->rcpt, &top, 0, true);
        local_forward(&st);
    }
    if (st.status < 0) /* everything was a duplicate of what we did */
        local_note(&st, DELIVER_OK, "2.0.0", "delivered");
    deliver_rcpt_result(r, st.status, st.dsn, "%s", str_c(st.reason));
    if (st.status != DELIVER_OK)
        msg_info("%s: <%s>: status=%d %s %s", m->req->queue_id, r->rcpt, st.status, st.dsn,
                 str_c(st.reason));
    local_state_free(&st);
}

/* Every recipient gets the same temporary failure. */
static void local_fail_all(struct deliver_request *req, const char *fmt, const char *why)
{
    for (size_t i = 0; i < req->nrcpts; i++)
        deliver_rcpt_result(&req->rcpts[i], DELIVER_TEMP, "4.3.0", fmt, why);
}

static void local_request(struct deliver_request *req)
{
    struct local_msg m = {.req = req};
    char *path = xasprintf("%s/%s", cfg_str("queue_directory"), req->queue_file);
    char *err = NULL;
    if (qfile_open(path, 0, &m.qf, &err) != 0) {
        msg_warn("%s: %s", req->queue_id, err);
        local_fail_all(req, "cannot open queue file: %s", err);
    } else if (local_read_delivered_to(&m, &err) < 0) {
        msg_warn("%s: %s", req->queue_id, err);
        local_fail_all(req, "cannot read queue file: %s", err);
    } else {
        for (size_t i = 0; i < req->nrcpts; i++)
            local_recipient(&m, &req->rcpts[i]);
    }
    free(err);
    free(path);
    local_msg_free(&m);
}

static void local_service(stream_t *client, const char *service_name, void *ctx)
{
    (void)service_name;
    (void)ctx;
    deliver_serve(client, local_request);
}

int main(int argc, char **argv)
{
    static const struct server_settings s = {
        .name = "local",
        .mode = SERVER_SINGLE,
        .service = local_service,
    };
    return server_main(argc, argv, &s);
}
