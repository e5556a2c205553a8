/*
 * auth_client.c - the client side of the authd protocol (auth_client.h).
 */
#include "auth_client.h"
#include "attr.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "server.h"
#include "str.h"

#include <limits.h>

static const char *const auth_status_names[] = {"ok", "fail", "tempfail"};

const char *auth_status_name(enum auth_status status)
{
    if ((unsigned)status >= N_ELEMENTS(auth_status_names))
        return "tempfail";
    return auth_status_names[status];
}

int auth_status_parse(const char *name)
{
    for (size_t i = 0; i < N_ELEMENTS(auth_status_names); i++)
        if (strcmp(name, auth_status_names[i]) == 0)
            return (int)i;
    return -1;
}

char *auth_client_default_path(void)
{
    const char *jail = getenv(SERVER_ENV_CHROOT);
    if (jail != NULL && jail[0] != '\0')
        return xstrdup("/" AUTH_SERVICE); /* chrooted into queue_directory */
    return xasprintf("%s/%s", cfg_str("queue_directory"), AUTH_SERVICE);
}

bool auth_cookie_valid(const char *text)
{
    size_t i;
    if (text == NULL)
        return false;
    for (i = 0; i < AUTH_COOKIE_LEN; i++)
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
            return false;
    return text[i] == '\0';
}

void auth_result_clear(struct auth_result *r)
{
    xfree(r->user);
    xfree(r->home);
    xfree(r->reason);
    if (r->cookie != NULL)
        explicit_bzero(r->cookie, strlen(r->cookie));
    xfree(r->cookie);
}

static void auth_send(stream_t *s, const struct auth_request *req)
{
    attr_put_str(s, "request", "auth");
    attr_put_str(s, "service", req->service);
    attr_put_str(s, "user", req->user);
    attr_put_str(s, "password", req->password);
    attr_put_str(s, "client_addr", req->client_addr != NULL ? req->client_addr : "");
    if (req->tls)
        attr_put_str(s, "tls", "yes");
    if (req->want_cookie)
        attr_put_str(s, "cookie", "yes");
    attr_end(s);
}

/*
 * The reply record into *r; -1 with a reason when it is malformed.  With
 * want_cookie a success must carry a well-formed cookie.
 */
static int auth_parse_reply(struct attr_list *l, bool want_cookie, struct auth_result *r,
                            char **error_r)
{
    const char *status, *user, *home, *reason;
    long long uid, gid, delay;
    int st;
    if (attr_get_str(l, "status", &status) < 0 || (st = auth_status_parse(status)) < 0 ||
        attr_get_str_opt(l, "user", "", &user) < 0 || attr_get_str_opt(l, "home", "", &home) < 0 ||
        attr_get_str_opt(l, "reason", "", &reason) < 0)
        return error_set(error_r, "malformed reply from authd: %s",
                         attr_error(l)[0] ? attr_error(l) : "bad status");
    uid = gid = -1;
    delay = 0;
    if ((attr_find(l, "uid") && attr_get_int_range(l, "uid", -1, UINT32_MAX, &uid) < 0) ||
        (attr_find(l, "gid") && attr_get_int_range(l, "gid", -1, UINT32_MAX, &gid) < 0) ||
        (attr_find(l, "delay_ms") && attr_get_int_range(l, "delay_ms", 0, LONG_MAX, &delay) < 0))
        return error_set(error_r, "malformed reply from authd: %s", attr_error(l));
    const char *cookie = NULL;
    if (want_cookie && st == AUTH_OK &&
        (attr_get_str(l, "cookie", &cookie) < 0 || !auth_cookie_valid(cookie)))
        return error_set(error_r, "malformed reply from authd: %s",
                         cookie == NULL ? attr_error(l) : "bad login cookie");
    r->cookie = cookie != NULL ? xstrdup(cookie) : NULL;
    r->status = (enum auth_status)st;
    r->user = st == AUTH_OK ? xstrdup(user) : NULL;
    r->home = xstrdup(home);
    r->reason = xstrdup(reason);
    r->uid = (long)uid;
    r->gid = (long)gid;
    r->delay_ms = (long)delay;
    return 0;
}

/*
 * Connect, send the request (put writes its attributes), read and parse
 * the reply: 0 with *r filled, or -1 with a reason.
 */
static int auth_exchange(const char *socket_path, int timeout_ms, bool want_cookie,
                         void (*put)(stream_t *, const void *), const void *ctx,
                         struct auth_result *r, char **error_r)
{
    char *path = socket_path ? xstrdup(socket_path) : auth_client_default_path();
    int timeout = timeout_ms > 0 ? timeout_ms : AUTH_CLIENT_TIMEOUT_MS;
    stream_t *s = attr_connect(path, timeout, error_r);
    free(path);
    if (s == NULL)
        return -1;
    put(s, ctx);
    int rc = stream_flush(s);
    struct attr_list *l = attr_list_new();
    const char *err;
    if (rc != STREAM_OK)
        rc = error_set(error_r, "write to authd: %s", stream_strstatus(rc));
    else if (attr_read(s, l, NULL, &err) != 0)
        rc = error_set(error_r, "read from authd: %s", err);
    else
        rc = auth_parse_reply(l, want_cookie, r, error_r);
    if (rc < 0)
        auth_result_clear(r);
    /* The reply may hold a cookie: do not leave it in freed memory. */
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->items[i].name, "cookie") == 0)
            explicit_bzero(l->items[i].value, l->items[i].len);
    attr_list_free(&l);
    stream_close(&s);
    return rc;
}

static void auth_put_verify(stream_t *s, const void *ctx)
{
    auth_send(s, ctx);
}

int auth_client_verify(const struct auth_request *req, struct auth_result *r, char **error_r)
{
    memset(r, 0, sizeof(*r));
    r->uid = r->gid = -1;
    if (req->service == NULL || req->user == NULL || req->password == NULL)
        msg_panic("auth_client_verify: request without service, user or password");
    return auth_exchange(req->socket_path, req->timeout_ms, req->want_cookie, auth_put_verify, req,
                         r, error_r);
}

struct auth_redeem_req {
    const char *cookie, *service;
};

static void auth_put_redeem(stream_t *s, const void *ctx)
{
    const struct auth_redeem_req *q = ctx;
    attr_put_str(s, "request", "redeem");
    attr_put_str(s, "service", q->service);
    attr_put_str(s, "cookie", q->cookie);
    attr_end(s);
}

int auth_client_redeem(const char *cookie, const char *service, const char *socket_path,
                       int timeout_ms, struct auth_result *r, char **error_r)
{
    memset(r, 0, sizeof(*r));
    r->uid = r->gid = -1;
    if (cookie == NULL || service == NULL)
        msg_panic("auth_client_redeem: request without cookie or service");
    const struct auth_redeem_req q = {.cookie = cookie, .service = service};
    int rc = auth_exchange(socket_path, timeout_ms, false, auth_put_redeem, &q, r, error_r);
    if (rc == 0 && r->status == AUTH_TEMPFAIL) {
        /* authd answers a redeem with ok or fail only. */
        auth_result_clear(r);
        return error_set(error_r, "malformed reply from authd: tempfail to a redeem");
    }
    return rc;
}
