/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify-listen SOCKET SECONDS: stands in for systemd's notification socket in tests. Binds a
 * datagram socket at SOCKET, prints every message received (one line per assignment, prefixed
 * with the milliseconds since start) for SECONDS or until a message carries STOPPING=1 and the
 * sender has gone quiet for half a second, then exits 0.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/strutil.h"

static long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        long start = now_ms(), limit;
        uint32_t seconds;
        bool stopping = false;
        int fd;

        if (argc != 3 || strlen(argv[1]) >= sizeof(a.sun_path) || safe_atou32(argv[2], &seconds) < 0) {
                fprintf(stderr, "usage: notify-listen SOCKET SECONDS\n");
                return 2;
        }
        memcpy(a.sun_path, argv[1], strlen(argv[1]) + 1);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0) {
                perror("notify-listen");
                return 1;
        }
        printf("%ld LISTENING\n", 0L);
        fflush(stdout);
        limit = start + (long) seconds * 1000;
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                long left = limit - now_ms();
                char buf[4096], *line, *end;
                ssize_t n;
                int k;

                if (left <= 0)
                        break;
                k = poll(&p, 1, stopping ? 500 : (int) left);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break; /* time is up, or quiet after STOPPING=1 */
                n = recv(fd, buf, sizeof(buf) - 1, 0);
                if (n < 0)
                        continue;
                buf[n] = '\0';
                for (line = buf; *line; line = end) {
                        end = strchr(line, '\n');
                        if (end)
                                *end++ = '\0';
                        else
                                end = line + strlen(line);
                        if (!*line)
                                continue;
                        printf("%ld %s\n", now_ms() - start, line);
                        stopping = stopping || strcmp(line, "STOPPING=1") == 0;
                }
                fflush(stdout);
        }
        close(fd);
        unlink(argv[1]);
        return 0;
}
