/*
 * auth_query - ask authd one question through lib/auth_client, for the
 * integration tests:
 *
 *     auth_query -c CONFIG_DIR [-s service] [-a client_addr] [-S socket] [-t] [-C] USER PASSWORD
 *     auth_query -c CONFIG_DIR [-s service] [-S socket] -R COOKIE
 *
 * The first form checks a password (-C: and asks for a login cookie), the
 * second redeems a login cookie.  Prints the reply as "name=value" lines
 * (status, user, uid, gid, home, reason, delay_ms, and cookie when there
 * is one) and exits 0, or prints "error=..." and exits 3 when authd could
 * not be asked.
 */
#include "sys.h"

#include "auth_client.h"
#include "config.h"
#include "log.h"

int main(int argc, char **argv)
{
    struct auth_request req = {.service = "smtp"};
    const char *dir = NULL, *redeem = NULL;
    int c;
    log_init("auth_query");
    log_open("tern", "/dev/stderr");
    while ((c = getopt(argc, argv, "a:c:Cs:S:tR:")) != -1) {
        if (c == 'a')
            req.client_addr = optarg;
        else if (c == 'c')
            dir = optarg;
        else if (c == 'C')
            req.want_cookie = true;
        else if (c == 's')
            req.service = optarg;
        else if (c == 'S')
            req.socket_path = optarg;
        else if (c == 't')
            req.tls = true;
        else if (c == 'R')
            redeem = optarg;
        else
            return 2;
    }
    if (argc - optind != (redeem != NULL ? 0 : 2) || config_load(dir) < 0)
        return 2;
    struct auth_result r;
    char *error = NULL;
    int rc;
    if (redeem != NULL)
        rc = auth_client_redeem(redeem, req.service, req.socket_path, 0, &r, &error);
    else {
        req.user = argv[optind];
        req.password = argv[optind + 1];
        rc = auth_client_verify(&req, &r, &error);
    }
    if (rc < 0) {
        printf("error=%s\n", error);
        free(error);
        return 3;
    }
    printf("status=%s\nuser=%s\nuid=%ld\ngid=%ld\nhome=%s\nreason=%s\ndelay_ms=%ld\n",
           auth_status_name(r.status), r.user ? r.user : "", r.uid, r.gid, r.home, r.reason,
           r.delay_ms);
    if (r.cookie != NULL)
        printf("cookie=%s\n", r.cookie);
    auth_result_clear(&r);
    return 0;
}
