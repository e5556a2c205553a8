/*
 * pop3d.c - the POP3 server's main(): settings from main.cf, the TLS
 * context (loaded while still root, before any fork), and the session,
 * which lib/login.c splits into the login and mail processes.
 */
#include "pop3d.h"

#include "config.h"
#include "log.h"
#include "mem.h"
#include "priv.h"
#include "server.h"
#include "tls.h"

#include <pwd.h>

struct pop3_config pop3_cfg;
static tls_server_t *pop3_tls;

struct tls_server *pop3_tls_ctx(void)
{
    return pop3_tls;
}

void pop3_tls_forget(void)
{
    tls_server_free(&pop3_tls); /* wipes the key text */
}

void pop3_reply(stream_t *s, const char *fmt, ...)
{
    va_list ap;
    str_t *l = str_new(128);
    va_start(ap, fmt);
    (void)str_vappendf(l, fmt, ap);
    va_end(ap);
    (void)str_append(l, "\r\n", 2);
    (void)stream_write(s, str_c(l), str_len(l));
    (void)stream_flush(s);
    str_free(&l);
}

int pop3_read_line(stream_t *s, str_t *line, size_t limit)
{
    int rc = stream_read_line(s, line, limit);
    if (rc == STREAM_TOOLONG) {
        int r = stream_skip_line(s);
        if (r != STREAM_OK && r != STREAM_EOF)
            return r;
    }
    return rc;
}

static void pop3_tls_init(void)
{
    const char *cert = cfg_str("pop3d_tls_cert_file");
    if (*cert == '\0') {
        if (pop3_cfg.wrapper)
            msg_error("pop3d_tls_wrappermode = yes but pop3d_tls_cert_file is empty; "
                      "sessions are closed at once");
        return;
    }
    struct tls_server_settings set = {
        .cert_file = cert,
        .key_file = *cfg_str("pop3d_tls_key_file") ? cfg_str("pop3d_tls_key_file") : cert,
        .protocols = cfg_str("pop3d_tls_protocols"),
        .ticket_key_uid = -1,
        .ticket_key_gid = -1,
        .ticket_lifetime = 0,
        /*
         * The files are read now (as root), the OpenSSL context is built
         * by the login process at its first handshake: the session parent
         * and the mail process, which never do TLS, stay small (they are
         * two of a session's processes).  A throw-away child checks now
         * that the build works.
         */
        .lazy = true,
    };
    char *err = NULL;
    pop3_tls = tls_server_new(&set, &err);
    if (pop3_tls != NULL && tls_server_check(pop3_tls, cfg_str("mail_owner"), &err) < 0)
        tls_server_free(&pop3_tls);
    if (pop3_tls == NULL) {
        msg_error("TLS is not available: %s; %s", err,
                  pop3_cfg.wrapper ? "wrapper mode sessions are closed at once"
                                   : "STLS is not offered");
        free(err);
    }
}

static void pop3_pre_jail(const char *service, void *ctx)
{
    (void)service;
    (void)ctx;
    pop3_cfg.timeout = (int)cfg_time("pop3d_timeout");
    pop3_cfg.line_limit = (long)cfg_int("pop3d_command_line_limit");
    pop3_cfg.command_limit = (long)cfg_int("pop3d_command_count_limit");
    pop3_cfg.error_limit = (long)cfg_int("pop3d_hard_error_limit");
    pop3_cfg.plaintext = cfg_str("pop3d_plaintext_auth");
    pop3_cfg.wrapper = cfg_bool("pop3d_tls_wrappermode");
    if (strcmp(pop3_cfg.plaintext, "yes") != 0 && strcmp(pop3_cfg.plaintext, "no") != 0 &&
        strcmp(pop3_cfg.plaintext, "loopback") != 0) {
        msg_warn("pop3d_plaintext_auth = %s: use yes, no or loopback; using no",
                 pop3_cfg.plaintext);
        pop3_cfg.plaintext = "no";
    }
    pop3_tls_init(); /* key files may be readable by root only */
    const char *unpriv = getenv(SERVER_ENV_UNPRIV);
    if (getuid() == 0 && (unpriv == NULL || strcmp(unpriv, "n") != 0))
        msg_warn("pop3d runs as mail_owner (master.cf unpriv is not n): sessions cannot "
                 "switch to the mailbox owners");
}

static void pop3_service(stream_t *client, const char *service, void *ctx)
{
    (void)service;
    static const struct login_settings set = {
        .service = "pop3",
        .prelogin = pop3_prelogin,
        .postlogin = pop3_postlogin,
    };
    (void)ctx;
    login_session(client, &set);
}

int main(int argc, char **argv)
{
    static const struct server_settings s = {
        .name = "pop3d",
        .mode = SERVER_SINGLE,
        .service = pop3_service,
        .pre_jail_init = pop3_pre_jail,
    };
    return server_main(argc, argv, &s);
}
