/*
 * pickup.c - the pickup daemon (SERVER_TRIGGER): on a wakeup from
 * terndrop or every wakeup interval, scan the maildrop directory and hand
 * each complete file to cleanup (pickup_file.c; with inline_cleanup the
 * cleanup engine runs in this process).  Runs as mail_owner
 * with the queue directory as its working directory.
 */
#include "sys.h"

#include <dirent.h>

#include "cleanup_engine.h"
#include "config.h"
#include "log.h"
#include "maildrop.h"
#include "mem.h"
#include "pickup.h"
#include "queue_id.h"
#include "server.h"

#define PICKUP_SCAN_MAX 10000 /* files handled in one scan before yielding */

static void pickup_scan(void)
{
    DIR *d = opendir(MAILDROP_DIR);
    if (d == NULL) {
        msg_warn("open directory %s: %s", MAILDROP_DIR, strerror(errno));
        return;
    }
    struct dirent *e;
    size_t done = 0;
    while (done < PICKUP_SCAN_MAX && (e = readdir(d)) != NULL) {
        if (!queue_id_valid(e->d_name))
            continue;
        enum pickup_result r = pickup_file(e->d_name);
        if (r == PICKUP_RETRY)
            break;
        done++;
    }
    closedir(d);
}

static void pickup_trigger(const char *buf, size_t len, const char *service, void *ctx)
{
    (void)buf, (void)len, (void)service, (void)ctx;
    pickup_scan();
}

static void pickup_wakeup(const char *service, void *ctx)
{
    (void)service, (void)ctx;
    pickup_scan();
}

static void pickup_pre_jail(const char *service, void *ctx)
{
    (void)service, (void)ctx;
    if (cfg_bool("inline_cleanup"))
        cleanup_engine_init(); /* its tables before any chroot, like cleanup's */
}

static void pickup_post_jail(const char *service, void *ctx)
{
    (void)service, (void)ctx;
    const char *dir = getenv(SERVER_ENV_CHROOT) ? "/" : cfg_str("queue_directory");
    if (chdir(dir) < 0)
        msg_fatal("chdir %s: %s", dir, strerror(errno));
    pickup_scan();
}

int main(int argc, char **argv)
{
    static const struct server_settings s = {
        .name = "pickup",
        .mode = SERVER_TRIGGER,
        .trigger = pickup_trigger,
        .wakeup = pickup_wakeup,
        .wakeup_interval = 60,
        .pre_jail_init = pickup_pre_jail,
        .post_jail_init = pickup_post_jail,
        .no_idle_exit = true,
    };
    return server_main(argc, argv, &s);
}
