/* Generator for `make bench`: names itself "beebenchgen" (the probe's
 * filter) and calls getppid() N times in a tight loop.
 *
 *   gen [-n ITERATIONS] [-w WARMUP] [-c COMM] [-r RATE]
 *
 * -r paces the measured loop at RATE calls per second (sleeping whenever it
 * is ahead, checked every 64 calls): for consumers slower than the loop,
 * such as journald, so that what is compared is the consumers' cost per
 * event rather than how much they drop. ns_per_iter is then wall time, not
 * the traced cost.
 *
 * -c runs the measured loop under another name (the probe runs but filters
 * every call out: the cost of the attached probe without ring buffer work).
 * The warm-up loop runs first under another name ("beebenchwarm"), so it
 * produces no events. Prints one machine-readable line:
 *   gen iters=N wall_ns=T ns_per_iter=X events_per_s=R
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void loop(long n)
{
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
}

static void paced_loop(long n, long rate)
{
	long long t0 = now_ns();
	for (long i = 0; i < n; i++) {
		if ((i & 63) == 0) {
			long long due = t0 + (long long)((double)i * 1e9 / (double)rate), t = now_ns();
			if (due > t) {
				struct timespec ts = {(time_t)((due - t) / 1000000000LL), (long)((due - t) % 1000000000LL)};
				nanosleep(&ts, NULL);
			}
		}
		syscall(SYS_getppid);
	}
}

int main(int argc, char **argv)
{
	long n = 2000000, warm = 200000, rate = 0;
	const char *comm = "beebenchgen";
	int opt;

	while ((opt = getopt(argc, argv, "n:w:c:r:")) != -1) {
		switch (opt) {
		case 'n': n = atol(optarg); break;
		case 'w': warm = atol(optarg); break;
		case 'c': comm = optarg; break;
		case 'r': rate = atol(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-n ITERATIONS] [-w WARMUP] [-c COMM] [-r RATE]\n", argv[0]);
			return 2;
		}
	}
	if (n <= 0 || warm < 0 || rate < 0) {
		fprintf(stderr, "gen: -n must be > 0, -w and -r >= 0\n");
		return 2;
	}
	if (prctl(PR_SET_NAME, "beebenchwarm", 0, 0, 0) != 0) {
		perror("gen: prctl(PR_SET_NAME)");
		return 1;
	}
	loop(warm);
	if (prctl(PR_SET_NAME, comm, 0, 0, 0) != 0) {
		perror("gen: prctl(PR_SET_NAME)");
		return 1;
	}
	long long t0 = now_ns();
	if (rate > 0)
		paced_loop(n, rate);
	else
		loop(n);
	long long t1 = now_ns();
	/* leave the name so no event can follow the measured loop */
	prctl(PR_SET_NAME, "beebenchdone", 0, 0, 0);
	double wall = (double)(t1 - t0);
	printf("gen iters=%ld wall_ns=%lld ns_per_iter=%.1f events_per_s=%.0f\n",
	       n, t1 - t0, wall / n, n / (wall / 1e9));
	return 0;
}
