/* Minimal libbpf consumer for `make bench`: the yardstick beed is compared to.
 *
 *   c_consumer -o OBJECT -m MODE [-n EXPECTED] [-l LATENCY_US]
 *              [-i IDLE_MS] [-t TIMEOUT_S]
 *
 * Opens OBJECT (benches/bench_probe.bpf.c), zeroes its ringbuf's value size
 * (the kernel refuses a RINGBUF with a value type, beed does the same), loads,
 * attaches, prints "ready" on stderr, then polls with ring_buffer__poll().
 * MODE is what the callback does with each record:
 *   count         increments a counter (any object)
 *   count-sets    counts per label set: the whole 40-byte counter_event is the
 *                 key of an open-addressing hash table (beed's counter path in C)
 *   json          formats a print_event (bench_print) as the JSON line beed
 *                 writes, "time" (RFC 3339, UTC, nanoseconds, read from
 *                 CLOCK_REALTIME per event like beed) included, with one
 *                 snprintf, and fwrite()s it to stdout (64 KiB buffer,
 *                 flushed after every poll, like beed)
 *   wide          the same for a wide_event (bench_wide): strings escaped,
 *                 IPv6 addresses with inet_ntop, the duration in Go's format
 *                 (beed's), as beed writes them
 *   journal       sends a print_event to journald with sd_journal_send():
 *                 the fields beed sends (MESSAGE "probe map name=value ...",
 *                 PRIORITY, SYSLOG_IDENTIFIER, PROBE, MAP, one upper-case
 *                 field per member, TID as BEE_TID)
 *   journal-wide  the same for a wide_event
 * -l LATENCY_US > 0 sleeps that long after every poll that returned events
 * (beed's [poll] latency); 0 (default) polls again immediately.
 * Stops after EXPECTED events, after IDLE_MS without events once some came,
 * after TIMEOUT_S, or on SIGINT/SIGTERM; then reports on stderr:
 *   c_consumer events=N lost=L cpu_ns=C polls=P errors=E
 * cpu_ns is getrusage(RUSAGE_SELF) user+sys from "ready" to the end; lost is
 * the probe's `beed_lost` per-CPU counter summed; errors counts failed
 * sd_journal_send calls. */
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
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>
#define SD_JOURNAL_SUPPRESS_LOCATION /* beed sends no CODE_FILE/LINE/FUNC */
#include <systemd/sd-journal.h>
#include "solo_types.h"
#include "bench_event.h"

static volatile sig_atomic_t stop;
static unsigned long long events, errors;
static char line[2048];

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

/* count-sets: what beed's counter path does, in C: every field of the
 * 40-byte counter_event is a label, so the whole record is the key of an
 * open-addressing table (linear probing, 65536 slots) whose value is the
 * count of that label set. */
#define SETS_SLOTS 65536
struct set_slot {
	unsigned char key[40];
	unsigned long long count;
	int used;
};
static struct set_slot *sets;
static unsigned long long sets_used, sets_full;

static inline unsigned long long mix(unsigned long long h, unsigned long long w)
{
	__uint128_t m = (__uint128_t)(h ^ w) * 0x9e3779b97f4a7c15ULL;
	return (unsigned long long)m ^ (unsigned long long)(m >> 64);
}

static int on_count_sets(void *ctx, void *data, size_t size)
{
	(void)ctx;
	unsigned long long w[5], h = 0;
	if (size < sizeof(w))
		return 0;
	memcpy(w, data, sizeof(w));
	for (int i = 0; i < 5; i++)
		h = mix(h, w[i]);
	for (size_t n = 0, i = h & (SETS_SLOTS - 1); n < SETS_SLOTS; n++, i = (i + 1) & (SETS_SLOTS - 1)) {
		struct set_slot *s = &sets[i];
		if (!s->used) {
			memcpy(s->key, w, sizeof(w));
			s->used = 1;
			s->count = 1;
			sets_used++;
			events++;
			return 0;
		}
		if (!memcmp(s->key, w, sizeof(w))) {
			s->count++;
			events++;
			return 0;
		}
	}
	sets_full++;
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

/* the wall-clock time of an event, as beed's "time": 2026-12-03T06:13:35.123456789Z */
static void now_utc(struct tm *tm, long *nsec)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, tm);
	*nsec = ts.tv_nsec;
}

#define TIME_FMT "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ"
#define TIME_ARGS(tm, ns) (tm).tm_year + 1900, (tm).tm_mon + 1, (tm).tm_mday, (tm).tm_hour, (tm).tm_min, (tm).tm_sec, (ns)

static void emit(int n)
{
	if (n > 0)
		fwrite(line, 1, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1, stdout);
}

/* "whole[.rem without trailing zeros]" */
static size_t frac(char *out, size_t cap, unsigned long long whole, unsigned long long rem, int digits)
{
	int n = snprintf(out, cap, "%llu", whole);
	if (rem > 0) {
		char r[24];
		int k = snprintf(r, sizeof(r), "%0*llu", digits, rem);
		while (k > 0 && r[k - 1] == '0')
			r[--k] = 0;
		n += snprintf(out + n, cap - (size_t)n, ".%s", r);
	}
	return (size_t)n;
}

/* nanoseconds the way Go's time.Duration prints them (beed's format):
 * 0s, 850ns, 1.5µs, 12.3ms, 1h2m3.5s */
static void go_duration(char *out, size_t cap, unsigned long long ns)
{
	const unsigned long long US = 1000, MS = 1000000, S = 1000000000;
	size_t n;
	if (ns == 0) {
		snprintf(out, cap, "0s");
	} else if (ns < US) {
		snprintf(out, cap, "%lluns", ns);
	} else if (ns < MS) {
		n = frac(out, cap, ns / US, ns % US, 3);
		snprintf(out + n, cap - n, "\u00b5s");
	} else if (ns < S) {
		n = frac(out, cap, ns / MS, ns % MS, 6);
		snprintf(out + n, cap - n, "ms");
	} else {
		unsigned long long h = ns / (3600 * S), m = ns / (60 * S) % 60, s = ns % (60 * S);
		n = 0;
		if (h > 0)
			n += (size_t)snprintf(out + n, cap - n, "%lluh", h);
		if (h > 0 || m > 0)
			n += (size_t)snprintf(out + n, cap - n, "%llum", m);
		n += frac(out + n, cap - n, s / S, s % S, 9);
		snprintf(out + n, cap - n, "s");
	}
}

/* a NUL-padded char array as a C string (beed: up to the first NUL) */
static void cstr(char *out, const char *s, size_t n)
{
	size_t i = 0;
	for (; i < n && s[i]; i++)
		out[i] = s[i];
	out[i] = 0;
}

static int on_json(void *ctx, void *data, size_t size)
{
	const struct print_event *e = data;
	char comm[7 * sizeof(e->comm) + 1];
	struct tm tm;
	long ns;

	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	events++;
	now_utc(&tm, &ns);
	json_str(comm, sizeof(comm), e->comm, sizeof(e->comm));
	emit(snprintf(line, sizeof(line),
		      "{\"probe\":\"bench\",\"mapName\":\"print_events\",\"time\":\"" TIME_FMT "\",\"entry\":"
		      "{\"pid\":%u,\"tid\":%u,\"seq\":%llu,\"comm\":\"%s\",\"ts\":%llu}}\n",
		      TIME_ARGS(tm, ns), e->pid, e->tid, (unsigned long long)e->seq, comm, (unsigned long long)e->ts));
	return 0;
}

/* the members of a wide_event rendered as text (strings raw, not escaped) */
struct wide_text {
	char comm[17], task[17], path[33];
	char saddr[INET6_ADDRSTRLEN], daddr[INET6_ADDRSTRLEN];
	char latency[48];
};

static void wide_text(const struct wide_event *e, struct wide_text *t)
{
	cstr(t->comm, e->comm, sizeof(e->comm));
	cstr(t->task, e->task, sizeof(e->task));
	cstr(t->path, e->path, sizeof(e->path));
	inet_ntop(AF_INET6, e->saddr, t->saddr, sizeof(t->saddr));
	inet_ntop(AF_INET6, e->daddr, t->daddr, sizeof(t->daddr));
	go_duration(t->latency, sizeof(t->latency), e->latency);
}

static int on_wide(void *ctx, void *data, size_t size)
{
	const struct wide_event *e = data;
	char comm[7 * sizeof(e->comm) + 1], task[7 * sizeof(e->task) + 1], path[7 * sizeof(e->path) + 1];
	char saddr[INET6_ADDRSTRLEN], daddr[INET6_ADDRSTRLEN], latency[48];
	struct tm tm;
	long ns;

	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	events++;
	now_utc(&tm, &ns);
	json_str(comm, sizeof(comm), e->comm, sizeof(e->comm));
	json_str(task, sizeof(task), e->task, sizeof(e->task));
	json_str(path, sizeof(path), e->path, sizeof(e->path));
	inet_ntop(AF_INET6, e->saddr, saddr, sizeof(saddr));
	inet_ntop(AF_INET6, e->daddr, daddr, sizeof(daddr));
	go_duration(latency, sizeof(latency), e->latency);
	emit(snprintf(line, sizeof(line),
		      "{\"probe\":\"bench\",\"mapName\":\"print_wide_events\",\"time\":\"" TIME_FMT "\",\"entry\":"
		      "{\"pid\":%u,\"tid\":%u,\"seq\":%llu,\"comm\":\"%s\",\"task\":\"%s\",\"saddr\":\"%s\","
		      "\"daddr\":\"%s\",\"sport\":%u,\"dport\":%u,\"proto\":%u,\"flags\":%u,\"delta\":%d,"
		      "\"ret\":%d,\"uid\":%u,\"latency\":\"%s\",\"bytes\":%llu,\"offset\":%lld,\"ts\":%llu,"
		      "\"path\":\"%s\",\"cpu\":%u}}\n",
		      TIME_ARGS(tm, ns), e->pid, e->tid, (unsigned long long)e->seq, comm, task, saddr, daddr,
		      e->sport, e->dport, e->proto, e->flags, e->delta, e->ret, e->uid, latency,
		      (unsigned long long)e->bytes, (long long)e->offset, (unsigned long long)e->ts, path, e->cpu));
	return 0;
}

static int on_journal(void *ctx, void *data, size_t size)
{
	const struct print_event *e = data;
	char comm[sizeof(e->comm) + 1];

	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	events++;
	cstr(comm, e->comm, sizeof(e->comm));
	if (sd_journal_send("MESSAGE=bench print_events pid=%u tid=%u seq=%llu comm=%s ts=%llu",
			    e->pid, e->tid, (unsigned long long)e->seq, comm, (unsigned long long)e->ts,
			    "PRIORITY=6", "SYSLOG_IDENTIFIER=beed", "PROBE=bench", "MAP=print_events",
			    "PID=%u", e->pid, "BEE_TID=%u", e->tid, "SEQ=%llu", (unsigned long long)e->seq,
			    "COMM=%s", comm, "TS=%llu", (unsigned long long)e->ts, NULL) < 0)
		errors++;
	return 0;
}

static int on_journal_wide(void *ctx, void *data, size_t size)
{
	const struct wide_event *e = data;
	struct wide_text t;

	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	events++;
	wide_text(e, &t);
	if (sd_journal_send("MESSAGE=bench print_wide_events pid=%u tid=%u seq=%llu comm=%s task=%s saddr=%s "
			    "daddr=%s sport=%u dport=%u proto=%u flags=%u delta=%d ret=%d uid=%u latency=%s "
			    "bytes=%llu offset=%lld ts=%llu path=%s cpu=%u",
			    e->pid, e->tid, (unsigned long long)e->seq, t.comm, t.task, t.saddr, t.daddr, e->sport,
			    e->dport, e->proto, e->flags, e->delta, e->ret, e->uid, t.latency,
			    (unsigned long long)e->bytes, (long long)e->offset, (unsigned long long)e->ts, t.path,
			    e->cpu,
			    "PRIORITY=6", "SYSLOG_IDENTIFIER=beed", "PROBE=bench", "MAP=print_wide_events",
			    "PID=%u", e->pid, "BEE_TID=%u", e->tid, "SEQ=%llu", (unsigned long long)e->seq,
			    "COMM=%s", t.comm, "TASK=%s", t.task, "SADDR=%s", t.saddr, "DADDR=%s", t.daddr,
			    "SPORT=%u", e->sport, "DPORT=%u", e->dport, "PROTO=%u", e->proto, "FLAGS=%u", e->flags,
			    "DELTA=%d", e->delta, "RET=%d", e->ret, "UID=%u", e->uid, "LATENCY=%s", t.latency,
			    "BYTES=%llu", (unsigned long long)e->bytes, "OFFSET=%lld", (long long)e->offset,
			    "TS=%llu", (unsigned long long)e->ts, "PATH=%s", t.path, "CPU=%u", e->cpu, NULL) < 0)
		errors++;
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
	fprintf(stderr, "usage: %s -o OBJECT -m count|count-sets|json|wide|journal|journal-wide [-n EXPECTED] [-l LATENCY_US] [-i IDLE_MS] [-t TIMEOUT_S]\n", argv0);
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
	static const struct {
		const char *name;
		ring_buffer_sample_fn fn;
	} modes[] = {{"count", on_count}, {"count-sets", on_count_sets}, {"json", on_json}, {"wide", on_wide},
		     {"journal", on_journal}, {"journal-wide", on_journal_wide}};
	ring_buffer_sample_fn fn = NULL;
	for (size_t i = 0; mode && i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(mode, modes[i].name))
			fn = modes[i].fn;
	if (!path || !fn)
		usage(argv[0]);

	sets = calloc(SETS_SLOTS, sizeof(*sets));
	if (!sets) {
		fprintf(stderr, "c_consumer: out of memory\n");
		return 1;
	}
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
	fprintf(stderr, "c_consumer events=%llu lost=%llu cpu_ns=%lld polls=%llu errors=%llu\n",
		events, read_lost(obj), cpu, polls, errors);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
