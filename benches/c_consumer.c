/* Minimal libbpf consumer for `make bench`: the yardstick beed is compared to.
 *
 *   c_consumer -o OBJECT -m count|json [-n EXPECTED] [-l LATENCY_US]
 *              [-i IDLE_MS] [-t TIMEOUT_S]
 *
 * Opens OBJECT (benches/bench_probe.bpf.c), zeroes its ringbuf's value size
 * (the kernel refuses a RINGBUF with a value type, beed does the same), loads,
 * attaches, prints "ready" on stderr, then polls with ring_buffer__poll():
 *   count  the callback increments a counter
 *   json   the callback formats the event as a JSON line (beed's shape) with
 *          snprintf and fwrite()s it to stdout (64 KiB buffer, flushed after
 *          every poll, like beed)
 * -l LATENCY_US > 0 sleeps that long after every poll that returned events
 * (beed's [poll] latency); 0 (default) polls again immediately.
 * Stops after EXPECTED events, after IDLE_MS without events once some came,
 * after TIMEOUT_S, or on SIGINT/SIGTERM; then reports on stderr:
 *   c_consumer events=N lost=L cpu_ns=C polls=P
 * cpu_ns is getrusage(RUSAGE_SELF) user+sys from "ready" to the end; lost is
 * the probe's `beed_lost` per-CPU counter summed. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>
#include "bench_event.h"

static volatile sig_atomic_t stop;
static unsigned long long events;
static char line[512];

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static long long now_ns(int clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static int on_count(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	events++;
	return 0;
}

/* JSON string body of a NUL-padded char array */
static size_t json_str(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && s[i] && o + 7 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = 0;
	return o;
}

static int on_json(void *ctx, void *data, size_t size)
{
	const struct print_event *e = data;
	char comm[7 * sizeof(e->comm) + 1];
	int n;

	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	events++;
	json_str(comm, sizeof(comm), e->comm, sizeof(e->comm));
	n = snprintf(line, sizeof(line),
		     "{\"probe\":\"bench\",\"mapName\":\"print_events\",\"entry\":"
		     "{\"pid\":%u,\"tid\":%u,\"seq\":%llu,\"comm\":\"%s\",\"ts\":%llu}}\n",
		     e->pid, e->tid, (unsigned long long)e->seq, comm, (unsigned long long)e->ts);
	if (n > 0)
		fwrite(line, 1, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1, stdout);
	return 0;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static unsigned long long read_lost(struct bpf_object *obj)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, "beed_lost");
	int ncpu = libbpf_num_possible_cpus();
	unsigned long long sum = 0;
	__u32 zero = 0;

	if (!m || ncpu <= 0)
		return 0;
	__u64 *vals = calloc((size_t)ncpu, sizeof(*vals));
	if (vals && bpf_map_lookup_elem(bpf_map__fd(m), &zero, vals) == 0)
		for (int i = 0; i < ncpu; i++)
			sum += vals[i];
	free(vals);
	return sum;
}

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s -o OBJECT -m count|json [-n EXPECTED] [-l LATENCY_US] [-i IDLE_MS] [-t TIMEOUT_S]\n", argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *path = NULL, *mode = NULL;
	unsigned long long expect = 0;
	long latency_us = 0, idle_ms = 1000, timeout_s = 120;
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *map, *ring = NULL;
	struct ring_buffer *rb;
	unsigned long long polls = 0;
	int opt, err;

	while ((opt = getopt(argc, argv, "o:m:n:l:i:t:")) != -1) {
		switch (opt) {
		case 'o': path = optarg; break;
		case 'm': mode = optarg; break;
		case 'n': expect = strtoull(optarg, NULL, 10); break;
		case 'l': latency_us = atol(optarg); break;
		case 'i': idle_ms = atol(optarg); break;
		case 't': timeout_s = atol(optarg); break;
		default: usage(argv[0]);
		}
	}
	if (!path || !mode || (strcmp(mode, "count") && strcmp(mode, "json")))
		usage(argv[0]);
	ring_buffer_sample_fn fn = strcmp(mode, "json") ? on_count : on_json;

	libbpf_set_print(libbpf_log);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);

	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		fprintf(stderr, "c_consumer: opening %s: %s\n", path, strerror(errno));
		return 1;
	}
	bpf_object__for_each_map(map, obj) {
		if (bpf_map__type(map) == BPF_MAP_TYPE_RINGBUF) {
			ring = map;
			err = bpf_map__set_value_size(map, 0);
			if (err) {
				fprintf(stderr, "c_consumer: set_value_size(%s, 0): %d\n", bpf_map__name(map), err);
				return 1;
			}
		}
	}
	if (!ring) {
		fprintf(stderr, "c_consumer: %s has no ringbuf map\n", path);
		return 1;
	}
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "c_consumer: loading %s: %s\n", path, strerror(-err));
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__attach(prog)) {
			fprintf(stderr, "c_consumer: attaching %s: %s\n", bpf_program__name(prog), strerror(errno));
			return 1;
		}
	}
	rb = ring_buffer__new(bpf_map__fd(ring), fn, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "c_consumer: ring_buffer__new: %s\n", strerror(errno));
		return 1;
	}

	fprintf(stderr, "ready: c_consumer mode=%s map=%s latency_us=%ld\n", mode, bpf_map__name(ring), latency_us);
	long long cpu0 = cpu_ns();
	long long start = now_ns(CLOCK_MONOTONIC), last = 0;
	while (!stop) {
		err = ring_buffer__poll(rb, 100);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "c_consumer: ring_buffer__poll: %d\n", err);
			break;
		}
		long long t = now_ns(CLOCK_MONOTONIC);
		if (err > 0) {
			polls++;
			last = t;
			fflush(stdout);
			if (expect && events >= expect)
				break;
			if (latency_us > 0)
				usleep((useconds_t)latency_us);
		} else if (last && t - last > idle_ms * 1000000LL) {
			break;
		}
		if (t - start > timeout_s * 1000000000LL) {
			fprintf(stderr, "c_consumer: timeout after %lds\n", timeout_s);
			break;
		}
	}
	ring_buffer__consume(rb);
	fflush(stdout);
	long long cpu = cpu_ns() - cpu0;
	fprintf(stderr, "c_consumer events=%llu lost=%llu cpu_ns=%lld polls=%llu\n",
		events, read_lost(obj), cpu, polls);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
