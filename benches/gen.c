/* Generator for `make bench`: names itself "beebenchgen" (the probe's
 * filter) and calls getppid() N times in a tight loop.
 *
 *   gen [-n ITERATIONS] [-w WARMUP] [-c COMM]
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

int main(int argc, char **argv)
{
	long n = 2000000, warm = 200000;
	const char *comm = "beebenchgen";
	int opt;

	while ((opt = getopt(argc, argv, "n:w:c:")) != -1) {
		switch (opt) {
		case 'n': n = atol(optarg); break;
		case 'w': warm = atol(optarg); break;
		case 'c': comm = optarg; break;
		default:
			fprintf(stderr, "usage: %s [-n ITERATIONS] [-w WARMUP] [-c COMM]\n", argv[0]);
			return 2;
		}
	}
	if (n <= 0 || warm < 0) {
		fprintf(stderr, "gen: -n must be > 0 and -w >= 0\n");
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
	loop(n);
	long long t1 = now_ns();
	/* leave the name so no event can follow the measured loop */
	prctl(PR_SET_NAME, "beebenchdone", 0, 0, 0);
	double wall = (double)(t1 - t0);
	printf("gen iters=%ld wall_ns=%lld ns_per_iter=%.1f events_per_s=%.0f\n",
	       n, t1 - t0, wall / n, n / (wall / 1e9));
	return 0;
}
