/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-time: how long one shell command takes, wall-clock on CLOCK_MONOTONIC, for the benchmark
 * scripts (bench/bench-unlock).
 *
 *   bench-time COMMAND
 *
 * runs `/bin/sh -c COMMAND` with stdin and stdout on /dev/null (an unlock's output may be a
 * passphrase) and stderr inherited, then prints the elapsed milliseconds ("%.3f\n") on stdout and
 * exits with the command's status (128 + N when signal N ended it). The clock is read just before
 * posix_spawn and just after waitpid, so this program's own start is outside the figure, and
 * every command timed through it pays the same `sh -c`.
 *
 * Why not `date +%s%N` around the command in the script: that is CLOCK_REALTIME (NTP may slew or
 * step it during a run) and costs a fork and exec of its own on each side of the command;
 * bash's $EPOCHREALTIME is also the realtime clock. hyperfine is not in the tests' packages and
 * runs each command's repetitions back to back, where the unlock benchmark interleaves peers.
 *
 * Exit: the command's status; 2 on bad usage; 127 when it cannot be started.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ms(void) {
        struct timespec t;

        (void) clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) t.tv_sec * 1e3 + (double) t.tv_nsec / 1e6;
}

int main(int argc, char *argv[]) {
        posix_spawn_file_actions_t fa;
        char *child[] = {(char *) "sh", (char *) "-c", NULL, NULL};
        double t0, t1;
        int status, r;
        pid_t pid;

        if (argc != 2 || argv[1][0] == '\0') {
                fprintf(stderr, "usage: bench-time COMMAND\n");
                return 2;
        }
        child[2] = argv[1];

        r = posix_spawn_file_actions_init(&fa);
        if (r == 0)
                r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        if (r != 0) {
                fprintf(stderr, "bench-time: %s\n", strerror(r));
                return 127;
        }
        t0 = now_ms();
        r = posix_spawn(&pid, "/bin/sh", &fa, NULL, child, environ);
        (void) posix_spawn_file_actions_destroy(&fa);
        if (r != 0) {
                fprintf(stderr, "bench-time: cannot run /bin/sh: %s\n", strerror(r));
                return 127;
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        fprintf(stderr, "bench-time: waitpid: %s\n", strerror(errno));
                        return 127;
                }
        t1 = now_ms();

        printf("%.3f\n", t1 - t0);
        if (fflush(stdout) != 0)
                return 127;
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 127;
}
