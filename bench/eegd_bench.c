/*
 * eegd_bench.c: eegd-bench, the benchmark harness (issue 7).
 *
 * It runs the real daemon against an emulated Cyton (bench-emu) and the
 * subscribers (bench-sub), and the floor relay (bench-relay) through the
 * same scenarios in the same run, interleaved, then prints a Markdown
 * table: scenario, figure, eegd, floor relay, ratio, target, pass/fail.
 * It exits 1 when a target is missed, 2 when the bench itself fails.
 *
 * Scenarios (medians of --runs runs, default 3, where the issue asks):
 *   1. latency, 1 TCP subscriber, CSV (10.2 s = 2,550 samples a run);
 *   2. latency with 100 (5 s a run) and 1,000 TCP subscribers (10 s),
 *      first and last subscriber, daemon CPU, seq continuity;
 *   3. the floor relay through 1 and 2; the harness floor (bench-sub
 *      reading the emulator's second pty, half a period after the first,
 *      so it never competes with the path under test) in every run;
 *   4. synthetic board, 16 ch x 16 kHz, 10 binary subscribers for the
 *      issue's 30 s, or less if that would end past 3 minutes (it says so);
 *   5. scenario 1 plus one subscriber that never reads (on the Unix
 *      socket, SO_RCVBUF 4 KiB: TCP autotunes the daemon's send buffer to
 *      4 MiB, which 250 Hz does not fill in minutes), with
 *      client_max_buffer = 64K so the cap is reached within the run;
 *      run again once if other processes loaded the machine meanwhile;
 *   MQTT (issue 9): the emulated Cyton (250 Hz x 8 ch; latency by packet
 *      index from the emulator's write) and the synthetic board (16 ch x
 *      16 kHz; latency from the sample's time, CLOCK_REALTIME) through a
 *      local mosquitto (its own config, a free loopback port) to the 10
 *      connections of bench-mqtt-sub; eegd's and the broker's CPU,
 *      continuity.  Figures only ("info"), continuity pass/fail; skipped
 *      with a note without mosquitto, bench-mqtt-sub (built only with
 *      libmosquitto) or an MQTT-enabled eegd.  10 s a run with --only
 *      mqtt; in the full bench, last, in what is left of its 3 minutes.
 * Every window also measures the CPU that processes other than the
 * bench's used (from /proc/stat): figures from a busy machine are noise.
 *
 * usage: eegd-bench [--eegd PATH] [--runs N] [--hi-seconds S]
 *        [--only LIST] [--keep] [--rt] [EEGD]
 * --rt runs eegd, the relay and the subscribers SCHED_FIFO, which shields
 * the figures from other load on a shared machine (off by default: it is
 * not how eegd runs).  The emulator's pacer is SCHED_FIFO where allowed.
 * EEGD defaults to $EEGD, else ../src/eegd next to this program.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define EB_MAX_RUNS 9
#define EB_MAX_CHILDREN 16
#define EB_BUDGET_S 165		/* start no scenario after this */
#define EB_DEADLINE_S 172	/* the high-rate run ends by then */
#define EB_INF INT64_MAX
#define EB_MAX_ROWS 64
#define EB_SLOW_CAP_KIB 64
#define EB_NOISY 25		/* % of a core used by others: a noisy run */
#define EB_MQTT_END_S 177	/* the MQTT runs end by then (full bench) */
#define EB_MQTT_FULL_S 10	/* their window each, with --only mqtt */
#define EB_MQTT_MIN_S 3		/* shortest window worth a row */
#define EB_MQTT_SETUP_S 1.5	/* a run's start-up and tail, roughly */
#define EB_MQTT_LAST_START \
	(EB_MQTT_END_S - 2 * (EB_MQTT_MIN_S + EB_MQTT_SETUP_S))
#define EB_MQTT_SUBS 10
#define EB_MQTT_BATCH_MS 40	/* eegd's default batch_ms */
#define EB_MQTT_PREFIX "bench/x"

/* Latency of one tagged stream over the window (ns; EB_INF if lost). */
struct eb_lat {
	int64_t p50, p99, max;
	size_t n, missing;
};

/* A tagged stream as bench-sub recorded it (kt: kernel arrival). */
struct eb_tag {
	int64_t *idx, *t, *kt;
	size_t n, cap;
};

/* One phase: a bench-sub run against a running target, and its figures. */
struct eb_phase {
	unsigned nsubs;
	int slow, binary;
	double warm, measure, tail;
	/* Results. */
	int ran;
	struct eb_lat first, last, direct;
	struct eb_lat last_k;		/* last, to kernel arrival */
	int64_t self_p99;		/* bench-sub's own delay, last sub */
	double cpu;			/* the target's, % of one core (stat) */
	double cpu_sched;		/* the same from schedstat (precise) */
	double sub_cpu;			/* bench-sub's (schedstat) */
	double others;			/* % of one core: other processes */
	long rss_kib, hwm_kib;
	unsigned conns, closed;
	uint64_t wsmin, wsmax, seq_errors, gap_lines, bad, win_bytes;
	uint64_t emu_drops, emu_late;
	int cap_hit;			/* eegd dropped for a slow client */
	/* MQTT (bench-mqtt-sub through the broker at mqtt, HOST:PORT). */
	const char *mqtt;
	struct eb_lat mq;		/* every subscriber's samples, pooled */
	unsigned hello;			/* subscribers that got the hello */
	double broker_cpu;		/* the broker's, % of one core (stat) */
	char error[256];
};

/* A row of the results table. */
struct eb_row {
	char scenario[64], figure[96], eegd[64], relay[64], ratio[32];
	char target[96];
	int pass;			/* 1 pass, 0 fail, -1 informational */
};

/* The harness. */
struct eb {
	char dir[2048];			/* this program's directory */
	char eegd[PATH_MAX];
	char tmp[128];			/* the scratch directory */
	int runs, keep;
	int rt;				/* run everything SCHED_FIFO */
	double hi_seconds;
	const char *only;
	int64_t t_start;
	long clk_tck;
	pid_t children[EB_MAX_CHILDREN];
	struct eb_row rows[EB_MAX_ROWS];
	unsigned nrows;
	int seq;			/* numbers temporary files */
	double s1_p99;			/* scenario 1: eegd's median p99, ns */
	long s1_hwm;			/* scenario 1: eegd's largest VmHWM */
	double others_sum, others_max;	/* CPU of processes not ours, % */
	int others_n;
	int failed_setup;
	pid_t broker;			/* mosquitto, while the MQTT runs go */
	int mqtt_ran;			/* the MQTT scenario ran (footnote) */
	int skipped;			/* scenarios the time budget skipped */
	char times_path[PATH_MAX];	/* the running emulator's write times */
};

static struct eb eb;

/* Print a progress line on stderr. */
static void __attribute__((format(printf, 1, 2)))
eb_log(const char *fmt, ...)
{
	va_list ap;
	double t = (double)(bench_now_ns() - eb.t_start) / 1e9;

	fprintf(stderr, "[%6.1fs] ", t);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Kill every child still registered (signal handler and exit path). */
static void
eb_kill_children(void)
{
	for (int i = 0; i < EB_MAX_CHILDREN; i++)
		if (eb.children[i] > 0)
			kill(eb.children[i], SIGKILL);
}

/* SIGINT/SIGTERM: take the children down with us. */
static void
eb_on_signal(int sig)
{
	eb_kill_children();
	_exit(128 + sig);
}

/* Remember a child so an interrupted run can kill it. */
static void
eb_track(pid_t pid, int on)
{
	for (int i = 0; i < EB_MAX_CHILDREN; i++)
		if (on ? eb.children[i] == 0 : eb.children[i] == pid) {
			eb.children[i] = on ? pid : 0;
			return;
		}
}

/*
 * Start argv[0] with stderr (and stdout unless out_fd) appended to
 * logpath.  With out_fd, stdout is a pipe we read; with in_fd, stdin is a
 * pipe we hold (the child sees EOF when we go).
 */
static pid_t
eb_spawn(char *const argv[], const char *logpath, int *out_fd, int *in_fd)
{
	int op[2] = { -1, -1 }, ip[2] = { -1, -1 };
	pid_t pid;

	if ((out_fd != NULL && pipe2(op, O_CLOEXEC) == -1) ||
	    (in_fd != NULL && pipe2(ip, O_CLOEXEC) == -1))
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		int lfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int nul = open("/dev/null", O_RDONLY);
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (eb.rt) {
			struct sched_param sp = { .sched_priority = 10 };
			(void)sched_setscheduler(0, SCHED_FIFO, &sp);
		}
		dup2(in_fd != NULL ? ip[0] : nul, STDIN_FILENO);
		dup2(out_fd != NULL ? op[1] : lfd, STDOUT_FILENO);
		dup2(lfd, STDERR_FILENO);
		execv(argv[0], argv);
		dprintf(lfd, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	eb_track(pid, 1);
	if (out_fd != NULL) {
		close(op[1]);
		*out_fd = op[0];
	}
	if (in_fd != NULL) {
		close(ip[0]);
		*in_fd = ip[1];
	}
	return pid;
}

/* Wait for pid up to ms, then SIGKILL it; returns its wait status. */
static int
eb_reap(pid_t pid, int ms)
{
	int64_t end = bench_now_ns() + (int64_t)ms * 1000000;
	int st = 0;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid || (r == -1 && errno != EINTR))
			break;
		if (bench_now_ns() > end) {
			kill(pid, SIGKILL);
			(void)waitpid(pid, &st, 0);
			break;
		}
		bench_sleep_until(bench_now_ns() + 5000000);
	}
	eb_track(pid, 0);
	return st;
}

/* Send sig to pid and reap it within ms. */
static int
eb_stop(pid_t pid, int sig, int ms)
{
	if (pid <= 0)
		return 0;
	kill(pid, sig);
	return eb_reap(pid, ms);
}

/* Read one line from a pipe within ms; -1 on timeout or EOF. */
static int
eb_read_line(int fd, char *buf, size_t len, int ms)
{
	int64_t end = bench_now_ns() + (int64_t)ms * 1000000;
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = end - bench_now_ns();
		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, (int)(left / 1000000) + 1) <= 0)
			continue;
		if (read(fd, buf + n, 1) != 1)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return 0;
}

/*
 * Wait until logpath holds needle and copy the word after it; -1 on
 * timeout or when pid (the process writing the log) has exited.
 */
static int
eb_wait_log(pid_t pid, const char *logpath, const char *needle, char *word,
    size_t len, int ms)
{
	int64_t end = bench_now_ns() + (int64_t)ms * 1000000;
	char buf[16384];

	while (bench_now_ns() < end) {
		siginfo_t si;

		/* Exited?  Look without reaping: eb_stop() reaps it. */
		si.si_pid = 0;
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG |
		    WNOWAIT) == 0 && si.si_pid == pid)
			return -1;
		FILE *fp = fopen(logpath, "r");
		size_t n = 0;
		char *p;

		if (fp != NULL) {
			n = fread(buf, 1, sizeof buf - 1, fp);
			fclose(fp);
		}
		buf[n] = '\0';
		if ((p = strstr(buf, needle)) != NULL) {
			size_t k = 0;
			p += strlen(needle);
			while (p[k] != '\0' && p[k] != '\n' && p[k] != ' ' &&
			    k + 1 < len)
				k++;
			memcpy(word, p, k);
			word[k] = '\0';
			if (p[k] == '\n')
				return 0;
		}
		bench_sleep_until(bench_now_ns() + 10000000);
	}
	return -1;
}

/* Return whether the file at path contains needle. */
static int
eb_log_has(const char *path, const char *needle)
{
	char buf[65536];
	size_t n = 0;
	FILE *fp = fopen(path, "r");

	if (fp == NULL)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* Return utime + stime of pid in clock ticks, or -1. */
static long long
eb_cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* Fields after the command name: state is field 3, utime 14. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 2,
	    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
	    &st) != 2)
		return -1;
	return (long long)(ut + st);
}

/*
 * Return the CPU time of every thread of pid in ns (schedstat), or -1.
 * Precise, unlike utime+stime: with tick accounting at HZ=250 those are
 * samples taken at 250 Hz, the very rate of the board, and can alias.
 */
static long long
eb_cpu_ns(pid_t pid)
{
	char path[300], buf[128];
	struct dirent *de;
	long long sum = 0;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		FILE *fp;
		long long v;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%.32s/schedstat",
		    (int)pid, de->d_name);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof buf, fp) != NULL &&
		    sscanf(buf, "%lld", &v) == 1)
			sum += v;
		fclose(fp);
	}
	closedir(d);
	return sum;
}

/* Return the machine's busy and total jiffies over all CPUs, or -1. */
static int
eb_sys_jiffies(long long *busy, long long *total)
{
	unsigned long long v[10] = { 0 };
	FILE *fp = fopen("/proc/stat", "r");
	int n;

	if (fp == NULL)
		return -1;
	n = fscanf(fp, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(fp);
	if (n < 8)
		return -1;
	*total = (long long)(v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] +
	    v[7]);
	*busy = *total - (long long)(v[3] + v[4]);	/* minus idle, iowait */
	return 0;
}

/* Return a VmXXX: figure of pid in KiB, or -1. */
static long
eb_status_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	long v = -1;
	FILE *fp;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, fp) != NULL)
		if (strncmp(line, key, strlen(key)) == 0) {
			v = atol(line + strlen(key));
			break;
		}
	fclose(fp);
	return v;
}

/* Add one (index, time, kernel time) to a tag. */
static void
eb_tag_add(struct eb_tag *g, int64_t idx, int64_t t, int64_t kt)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 4096;
		int64_t *a = realloc(g->idx, cap * sizeof *a);
		if (a != NULL)
			g->idx = a;
		int64_t *b = a ? realloc(g->t, cap * sizeof *b) : NULL;
		if (b != NULL)
			g->t = b;
		int64_t *k = b ? realloc(g->kt, cap * sizeof *k) : NULL;
		if (k == NULL)
			return;
		g->kt = k;
		g->cap = cap;
	}
	g->idx[g->n] = idx;
	g->t[g->n] = t;
	g->kt[g->n] = kt;
	g->n++;
}

/* p99 of bench-sub's own delay (recv time - kernel arrival) in [w0, w1]. */
static int64_t
eb_self_delay(const struct eb_tag *g, int64_t w0, int64_t w1)
{
	int64_t *d = malloc((g->n + 1) * sizeof *d), p;
	size_t n = 0;

	if (d == NULL)
		return -1;
	for (size_t i = 0; i < g->n; i++)
		if (g->t[i] >= w0 && g->t[i] <= w1)
			d[n++] = g->t[i] - g->kt[i];
	bench_sort(d, n);
	p = n ? bench_percentile(d, n, 99) : -1;
	free(d);
	return p;
}

/*
 * Latency of a tag against the write times w over [w0, w1]: to the recv()
 * that completed each sample, or with kernel to the bytes' arrival on the
 * socket.
 */
static void
eb_latency(const struct eb_tag *g, int kernel, const int64_t *w, uint64_t npk,
    int64_t w0, int64_t w1, struct eb_lat *out)
{
	static int64_t arrival[BENCH_MAX_PKTS];
	static int64_t lat[BENCH_MAX_PKTS];
	size_t n = 0;

	memset(out, 0, sizeof *out);
	memset(arrival, 0, sizeof arrival);
	for (size_t i = 0; i < g->n; i++)
		if (g->idx[i] >= 0 && g->idx[i] < BENCH_MAX_PKTS &&
		    arrival[g->idx[i]] == 0)
			arrival[g->idx[i]] = kernel ? g->kt[i] : g->t[i];
	if (npk > BENCH_MAX_PKTS)
		npk = BENCH_MAX_PKTS;
	for (uint64_t k = 0; k < npk; k++) {
		if (w[k] == 0 || w[k] < w0 || w[k] > w1)
			continue;
		if (arrival[k] == 0) {
			lat[n++] = EB_INF;
			out->missing++;
		} else
			lat[n++] = arrival[k] - w[k];
	}
	out->n = n;
	if (n == 0) {
		out->p50 = out->p99 = out->max = EB_INF;
		return;
	}
	bench_sort(lat, n);
	out->p50 = bench_percentile(lat, n, 50);
	out->p99 = bench_percentile(lat, n, 99);
	out->max = lat[n - 1];
}

/* Read bench-sub's summary and tags into ph; tags into g[3]. */
static int
eb_read_sub(const char *path, struct eb_phase *ph, struct eb_tag *g,
    int64_t *win0, int64_t *win1)
{
	char line[512];
	FILE *fp = fopen(path, "r");

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof line, fp) != NULL) {
		unsigned tg;
		long long a, b, k;
		unsigned long long v;

		if (sscanf(line, "tag %u %lld %lld %lld", &tg, &a, &b, &k) ==
		    4) {
			if (tg < 3)
				eb_tag_add(&g[tg], a, b, k);
		} else if (sscanf(line, "window %lld %lld", &a, &b) == 2) {
			*win0 = a;
			*win1 = b;
		} else if (sscanf(line, "conns %llu", &v) == 1)
			ph->conns = (unsigned)v;
		else if (sscanf(line, "closed %llu", &v) == 1)
			ph->closed = (unsigned)v;
		else if (sscanf(line, "win_samples_min %llu", &v) == 1)
			ph->wsmin = v;
		else if (sscanf(line, "win_samples_max %llu", &v) == 1)
			ph->wsmax = v;
		else if (sscanf(line, "seq_errors %llu", &v) == 1)
			ph->seq_errors = v;
		else if (sscanf(line, "gap_lines %llu", &v) == 1)
			ph->gap_lines = v;
		else if (sscanf(line, "bad %llu", &v) == 1)
			ph->bad = v;
		else if (sscanf(line, "win_bytes %llu", &v) == 1)
			ph->win_bytes = v;
		else if (sscanf(line, "hello %llu", &v) == 1)
			ph->hello = (unsigned)v;
		else if (sscanf(line, "lat %lld %lld %lld %zu %zu", &a, &b, &k,
		    &ph->mq.n, &ph->mq.missing) == 5) {
			ph->mq.p50 = a < 0 ? EB_INF : a;
			ph->mq.p99 = b < 0 ? EB_INF : b;
			ph->mq.max = k < 0 ? EB_INF : k;
		}
		else if (strncmp(line, "error ", 6) == 0 && !ph->error[0]) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(ph->error, sizeof ph->error, "%.200s",
			    line + 6);
		}
	}
	fclose(fp);
	return 0;
}

/* Make a temporary file name: TMP/name-SEQ.ext. */
static void
eb_tmpname(char *buf, size_t len, const char *name, const char *ext)
{
	snprintf(buf, len, "%s/%s-%d.%s", eb.tmp, name, ++eb.seq, ext);
}

/* Seconds since the harness started. */
static double
eb_elapsed(void)
{
	return (double)(bench_now_ns() - eb.t_start) / 1e9;
}

/* CPU counters of the processes in a phase, at one instant. */
struct eb_cpu_snap {
	int64_t t;
	long long target, target_ticks, sub, emu, busy, total;
	long long broker, broker_ticks;	/* 0 without a broker */
};

/* Take a snapshot of the CPU counters. */
static void
eb_cpu_snap(struct eb_cpu_snap *s, pid_t target, pid_t sub, pid_t emu)
{
	s->t = bench_now_ns();
	s->target = eb_cpu_ns(target);
	s->target_ticks = eb_cpu_ticks(target);
	s->sub = eb_cpu_ns(sub);
	s->emu = emu > 0 ? eb_cpu_ns(emu) : 0;
	s->broker = eb.broker > 0 ? eb_cpu_ns(eb.broker) : 0;
	s->broker_ticks = eb.broker > 0 ? eb_cpu_ticks(eb.broker) : 0;
	if (eb_sys_jiffies(&s->busy, &s->total) == -1)
		s->busy = s->total = -1;
}

/* Fill the phase's CPU figures from two snapshots. */
static void
eb_cpu_figures(struct eb_phase *ph, const struct eb_cpu_snap *a,
    const struct eb_cpu_snap *b)
{
	double wall = (double)(b->t - a->t);
	double ours, all;

	ph->cpu_sched = a->target < 0 || b->target < 0 ? -1 :
	    (double)(b->target - a->target) / wall * 100;
	ph->cpu = a->target_ticks < 0 || b->target_ticks < 0 ? -1 :
	    (double)(b->target_ticks - a->target_ticks) / eb.clk_tck /
	    (wall / 1e9) * 100;
	ph->sub_cpu = a->sub < 0 || b->sub < 0 ? -1 :
	    (double)(b->sub - a->sub) / wall * 100;
	ph->broker_cpu = a->broker_ticks < 0 || b->broker_ticks < 0 ? -1 :
	    (double)(b->broker_ticks - a->broker_ticks) / eb.clk_tck /
	    (wall / 1e9) * 100;
	/* Everything busy on the machine, less what the bench itself ran. */
	ours = (double)((b->target - a->target) + (b->sub - a->sub) +
	    (b->emu - a->emu) + (b->broker - a->broker)) / wall * 100;
	all = a->busy < 0 || b->busy < 0 ? 0 : (double)(b->busy - a->busy) /
	    eb.clk_tck / (wall / 1e9) * 100;
	ph->others = all - ours > 0 ? all - ours : 0;
	eb.others_sum += ph->others;
	eb.others_n++;
	if (ph->others > eb.others_max)
		eb.others_max = ph->others;
}

/* Run one phase of bench-sub against addr while target runs. */
static void
eb_phase_run(struct eb_phase *ph, const char *addr, const char *slow_addr,
    pid_t target, pid_t emu, const char *direct,
    const struct bench_times *times)
{
	char out[PATH_MAX], log[PATH_MAX], nbuf[16], wbuf[16], mbuf[16];
	char xbuf[16], line[128];
	char *argv[24];
	struct eb_tag g[3];
	struct eb_cpu_snap c0, c1;
	int ac = 0, ofd = -1;
	int64_t ready, win0 = 0, win1 = 0;
	uint64_t drops0 = 0, late0 = 0;
	char sub[PATH_MAX];
	pid_t pid;

	memset(g, 0, sizeof g);
	snprintf(sub, sizeof sub, "%s/%s", eb.dir, ph->mqtt != NULL ?
	    "bench-mqtt-sub" : "bench-sub");
	eb_tmpname(out, sizeof out, "sub", "out");
	eb_tmpname(log, sizeof log, "sub", "log");
	snprintf(nbuf, sizeof nbuf, "%u", ph->nsubs);
	snprintf(wbuf, sizeof wbuf, "%g", ph->warm);
	snprintf(mbuf, sizeof mbuf, "%g", ph->measure);
	snprintf(xbuf, sizeof xbuf, "%g", ph->tail);
	argv[ac++] = sub;
	if (ph->mqtt != NULL) {
		/* Through the broker; latency by index with a Cyton. */
		argv[ac++] = "-b";
		argv[ac++] = (char *)ph->mqtt;
		argv[ac++] = "-t";
		argv[ac++] = EB_MQTT_PREFIX;
		argv[ac++] = "-n";
		argv[ac++] = nbuf;
		if (times != NULL) {
			argv[ac++] = "-T";
			argv[ac++] = eb.times_path;
		}
		direct = NULL;
	} else {
		argv[ac++] = "-c";
		argv[ac++] = (char *)addr;
		argv[ac++] = "-n";
		argv[ac++] = nbuf;
		argv[ac++] = "-f";
		argv[ac++] = ph->binary ? "binary" : "csv";
	}
	if (direct != NULL) {
		argv[ac++] = "-d";
		argv[ac++] = (char *)direct;
	}
	if (ph->slow && slow_addr != NULL) {
		argv[ac++] = "-S";
		argv[ac++] = (char *)slow_addr;
	}
	argv[ac++] = "-W";
	argv[ac++] = wbuf;
	argv[ac++] = "-M";
	argv[ac++] = mbuf;
	argv[ac++] = "-X";
	argv[ac++] = xbuf;
	argv[ac++] = "-o";
	argv[ac++] = out;
	argv[ac] = NULL;
	if ((pid = eb_spawn(argv, log, &ofd, NULL)) == -1) {
		snprintf(ph->error, sizeof ph->error, "cannot start bench-sub");
		return;
	}
	if (eb_read_line(ofd, line, sizeof line, 30000) == -1 ||
	    sscanf(line, "ready %" SCNd64, &ready) != 1) {
		snprintf(ph->error, sizeof ph->error, "%s never got "
		    "ready (see %.200s)", ph->mqtt ? "bench-mqtt-sub" :
		    "bench-sub", log);
		close(ofd);
		eb_stop(pid, SIGKILL, 1000);
		return;
	}
	close(ofd);
	bench_sleep_until(ready + (int64_t)(ph->warm * 1e9));
	if (times != NULL) {
		drops0 = times->drops[0];
		late0 = times->late;
	}
	eb_cpu_snap(&c0, target, pid, emu);
	bench_sleep_until(ready + (int64_t)((ph->warm + ph->measure) * 1e9));
	eb_cpu_snap(&c1, target, pid, emu);
	eb_cpu_figures(ph, &c0, &c1);
	if (times != NULL) {
		ph->emu_drops = times->drops[0] - drops0;
		ph->emu_late = times->late - late0;
	}
	ph->rss_kib = eb_status_kib(target, "VmRSS:");
	ph->hwm_kib = eb_status_kib(target, "VmHWM:");
	if (eb_reap(pid, (int)(ph->tail * 1000) + 10000) != 0 ||
	    eb_read_sub(out, ph, g, &win0, &win1) == -1) {
		snprintf(ph->error, sizeof ph->error, "%s failed "
		    "(see %.200s)", ph->mqtt ? "bench-mqtt-sub" : "bench-sub",
		    log);
		goto done;
	}
	if (times != NULL) {
		uint64_t npk = times->packets;
		eb_latency(&g[0], 0, times->t[0], npk, win0, win1, &ph->first);
		eb_latency(&g[1], 0, times->t[0], npk, win0, win1, &ph->last);
		eb_latency(&g[1], 1, times->t[0], npk, win0, win1,
		    &ph->last_k);
		ph->self_p99 = eb_self_delay(&g[1], win0, win1);
		if (direct != NULL)
			eb_latency(&g[2], 0, times->t[1], npk, win0, win1,
			    &ph->direct);
	}
	ph->ran = 1;
done:
	for (int i = 0; i < 3; i++) {
		free(g[i].idx);
		free(g[i].t);
		free(g[i].kt);
	}
}

/* Format a latency in ns for the table. */
static const char *
eb_fmt_ns(char *buf, size_t len, int64_t ns)
{
	if (ns == EB_INF)
		snprintf(buf, len, "lost");
	else if (ns < 10000000)
		snprintf(buf, len, "%.0f µs", (double)ns / 1e3);
	else
		snprintf(buf, len, "%.1f ms", (double)ns / 1e6);
	return buf;
}

/* Print a phase's figures on stderr. */
static void
eb_phase_print(const char *who, const struct eb_phase *ph)
{
	char a[32], b[32], c[32], d[32], e[32], f[32], g[32];

	if (!ph->ran) {
		eb_log("  %s n=%u: FAILED: %s", who, ph->nsubs, ph->error);
		return;
	}
	if (ph->mqtt != NULL) {
		eb_log("  %s n=%u via MQTT: p50 %s p99 %s max %s (%zu, %zu "
		    "lost); window samples %" PRIu64 "..%" PRIu64 " each; "
		    "hello %u; cpu %.1f%% (schedstat %.1f%%) broker %.1f%% "
		    "sub %.1f%% others %.0f%%%s; seqerr %" PRIu64 " gaps %"
		    PRIu64 " bad %" PRIu64 " closed %u emu drops %" PRIu64
		    "%s%s", who, ph->nsubs,
		    eb_fmt_ns(a, sizeof a, ph->mq.p50),
		    eb_fmt_ns(b, sizeof b, ph->mq.p99),
		    eb_fmt_ns(c, sizeof c, ph->mq.max), ph->mq.n,
		    ph->mq.missing, ph->wsmin, ph->wsmax, ph->hello, ph->cpu,
		    ph->cpu_sched, ph->broker_cpu, ph->sub_cpu, ph->others,
		    ph->others > EB_NOISY ? " (noisy)" : "", ph->seq_errors,
		    ph->gap_lines, ph->bad, ph->closed, ph->emu_drops,
		    ph->error[0] ? "; " : "", ph->error);
		return;
	}
	eb_log("  %s n=%u%s: first p50 %s p99 %s max %s (%zu, %zu lost); "
	    "last p99 %s (own delay p99 %s); floor p50 %s p99 %s; "
	    "cpu %.1f%% (schedstat %.1f%%) "
	    "sub %.1f%% others %.0f%%%s; hwm %ld KiB; seqerr %" PRIu64
	    " gaps %" PRIu64 " closed %u%s%s",
	    who, ph->nsubs, ph->slow ? "+slow" : "",
	    eb_fmt_ns(a, sizeof a, ph->first.p50),
	    eb_fmt_ns(b, sizeof b, ph->first.p99),
	    eb_fmt_ns(c, sizeof c, ph->first.max), ph->first.n,
	    ph->first.missing, eb_fmt_ns(d, sizeof d, ph->last.p99),
	    eb_fmt_ns(g, sizeof g, ph->self_p99),
	    eb_fmt_ns(e, sizeof e, ph->direct.p50),
	    eb_fmt_ns(f, sizeof f, ph->direct.p99), ph->cpu, ph->cpu_sched,
	    ph->sub_cpu, ph->others, ph->others > EB_NOISY ? " (noisy)" : "",
	    ph->hwm_kib, ph->seq_errors, ph->gap_lines, ph->closed,
	    ph->error[0] ? "; " : "", ph->error);
}

/* Write eegd's config for a run; extra is appended to [daemon]. */
static int
eb_write_conf(const char *path, const char *sock, const char *extra)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		return -1;
	fprintf(fp, "[daemon]\nlisten = tcp:127.0.0.1:0\nlisten = unix:%s\n"
	    "max_clients = 4096\n%s", sock, extra ? extra : "");
	return fclose(fp);
}

/*
 * One run on the emulated Cyton: start the emulator and the target (eegd
 * or the relay), run each phase, stop both.
 */
static int
eb_cyton_run(int relay, const char *extra, struct eb_phase *ph, int nph)
{
	char times_path[PATH_MAX], emu_log[PATH_MAX], tlog[PATH_MAX];
	char conf[PATH_MAX], sock[PATH_MAX], exe[PATH_MAX], line[256];
	char pty0[64], pty1[64], addr[128], slow_addr[PATH_MAX + 8] = "";
	char *argv[16];
	struct bench_times *times = MAP_FAILED;
	pid_t emu = -1, target = -1;
	int ofd = -1, ifd = -1, rc = -1, fd;

	eb_tmpname(times_path, sizeof times_path, "times", "bin");
	eb_tmpname(emu_log, sizeof emu_log, "emu", "log");
	snprintf(exe, sizeof exe, "%s/bench-emu", eb.dir);
	argv[0] = exe;
	argv[1] = "-o";
	argv[2] = times_path;
	argv[3] = "-T";
	argv[4] = "120";
	argv[5] = NULL;
	if ((emu = eb_spawn(argv, emu_log, &ofd, &ifd)) == -1 ||
	    eb_read_line(ofd, line, sizeof line, 5000) == -1 ||
	    sscanf(line, "ptys %63s %63s", pty0, pty1) != 2) {
		eb_log("bench-emu did not start (see %s)", emu_log);
		goto out;
	}
	if ((fd = open(times_path, O_RDONLY | O_CLOEXEC)) != -1) {
		times = mmap(NULL, sizeof *times, PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
	}
	if (times == MAP_FAILED) {
		eb_log("cannot map %s", times_path);
		goto out;
	}
	snprintf(eb.times_path, sizeof eb.times_path, "%s", times_path);
	eb_tmpname(tlog, sizeof tlog, relay ? "relay" : "eegd", "log");
	if (relay) {
		snprintf(exe, sizeof exe, "%s/bench-relay", eb.dir);
		argv[0] = exe;
		argv[1] = "-d";
		argv[2] = pty0;
		argv[3] = "-l";
		argv[4] = "tcp:127.0.0.1:0";
		argv[5] = "-T";
		argv[6] = "120";
		argv[7] = NULL;
	} else {
		eb_tmpname(conf, sizeof conf, "eegd", "conf");
		eb_tmpname(sock, sizeof sock, "eegd", "sock");
		if (eb_write_conf(conf, sock, extra) == -1)
			goto out;
		snprintf(slow_addr, sizeof slow_addr, "unix:%s", sock);
		argv[0] = eb.eegd;
		argv[1] = "-c";
		argv[2] = conf;
		argv[3] = "--board";
		argv[4] = "cyton";
		argv[5] = "--device";
		argv[6] = pty0;
		argv[7] = NULL;
	}
	if ((target = eb_spawn(argv, tlog, NULL, NULL)) == -1 ||
	    eb_wait_log(target, tlog, "listening on ", addr, sizeof addr,
	    10000) == -1 || strncmp(addr, "tcp:", 4) != 0) {
		eb_log("%s did not start listening (see %s)", argv[0], tlog);
		goto out;
	}
	for (int i = 0; i < nph; i++) {
		eb_phase_run(&ph[i], addr, slow_addr[0] ? slow_addr : NULL,
		    target, emu, pty1, times);
		eb_phase_print(relay ? "relay" : "eegd ", &ph[i]);
	}
	/* Did eegd's cap engage?  It logs when it drops for a slow client. */
	if (!relay && eb_log_has(tlog, "slow, dropping")) {
		eb_log("  eegd logged that it dropped for the slow client");
		for (int i = 0; i < nph; i++)
			ph[i].cap_hit = 1;
	}
	rc = 0;
out:
	if (target > 0 && (eb_stop(target, SIGTERM, 3000) & 0xff) != 0)
		eb_log("  %s did not exit cleanly on SIGTERM", argv[0]);
	if (ifd != -1)
		close(ifd);
	if (ofd != -1)
		close(ofd);
	if (emu > 0)
		eb_stop(emu, SIGTERM, 2000);
	if (times != MAP_FAILED)
		munmap(times, sizeof *times);
	if (rc == -1)
		eb.failed_setup = 1;
	return rc;
}

/* The high-rate run: synthetic board to binary subscribers. */
static int
eb_synthetic_run(struct eb_phase *ph, const char *extra)
{
	char conf[PATH_MAX], sock[PATH_MAX], tlog[PATH_MAX], addr[128];
	char *argv[12];
	pid_t target;
	int rc = -1;

	eb_tmpname(conf, sizeof conf, "eegd", "conf");
	eb_tmpname(sock, sizeof sock, "eegd", "sock");
	eb_tmpname(tlog, sizeof tlog, "eegd", "log");
	if (eb_write_conf(conf, sock, extra) == -1)
		return -1;
	argv[0] = eb.eegd;
	argv[1] = "-c";
	argv[2] = conf;
	argv[3] = "--board";
	argv[4] = "synthetic";
	argv[5] = "--rate";
	argv[6] = "16000";
	argv[7] = "--channels";
	argv[8] = "16";
	argv[9] = NULL;
	if ((target = eb_spawn(argv, tlog, NULL, NULL)) == -1 ||
	    eb_wait_log(target, tlog, "listening on ", addr, sizeof addr,
	    10000) == -1 || strncmp(addr, "tcp:", 4) != 0) {
		eb_log("eegd did not start listening (see %s)", tlog);
		goto out;
	}
	eb_phase_run(ph, addr, NULL, target, -1, NULL, NULL);
	eb_phase_print("eegd ", ph);
	rc = 0;
out:
	if (target > 0)
		eb_stop(target, SIGTERM, 3000);
	if (rc == -1)
		eb.failed_setup = 1;
	return rc;
}

/* Median of n values (the mean of the middle two when n is even). */
static double
eb_median(const double *v, int n)
{
	double s[EB_MAX_RUNS * 2];

	if (n <= 0)
		return -1;
	memcpy(s, v, (size_t)n * sizeof *s);
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && s[j - 1] > s[j]; j--) {
			double t = s[j];
			s[j] = s[j - 1];
			s[j - 1] = t;
		}
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Add a row to the results table. */
static void __attribute__((format(printf, 7, 8)))
eb_row(const char *scenario, const char *figure, const char *eegd,
    const char *relay, const char *ratio, int pass, const char *target, ...)
{
	struct eb_row *r;
	va_list ap;

	if (eb.nrows >= EB_MAX_ROWS)
		return;
	r = &eb.rows[eb.nrows++];
	snprintf(r->scenario, sizeof r->scenario, "%s", scenario);
	snprintf(r->figure, sizeof r->figure, "%s", figure);
	snprintf(r->eegd, sizeof r->eegd, "%s", eegd);
	snprintf(r->relay, sizeof r->relay, "%s", relay ? relay : "—");
	snprintf(r->ratio, sizeof r->ratio, "%s", ratio ? ratio : "—");
	va_start(ap, target);
	vsnprintf(r->target, sizeof r->target, target, ap);
	va_end(ap);
	r->pass = pass;
}

/* Format a median latency in ns. */
static const char *
eb_fmt_med(char *buf, size_t len, double ns)
{
	return eb_fmt_ns(buf, len, ns >= (double)EB_INF ? EB_INF :
	    (int64_t)ns);
}

/* Format a ratio a/b. */
static const char *
eb_fmt_ratio(char *buf, size_t len, double a, double b)
{
	if (a >= (double)EB_INF || b >= (double)EB_INF || b <= 0)
		snprintf(buf, len, "—");
	else
		snprintf(buf, len, "×%.2f", a / b);
	return buf;
}

/* Field selectors for the medians. */
enum eb_field { F_P50_FIRST, F_P99_FIRST, F_MAX_FIRST, F_P50_LAST,
	F_P99_LAST, F_P50_DIRECT, F_P99_DIRECT, F_CPU, F_SUBCPU, F_SELF };

/* Return one figure of a phase as a double (EB_INF stays huge). */
static double
eb_get(const struct eb_phase *ph, enum eb_field f)
{
	switch (f) {
	case F_P50_FIRST: return (double)ph->first.p50;
	case F_P99_FIRST: return (double)ph->first.p99;
	case F_MAX_FIRST: return (double)ph->first.max;
	case F_P50_LAST: return (double)ph->last.p50;
	case F_P99_LAST: return (double)ph->last.p99;
	case F_P50_DIRECT: return (double)ph->direct.p50;
	case F_P99_DIRECT: return (double)ph->direct.p99;
	case F_CPU: return ph->cpu;
	case F_SUBCPU: return ph->sub_cpu;
	case F_SELF: return (double)ph->self_p99;
	}
	return 0;
}

/* Median of a figure over the runs that ran; stride picks the phase. */
static double
eb_med(struct eb_phase (*ph)[2], int runs, int which,
    enum eb_field f)
{
	double v[EB_MAX_RUNS];
	int n = 0;

	for (int r = 0; r < runs; r++)
		if (ph[r][which].ran)
			v[n++] = eb_get(&ph[r][which], f);
	return n ? eb_median(v, n) : (double)EB_INF;
}

/* Whether every run of a phase kept every subscriber's seq continuous. */
static int
eb_continuous(const struct eb_phase *ph)
{
	return ph->ran && ph->seq_errors == 0 && ph->gap_lines == 0 &&
	    ph->closed == 0 && ph->bad == 0 && ph->wsmin > 0 &&
	    ph->first.missing == 0 && ph->last.missing == 0 &&
	    ph->emu_drops == 0;
}

/* Whether a scenario may start within the budget; counts it if not. */
static int
eb_budget_left(void)
{
	if (eb_elapsed() < EB_BUDGET_S)
		return 1;
	eb.skipped++;
	return 0;
}

/* Whether a scenario group is selected with --only. */
static int
eb_want(const char *name)
{
	const char *p;
	size_t n = strlen(name);

	if (eb.only == NULL)
		return 1;
	for (p = eb.only; (p = strstr(p, name)) != NULL; p += n)
		if ((p == eb.only || p[-1] == ',') && (p[n] == '\0' ||
		    p[n] == ','))
			return 1;
	return 0;
}

/* Print the machine and the table; return the number of failed rows. */
static int
eb_print_table(void)
{
	char model[256] = "unknown", line[512];
	struct utsname u;
	int fails = 0;
	FILE *fp = fopen("/proc/cpuinfo", "r");

	while (fp != NULL && fgets(line, sizeof line, fp) != NULL)
		if (strncmp(line, "model name", 10) == 0) {
			char *p = strchr(line, ':');
			if (p != NULL)
				snprintf(model, sizeof model, "%s", p + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	if (fp != NULL)
		fclose(fp);
	uname(&u);
	printf("\n## eegd-bench results\n\n");
	printf("Machine: %ld × %s, Linux %s, %s.  Total bench time %.0f "
	    "s%s.\n\n",
	    sysconf(_SC_NPROCESSORS_ONLN), model, u.release, u.machine,
	    eb_elapsed(), eb.rt ? "; --rt: every process SCHED_FIFO" : "");
	printf("| scenario | figure | eegd | floor relay | eegd ÷ relay | "
	    "target | result |\n");
	printf("|---|---|---|---|---|---|---|\n");
	for (unsigned i = 0; i < eb.nrows; i++) {
		const struct eb_row *r = &eb.rows[i];
		printf("| %s | %s | %s | %s | %s | %s | %s |\n", r->scenario,
		    r->figure, r->eegd, r->relay, r->ratio, r->target,
		    r->pass < 0 ? "info" : r->pass ? "pass" : "**FAIL**");
		fails += r->pass == 0;
	}
	printf("\nLatency: CLOCK_MONOTONIC from just before the emulator's "
	    "write() of a packet's last byte to the subscriber's recv() "
	    "that completed the sample; medians of %d interleaved runs "
	    "where marked; \"lost\" means not received within the run. "
	    "CPU: utime+stime from /proc/PID/stat over the window, %% of "
	    "one core (schedstat agrees; both are in the log). The harness "
	    "floor is bench-sub reading the emulator's second pty, written "
	    "half a period after the first; bench-sub's own delay is from "
	    "the kernel queueing the bytes (SO_TIMESTAMPNS) to its "
	    "recv().\n", eb.runs);
	if (eb.mqtt_ran)
		printf("\nMQTT: eegd publishes batches of binary frames every "
		    "batch_ms = %d ms through a local mosquitto (QoS 0) to %d "
		    "libmosquitto connections in bench-mqtt-sub; latency pools "
		    "every sample at every subscriber, measured when the "
		    "message is delivered; the batching adds up to %d ms by "
		    "design. Windows are shorter in the full bench, to keep "
		    "it within 3 minutes; --only mqtt runs %d s each.\n",
		    EB_MQTT_BATCH_MS, EB_MQTT_SUBS, EB_MQTT_BATCH_MS,
		    EB_MQTT_FULL_S);
	return fails;
}

/* Scenarios 1, 2 (100) and 3: interleaved eegd and relay runs. */
static void
eb_scenario_latency(void)
{
	static struct eb_phase e[EB_MAX_RUNS][2], rl[EB_MAX_RUNS][2];
	char a[32], b[32], c[32], d[32];
	double em, rm, fm, fm99;
	int cont_e = 1, cont_r = 1, enough = 1;

	for (int r = 0; r < eb.runs; r++)
		for (int t = 0; t < 2; t++) {
			struct eb_phase *ph = t ? rl[r] : e[r];
			ph[0] = (struct eb_phase){ .nsubs = 1, .warm = 0.5,
			    .measure = 10.2, .tail = 0.3 };
			ph[1] = (struct eb_phase){ .nsubs = 100, .warm = 0.5,
			    .measure = 5, .tail = 0.3 };
			eb_log("run %d/%d: %s, 1 then 100 subscribers", r + 1,
			    eb.runs, t ? "floor relay" : "eegd");
			eb_cyton_run(t, NULL, ph, 2);
		}
	for (int r = 0; r < eb.runs; r++) {
		cont_e &= eb_continuous(&e[r][0]) && eb_continuous(&e[r][1]);
		cont_r &= eb_continuous(&rl[r][0]) && eb_continuous(&rl[r][1]);
		enough &= e[r][0].first.n >= 2500 && rl[r][0].first.n >= 2500;
	}
	/* 1 subscriber. */
	em = eb_med(e, eb.runs, 0, F_P50_FIRST);
	rm = eb_med(rl, eb.runs, 0, F_P50_FIRST);
	eb_row("1 subscriber", "p50 latency (median of runs)",
	    eb_fmt_med(a, sizeof a, em), eb_fmt_med(b, sizeof b, rm),
	    eb_fmt_ratio(c, sizeof c, em, rm), em <= rm + 50000,
	    "≤ relay + 50 µs (%s)", eb_fmt_med(d, sizeof d, rm + 50000));
	em = eb_med(e, eb.runs, 0, F_P99_FIRST);
	rm = eb_med(rl, eb.runs, 0, F_P99_FIRST);
	eb_row("1 subscriber", "p99 latency (median of runs)",
	    eb_fmt_med(a, sizeof a, em), eb_fmt_med(b, sizeof b, rm),
	    eb_fmt_ratio(c, sizeof c, em, rm), em <= 1.3 * rm,
	    "≤ 1.3 × relay (%s)", eb_fmt_med(d, sizeof d, 1.3 * rm));
	eb.s1_p99 = em;
	for (int r = 0; r < eb.runs; r++)
		if (e[r][0].ran && e[r][0].hwm_kib > eb.s1_hwm)
			eb.s1_hwm = e[r][0].hwm_kib;
	em = eb_med(e, eb.runs, 0, F_MAX_FIRST);
	rm = eb_med(rl, eb.runs, 0, F_MAX_FIRST);
	eb_row("1 subscriber", "max latency (median of runs)",
	    eb_fmt_med(a, sizeof a, em), eb_fmt_med(b, sizeof b, rm),
	    eb_fmt_ratio(c, sizeof c, em, rm), -1, "report");
	snprintf(a, sizeof a, "%zu", e[0][0].first.n);
	snprintf(b, sizeof b, "%zu", rl[0][0].first.n);
	eb_row("1 subscriber", "samples per run", a, b, NULL, enough,
	    "≥ 2,500 in every run");
	/* The harness floor: bench-sub straight off the pty, all runs. */
	{
		double v[EB_MAX_RUNS * 2], w[EB_MAX_RUNS * 2];
		int n = 0;
		for (int r = 0; r < eb.runs; r++)
			for (int t = 0; t < 2; t++) {
				const struct eb_phase *ph = t ? &rl[r][0] :
				    &e[r][0];
				if (!ph->ran)
					continue;
				v[n] = (double)ph->direct.p50;
				w[n++] = (double)ph->direct.p99;
			}
		fm = eb_median(v, n);
		fm99 = eb_median(w, n);
		snprintf(c, sizeof c, "%s / %s", eb_fmt_med(a, sizeof a, fm),
		    eb_fmt_med(b, sizeof b, fm99));
		eb_row("harness floor", "pty → bench-sub p50 / p99, no relay",
		    c, NULL, NULL, -1, "report (median of %d runs)", n);
	}
	/* 100 subscribers. */
	em = eb_med(e, eb.runs, 1, F_P50_FIRST);
	rm = eb_med(rl, eb.runs, 1, F_P50_FIRST);
	eb_row("100 subscribers", "first-subscriber p50",
	    eb_fmt_med(a, sizeof a, em), eb_fmt_med(b, sizeof b, rm),
	    eb_fmt_ratio(c, sizeof c, em, rm), -1, "report");
	em = eb_med(e, eb.runs, 1, F_P99_FIRST);
	rm = eb_med(rl, eb.runs, 1, F_P99_FIRST);
	eb_row("100 subscribers", "first-subscriber p99",
	    eb_fmt_med(a, sizeof a, em), eb_fmt_med(b, sizeof b, rm),
	    eb_fmt_ratio(c, sizeof c, em, rm), -1, "report");
	em = eb_med(e, eb.runs, 1, F_P50_LAST);
	rm = eb_med(rl, eb.runs, 1, F_P50_LAST);
	eb_row("100 subscribers", "last-subscriber p50",
	    eb_fmt_med(a, sizeof a, em), eb_fmt_med(b, sizeof b, rm),
	    eb_fmt_ratio(c, sizeof c, em, rm), -1, "report");
	em = eb_med(e, eb.runs, 1, F_P99_LAST);
	rm = eb_med(rl, eb.runs, 1, F_P99_LAST);
	eb_row("100 subscribers", "last-subscriber p99",
	    eb_fmt_med(a, sizeof a, em), eb_fmt_med(b, sizeof b, rm),
	    eb_fmt_ratio(c, sizeof c, em, rm), em <= 1.3 * rm,
	    "≤ 1.3 × relay (%s)", eb_fmt_med(d, sizeof d, 1.3 * rm));
	em = eb_med(e, eb.runs, 1, F_CPU);
	rm = eb_med(rl, eb.runs, 1, F_CPU);
	snprintf(a, sizeof a, "%.1f %%", em);
	snprintf(b, sizeof b, "%.1f %%", rm);
	eb_row("100 subscribers", "CPU, % of one core",
	    a, b, eb_fmt_ratio(c, sizeof c, em, rm), em <= 1.3 * rm,
	    "≤ 1.3 × relay (%.1f %%)", 1.3 * rm);
	eb_row("1 and 100 subscribers", "seq continuous, no gaps, all runs",
	    cont_e ? "yes" : "NO", cont_r ? "yes" : "NO", NULL, cont_e,
	    "every subscriber, every run");
	em = eb_med(e, eb.runs, 1, F_SUBCPU);
	rm = eb_med(rl, eb.runs, 1, F_SUBCPU);
	snprintf(a, sizeof a, "%.1f %%", em);
	snprintf(b, sizeof b, "%.1f %%", rm);
	eb_row("harness floor", "bench-sub CPU at 100 subscribers", a, b,
	    NULL, -1, "report");
	em = eb_med(e, eb.runs, 1, F_SELF);
	rm = eb_med(rl, eb.runs, 1, F_SELF);
	eb_row("harness floor", "bench-sub's own delay p99, last of 100",
	    eb_fmt_med(a, sizeof a, em), eb_fmt_med(b, sizeof b, rm), NULL,
	    -1, "report: kernel arrival → recv()");
}

/* Scenario 2 at 1,000 subscribers, eegd then the relay. */
static void
eb_scenario_1000(void)
{
	static struct eb_phase e, r;
	char a[32], b[32], c[32];
	int cont;

	e = (struct eb_phase){ .nsubs = 1000, .warm = 1.0, .measure = 10,
	    .tail = 0.3 };
	r = (struct eb_phase){ .nsubs = 1000, .warm = 0.5, .measure = 5,
	    .tail = 1.5 };
	eb_log("eegd, 1,000 subscribers");
	eb_cyton_run(0, NULL, &e, 1);
	eb_log("floor relay, 1,000 subscribers");
	eb_cyton_run(1, NULL, &r, 1);
	cont = eb_continuous(&e);
	snprintf(a, sizeof a, "%s (%" PRIu64 "..%" PRIu64 " each)",
	    cont ? "yes" : "NO", e.wsmin, e.wsmax);
	snprintf(b, sizeof b, "%s", eb_continuous(&r) ? "yes" : "NO");
	eb_row("1,000 TCP subscribers", "zero drops, every seq continuous",
	    a, b, NULL, cont, "yes");
	eb_row("1,000 TCP subscribers", "first-subscriber p50",
	    eb_fmt_ns(a, sizeof a, e.first.p50),
	    eb_fmt_ns(b, sizeof b, r.first.p50),
	    eb_fmt_ratio(c, sizeof c, (double)e.first.p50,
	    (double)r.first.p50), -1, "report");
	eb_row("1,000 TCP subscribers", "first-subscriber p99",
	    eb_fmt_ns(a, sizeof a, e.first.p99),
	    eb_fmt_ns(b, sizeof b, r.first.p99),
	    eb_fmt_ratio(c, sizeof c, (double)e.first.p99,
	    (double)r.first.p99), -1, "report");
	eb_row("1,000 TCP subscribers", "last-subscriber p50",
	    eb_fmt_ns(a, sizeof a, e.last.p50),
	    eb_fmt_ns(b, sizeof b, r.last.p50),
	    eb_fmt_ratio(c, sizeof c, (double)e.last.p50,
	    (double)r.last.p50), -1, "report");
	eb_row("1,000 TCP subscribers", "last-subscriber p99",
	    eb_fmt_ns(a, sizeof a, e.last.p99),
	    eb_fmt_ns(b, sizeof b, r.last.p99),
	    eb_fmt_ratio(c, sizeof c, (double)e.last.p99,
	    (double)r.last.p99), e.ran && e.last.p99 <= 20000000, "≤ 20 ms");
	snprintf(a, sizeof a, "%.1f %%", e.cpu);
	snprintf(b, sizeof b, "%.1f %%", r.cpu);
	eb_row("1,000 TCP subscribers", "CPU, % of one core", a, b,
	    eb_fmt_ratio(c, sizeof c, e.cpu, r.cpu), e.ran && e.cpu <= 60,
	    "≤ 60 %%");
	snprintf(a, sizeof a, "%.1f MiB", (double)e.hwm_kib / 1024);
	eb_row("1,000 TCP subscribers", "RSS (peak, VmHWM)", a, NULL, NULL,
	    e.ran && e.hwm_kib > 0 && e.hwm_kib <= 64 * 1024, "≤ 64 MiB");
	snprintf(a, sizeof a, "%.1f %%", e.sub_cpu);
	snprintf(b, sizeof b, "%.1f %%", r.sub_cpu);
	eb_row("harness floor", "bench-sub CPU at 1,000 subscribers", a, b,
	    NULL, -1, "report");
	eb_row("1,000 TCP subscribers", "last-subscriber p99 at its socket",
	    eb_fmt_ns(a, sizeof a, e.last_k.p99),
	    eb_fmt_ns(b, sizeof b, r.last_k.p99), NULL, -1,
	    "report: kernel arrival, without bench-sub's own delay");
	eb_row("harness floor", "bench-sub's own delay p99, last of 1,000",
	    eb_fmt_ns(a, sizeof a, e.self_p99),
	    eb_fmt_ns(b, sizeof b, r.self_p99), NULL, -1,
	    "report: kernel arrival → recv()");
	snprintf(c, sizeof c, "%s / %s", eb_fmt_ns(a, sizeof a, e.direct.p50),
	    eb_fmt_ns(b, sizeof b, e.direct.p99));
	eb_row("harness floor", "pty → bench-sub p50 / p99 during eegd 1,000",
	    c, NULL, NULL, -1, "report");
}

/* Scenario 5: one subscriber plus one that never reads. */
static void
eb_scenario_slow(void)
{
	static struct eb_phase s, b;
	char extra[64], a[32], c[32], d[32], e[32];
	double cap = EB_SLOW_CAP_KIB;
	int rerun = 0;

	if (eb.s1_hwm == 0) {
		/* Scenario 1 did not run: take its eegd figures now. */
		b = (struct eb_phase){ .nsubs = 1, .warm = 0.5,
		    .measure = 10.2, .tail = 0.3 };
		eb_log("eegd, 1 subscriber (the baseline for scenario 5)");
		eb_cyton_run(0, NULL, &b, 1);
		eb.s1_p99 = b.ran ? (double)b.first.p99 : (double)EB_INF;
		eb.s1_hwm = b.hwm_kib;
	}
	s = (struct eb_phase){ .nsubs = 1, .slow = 1, .warm = 0.5,
	    .measure = 10.2, .tail = 0.3 };
	snprintf(extra, sizeof extra, "client_max_buffer = %dK\n",
	    EB_SLOW_CAP_KIB);
	eb_log("eegd, 1 subscriber + 1 that never reads (cap %d KiB)",
	    EB_SLOW_CAP_KIB);
	eb_cyton_run(0, extra, &s, 1);
	if (s.ran && s.others > EB_NOISY && eb_elapsed() < EB_BUDGET_S - 20) {
		/* One run, so one burst of foreign load decides it: redo. */
		struct eb_phase again = { .nsubs = 1, .slow = 1, .warm = 0.5,
		    .measure = 10.2, .tail = 0.3 };
		eb_log("other processes used %.0f %% of a core meanwhile: "
		    "running it again", s.others);
		eb_cyton_run(0, extra, &again, 1);
		if (again.ran && again.others < s.others)
			s = again;
		rerun = 1;
	}
	snprintf(c, sizeof c, "scenario 1: %s",
	    eb_fmt_med(d, sizeof d, eb.s1_p99));
	eb_row("slow subscriber", "tagged subscriber p99",
	    eb_fmt_ns(a, sizeof a, s.first.p99), c,
	    eb_fmt_ratio(d, sizeof d, (double)s.first.p99, eb.s1_p99),
	    s.ran && s.first.p99 <= 1.3 * eb.s1_p99 && eb_continuous(&s),
	    "≤ 1.3 × scenario 1 (%s)%s",
	    eb_fmt_med(e, sizeof e, 1.3 * eb.s1_p99), rerun ?
	    "; run twice (other load), the quieter run kept" : "");
	snprintf(a, sizeof a, "%.1f MiB", (double)s.hwm_kib / 1024);
	snprintf(c, sizeof c, "baseline %.1f MiB", (double)eb.s1_hwm / 1024);
	eb_row("slow subscriber", "RSS (peak, VmHWM)", a, c, NULL,
	    s.ran && eb.s1_hwm > 0 && s.hwm_kib <= eb.s1_hwm + cap + 1024,
	    "≤ baseline + cap (%.0f KiB) + 1 MiB", cap);
	eb_row("slow subscriber", "cap reached: eegd dropped for it",
	    s.cap_hit ? "yes" : "no", NULL, NULL, s.ran && s.cap_hit,
	    "yes, within the run");
}

/* Scenario 4: synthetic 16 ch × 16 kHz to 10 binary subscribers. */
static void
eb_scenario_high_rate(void)
{
	static struct eb_phase h;
	char a[48];
	char helper[PATH_MAX];
	double expect, end = EB_DEADLINE_S, left;
	int ok;

	/* In the full bench, leave the MQTT runs (last) their shortest. */
	snprintf(helper, sizeof helper, "%s/bench-mqtt-sub", eb.dir);
	if (eb_want("mqtt") && eb.only == NULL && access(helper, X_OK) == 0 &&
	    EB_MQTT_LAST_START < end)
		end = EB_MQTT_LAST_START;
	left = end - eb_elapsed() - 3;

	/* The 30 s, or what is left of the 3 minutes. */
	h = (struct eb_phase){ .nsubs = 10, .binary = 1, .warm = 1.0,
	    .measure = eb.hi_seconds < left ? eb.hi_seconds : left,
	    .tail = 0.3 };
	if (h.measure < 5)
		h.measure = 5;
	eb_log("eegd, synthetic 16 ch × 16 kHz, 10 binary subscribers, %.0f s",
	    h.measure);
	eb_synthetic_run(&h, NULL);
	expect = 16000 * h.measure;
	ok = h.ran && h.seq_errors == 0 && h.gap_lines == 0 && h.closed == 0 &&
	    h.bad == 0 && (double)h.wsmin >= 0.98 * expect;
	snprintf(a, sizeof a, "%s (%" PRIu64 "..%" PRIu64 " each)",
	    ok ? "yes" : "NO", h.wsmin, h.wsmax);
	eb_row("16 ch × 16 kHz, 10 binary", "zero drops, seq continuous", a,
	    NULL, NULL, ok, "yes (≈ %.0f samples each)", expect);
	snprintf(a, sizeof a, "%.1f %%", h.cpu);
	eb_row("16 ch × 16 kHz, 10 binary", "CPU, % of one core", a, NULL,
	    NULL, h.ran && h.cpu <= 50, "≤ 50 %%");
	snprintf(a, sizeof a, "%.1f MB/s", (double)h.win_bytes / h.measure /
	    1e6);
	eb_row("16 ch × 16 kHz, 10 binary", "bytes sent per second", a, NULL,
	    NULL, -1, "report (%.0f s run%s)", h.measure, h.measure < 29.5 ?
	    "; shortened from the issue's 30 s to fit 3 minutes" : "");
}

/* Return a loopback TCP port nothing listens on now, or -1. */
static int
eb_free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/*
 * Start mosquitto on a free loopback port with a temporary config; sets
 * eb.broker and addr (HOST:PORT).  -1 with why on failure.
 */
static int
eb_broker_start(const char *exe, char *addr, size_t len, char *why,
    size_t whylen)
{
	char conf[PATH_MAX], log[PATH_MAX];
	char *argv[4];

	for (int attempt = 0; attempt < 3; attempt++) {
		struct passwd *pw = geteuid() == 0 ? getpwuid(0) : NULL;
		int port = eb_free_port(), fd = -1;
		char tcp[64];
		int64_t end;
		FILE *fp;
		pid_t pid;

		eb_tmpname(conf, sizeof conf, "mosquitto", "conf");
		eb_tmpname(log, sizeof log, "mosquitto", "log");
		if (port <= 0 || (fp = fopen(conf, "w")) == NULL) {
			snprintf(why, whylen, "no free port or config file");
			return -1;
		}
		fprintf(fp, "listener %d 127.0.0.1\nallow_anonymous true\n"
		    "persistence false\nlog_dest stderr\n", port);
		if (pw != NULL)	/* else it would switch to "mosquitto" */
			fprintf(fp, "user %s\n", pw->pw_name);
		if (fclose(fp) != 0) {
			snprintf(why, whylen, "cannot write %.200s", conf);
			return -1;
		}
		argv[0] = (char *)exe;
		argv[1] = "-c";
		argv[2] = conf;
		argv[3] = NULL;
		if ((pid = eb_spawn(argv, log, NULL, NULL)) == -1) {
			snprintf(why, whylen, "cannot start %.200s", exe);
			return -1;
		}
		snprintf(tcp, sizeof tcp, "tcp:127.0.0.1:%d", port);
		end = bench_now_ns() + 5 * BENCH_NS_PER_S;
		while (bench_now_ns() < end) {
			siginfo_t si;
			si.si_pid = 0;
			if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG |
			    WNOWAIT) == 0 && si.si_pid == pid)
				break;
			if ((fd = bench_connect(tcp, 0)) != -1)
				break;
			bench_sleep_until(bench_now_ns() + 20000000);
		}
		if (fd != -1) {
			close(fd);
			eb.broker = pid;
			snprintf(addr, len, "127.0.0.1:%d", port);
			eb_log("mosquitto listening on %s (pid %d)", addr,
			    (int)pid);
			return 0;
		}
		eb_stop(pid, SIGKILL, 1000);
		snprintf(why, whylen, "mosquitto did not listen (see %.200s)",
		    log);
	}
	return -1;
}

/* Stop the broker. */
static void
eb_broker_stop(void)
{
	if (eb.broker > 0)
		eb_stop(eb.broker, SIGTERM, 3000);
	eb.broker = 0;
}

/* Whether eegd takes an [mqtt] section (built with libmosquitto). */
static int
eb_eegd_has_mqtt(const char *extra, char *why, size_t whylen)
{
	char conf[PATH_MAX], sock[PATH_MAX], log[PATH_MAX];
	char *argv[5];
	pid_t pid;
	int st;

	eb_tmpname(conf, sizeof conf, "eegd-mqtt", "conf");
	eb_tmpname(sock, sizeof sock, "eegd-mqtt", "sock");
	eb_tmpname(log, sizeof log, "eegd-mqtt", "log");
	if (eb_write_conf(conf, sock, extra) == -1)
		return 0;
	argv[0] = eb.eegd;
	argv[1] = "-c";
	argv[2] = conf;
	argv[3] = "--test-config";
	argv[4] = NULL;
	if ((pid = eb_spawn(argv, log, NULL, NULL)) == -1)
		return 0;
	st = eb_reap(pid, 5000);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 1;
	snprintf(why, whylen, "%s", eb_log_has(log, "without MQTT") ?
	    "eegd built without MQTT (libmosquitto)" :
	    "eegd --test-config refused the [mqtt] section");
	return 0;
}

/* The rows of one MQTT run. */
static void
eb_mqtt_rows(const char *scn, const struct eb_phase *ph, double rate,
    const char *how)
{
	char a[64], b[32], c[32];
	double expect = rate * ph->measure;
	int ok = ph->ran && ph->seq_errors == 0 && ph->gap_lines == 0 &&
	    ph->closed == 0 && ph->bad == 0 && ph->mq.missing == 0 &&
	    ph->emu_drops == 0 && ph->conns == ph->nsubs &&
	    (double)ph->wsmin >= 0.98 * expect;

	if (!ph->ran) {
		eb_row(scn, "run", "failed", NULL, NULL, 0, "%.90s",
		    ph->error);
		return;
	}
	snprintf(a, sizeof a, "%s (%" PRIu64 "..%" PRIu64 " each; hello "
	    "%u/%u)", ok ? "yes" : "NO", ph->wsmin, ph->wsmax, ph->hello,
	    ph->nsubs);
	eb_row(scn, "seq continuous, no loss (samples in window)", a, NULL,
	    NULL, ok, "every subscriber (≈ %.0f each in %.3g s)", expect,
	    ph->measure);
	snprintf(a, sizeof a, "%s / %s", eb_fmt_ns(b, sizeof b, ph->mq.p50),
	    eb_fmt_ns(c, sizeof c, ph->mq.p99));
	eb_row(scn, "end-to-end p50 / p99, all subscribers' samples", a,
	    NULL, NULL, -1, "report: %s; batch_ms = %d adds ≤ %d ms", how,
	    EB_MQTT_BATCH_MS, EB_MQTT_BATCH_MS);
	snprintf(a, sizeof a, "%.1f %% / %.1f %%", ph->cpu, ph->broker_cpu);
	eb_row(scn, "CPU, % of one core: eegd / mosquitto", a, NULL, NULL,
	    -1, "report (the broker's for information)");
}

/*
 * MQTT (issue 9): 250 Hz × 8 ch from the emulated Cyton and 16 ch ×
 * 16 kHz from the synthetic board, through a local mosquitto to
 * bench-mqtt-sub's 10 connections.  No targets: figures are "info",
 * continuity pass/fail.  A fresh broker for each run, so no retained
 * message outlives its daemon.
 */
static void
eb_scenario_mqtt(void)
{
	static struct eb_phase cy, syn;
	const char *env = getenv("MOSQUITTO");
	const char *exe = env != NULL && *env != '\0' ? env :
	    "/usr/sbin/mosquitto";
	char helper[PATH_MAX], addr[64], extra[256], why[256] = "";
	double per = EB_MQTT_FULL_S;

	snprintf(helper, sizeof helper, "%s/bench-mqtt-sub", eb.dir);
	snprintf(extra, sizeof extra, "[mqtt]\nbroker = 127.0.0.1:1\n"
	    "topic_prefix = %s\nbatch_ms = %d\n", EB_MQTT_PREFIX,
	    EB_MQTT_BATCH_MS);
	if (access(helper, X_OK) == -1)
		snprintf(why, sizeof why, "bench-mqtt-sub not built (no "
		    "libmosquitto)");
	else if (access(exe, X_OK) == -1)
		snprintf(why, sizeof why, "%.200s: %s", exe, strerror(errno));
	else
		(void)eb_eegd_has_mqtt(extra, why, sizeof why);
	if (why[0] != '\0') {
		eb_log("MQTT: skipped: %s", why);
		eb_row("MQTT, 10 subscribers", "skipped", why, NULL, NULL, -1,
		    "needs mosquitto, libmosquitto and eegd --with-mqtt");
		return;
	}
	if (eb.only == NULL) {
		/* The full bench: what is left of its 3 minutes. */
		double left = EB_MQTT_END_S - eb_elapsed();
		per = left / 2 - EB_MQTT_SETUP_S;
		if (per > EB_MQTT_FULL_S)
			per = EB_MQTT_FULL_S;
		if (per < EB_MQTT_MIN_S) {
			eb_log("MQTT: skipped: %.0f s left", left);
			eb_row("MQTT, 10 subscribers", "skipped",
			    "no time left", NULL, NULL, -1,
			    "run eegd-bench --only mqtt");
			return;
		}
	}
	cy = (struct eb_phase){ .nsubs = EB_MQTT_SUBS, .warm = 0.5,
	    .measure = per, .tail = 0.3, .mqtt = addr };
	syn = (struct eb_phase){ .nsubs = EB_MQTT_SUBS, .binary = 1,
	    .warm = 0.5, .measure = per, .tail = 0.3, .mqtt = addr };
	eb.mqtt_ran = 1;
	if (eb_broker_start(exe, addr, sizeof addr, why, sizeof why) == 0) {
		snprintf(extra, sizeof extra, "[mqtt]\nbroker = %s\n"
		    "topic_prefix = %s\nbatch_ms = %d\n", addr, EB_MQTT_PREFIX,
		    EB_MQTT_BATCH_MS);
		eb_log("eegd, Cyton 250 Hz × 8 ch via MQTT to %d subscribers, "
		    "%.1f s", EB_MQTT_SUBS, per);
		eb_cyton_run(0, extra, &cy, 1);
		eb_broker_stop();
	} else
		snprintf(cy.error, sizeof cy.error, "%s", why);
	if (eb_broker_start(exe, addr, sizeof addr, why, sizeof why) == 0) {
		snprintf(extra, sizeof extra, "[mqtt]\nbroker = %s\n"
		    "topic_prefix = %s\nbatch_ms = %d\n", addr, EB_MQTT_PREFIX,
		    EB_MQTT_BATCH_MS);
		eb_log("eegd, synthetic 16 ch × 16 kHz via MQTT to %d "
		    "subscribers, %.1f s", EB_MQTT_SUBS, per);
		eb_synthetic_run(&syn, extra);
		eb_broker_stop();
	} else
		snprintf(syn.error, sizeof syn.error, "%s", why);
	eb_mqtt_rows("MQTT 250 Hz × 8 ch, 10 subs", &cy, 250,
	    "emulator write → delivery");
	eb_mqtt_rows("MQTT 16 ch × 16 kHz, 10 subs", &syn, 16000,
	    "REALTIME at delivery − sample time");
}

/* Remove the temporary directory and what is in it. */
static void
eb_cleanup(void)
{
	char cmd[PATH_MAX + 16];

	if (eb.keep || eb.tmp[0] == '\0')
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", eb.tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "eegd-bench: could not remove %s\n", eb.tmp);
}

/* Find this program's directory and the daemon. */
static int
eb_paths(const char *arg)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	const char *env = getenv("EEGD");

	if (n <= 0)
		return -1;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	if (strlen(self) >= sizeof eb.dir)
		return -1;
	memcpy(eb.dir, self, strlen(self) + 1);
	if (arg != NULL)
		snprintf(eb.eegd, sizeof eb.eegd, "%s", arg);
	else if (env != NULL && *env != '\0')
		snprintf(eb.eegd, sizeof eb.eegd, "%s", env);
	else
		snprintf(eb.eegd, sizeof eb.eegd, "%s/../src/eegd", eb.dir);
	if (access(eb.eegd, X_OK) == -1) {
		fprintf(stderr, "eegd-bench: %s: %s (give the daemon's path "
		    "as an argument or in $EEGD)\n", eb.eegd, strerror(errno));
		return -1;
	}
	if (realpath(eb.eegd, self) != NULL)
		snprintf(eb.eegd, sizeof eb.eegd, "%s", self);
	return 0;
}

/* Parse the options, run the scenarios, print the table. */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "eegd", required_argument, NULL, 'e' },
		{ "runs", required_argument, NULL, 'r' },
		{ "hi-seconds", required_argument, NULL, 'H' },
		{ "only", required_argument, NULL, 'o' },
		{ "keep", no_argument, NULL, 'k' },
		{ "rt", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *eegd_arg = NULL;
	struct sigaction sa;
	int ch, fails;

	eb.runs = 3;
	eb.hi_seconds = 30;
	eb.t_start = bench_now_ns();
	eb.clk_tck = sysconf(_SC_CLK_TCK);
	while ((ch = getopt_long(argc, argv, "e:r:H:o:kRh", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'e': eegd_arg = optarg; break;
		case 'r': eb.runs = atoi(optarg); break;
		case 'H': eb.hi_seconds = atof(optarg); break;
		case 'o': eb.only = optarg; break;
		case 'k': eb.keep = 1; break;
		case 'R': eb.rt = 1; break;
		case 'h':
		default:
			fprintf(ch == 'h' ? stdout : stderr,
			    "usage: eegd-bench "
			    "[--eegd PATH] [--runs N] [--hi-seconds S] "
			    "[--only latency,1000,slow,rate,mqtt] [--keep] "
			    "[--rt] "
			    "[EEGD]\n");
			return ch == 'h' ? 0 : 64;
		}
	}
	if (optind < argc)
		eegd_arg = argv[optind];
	if (eb.runs < 1 || eb.runs > EB_MAX_RUNS || !(eb.hi_seconds >= 1 &&
	    eb.hi_seconds <= 60)) {
		fprintf(stderr, "eegd-bench: --runs 1..%d, --hi-seconds "
		    "1..60\n", EB_MAX_RUNS);
		return 64;
	}
	if (eb_paths(eegd_arg) == -1)
		return 2;
	snprintf(eb.tmp, sizeof eb.tmp, "/tmp/eegd-bench.XXXXXX");
	if (mkdtemp(eb.tmp) == NULL) {
		perror("eegd-bench: mkdtemp");
		return 2;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = eb_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* 1,000 subscribers need more descriptors than the usual 1,024. */
	if (bench_raise_nofile(8192) == -1)
		eb_log("RLIMIT_NOFILE stays below 8192: %s", strerror(errno));
	eb_log("eegd %s; helpers in %s; scratch %s", eb.eegd, eb.dir, eb.tmp);
	if (eb_want("latency"))
		eb_scenario_latency();
	if (eb_want("1000") && eb_budget_left())
		eb_scenario_1000();
	if (eb_want("slow") && eb_budget_left())
		eb_scenario_slow();
	if (eb_want("rate") && eb_budget_left())
		eb_scenario_high_rate();
	if (eb_want("mqtt"))
		eb_scenario_mqtt();	/* fits itself into what is left */
	if (eb.others_n > 0) {
		char a[64];
		snprintf(a, sizeof a, "mean %.0f %%, max %.0f %%",
		    eb.others_sum / eb.others_n, eb.others_max);
		eb_row("machine", "CPU of processes not the bench's", a, NULL,
		    NULL, -1, "report: near 0 for figures to trust");
	}
	if (eb.skipped > 0)
		eb_row("bench", "time budget", "scenarios skipped", NULL, NULL,
		    0, "all within %d s", EB_BUDGET_S);
	fails = eb_print_table();
	if (eb.failed_setup) {
		fprintf(stderr, "eegd-bench: a run could not be set up; logs "
		    "kept in %s\n", eb.tmp);
		return 2;
	}
	eb_cleanup();
	return fails ? 1 : 0;
}
