/*
 * cleanup_client.c - hand a message to the cleanup service
 * (cleanup_client.h, protocol in cleanup_proto.h), or to the cleanup
 * engine in this process when the caller has started it.
 */
#include "sys.h"
#include "cleanup_client.h"

#include "attr.h"
#include "cleanup_engine.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "str.h"
#include "stream.h"

struct cleanup_client {
    cleanup_msg_t *m; /* in this process (then s is NULL) */
    stream_t *s;
    char *buf; /* pending content, up to CLEANUP_CHUNK_MAX bytes */
    size_t used;
    uint64_t total;
    bool failed; /* a write failed: the reply will not come */
};

static void put_opt(stream_t *s, const char *name, const char *value)
{
    if (value != NULL)
        attr_put_str(s, name, value);
}

static void send_envelope(stream_t *s, const struct cleanup_envelope *env)
{
    attr_put_str(s, "request", "submit");
    attr_put_str(s, "origin", env->origin);
    attr_put_str(s, "sender", env->sender != NULL ? env->sender : "");
    put_opt(s, "client_name", env->client_name);
    put_opt(s, "client_addr", env->client_addr);
    put_opt(s, "client_port", env->client_port);
    put_opt(s, "helo_name", env->helo_name);
    put_opt(s, "protocol", env->protocol);
    put_opt(s, "sasl_method", env->sasl_method);
    put_opt(s, "sasl_username", env->sasl_username);
    put_opt(s, "tls_info", env->tls_info);
    put_opt(s, "submit_uid", env->submit_uid);
    put_opt(s, "envid", env->envid);
    put_opt(s, "ret", env->ret);
    put_opt(s, "body", env->body);
    attr_put_int(s, "smtputf8", env->smtputf8);
    attr_put_int(s, "local_submission", env->local_submission);
    attr_put_int(s, "extract_recipients", env->extract_recipients);
    attr_put_int(s, "rcpt_count", (long long)env->rcpt_count);
    attr_end(s);
}

static void send_rcpt(stream_t *s, const struct cleanup_rcpt *r)
{
    attr_put_str(s, "rcpt", r->address);
    put_opt(s, "orcpt", r->orcpt);
    put_opt(s, "notify", r->notify);
    attr_end(s);
}

cleanup_t *cleanup_open(const struct cleanup_envelope *env, char **error_r)
{
    if (env->origin == NULL)
        msg_panic("cleanup_open: no origin");
    for (size_t i = 0; i < env->rcpt_count; i++)
        if (env->rcpts[i].address == NULL || env->rcpts[i].address[0] == '\0')
            msg_panic("cleanup_open: recipient %zu is empty", i);
    if (env->service_path == NULL && cleanup_engine_ready()) {
        cleanup_msg_t *m = cleanup_msg_begin(env, error_r);
        if (m == NULL)
            return NULL;
        cleanup_t *h = xcalloc(1, sizeof(*h));
        h->m = m;
        return h;
    }
    char *path = env->service_path != NULL
                     ? xstrdup(env->service_path)
                     : xasprintf("%s/%s", cfg_str("queue_directory"), CLEANUP_SERVICE);
    int timeout = env->timeout > 0 ? env->timeout : 300;
    stream_t *s = attr_connect(path, timeout * 1000, error_r);
    free(path);
    if (s == NULL)
        return NULL;
    send_envelope(s, env);
    for (size_t i = 0; i < env->rcpt_count; i++)
        send_rcpt(s, &env->rcpts[i]);
    cleanup_t *h = xcalloc(1, sizeof(*h));
    h->s = s;
    h->buf = xmalloc(CLEANUP_CHUNK_MAX);
    h->failed = stream_error(s) != STREAM_OK;
    return h;
}

/* Send the buffered content as one chunk record (nothing when empty). */
static int send_chunk(cleanup_t *h)
{
    if (h->used == 0 || h->failed)
        return h->failed ? -1 : 0;
    attr_put_int(h->s, "chunk", (long long)h->used);
    attr_end(h->s);
    stream_write(h->s, h->buf, h->used);
    h->used = 0;
    if (stream_error(h->s) != STREAM_OK) {
        h->failed = true;
        return -1;
    }
    return 0;
}

int cleanup_write(cleanup_t *h, const void *data, size_t len)
{
    const char *p = data;
    h->total += len;
    if (h->m != NULL) {
        cleanup_msg_write(h->m, data, len);
        return 0;
    }
    while (len > 0 && !h->failed) {
        size_t n = CLEANUP_CHUNK_MAX - h->used;
        if (n > len)
            n = len;
        memcpy(h->buf + h->used, p, n);
        h->used += n;
        p += n;
        len -= n;
        if (h->used == CLEANUP_CHUNK_MAX)
            send_chunk(h);
    }
    return h->failed ? -1 : 0;
}

uint64_t cleanup_size(const cleanup_t *h)
{
    return h->total;
}

static void result_set(struct cleanup_result *res, int status, const char *dsn, const char *reason)
{
    res->status = status;
    res->queue_id[0] = '\0';
    str_lcpy(res->dsn, dsn, sizeof(res->dsn));
    str_t *t = str_new(64);
    str_append_printable(t, reason, strlen(reason), sizeof(res->reason) - 1);
    str_lcpy(res->reason, str_c(t), sizeof(res->reason));
    str_free(&t);
}

/* Whether dsn looks like an enhanced status code of class status. */
static bool dsn_ok(const char *dsn, int status)
{
    size_t len = strlen(dsn);
    if (len < 5 || len >= 16 || dsn[0] != '0' + status || dsn[1] != '.')
        return false;
    return strspn(dsn, "0123456789.") == len;
}

static void read_reply(cleanup_t *h, struct cleanup_result *res)
{
    struct attr_list *l = attr_list_new();
    const char *err, *qid = "", *dsn = NULL, *reason = "";
    long long status;
    if (attr_read(h->s, l, NULL, &err) < 0) {
        msg_warn("cleanup reply: %s", err);
        result_set(res, CLEANUP_STAT_TEMP, "4.3.0", "queue file write error");
    } else if (attr_get_int_range(l, "status", 0, 5, &status) < 0 ||
               (status != 0 && status != 4 && status != 5) ||
               attr_get_str_opt(l, "queue_id", "", &qid) < 0 ||
               attr_get_str_opt(l, "dsn", NULL, &dsn) < 0 ||
               attr_get_str_opt(l, "reason", "", &reason) < 0 ||
               (status == 0 && !queue_id_valid(qid))) {
        msg_warn("cleanup reply: malformed: %s", attr_error(l));
        result_set(res, CLEANUP_STAT_TEMP, "4.3.0", "queue file write error");
    } else {
        const char *def = status == 0 ? "2.0.0" : status == 4 ? "4.3.0" : "5.3.0";
        if (dsn == NULL || !dsn_ok(dsn, (int)status))
            dsn = def;
        result_set(res, (int)status, dsn, reason);
        if (status == 0)
            str_lcpy(res->queue_id, qid, sizeof(res->queue_id));
    }
    attr_list_free(&l);
}

/* The engine's verdict, as the daemon's reply would give it. */
static void finish_inline(cleanup_t *h, struct cleanup_result *res)
{
    struct cleanup_outcome out;
    cleanup_msg_end(h->m, &out);
    result_set(res, out.status, out.dsn, out.reason);
    if (out.status == CLEANUP_STAT_OK)
        str_lcpy(res->queue_id, out.queue_id, sizeof(res->queue_id));
}

void cleanup_finish(cleanup_t **hp, struct cleanup_result *res)
{
    cleanup_t *h = *hp;
    if (h->m != NULL) {
        finish_inline(h, res);
        cleanup_abort(hp);
        return;
    }
    send_chunk(h);
    if (!h->failed) {
        attr_put_int(h->s, "chunk", 0);
        attr_end(h->s);
        if (stream_flush(h->s) != STREAM_OK)
            h->failed = true;
    }
    if (h->failed) {
        msg_warn("cleanup: lost connection: %s", stream_strstatus(stream_error(h->s)));
        result_set(res, CLEANUP_STAT_TEMP, "4.3.0", "queue file write error");
    } else {
        read_reply(h, res);
    }
    cleanup_abort(hp);
}

void cleanup_abort(cleanup_t **hp)
{
    cleanup_t *h = *hp;
    if (h == NULL)
        return;
    cleanup_msg_free(&h->m);
    stream_close(&h->s);
    free(h->buf);
    free(h);
    *hp = NULL;
}
