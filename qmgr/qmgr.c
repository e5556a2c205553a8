/*
 * qmgr.c - the queue manager daemon: owns the active queue, hands each
 * message's recipients to delivery agents grouped by transport and next
 * hop, retries deferred mail with back-off and returns what cannot be
 * delivered.  Deliveries run in parallel (qmgr_sched.c) within one
 * long-running process (master.cf: qmgr unix n - n 300 1)
 * woken through public/qmgr: "A" new mail, "F" flush the deferred queue;
 * anything else (master's periodic wakeup) is a general scan.  Wakeup
 * requests are served while deliveries are in flight too (qmgr_sched.c).
 * The process does not exit for max_use or max_idle: it remembers its
 * destinations (concurrency windows, dead destinations); it exits, to be
 * started afresh, when main.cf or master.cf changes.
 */
#include "sys.h"

#include <sys/stat.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "cleanup_proto.h"
#include "qmgr.h"
#include "resolve.h"
#include "server.h"

/* How often the daemon looks at its queues without being asked. */
#define QMGR_TICK 1

/* main.cf and master.cf as they were when this process read them. */
static struct timespec qmgr_cf_mtime[2];

static void qmgr_cf_stat(struct timespec *mtimes)
{
    static const char *const names[] = {"main.cf", "master.cf"};
    for (size_t i = 0; i < N_ELEMENTS(names); i++) {
        char *path = xasprintf("%s/%s", cfg_str("config_directory"), names[i]);
        struct stat st;
        /* not there (a chroot, say): as before */
        mtimes[i] = stat(path, &st) == 0 ? st.st_mtim : qmgr_cf_mtime[i];
        free(path);
    }
}

/*
 * The process lives on (no max_use exit) and master keeps an unchanged
 * service's process across a reload: so when the configuration files
 * change, exit while nothing is in flight, and the next wakeup request
 * starts a queue manager that reads them.
 */
static void qmgr_restart_if_changed(void)
{
    struct timespec now[2];
    qmgr_cf_stat(now);
    for (size_t i = 0; i < N_ELEMENTS(now); i++)
        if (now[i].tv_sec != qmgr_cf_mtime[i].tv_sec ||
            now[i].tv_nsec != qmgr_cf_mtime[i].tv_nsec) {
            msg_info("configuration changed -- restarting");
            exit(0);
        }
}

static void qmgr_trigger(const char *buf, size_t len, const char *service, void *ctx)
{
    (void)service;
    (void)ctx;
    qmgr_sched_request(memchr(buf, QMGR_REQ_FLUSH, len) != NULL);
    qmgr_sched_run();
}

static void qmgr_wakeup(const char *service, void *ctx)
{
    (void)service;
    (void)ctx;
    qmgr_restart_if_changed();
    qmgr_sched_tick();
    qmgr_sched_request(false);
    qmgr_sched_run();
}

static void qmgr_pre_jail(const char *service, void *ctx)
{
    (void)service;
    (void)ctx;
    qmgr_cf_stat(qmgr_cf_mtime);
    qmgr_sched_init();
}

static void qmgr_init(const char *service, void *ctx)
{
    (void)service;
    (void)ctx;
    qmgr_queue_init();
    qmgr_scan_active();
    qmgr_sched_request(false);
    qmgr_sched_run();
}

int main(int argc, char **argv)
{
    static const struct server_settings s = {
        .name = "qmgr",
        .mode = SERVER_TRIGGER,
        .trigger = qmgr_trigger,
        .pre_jail_init = qmgr_pre_jail,
        .post_jail_init = qmgr_init,
        .wakeup = qmgr_wakeup,
        .wakeup_interval = QMGR_TICK,
        .no_idle_exit = true,
        .no_use_exit = true,
    };
    return server_main(argc, argv, &s);
}
