/*
 * login_forge - a pre-login program taken over by its client, for the
 * integration tests of the session parent's trust (lib/login.c): put in
 * place of pop3d-login (daemon_directory), it reads one line from the
 * client and sends the session parent the record it is told to:
 *
 *     honest USER PASSWORD    log in through authd (with a cookie), claim USER
 *     claim USER PASSWORD OTHER
 *                             log in as USER, claim OTHER with USER's cookie
 *     bogus OTHER             no login: claim OTHER with a made-up cookie
 *
 * The client socket is handed over as a real login process does for a
 * plaintext session.  In check mode (TERN_LOGIN_CHECK) it exits 0.
 */
#include "sys.h"

#include "auth_client.h"
#include "log.h"
#include "login.h"
#include "server.h"
#include "str.h"
#include "stream.h"

#include <fcntl.h>

static int forge_cookie(const char *user, const char *password, char *cookie)
{
    struct auth_request req = {
        .service = "pop3", .user = user, .password = password, .want_cookie = true};
    struct auth_result res;
    char *err = NULL;
    if (auth_client_verify(&req, &res, &err) < 0 || res.status != AUTH_OK)
        msg_fatal("login_forge: authd said no to %s: %s", user, err ? err : res.reason);
    memcpy(cookie, res.cookie, AUTH_COOKIE_LEN + 1);
    auth_result_clear(&res);
    return 0;
}

int main(int argc, char **argv)
{
    server_helper_init(argc, argv, "login_forge",
                       fcntl(LOGIN_FD_LOG, F_GETFD) >= 0 ? LOGIN_FD_LOG : -1);
    if (getenv(LOGIN_ENV_CHECK) != NULL)
        return 0;
    stream_t *client = stream_open_fd(LOGIN_FD_CLIENT, 0);
    str_t *line = str_new(256);
    if (stream_read_line(client, line, 1000) != STREAM_OK)
        msg_fatal("login_forge: no command");
    char verb[16], a[256], b[256], c[256];
    char cookie[AUTH_COOKIE_LEN + 1] = "0123456789abcdef0123456789abcdef";
    const char *claim = NULL;
    int n = sscanf(str_c(line), "%15s %255s %255s %255s", verb, a, b, c);
    if (strcmp(verb, "honest") == 0 && n >= 3 && forge_cookie(a, b, cookie) == 0)
        claim = a;
    else if (strcmp(verb, "claim") == 0 && n == 4 && forge_cookie(a, b, cookie) == 0)
        claim = c;
    else if (strcmp(verb, "bogus") == 0 && n == 2)
        claim = a;
    else
        msg_fatal("login_forge: bad command");
    msg_info("login_forge: %s, claiming %s", verb, claim);
    if (login_send_record(LOGIN_FD_CTL, LOGIN_FD_CLIENT, "127.0.0.1", claim, cookie) < 0)
        msg_fatal("login_forge: cannot send the record");
    str_free(&line);
    stream_close(&client);
    return 0;
}
