/*
 * pop3d.c - the POP3 server's main(): the session parent, which master
 * starts for each client (root, master.cf unpriv n).  It reads the TLS key
 * and certificate for pop3d-login while still root, and runs each session
 * through lib/login.c: pop3d-login for the AUTHORIZATION state, then a
 * forked mail process for the rest (pop3_session.c).  pop3d itself does
 * not link OpenSSL.
 */
#include "pop3d.h"

#include "config.h"
#include "log.h"
#include "mem.h"
#include "server.h"

static const struct login_settings pop3_login_set = {
    .service = "pop3",
    .program = "pop3d-login",
    .postlogin = pop3_postlogin,
};

static void pop3_tls_init(void)
{
    const char *cert = cfg_str("pop3d_tls_cert_file");
    char *err = NULL;
    if (*cert == '\0') {
        if (pop3_cfg.wrapper)
            msg_error("pop3d_tls_wrappermode = yes but pop3d_tls_cert_file is empty; "
                      "sessions are closed at once");
        return;
    }
    if (login_tls_load(&pop3_login_set, cert, cfg_str("pop3d_tls_key_file"), &err) < 0) {
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
    pop3_config_load();
    pop3_tls_init(); /* key files may be readable by root only */
    const char *jail = getenv(SERVER_ENV_CHROOT);
    if (jail != NULL && *jail != '\0')
        msg_error("pop3d cannot run chrooted (master.cf chroot field): it executes "
                  "$daemon_directory/%s for each client; set the field to n",
                  pop3_login_set.program);
    const char *unpriv = getenv(SERVER_ENV_UNPRIV);
    if (getuid() == 0 && (unpriv == NULL || strcmp(unpriv, "n") != 0))
        msg_warn("pop3d runs as mail_owner (master.cf unpriv is not n): sessions cannot "
                 "switch to the mailbox owners");
}

static void pop3_service(stream_t *client, const char *service, void *ctx)
{
    (void)service;
    (void)ctx;
    login_session(client, &pop3_login_set);
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
