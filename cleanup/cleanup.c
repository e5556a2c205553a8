/*
 * cleanup.c - the cleanup daemon: one message per connection on
 * private/cleanup (protocol in cleanup_proto.h), handed to the cleanup
 * engine (cleanup_engine.h).  It reads the envelope and recipient
 * records, streams the content chunks into the engine and only after the
 * commit answers status=0; a client that goes away before "chunk=0"
 * leaves nothing behind.  smtpd and pickup run the same engine in their
 * own process when inline_cleanup is set; qmgr's bounces always come here.
 */
#include "sys.h"

#include "attr.h"
#include "cleanup_engine.h"
#include "cleanup_proto.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "server.h"

#define ENV_MAX_VALUE 4096 /* longest envelope attribute value */

static const struct attr_limits env_limits = {
    .max_name = 64,
    .max_value = ENV_MAX_VALUE,
    .max_attrs = 64,
};

static const struct attr_limits chunk_limits = {.max_name = 16, .max_value = 16, .max_attrs = 1};

/* The protocol's envelope, its strings owned here (attr lists are reused). */
struct proto_envelope {
    struct cleanup_envelope env;
    struct cleanup_rcpt *rcpts;
    char **strs; /* every copy made, to free */
    size_t nstrs;
};

static const char *keep(struct proto_envelope *pe, const char *v)
{
    if (v == NULL)
        return NULL;
    pe->strs = xreallocarray(pe->strs, pe->nstrs + 1, sizeof(*pe->strs));
    return pe->strs[pe->nstrs++] = xstrdup(v);
}

static void proto_envelope_free(struct proto_envelope *pe)
{
    for (size_t i = 0; i < pe->nstrs; i++)
        free(pe->strs[i]);
    free(pe->strs);
    free(pe->rcpts);
}

static int opt_str(struct attr_list *l, struct proto_envelope *pe, const char *name,
                   const char **out)
{
    const char *v;
    if (attr_get_str_opt(l, name, NULL, &v) < 0)
        return -1;
    *out = keep(pe, v);
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

static int parse_envelope(struct attr_list *l, struct proto_envelope *pe, long long *nrcpt_r)
{
    struct cleanup_envelope *e = &pe->env;
    const char *req = NULL;
    if (attr_get_str(l, "request", &req) < 0 || strcmp(req, "submit") != 0) {
        msg_warn("envelope record: %s", req == NULL ? attr_error(l) : "bad request or origin");
        return -1;
    }
    if (attr_get_str(l, "origin", &e->origin) < 0 || attr_get_str(l, "sender", &e->sender) < 0 ||
        attr_get_int_range(l, "rcpt_count", 0, 1000000, nrcpt_r) < 0 ||
        opt_str(l, pe, "client_name", &e->client_name) < 0 ||
        opt_str(l, pe, "client_addr", &e->client_addr) < 0 ||
        opt_str(l, pe, "client_port", &e->client_port) < 0 ||
        opt_str(l, pe, "helo_name", &e->helo_name) < 0 ||
        opt_str(l, pe, "protocol", &e->protocol) < 0 ||
        opt_str(l, pe, "sasl_method", &e->sasl_method) < 0 ||
        opt_str(l, pe, "sasl_username", &e->sasl_username) < 0 ||
        opt_str(l, pe, "tls_info", &e->tls_info) < 0 || opt_str(l, pe, "envid", &e->envid) < 0 ||
        opt_str(l, pe, "ret", &e->ret) < 0 || opt_str(l, pe, "submit_uid", &e->submit_uid) < 0 ||
        opt_bool(l, "local_submission", &e->local_submission) < 0 ||
        opt_bool(l, "extract_recipients", &e->extract_recipients) < 0 ||
        opt_bool(l, "smtputf8", &e->smtputf8) < 0) {
        msg_warn("envelope record: %s", attr_error(l));
        return -1;
    }
    e->origin = keep(pe, e->origin);
    e->sender = keep(pe, e->sender);
    return 0;
}

static int read_rcpt(stream_t *client, struct attr_list *l, struct proto_envelope *pe,
                     struct cleanup_rcpt *r)
{
    const char *err;
    if (attr_read(client, l, &env_limits, &err) < 0) {
        msg_warn("recipient record: %s", err);
        return -1;
    }
    if (attr_get_str(l, "rcpt", &r->address) < 0 || opt_str(l, pe, "orcpt", &r->orcpt) < 0 ||
        opt_str(l, pe, "notify", &r->notify) < 0) {
        msg_warn("recipient record: %s", attr_error(l));
        return -1;
    }
    r->address = keep(pe, r->address);
    return 0;
}

/* The envelope and recipient records; the message, or NULL (logged). */
static cleanup_msg_t *read_envelope(stream_t *client)
{
    struct attr_list *l = attr_list_new();
    struct proto_envelope pe = {0};
    cleanup_msg_t *m = NULL;
    const char *err;
    long long nrcpt = 0;
    int rc = attr_read(client, l, &env_limits, &err);
    if (rc < 0 && rc != ATTR_EOF)
        msg_warn("envelope record: %s", err);
    if (rc == 0 && parse_envelope(l, &pe, &nrcpt) == 0) {
        pe.rcpts = xcalloc((size_t)nrcpt + 1, sizeof(*pe.rcpts));
        for (long long i = 0; i < nrcpt && rc == 0; i++)
            rc = read_rcpt(client, l, &pe, &pe.rcpts[i]);
        pe.env.rcpts = pe.rcpts;
        pe.env.rcpt_count = (size_t)nrcpt;
        char *error = NULL;
        if (rc == 0 && (m = cleanup_msg_begin(&pe.env, &error)) == NULL) {
            msg_warn("%s", error);
            free(error);
        }
    }
    proto_envelope_free(&pe);
    attr_list_free(&l);
    return m;
}

/* Read chunks up to "chunk=0": 0, or -1 when the client went away. */
static int read_content(cleanup_msg_t *m, stream_t *client)
{
    struct attr_list *l = attr_list_new();
    char *buf = xmalloc(CLEANUP_CHUNK_MAX);
    int rc = -1;
    for (;;) {
        const char *err;
        long long n;
        if (attr_read(client, l, &chunk_limits, &err) < 0) {
            msg_info("lost connection before end of content: %s", err);
            break;
        }
        if (attr_get_int_range(l, "chunk", 0, CLEANUP_CHUNK_MAX, &n) < 0) {
            msg_warn("content record: %s", attr_error(l));
            break;
        }
        if (n == 0) {
            rc = 0;
            break;
        }
        int s = stream_read_exact(client, buf, (size_t)n);
        if (s != STREAM_OK) {
            msg_info("lost connection in content: %s", stream_strstatus(s));
            break;
        }
        cleanup_msg_write(m, buf, (size_t)n);
    }
    free(buf);
    attr_list_free(&l);
    return rc;
}

static void send_reply(const struct cleanup_outcome *out, stream_t *client)
{
    attr_put_int(client, "status", out->status);
    if (out->status == CLEANUP_STAT_OK) {
        attr_put_str(client, "queue_id", out->queue_id);
        attr_put_str(client, "dsn", out->dsn);
    } else {
        attr_put_str(client, "dsn", out->dsn);
        attr_put_str(client, "reason", out->reason);
    }
    attr_end(client);
    if (stream_flush(client) != STREAM_OK)
        msg_warn("%s: reply not sent: %s", out->queue_id[0] ? out->queue_id : "NOQUEUE",
                 stream_strstatus(stream_error(client)));
}

static void cleanup_service(stream_t *client, const char *service, void *ctx)
{
    (void)service, (void)ctx;
    cleanup_msg_t *m = read_envelope(client);
    if (m != NULL && read_content(m, client) == 0) {
        struct cleanup_outcome out;
        cleanup_msg_end(m, &out);
        send_reply(&out, client);
    }
    cleanup_msg_free(&m);
}

/* Tables and limits, opened before any chroot. */
static void cleanup_pre_jail(const char *service, void *ctx)
{
    (void)service, (void)ctx;
    cleanup_engine_init();
}

int main(int argc, char **argv)
{
    static const struct server_settings s = {
        .name = "cleanup",
        .mode = SERVER_SINGLE,
        .service = cleanup_service,
        .pre_jail_init = cleanup_pre_jail,
    };
    return server_main(argc, argv, &s);
}
