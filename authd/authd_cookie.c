/*
 * authd_cookie.c - one-time login cookies (protocol in auth_client.h).
 *
 * A successful login that asked for one gets a cookie: 128 bits from
 * getrandom(), handed out as AUTH_COOKIE_LEN lowercase hex digits.  The
 * table remembers, per cookie, who logged in (user, uid, gid, home), for
 * which service, and until when.  The root session parent redeems the
 * cookie once; the entry is deleted by that redeem whatever its outcome.
 *
 * The table is a fixed array (at most max entries).  A redeem compares the
 * cookie with every slot in constant time (passwd_memcmp_ct: all 16 bytes,
 * no early exit), so its timing tells nothing about how close a guess
 * came.  When the table is full a new cookie takes a free slot, else the
 * oldest expired entry, else the oldest live one (with a warning: that
 * login will fail).
 * An expired entry is kept AUTHD_COOKIE_KEEP_MS longer so that a late
 * redeem is told "expired" rather than "unknown"; then the wakeup prunes it.
 */
#include "authd.h"

#include "log.h"
#include "mem.h"
#include "str.h"

#include <sys/random.h>

#define AUTHD_COOKIE_BYTES (AUTH_COOKIE_LEN / 2)

struct authd_cookie {
    bool used; /* slot holds an entry */
    unsigned char key[AUTHD_COOKIE_BYTES];
    uint64_t seq; /* order of issue: smaller is older */
    int64_t expires_ms;
    struct authd_login login;
};

struct authd_cookies {
    struct authd_cookie *slots;
    size_t max, count;
    uint64_t next_seq;
};

struct authd_cookies *authd_cookies_new(size_t max)
{
    struct authd_cookies *t = xcalloc(1, sizeof(*t));
    t->max = max > 0 ? max : 1;
    t->slots = xcalloc(t->max, sizeof(*t->slots));
    return t;
}

void authd_login_clear(struct authd_login *l)
{
    xfree(l->service);
    xfree(l->user);
    xfree(l->home);
    l->uid = l->gid = -1;
}

static void cookie_drop(struct authd_cookies *t, struct authd_cookie *c)
{
    explicit_bzero(c->key, sizeof(c->key));
    authd_login_clear(&c->login);
    c->used = false;
    t->count--;
}

void authd_cookies_free(struct authd_cookies **tp)
{
    struct authd_cookies *t = *tp;
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->max; i++)
        if (t->slots[i].used)
            cookie_drop(t, &t->slots[i]);
    free(t->slots);
    xfree(*tp);
}

size_t authd_cookies_count(const struct authd_cookies *t)
{
    return t->count;
}

/* The slot for a new entry, emptied (see the top of the file). */
static struct authd_cookie *cookie_slot(struct authd_cookies *t, int64_t now_ms)
{
    struct authd_cookie *expired = NULL, *oldest = NULL;
    for (size_t i = 0; i < t->max; i++) {
        struct authd_cookie *c = &t->slots[i];
        if (!c->used)
            return c;
        if (c->expires_ms <= now_ms && (expired == NULL || c->seq < expired->seq))
            expired = c;
        if (oldest == NULL || c->seq < oldest->seq)
            oldest = c;
    }
    if (expired == NULL) {
        str_t *u = str_new(64), *sv = str_new(16);
        str_append_printable(u, oldest->login.user, strlen(oldest->login.user), AUTH_USER_MAX);
        str_append_printable(sv, oldest->login.service, strlen(oldest->login.service), 16);
        msg_warn("login cookie table full (%zu entries): dropped the oldest unredeemed cookie, "
                 "of user <%s>, service %s",
                 t->max, str_c(u), str_c(sv));
        str_free(&u);
        str_free(&sv);
    }
    struct authd_cookie *c = expired != NULL ? expired : oldest;
    cookie_drop(t, c);
    return c;
}

void authd_cookie_issue(struct authd_cookies *t, const struct authd_login *login, int64_t now_ms,
                        int64_t lifetime_ms, char cookie[AUTH_COOKIE_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    struct authd_cookie *c = cookie_slot(t, now_ms);
    if (getrandom(c->key, sizeof(c->key), 0) != (ssize_t)sizeof(c->key))
        msg_fatal("getrandom: %s", strerror(errno));
    c->used = true;
    c->seq = t->next_seq++;
    c->expires_ms = now_ms + lifetime_ms;
    c->login.service = xstrdup(login->service);
    c->login.user = xstrdup(login->user);
    c->login.uid = login->uid;
    c->login.gid = login->gid;
    c->login.home = xstrdup(login->home);
    t->count++;
    for (size_t i = 0; i < sizeof(c->key); i++) {
        cookie[2 * i] = hex[c->key[i] >> 4];
        cookie[2 * i + 1] = hex[c->key[i] & 15];
    }
    cookie[AUTH_COOKIE_LEN] = '\0';
}

static unsigned cookie_hexval(char ch)
{
    return ch <= '9' ? (unsigned)(ch - '0') : (unsigned)(ch - 'a' + 10);
}

enum authd_cookie_result authd_cookie_redeem(struct authd_cookies *t, const char *cookie,
                                             const char *service, int64_t now_ms,
                                             struct authd_login *login_r)
{
    unsigned char key[AUTHD_COOKIE_BYTES];
    memset(login_r, 0, sizeof(*login_r));
    login_r->uid = login_r->gid = -1;
    if (!auth_cookie_valid(cookie))
        return AUTHD_COOKIE_MALFORMED;
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] =
            (unsigned char)(cookie_hexval(cookie[2 * i]) << 4 | cookie_hexval(cookie[2 * i + 1]));
    struct authd_cookie *found = NULL;
    for (size_t i = 0; i < t->max; i++)
        if (passwd_memcmp_ct(key, t->slots[i].key, sizeof(key)) == 0 && t->slots[i].used)
            found = &t->slots[i];
    explicit_bzero(key, sizeof(key));
    if (found == NULL)
        return AUTHD_COOKIE_UNKNOWN;
    /* Hand the entry over and delete it: a cookie is good for one try. */
    *login_r = found->login;
    memset(&found->login, 0, sizeof(found->login));
    enum authd_cookie_result rc = AUTHD_COOKIE_OK;
    if (found->expires_ms <= now_ms)
        rc = AUTHD_COOKIE_EXPIRED;
    else if (strcmp(login_r->service, service) != 0)
        rc = AUTHD_COOKIE_SERVICE;
    cookie_drop(t, found);
    return rc;
}

void authd_cookies_prune(struct authd_cookies *t, int64_t now_ms)
{
    for (size_t i = 0; i < t->max && t->count > 0; i++) {
        struct authd_cookie *c = &t->slots[i];
        if (c->used && now_ms - c->expires_ms >= AUTHD_COOKIE_KEEP_MS)
            cookie_drop(t, c);
    }
}

const char *authd_cookie_reason(enum authd_cookie_result r)
{
    switch (r) {
    case AUTHD_COOKIE_OK:
        return "ok";
    case AUTHD_COOKIE_MALFORMED:
        return "malformed login cookie";
    case AUTHD_COOKIE_UNKNOWN:
        return "unknown or already used login cookie";
    case AUTHD_COOKIE_EXPIRED:
        return "login cookie expired";
    case AUTHD_COOKIE_SERVICE:
        return "login cookie issued for another service";
    }
    return "login cookie refused";
}
