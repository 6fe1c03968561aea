/* SPDX-License-Identifier: Apache-2.0 */
/* Alert delivery (agent/alert.h): the journal or stderr, the webhook, the exec hook. [io] */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include <json-c/json.h>
#include <systemd/sd-journal.h>

#include "agent/alert.h"
#include "agent/state.h"
#include "common/diag.h"
#include "common/http.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/time-util.h"

#define WEBHOOK_TIMEOUT_MS_DEFAULT 5000u
#define RETRY_INITIAL_MS_DEFAULT   1000u
#define RETRY_MAX_MS_DEFAULT       60000u
#define ATTEMPTS_MAX_DEFAULT       8u
#define QUEUE_MAX_DEFAULT          64u
#define EXEC_TIMEOUT_MS_DEFAULT    10000u
#define LOCK_TIMEOUT_USEC          (5u * 1000u * 1000u)
/* What a webhook may answer; the body is not read beyond that. */
#define WEBHOOK_BODY_MAX (64u * 1024u)
/* Where journald listens for native entries (sd_journal_send's socket). */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static struct timespec abs_monotonic(uint64_t usec) {
        return (struct timespec){.tv_sec = (time_t) (usec / 1000000u),
                                 .tv_nsec = (long) (usec % 1000000u) * 1000};
}

/* ---- queues ---- */

/* One alert waiting for a hook. */
typedef struct Delivery {
        char *body; /* the alert's JSON */
        size_t size;
        char **env; /* exec hook: its environment, NULL-terminated */
        unsigned attempts;
} Delivery;

static void delivery_free(Delivery *d) {
        if (!d)
                return;
        free(d->body);
        for (size_t i = 0; d->env && d->env[i]; i++)
                free(d->env[i]);
        free(d->env);
        free(d);
}

struct Alerter;

/* 0 delivered, -EAGAIN worth another attempt (after *retry_after_ms when set), other -errno
 * final; err gets the reason. */
typedef int (*DeliverFunc)(struct Alerter *a, const Delivery *d, unsigned *retry_after_ms,
                           char *err, size_t err_size);

/* A bounded queue served by one thread. */
typedef struct Hook {
        const char *name;
        DeliverFunc deliver;
        unsigned attempts_max;
        bool started;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake; /* something queued, or stop */
        pthread_cond_t idle; /* the queue emptied */
        Delivery **queue;
        size_t n, max;
        bool busy; /* a delivery is in the thread's hands */
        bool stop;
        bool have_lock, have_wake, have_idle;
        AlertDeliveryStats stats;
} Hook;

struct Alerter {
        AlertOptions o;
        char *state_dir, *webhook, *ca_file, *exec;
        char host[256];
        Hook hooks[2]; /* webhook, exec */
        bool has_hook[2];
};

enum { HOOK_WEBHOOK, HOOK_EXEC };

static void hook_set_error(Hook *h, const char *err) {
        (void) snprintf(h->stats.last_error, sizeof(h->stats.last_error), "%s", err);
}

typedef struct HookThreadArgs {
        Alerter *a;
        Hook *h;
} HookThreadArgs;

static unsigned backoff_ms(const Alerter *a, unsigned attempts) {
        uint64_t ms = a->o.retry_initial_ms;

        for (unsigned i = 1; i < attempts && ms < a->o.retry_max_ms; i++)
                ms *= 2;
        return (unsigned) MIN(ms, (uint64_t) a->o.retry_max_ms);
}

static void *hook_thread(void *p) {
        Alerter *a = ((HookThreadArgs *) p)->a;
        Hook *h = ((HookThreadArgs *) p)->h;
        sigset_t pipe_set;

        free(p);
        /* A hook that closes its stdin early gives EPIPE here, not a signal to the agent. */
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        (void) pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);

        pthread_mutex_lock(&h->lock);
        for (;;) {
                Delivery *d;

                while (h->n == 0 && !h->stop)
                        pthread_cond_wait(&h->wake, &h->lock);
                if (h->stop)
                        break;
                d = h->queue[0];
                memmove(h->queue, h->queue + 1, (h->n - 1) * sizeof(Delivery *));
                h->n--;
                h->busy = true;
                for (;;) {
                        char err[sizeof(h->stats.last_error)] = "";
                        unsigned retry_after = 0;
                        uint64_t deadline;
                        int r;

                        d->attempts++;
                        pthread_mutex_unlock(&h->lock);
                        r = h->deliver(a, d, &retry_after, err, sizeof(err));
                        pthread_mutex_lock(&h->lock);
                        if (r == 0) {
                                h->stats.delivered++;
                                break;
                        }
                        hook_set_error(h, err);
                        log_debug("alert %s: attempt %u: %s", h->name, d->attempts, err);
                        if (r != -EAGAIN || d->attempts >= h->attempts_max || h->stop) {
                                h->stats.failed++;
                                break;
                        }
                        h->stats.retries++;
                        deadline = now_usec() +
                                   1000u * (uint64_t) (retry_after > 0
                                                               ? MIN(retry_after, a->o.retry_max_ms)
                                                               : backoff_ms(a, d->attempts));
                        while (!h->stop && now_usec() < deadline) {
                                struct timespec ts = abs_monotonic(deadline);

                                (void) pthread_cond_timedwait(&h->wake, &h->lock, &ts);
                        }
                        if (h->stop) {
                                h->stats.failed++;
                                break;
                        }
                }
                delivery_free(d);
                h->busy = false;
                if (h->n == 0)
                        pthread_cond_broadcast(&h->idle);
        }
        /* Stopped: what still waits is given up on. */
        h->stats.failed += h->n;
        for (size_t i = 0; i < h->n; i++)
                delivery_free(h->queue[i]);
        h->n = 0;
        pthread_cond_broadcast(&h->idle);
        pthread_mutex_unlock(&h->lock);
        return NULL;
}

static int hook_init(Alerter *a, Hook *h, const char *name, DeliverFunc f, unsigned attempts_max) {
        pthread_condattr_t ca;
        HookThreadArgs *args;
        sigset_t all, old;
        int r;

        *h = (Hook){
                .name = name, .deliver = f, .attempts_max = attempts_max, .max = a->o.queue_max};
        h->queue = calloc(h->max, sizeof(Delivery *));
        if (!h->queue)
                return -ENOMEM;
        if (pthread_mutex_init(&h->lock, NULL) != 0)
                return -ENOMEM;
        h->have_lock = true;
        if (pthread_condattr_init(&ca) != 0)
                return -ENOMEM;
        /* Deadlines are on the monotonic clock: a clock step must not stretch a backoff. */
        (void) pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        h->have_wake = pthread_cond_init(&h->wake, &ca) == 0;
        h->have_idle = h->have_wake && pthread_cond_init(&h->idle, &ca) == 0;
        pthread_condattr_destroy(&ca);
        if (!h->have_idle)
                return -ENOMEM;
        args = malloc(sizeof(*args));
        if (!args)
                return -ENOMEM;
        *args = (HookThreadArgs){a, h};
        /* The thread takes no signal meant for the program. */
        sigfillset(&all);
        (void) pthread_sigmask(SIG_BLOCK, &all, &old);
        r = pthread_create(&h->thread, NULL, hook_thread, args);
        (void) pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0) {
                free(args);
                return -r;
        }
        h->started = true;
        return 0;
}

static void hook_stop(Hook *h) {
        if (!h->started)
                return;
        pthread_mutex_lock(&h->lock);
        h->stop = true;
        pthread_cond_broadcast(&h->wake);
        pthread_mutex_unlock(&h->lock);
        (void) pthread_join(h->thread, NULL);
        h->started = false;
}

static void hook_done(Hook *h) {
        hook_stop(h);
        for (size_t i = 0; h->queue && i < h->n; i++)
                delivery_free(h->queue[i]);
        free(h->queue);
        if (h->have_wake)
                pthread_cond_destroy(&h->wake);
        if (h->have_idle)
                pthread_cond_destroy(&h->idle);
        if (h->have_lock)
                pthread_mutex_destroy(&h->lock);
        *h = (Hook){};
}

/* Queues d (taking it): a full queue drops its oldest waiting delivery. */
static void hook_push(Hook *h, Delivery *d) {
        pthread_mutex_lock(&h->lock);
        if (h->stop) {
                h->stats.failed++;
                pthread_mutex_unlock(&h->lock);
                delivery_free(d);
                return;
        }
        if (h->n >= h->max) {
                delivery_free(h->queue[0]);
                memmove(h->queue, h->queue + 1, (h->n - 1) * sizeof(Delivery *));
                h->n--;
                h->stats.dropped++;
                hook_set_error(h, "queue full: the oldest alert was dropped");
        }
        h->queue[h->n++] = d;
        h->stats.queued++;
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->lock);
}

static int hook_flush(Hook *h, uint64_t deadline) {
        int r = 0;

        pthread_mutex_lock(&h->lock);
        while ((h->n > 0 || h->busy) && !h->stop) {
                struct timespec ts = abs_monotonic(deadline);

                if (now_usec() >= deadline ||
                    pthread_cond_timedwait(&h->idle, &h->lock, &ts) == ETIMEDOUT) {
                        r = h->n > 0 || h->busy ? -ETIMEDOUT : 0;
                        break;
                }
        }
        pthread_mutex_unlock(&h->lock);
        return r;
}

/* ---- the webhook ---- */

static int deliver_webhook(Alerter *a, const Delivery *d, unsigned *retry_after_ms, char *err,
                           size_t err_size) {
        HttpOptions o = {
                .timeout_ms = a->o.webhook_timeout_ms,
                .max_body = WEBHOOK_BODY_MAX,
                .ca_file = a->ca_file,
        };
        HttpResponse resp = {};
        Diag dg = {};
        long status;
        int r;

        r = http_request("POST", a->webhook, d->body, d->size, &o, &resp, &dg);
        if (r < 0) {
                (void) snprintf(err, err_size, "%s", diag_text(&dg, strerror(-r)));
                /* A body too big is still an answer, but not one worth waiting for. */
                return r == -EINVAL ? r : -EAGAIN;
        }
        status = resp.status;
        *retry_after_ms = resp.retry_after > 0 ? MIN(resp.retry_after, 3600u) * 1000u : 0;
        http_response_done(&resp);
        if (status >= 200 && status <= 299)
                return 0;
        (void) snprintf(err, err_size, "POST %s: HTTP %ld", a->webhook, status);
        if (status == 408 || status == 429 || status >= 500)
                return -EAGAIN;
        return -EPROTO;
}

/* ---- the exec hook ---- */

/* Writes all of p to a non-blocking fd before deadline. */
static int write_all(int fd, const char *p, size_t n, uint64_t deadline) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                uint64_t now;

                if (k > 0) {
                        p += k;
                        n -= (size_t) k;
                        continue;
                }
                if (k < 0 && errno != EAGAIN && errno != EINTR)
                        return -errno;
                now = now_usec();
                if (now >= deadline)
                        return -ETIMEDOUT;
                if (poll(&pfd, 1, (int) MIN((deadline - now) / 1000u + 1, (uint64_t) 1000)) < 0 &&
                    errno != EINTR)
                        return -errno;
        }
        return 0;
}

static int deliver_exec(Alerter *a, const Delivery *d, unsigned *retry_after_ms, char *err,
                        size_t err_size) {
        char *const argv[] = {a->exec, NULL};
        uint64_t deadline = now_usec() + 1000u * (uint64_t) a->o.exec_timeout_ms;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, defaults;
        int fds[2], r, status = 0, w;
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC) < 0) {
                (void) snprintf(err, err_size, "%s: pipe: %s", a->exec, strerror(errno));
                return -errno;
        }
        sigemptyset(&none);
        sigemptyset(&defaults);
        sigaddset(&defaults, SIGPIPE);
        sigaddset(&defaults, SIGCHLD);
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        r = posix_spawn_file_actions_adddup2(&fa, fds[0], STDIN_FILENO);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
        /* Nothing of the agent's but stdin, stdout and stderr reaches the hook. */
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
        if (r == 0)
                r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                            POSIX_SPAWN_SETSIGDEF);
        if (r == 0)
                r = posix_spawnattr_setpgroup(&attr, 0);
        if (r == 0)
                r = posix_spawnattr_setsigmask(&attr, &none);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(&attr, &defaults);
        if (r == 0)
                r = posix_spawn(&pid, a->exec, &fa, &attr, argv, d->env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        (void) close(fds[0]);
        if (r != 0) {
                (void) close(fds[1]);
                (void) snprintf(err, err_size, "%s: cannot run: %s", a->exec, strerror(r));
                return -r;
        }
        (void) fcntl(fds[1], F_SETFL, O_NONBLOCK);
        r = write_all(fds[1], d->body, d->size, deadline);
        (void) close(fds[1]);
        /* A hook that does not read its stdin is its business: EPIPE is not a failure. */
        if (r == -EPIPE)
                r = 0;
        for (;;) {
                struct timespec pause = {.tv_nsec = 5 * 1000 * 1000};

                w = waitpid(pid, &status, WNOHANG);
                if (w == pid || (w < 0 && errno != EINTR))
                        break;
                if (now_usec() >= deadline) {
                        (void) kill(-pid, SIGKILL);
                        (void) waitpid(pid, &status, 0);
                        (void) snprintf(err, err_size, "%s: killed after %u ms", a->exec,
                                        a->o.exec_timeout_ms);
                        return -ETIME;
                }
                (void) nanosleep(&pause, NULL);
        }
        if (w < 0) {
                (void) snprintf(err, err_size, "%s: waitpid: %s", a->exec, strerror(errno));
                return -ECHILD;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return r == -ETIMEDOUT ? -ETIME : 0;
        if (WIFEXITED(status))
                (void) snprintf(err, err_size, "%s: exited with status %d", a->exec,
                                WEXITSTATUS(status));
        else
                (void) snprintf(err, err_size, "%s: killed by signal %d", a->exec,
                                WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        return -EAGAIN;
}

/* Appends a formatted string to env; a failure leaves a NULL there, found at the end. */
static void env_add(char **env, size_t *n, const char *fmt, ...) _printf_(3, 4);
static void env_add(char **env, size_t *n, const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        env[(*n)++] = s;
}

/* PATH and the alert as CVM_AGENT_ALERT_* and its fields. */
static int exec_env(const Alerter *a, const Alert *al, char ***ret) {
        char **env = calloc(16 + ALERT_FIELDS_MAX + 1, sizeof(char *));
        char t[32], s[32];
        size_t n = 0;

        if (!env)
                return -ENOMEM;
        format_rfc3339((time_t) al->time, t, sizeof(t));
        format_rfc3339((time_t) al->since, s, sizeof(s));
        env_add(env, &n, "PATH=/usr/sbin:/usr/bin:/sbin:/bin");
        env_add(env, &n, "CVM_AGENT_ALERT_KIND=%s", alert_kind_to_string(al->kind));
        env_add(env, &n, "CVM_AGENT_ALERT_RECOVERY=%d", al->recovery);
        env_add(env, &n, "CVM_AGENT_ALERT_KEY=%s", al->key);
        env_add(env, &n, "CVM_AGENT_ALERT_ID=%s", al->id);
        env_add(env, &n, "CVM_AGENT_ALERT_MESSAGE_ID=%s", alert_message_id(al->kind, al->recovery));
        env_add(env, &n, "CVM_AGENT_ALERT_PRIORITY=%d", alert_priority(al->kind, al->recovery));
        env_add(env, &n, "CVM_AGENT_ALERT_MESSAGE=%s", al->message);
        env_add(env, &n, "CVM_AGENT_ALERT_TIME=%s", t);
        env_add(env, &n, "CVM_AGENT_ALERT_SINCE=%s", s);
        env_add(env, &n, "CVM_AGENT_ALERT_HOST=%s", a->host);
        if (al->supersedes[0])
                env_add(env, &n, "CVM_AGENT_ALERT_SUPERSEDES=%s", al->supersedes);
        for (size_t i = 0; i < al->n_fields; i++)
                env_add(env, &n, "%s", al->fields[i]);
        for (size_t i = 0; i < n; i++)
                if (!env[i]) {
                        for (size_t j = 0; j < n; j++)
                                free(env[j]);
                        free(env);
                        return -ENOMEM;
                }
        *ret = env;
        return 0;
}

/* ---- the journal, or stderr ---- */

static int send_journal(const Alert *al) {
        char *f[12 + ALERT_FIELDS_MAX];
        struct iovec iov[12 + ALERT_FIELDS_MAX];
        char t[32];
        size_t n = 0;
        int r = 0;

        format_rfc3339((time_t) al->since, t, sizeof(t));
        if (asprintf(&f[n++], "MESSAGE=%s", al->message) < 0 ||
            asprintf(&f[n++], "MESSAGE_ID=%s", alert_message_id(al->kind, al->recovery)) < 0 ||
            asprintf(&f[n++], "PRIORITY=%d", alert_priority(al->kind, al->recovery)) < 0 ||
            asprintf(&f[n++], "SYSLOG_IDENTIFIER=%s", "cvm-agent") < 0 ||
            asprintf(&f[n++], "CVM_AGENT_ALERT_KIND=%s", alert_kind_to_string(al->kind)) < 0 ||
            asprintf(&f[n++], "CVM_AGENT_ALERT_KEY=%s", al->key) < 0 ||
            asprintf(&f[n++], "CVM_AGENT_ALERT_ID=%s", al->id) < 0 ||
            asprintf(&f[n++], "CVM_AGENT_ALERT_RECOVERY=%d", al->recovery) < 0 ||
            asprintf(&f[n++], "CVM_AGENT_ALERT_SINCE=%s", t) < 0 ||
            (al->supersedes[0] &&
             asprintf(&f[n++], "CVM_AGENT_ALERT_SUPERSEDES=%s", al->supersedes) < 0)) {
                n--; /* the one that failed holds nothing to free */
                r = -ENOMEM;
        }
        if (r == 0) {
                for (size_t i = 0; i < al->n_fields; i++)
                        f[n++] = al->fields[i];
                for (size_t i = 0; i < n; i++)
                        iov[i] = (struct iovec){.iov_base = f[i], .iov_len = strlen(f[i])};
                r = sd_journal_sendv(iov, (int) n);
                n -= al->n_fields; /* borrowed */
        }
        for (size_t i = 0; i < n; i++)
                free(f[i]);
        return r;
}

/* sd_journal_send() reports success when journald's socket is not there at all (it drops the
 * entry on purpose), so look for the socket first. */
static bool journal_present(void) {
        struct stat st;

        return stat(JOURNAL_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode);
}

int alerter_send(Alerter *a, const Alert *al) {
        int r = -ENOENT;

        if (!a || !al)
                return -EINVAL;
        if (!a->o.stderr_only && journal_present())
                r = send_journal(al);
        if (r < 0) {
                _cleanup_(freep) char *line = NULL;

                log_debug("alert: journal: %s; writing to stderr", strerror(-r));
                r = alert_to_line(al, &line);
                if (r < 0)
                        return r;
                /* The alert's own priority: this is its delivery, not a library's log. */
                (void) log_full_errno(alert_priority(al->kind, al->recovery), 0, "%s", line);
                if (fflush(stderr) != 0)
                        return -EIO;
        }
        for (size_t k = 0; k < ELEMENTSOF(a->hooks); k++) {
                _cleanup_(json_object_putp) json_object *o = NULL;
                Delivery *d;
                const char *text;

                if (!a->has_hook[k])
                        continue;
                r = alert_to_json(al, a->host, &o);
                if (r < 0)
                        return r;
                text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
                d = calloc(1, sizeof(*d));
                if (!d || !text || asprintf(&d->body, "%s\n", text) < 0) {
                        free(d);
                        return -ENOMEM;
                }
                d->size = strlen(d->body);
                if (k == HOOK_EXEC) {
                        r = exec_env(a, al, &d->env);
                        if (r < 0) {
                                delivery_free(d);
                                return r;
                        }
                }
                hook_push(&a->hooks[k], d);
        }
        return 0;
}

/* ---- the Alerter ---- */

Alerter *alerter_free(Alerter *a) {
        if (!a)
                return NULL;
        for (size_t k = 0; k < ELEMENTSOF(a->hooks); k++)
                hook_done(&a->hooks[k]);
        free(a->state_dir);
        free(a->webhook);
        free(a->ca_file);
        free(a->exec);
        free(a);
        return NULL;
}

void alerter_freep(Alerter **a) {
        *a = alerter_free(*a);
}

static int strdup_opt(const char *s, char **ret) {
        *ret = NULL;
        if (!s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int alerter_new(const AlertOptions *o, Alerter **ret, Diag *d) {
        _cleanup_(alerter_freep) Alerter *a = NULL;
        int r;

        if (!o || !ret)
                return -EINVAL;
        if (o->webhook && strncasecmp(o->webhook, "http://", 7) != 0 &&
            strncasecmp(o->webhook, "https://", 8) != 0)
                return diag_set(d, -EINVAL, "alert webhook %s: not an http:// or https:// URL",
                                o->webhook);
        if (o->exec) {
                struct stat st;

                if (o->exec[0] != '/')
                        return diag_set(d, -EINVAL, "alert exec hook %s: not an absolute path",
                                        o->exec);
                if (stat(o->exec, &st) < 0 || !S_ISREG(st.st_mode) || access(o->exec, X_OK) < 0)
                        return diag_set(d, -EINVAL, "alert exec hook %s: not an executable file",
                                        o->exec);
        }
        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->o = *o;
        if (strdup_opt(o->state_dir, &a->state_dir) < 0 ||
            strdup_opt(o->webhook, &a->webhook) < 0 || strdup_opt(o->ca_file, &a->ca_file) < 0 ||
            strdup_opt(o->exec, &a->exec) < 0)
                return -ENOMEM;
        a->o.state_dir = a->state_dir;
        a->o.webhook = a->webhook;
        a->o.ca_file = a->ca_file;
        a->o.exec = a->exec;
        a->o.host = NULL;
        a->o.webhook_timeout_ms = o->webhook_timeout_ms ?: WEBHOOK_TIMEOUT_MS_DEFAULT;
        a->o.retry_initial_ms = o->retry_initial_ms ?: RETRY_INITIAL_MS_DEFAULT;
        a->o.retry_max_ms = MAX(o->retry_max_ms ?: RETRY_MAX_MS_DEFAULT, a->o.retry_initial_ms);
        a->o.attempts_max = o->attempts_max ?: ATTEMPTS_MAX_DEFAULT;
        a->o.queue_max = o->queue_max ?: QUEUE_MAX_DEFAULT;
        a->o.exec_timeout_ms = o->exec_timeout_ms ?: EXEC_TIMEOUT_MS_DEFAULT;
        if (o->host)
                (void) snprintf(a->host, sizeof(a->host), "%s", o->host);
        else if (gethostname(a->host, sizeof(a->host) - 1) < 0)
                (void) snprintf(a->host, sizeof(a->host), "localhost");
        if (a->state_dir) {
                r = state_dir_ensure(a->state_dir);
                if (r < 0)
                        return diag_set(d, r, "state directory %s: %s", a->state_dir, strerror(-r));
        }
        if (a->webhook) {
                r = http_global_init();
                if (r < 0)
                        return diag_set(d, r, "alert webhook: cannot initialise libcurl");
                r = hook_init(a, &a->hooks[HOOK_WEBHOOK], "webhook", deliver_webhook,
                              a->o.attempts_max);
                if (r < 0)
                        return diag_set(d, r, "alert webhook: cannot start its thread");
                a->has_hook[HOOK_WEBHOOK] = true;
        }
        if (a->exec) {
                r = hook_init(a, &a->hooks[HOOK_EXEC], "exec", deliver_exec, 1);
                if (r < 0)
                        return diag_set(d, r, "alert exec hook: cannot start its thread");
                a->has_hook[HOOK_EXEC] = true;
        }
        *ret = TAKE_PTR(a);
        return 0;
}

int alerter_flush(Alerter *a, uint64_t timeout_usec) {
        uint64_t deadline = now_usec() + timeout_usec;
        int r = 0;

        for (size_t k = 0; a && k < ELEMENTSOF(a->hooks); k++)
                if (a->has_hook[k] && hook_flush(&a->hooks[k], deadline) < 0)
                        r = -ETIMEDOUT;
        return r;
}

void alerter_stats(Alerter *a, AlertDeliveryStats *ret_webhook, AlertDeliveryStats *ret_exec) {
        AlertDeliveryStats *out[2] = {ret_webhook, ret_exec};

        for (size_t k = 0; k < ELEMENTSOF(out); k++) {
                Hook *h = &a->hooks[k];

                if (!out[k])
                        continue;
                if (!a->has_hook[k]) {
                        *out[k] = (AlertDeliveryStats){};
                        continue;
                }
                pthread_mutex_lock(&h->lock);
                *out[k] = h->stats;
                out[k]->pending = h->n + h->busy;
                pthread_mutex_unlock(&h->lock);
        }
}

int alert_state_load(const char *state_dir, AlertSet *ret, Diag *d) {
        _cleanup_(freep) char *text = NULL;
        size_t size;
        int r;

        r = state_read_file(state_dir, STATE_FILE_ALERTS, ALERT_SET_FILE_MAX, &text, &size);
        if (r == -ENOENT) {
                *ret = (AlertSet){};
                return 0;
        }
        if (r < 0)
                return diag_set(d, r, "%s/%s: %s", state_dir, STATE_FILE_ALERTS, strerror(-r));
        r = alert_set_parse(text, size, ret, d);
        if (r < 0)
                return diag_prefix(d, r, "%s/%s", state_dir, STATE_FILE_ALERTS);
        return 0;
}

int alerter_update(Alerter *a, uint32_t evaluated, const AlertCondition *conds, size_t n,
                   int64_t now, size_t *ret_sent, Diag *d) {
        _cleanup_(alert_set_done) AlertSet open = {};
        _cleanup_(closep) int lock = -EBADF;
        _cleanup_(freep) char *text = NULL;
        Alert **alerts = NULL;
        size_t n_alerts = 0, sent = 0;
        int r, k = 0;

        if (!a)
                return -EINVAL;
        if (a->state_dir) {
                r = state_lock(a->state_dir, LOCK_TIMEOUT_USEC, &lock);
                if (r < 0)
                        return diag_set(d, r, "%s/%s: %s", a->state_dir, STATE_FILE_LOCK,
                                        strerror(-r));
                r = alert_state_load(a->state_dir, &open, d);
                if (r == -ENOMEM)
                        return r;
                /* A file that does not parse is replaced: the monitor goes on from nothing
                 * open (and alerts again) rather than never alerting. */
                if (r < 0)
                        k = r;
        }
        r = alert_set_update(&open, evaluated, conds, n, now, &alerts, &n_alerts);
        if (r < 0)
                return diag_set(d, r, "alerts: %s",
                                r == -E2BIG ? "too many open conditions" : "a malformed condition");
        for (size_t i = 0; i < n_alerts; i++) {
                r = alerter_send(a, alerts[i]);
                if (r >= 0)
                        sent++;
                else if (k >= 0)
                        k = diag_set(d, r, "alert %s: %s", alerts[i]->key, strerror(-r));
                alert_free(alerts[i]);
        }
        free(alerts);
        if (a->state_dir) {
                r = alert_set_to_json(&open, &text);
                if (r >= 0)
                        r = state_write_file(a->state_dir, STATE_FILE_ALERTS, text, strlen(text));
                if (r < 0 && k >= 0)
                        k = diag_set(d, r, "%s/%s: %s", a->state_dir, STATE_FILE_ALERTS,
                                     strerror(-r));
        }
        if (ret_sent)
                *ret_sent = sent;
        return k;
}
