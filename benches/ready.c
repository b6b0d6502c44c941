/* Start-up probe for `make bench`: runs a daemon with NOTIFY_SOCKET pointing
 * at a private socket, times exec -> "READY=1", lets it settle, reads its
 * peak RSS, stops it with SIGTERM and times the stop.
 *
 *   ready [-s SETTLE_MS] [-t TIMEOUT_S] -- COMMAND [ARGS...]
 *
 * Prints: ready pid=P ready_ms=R vmhwm_kb=H vmrss_kb=S stop_ms=T exit=X notify_status=TEXT
 * (TEXT: the STATUS= the daemon sent with or before READY=1). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	long v = -1;
	size_t klen = strlen(key);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':')
			v = atol(line + klen + 1);
	fclose(f);
	return v;
}

/* waits up to ms for pid to exit; returns its wait status or -1 */
static int wait_exit(pid_t pid, int ms)
{
	int st;
	for (int i = 0; i < ms; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0)
			return -1;
		usleep(1000);
	}
	return -1;
}

int main(int argc, char **argv)
{
	long settle_ms = 1000, timeout_s = 60;
	int opt;

	while ((opt = getopt(argc, argv, "+s:t:")) != -1) {
		switch (opt) {
		case 's': settle_ms = atol(optarg); break;
		case 't': timeout_s = atol(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-s SETTLE_MS] [-t TIMEOUT_S] -- COMMAND [ARGS...]\n", argv[0]);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "ready: no command\n");
		return 2;
	}

	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/beed-bench-notify-%d.sock", (int)getpid());
	unlink(sa.sun_path);
	int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || bind(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("ready: notify socket");
		return 1;
	}
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);

	double t0 = now_ms();
	pid_t pid = fork();
	if (pid < 0) {
		perror("ready: fork");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[optind], argv + optind);
		perror("ready: exec");
		_exit(127);
	}

	double t_ready = -1;
	char buf[4096], status[512] = "";
	while (t_ready < 0) {
		double left = timeout_s * 1e3 - (now_ms() - t0);
		if (left <= 0) {
			fprintf(stderr, "ready: no READY=1 within %lds\n", timeout_s);
			break;
		}
		struct pollfd p = { .fd = sock, .events = POLLIN };
		int r = poll(&p, 1, left > 100 ? 100 : (int)left + 1);
		if (r > 0) {
			ssize_t n = recv(sock, buf, sizeof(buf) - 1, 0);
			if (n > 0) {
				buf[n] = 0;
				for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
					if (!strcmp(l, "READY=1"))
						t_ready = now_ms();
					else if (!strncmp(l, "STATUS=", 7))
						snprintf(status, sizeof(status), "%s", l + 7);
			}
		}
		int st;
		if (t_ready < 0 && waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "ready: %s exited before READY=1 (status %d)\n", argv[optind], st);
			unlink(sa.sun_path);
			return 1;
		}
	}
	if (t_ready >= 0)
		usleep((useconds_t)settle_ms * 1000);
	long hwm = status_kb(pid, "VmHWM"), rss = status_kb(pid, "VmRSS");
	double t_stop = now_ms();
	kill(pid, SIGTERM);
	int st = wait_exit(pid, 10000);
	double stop_ms = now_ms() - t_stop;
	if (st == -1) {
		fprintf(stderr, "ready: %s did not stop within 10s of SIGTERM; killing it\n", argv[optind]);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	unlink(sa.sun_path);
	printf("ready pid=%d ready_ms=%.1f vmhwm_kb=%ld vmrss_kb=%ld stop_ms=%.1f exit=%d notify_status=%s\n",
	       (int)pid, t_ready >= 0 ? t_ready - t0 : -1.0, hwm, rss, stop_ms,
	       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), status);
	return t_ready >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
