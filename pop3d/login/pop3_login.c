/*
 * pop3_login.c - the AUTHORIZATION state (RFC 1939 section 4) with CAPA
 * (RFC 2449), STLS (RFC 2595) and AUTH (RFC 5034), run in the login
 * process as mail_owner.  It ends when authd accepts a user: the reply
 * to PASS or AUTH is then the mail process's to send.
 */
#include "../pop3d.h"

#include "auth_client.h"
#include "log.h"
#include "mem.h"
#include "sasl.h"
#include "tls.h"

#include <strings.h>

struct pop3_login {
    struct login_conn *lc;
    char *user; /* from USER */
    long errors;
    long commands;
    bool quit;
};

static bool pop3_auth_allowed(const struct pop3_login *pl)
{
    if (tls_active(pl->lc->client) || strcmp(pop3_cfg.plaintext, "yes") == 0)
        return true;
    return strcmp(pop3_cfg.plaintext, "loopback") == 0 && pl->lc->loopback;
}

static bool pop3_stls_offered(const struct pop3_login *pl)
{
    return login_tls() != NULL && !tls_active(pl->lc->client);
}

static void pop3_login_log(const struct pop3_login *pl, const char *what, const char *user,
                           const char *reason)
{
    str_t *u = str_new(64);
    str_append_printable(u, user, strlen(user), 255);
    msg_info("%s: user=<%s>, rip=%s%s%s%s", what, str_c(u), pl->lc->client_addr,
             tls_active(pl->lc->client) ? ", TLS" : "", reason ? ", reason=" : "",
             reason ? reason : "");
    str_free(&u);
}

/* Ask authd; 0 logged in, -1 refused (reply sent). */
static int pop3_login_check(struct pop3_login *pl, const char *user, const char *password)
{
    char *reason = NULL;
    int st = login_authenticate(pl->lc, "pop3", user, password, &reason);
    if (st == AUTH_OK) {
        pop3_login_log(pl, "login", pl->lc->user.user, NULL);
        return 0;
    }
    pop3_login_log(pl, "login failed", user, reason);
    if (st == AUTH_TEMPFAIL)
        pop3_reply(pl->lc->client, "-ERR [SYS/TEMP] Temporary authentication failure.");
    else
        pop3_reply(pl->lc->client, "-ERR [AUTH] Authentication failed.");
    free(reason);
    pl->errors++;
    return -1;
}

static int pop3_need_plaintext(struct pop3_login *pl)
{
    if (pop3_auth_allowed(pl))
        return 0;
    pop3_reply(pl->lc->client,
               "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections.");
    pl->errors++;
    return -1;
}

static int pop3_cmd_user(struct pop3_login *pl, const char *args)
{
    if (pop3_need_plaintext(pl) < 0)
        return -1;
    if (*args == '\0' || strlen(args) > AUTH_USER_MAX) {
        pop3_reply(pl->lc->client, "-ERR Bad user name.");
        pl->errors++;
        return -1;
    }
    free(pl->user);
    pl->user = xstrdup(args);
    pop3_reply(pl->lc->client, "+OK");
    return -1;
}

static int pop3_cmd_pass(struct pop3_login *pl, const char *args)
{
    if (pop3_need_plaintext(pl) < 0)
        return -1;
    if (pl->user == NULL) {
        pop3_reply(pl->lc->client, "-ERR No user name given (USER first).");
        pl->errors++;
        return -1;
    }
    char *user = pl->user;
    pl->user = NULL;
    int rc = pop3_login_check(pl, user, args);
    free(user);
    return rc;
}

/* The SASL exchange after "AUTH mech [initial]"; 0 logged in, -1 not. */
static int pop3_sasl(struct pop3_login *pl, const char *mech, const char *initial)
{
    struct sasl_server x;
    const char *challenge;
    char *err = NULL;
    str_t *line = str_new(256);
    int rc = sasl_server_start(&x, mech, initial, &challenge, &err);
    while (rc == SASL_CONTINUE) {
        pop3_reply(pl->lc->client, "+ %s", challenge);
        int r = pop3_read_line(pl->lc->client, line, SASL_ENCODED_MAX + 2);
        if (r != STREAM_OK) {
            if (r == STREAM_TOOLONG)
                err = xstrdup("response too long");
            else
                pl->quit = true;
            rc = SASL_ERROR;
            break;
        }
        str_chomp(line);
        rc = sasl_server_step(&x, str_c(line), str_len(line), &challenge, &err);
    }
    int ret = -1;
    if (rc == SASL_DONE && *x.creds.authzid != '\0' &&
        strcmp(x.creds.authzid, x.creds.authcid) != 0) {
        pop3_login_log(pl, "login failed", x.creds.authcid, "authorization identity differs");
        pop3_reply(pl->lc->client, "-ERR [AUTH] Authorization identity not allowed.");
        pl->errors++;
    } else if (rc == SASL_DONE)
        ret = pop3_login_check(pl, x.creds.authcid, x.creds.password);
    else if (rc == SASL_CANCELLED) {
        pop3_reply(pl->lc->client, "-ERR Authentication cancelled.");
        pl->errors++;
    } else if (!pl->quit) {
        pop3_reply(pl->lc->client, "-ERR %s.", err ? err : "Authentication failed");
        pl->errors++;
    }
    free(err);
    sasl_server_clear(&x);
    str_free(&line);
    return ret;
}

static int pop3_cmd_auth(struct pop3_login *pl, char *args)
{
    if (*args == '\0') {
        pop3_reply(pl->lc->client, "+OK\r\nPLAIN\r\nLOGIN\r\n.");
        return -1;
    }
    if (pop3_need_plaintext(pl) < 0)
        return -1;
    char *sp = strchr(args, ' ');
    const char *initial = NULL;
    if (sp != NULL) {
        *sp = '\0';
        initial = sp + 1;
    }
    if (!sasl_mech_supported(args)) {
        pop3_reply(pl->lc->client, "-ERR Unsupported authentication mechanism.");
        pl->errors++;
        return -1;
    }
    return pop3_sasl(pl, args, initial);
}

static int pop3_cmd_stls(struct pop3_login *pl)
{
    if (!pop3_stls_offered(pl)) {
        pop3_reply(pl->lc->client, tls_active(pl->lc->client) ? "-ERR TLS already active."
                                                              : "-ERR TLS not available.");
        pl->errors++;
        return -1;
    }
    pop3_reply(pl->lc->client, "+OK Begin TLS negotiation.");
    size_t junk = stream_buffered(pl->lc->client);
    if (junk > 0)
        msg_info("improper command pipelining after STLS from %s: %zu bytes discarded",
                 pl->lc->client_addr, junk);
    char *err = NULL;
    if (tls_server_start(pl->lc->client, (tls_server_t *)login_tls(), &err) < 0) {
        msg_info("TLS handshake failed with %s: %s", pl->lc->client_addr, err);
        free(err);
        pl->quit = true;
        return -1;
    }
    xfree(pl->user); /* RFC 2595: forget what came before TLS */
    return -1;
}

/* One command; 0 when the client has logged in. */
static int pop3_login_dispatch(struct pop3_login *pl, struct pop3_cmd *c)
{
    stream_t *s = pl->lc->client;
    if (strcmp(c->verb, "CAPA") == 0) {
        pop3_capa(s, true, pop3_stls_offered(pl), pop3_auth_allowed(pl));
        return -1;
    }
    if (strcmp(c->verb, "USER") == 0)
        return pop3_cmd_user(pl, c->args);
    if (strcmp(c->verb, "PASS") == 0)
        return pop3_cmd_pass(pl, c->args);
    if (strcmp(c->verb, "AUTH") == 0)
        return pop3_cmd_auth(pl, (char *)c->args);
    if (strcmp(c->verb, "STLS") == 0)
        return pop3_cmd_stls(pl);
    if (strcmp(c->verb, "QUIT") == 0) {
        pop3_reply(s, "+OK Logging out.");
        pl->quit = true;
        return -1;
    }
    pop3_reply(s, "-ERR Unknown command.");
    pl->errors++;
    return -1;
}

/* Read, check the bounds, dispatch; 0 logged in, -1 session over, 1 go on. */
static int pop3_login_step(struct pop3_login *pl, str_t *line)
{
    stream_t *s = pl->lc->client;
    size_t limit = (size_t)pop3_cfg.line_limit + 2;
    if (limit < SASL_ENCODED_MAX + 32)
        limit = SASL_ENCODED_MAX + 32; /* "AUTH PLAIN <initial response>" */
    int r = pop3_read_line(s, line, limit);
    if (r == STREAM_TIMEOUT)
        pop3_reply(s, "-ERR Disconnected for inactivity.");
    if (r != STREAM_OK && r != STREAM_TOOLONG)
        return -1;
    struct pop3_cmd c;
    if (++pl->commands > pop3_cfg.command_limit) {
        pop3_reply(s, "-ERR Too many commands.");
        return -1;
    }
    if (r == STREAM_TOOLONG) {
        pop3_reply(s, "-ERR Line too long.");
        pl->errors++;
    } else if (pop3_cmd_parse(line->s, str_len(line), &c) < 0) {
        pop3_reply(s, "-ERR Bad command.");
        pl->errors++;
    } else if (strcmp(c.verb, "AUTH") != 0 &&
               strlen(c.args) + strlen(c.verb) + 1 > (size_t)pop3_cfg.line_limit) {
        pop3_reply(s, "-ERR Line too long.");
        pl->errors++;
    } else if (pop3_login_dispatch(pl, &c) == 0)
        return 0;
    if (pl->quit)
        return -1;
    if (pl->errors >= pop3_cfg.error_limit) {
        pop3_reply(s, "-ERR Too many errors, closing.");
        return -1;
    }
    return 1;
}

static int pop3_prelogin(struct login_conn *lc, void *ctx)
{
    (void)ctx;
    stream_t *s = lc->client;
    stream_set_timeout(s, pop3_cfg.timeout);
    if (pop3_cfg.wrapper) {
        char *err = NULL;
        if (login_tls() == NULL) {
            msg_warn("TLS wrapper mode: TLS is not available; closing the connection from %s",
                     lc->client_addr);
            return -1;
        }
        if (tls_server_start(s, (tls_server_t *)login_tls(), &err) < 0) {
            msg_info("TLS handshake failed with %s: %s", lc->client_addr, err);
            free(err);
            return -1;
        }
    }
    pop3_reply(s, "+OK tern POP3 server ready.");
    struct pop3_login pl = {.lc = lc};
    str_t *line = str_new(256);
    int rc;
    while ((rc = pop3_login_step(&pl, line)) > 0)
        ;
    free(pl.user);
    str_free(&line);
    return rc;
}

static void pop3_login_init(void *ctx)
{
    (void)ctx;
    pop3_config_load();
}

int main(int argc, char **argv)
{
    static const struct login_program p = {
        .name = "pop3d-login",
        .service = "pop3",
        .cert_param = "pop3d_tls_cert_file",
        .key_param = "pop3d_tls_key_file",
        .protocols_param = "pop3d_tls_protocols",
        .ticket_lifetime_param = "pop3d_tls_session_cache_timeout",
        .init = pop3_login_init,
        .prelogin = pop3_prelogin,
    };
    login_main(argc, argv, &p);
}
