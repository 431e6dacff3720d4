/*
 * emu.c: bench-emu, an OpenBCI Cyton on a pty for the benchmark.
 *
 * It opens two ptys and prints "ptys BOARD FLOOR" on stdout.  The board
 * pty answers the handshake like firmware v3 ('v' → reset reply ending in
 * "$$$", 'b' starts, 's' stops, 'd' → defaults reply).  While streaming,
 * the pacer thread writes packet k to the board pty at t0 + k × period on
 * absolute CLOCK_MONOTONIC deadlines (SCHED_FIFO where allowed, as a
 * board's clock does not care about host load), and the same packet to the
 * floor pty
 * half a period later (so the harness's own floor never competes with the
 * path under test).  Channel 1 carries k; the time just before each
 * packet's write is stored in the shared write-time file (bench.h).
 *
 * usage: bench-emu -o TIMESFILE [-r HZ] [-T MAX_SECONDS]
 * It exits on SIGTERM, SIGINT, EOF on stdin, or after MAX_SECONDS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "bench.h"

static const char emu_reset_reply[] =
    "OpenBCI V3 8-16 channel\n"
    "On Board ADS1299 Device ID: 0x3E\n"
    "LIS3DH Device ID: 0x33\n"
    "Firmware: v3.1.2\n"
    "$$$";
static const char emu_defaults_reply[] =
    "updating channel settings to default$$$";

/*
 * The emulator.  The command loop (main thread) and the pacer thread share
 * streaming and the write lock; master[0] is written by both (replies and
 * packets) under lock, master[1] by the pacer only.
 */
struct emu {
	int master[2], slave[2];
	char name[2][64];
	int64_t period_ns;
	struct bench_times *times;
	atomic_int streaming;		/* 1 while 'b' is in force */
	atomic_uint_fast64_t start_gen;	/* bumped on every start */
	atomic_int stop;
	pthread_mutex_t lock;		/* serializes writes to master[0] */
};

/* Fill packet k: counter, channel 1 = k, the others a slow pattern. */
static void
emu_packet(uint8_t *p, uint64_t k)
{
	memset(p, 0, BENCH_PACKET);
	p[0] = BENCH_HEADER;
	p[1] = (uint8_t)k;
	for (unsigned ch = 0; ch < 8; ch++) {
		int32_t v = ch == 0 ? (int32_t)(k & 0x7FFFFF) :
		    (int32_t)((k * (ch * 7 + 3) + ch * 1000) % 4000) - 2000;
		uint32_t u = (uint32_t)v & 0xFFFFFF;
		p[2 + 3 * ch] = (uint8_t)(u >> 16);
		p[3 + 3 * ch] = (uint8_t)(u >> 8);
		p[4 + 3 * ch] = (uint8_t)u;
	}
	p[32] = 0xC0;
}

/* Write one packet to pty i; returns the time just before the write, or 0. */
static int64_t
emu_write(struct emu *e, int i, const uint8_t *p)
{
	int64_t t;
	int ok;

	if (i == 0)
		pthread_mutex_lock(&e->lock);
	t = bench_now_ns();
	/* Nobody reading: a full pty refuses; never stall the pacing long. */
	ok = bench_write_all(e->master[i], p, BENCH_PACKET, i == 0 ? 20 : 0);
	if (i == 0)
		pthread_mutex_unlock(&e->lock);
	return ok == 0 ? t : 0;
}

/* The pacer: one packet per period while streaming, on absolute deadlines. */
static void *
emu_pacer(void *arg)
{
	struct emu *e = arg;
	uint8_t p[BENCH_PACKET];
	uint64_t k = 0, gen = 0;
	int64_t next = 0, t;

	/*
	 * A board keeps its pace whatever the host does: deadlines to the
	 * nanosecond (not the default 50 us timer slack) and, where allowed,
	 * a real-time priority above everything else the bench runs.
	 */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	struct sched_param sp = { .sched_priority = 20 };
	(void)pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	while (!atomic_load(&e->stop)) {
		if (!atomic_load(&e->streaming)) {
			bench_sleep_until(bench_now_ns() + 1000000);
			continue;
		}
		if (atomic_load(&e->start_gen) != gen) {
			/* A fresh 'b': the first packet one period from now. */
			gen = atomic_load(&e->start_gen);
			next = bench_now_ns() + e->period_ns;
		}
		bench_sleep_until(next);
		if (!atomic_load(&e->streaming))
			continue;
		emu_packet(p, k);
		t = emu_write(e, 0, p);
		if (k < BENCH_MAX_PKTS)
			e->times->t[0][k] = t;
		if (t == 0)
			e->times->drops[0]++;
		bench_sleep_until(next + e->period_ns / 2);
		t = emu_write(e, 1, p);
		if (k < BENCH_MAX_PKTS)
			e->times->t[1][k] = t;
		if (t == 0)
			e->times->drops[1]++;
		k++;
		e->times->packets = k;
		next += e->period_ns;
		if (bench_now_ns() > next + e->period_ns) {
			/* Far behind: keep the rate, not the lost ticks. */
			e->times->late++;
			next = bench_now_ns() + e->period_ns;
		}
	}
	return NULL;
}

/* Answer one command byte from the host. */
static void
emu_command(struct emu *e, char c)
{
	const char *reply = NULL;

	switch (c) {
	case 'b':
		if (!atomic_load(&e->streaming)) {
			atomic_fetch_add(&e->start_gen, 1);
			atomic_store(&e->streaming, 1);
		}
		break;
	case 's':
		atomic_store(&e->streaming, 0);
		break;
	case 'v':
		/* A soft reset stops the stream and prints the banner. */
		atomic_store(&e->streaming, 0);
		reply = emu_reset_reply;
		break;
	case 'd':
		if (!atomic_load(&e->streaming))
			reply = emu_defaults_reply;
		break;
	default:
		break;
	}
	if (reply != NULL) {
		pthread_mutex_lock(&e->lock);
		(void)bench_write_all(e->master[0], reply, strlen(reply), 200);
		pthread_mutex_unlock(&e->lock);
	}
}

/* Open pty i raw, non-blocking on the master side. */
static int
emu_open_pty(struct emu *e, int i)
{
	if (openpty(&e->master[i], &e->slave[i], e->name[i], NULL, NULL) ==
	    -1 || bench_tty_raw(e->slave[i]) == -1)
		return -1;
	/* The slave stays open here so the master never sees EIO. */
	return fcntl(e->master[i], F_SETFL, O_NONBLOCK);
}

/* Map the write-time file, creating it zeroed. */
static struct bench_times *
emu_map_times(const char *path)
{
	struct bench_times *t;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd == -1)
		return NULL;
	if (ftruncate(fd, sizeof *t) == -1) {
		close(fd);
		return NULL;
	}
	t = mmap(NULL, sizeof *t, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (t == MAP_FAILED)
		return NULL;
	t->magic = BENCH_TIMES_MAGIC;
	return t;
}

/* Parse the options, open the ptys, answer commands until told to stop. */
int
main(int argc, char **argv)
{
	static struct emu e;
	const char *times_path = NULL;
	double rate = 250, max_s = 300;
	pthread_t pacer;
	sigset_t ss;
	int ch, sfd;
	int64_t end;

	while ((ch = getopt(argc, argv, "o:r:T:")) != -1) {
		switch (ch) {
		case 'o': times_path = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 'T': max_s = atof(optarg); break;
		default:
			fprintf(stderr, "usage: bench-emu -o TIMESFILE [-r HZ] "
			    "[-T MAX_SECONDS]\n");
			return 64;
		}
	}
	if (times_path == NULL || !(rate > 0 && rate <= 4000)) {
		fprintf(stderr, "bench-emu: -o is required; -r 1..4000\n");
		return 64;
	}
	e.period_ns = (int64_t)(1e9 / rate + 0.5);
	pthread_mutex_init(&e.lock, NULL);
	if ((e.times = emu_map_times(times_path)) == NULL) {
		perror(times_path);
		return 1;
	}
	if (emu_open_pty(&e, 0) == -1 || emu_open_pty(&e, 1) == -1) {
		perror("bench-emu: openpty");
		return 1;
	}
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	if ((sfd = signalfd(-1, &ss, SFD_CLOEXEC)) == -1) {
		perror("bench-emu: signalfd");
		return 1;
	}
	printf("ptys %s %s\n", e.name[0], e.name[1]);
	fflush(stdout);
	if (pthread_create(&pacer, NULL, emu_pacer, &e) != 0) {
		fprintf(stderr, "bench-emu: cannot start the pacer\n");
		return 1;
	}
	end = bench_now_ns() + (int64_t)(max_s * 1e9);
	while (bench_now_ns() < end) {
		struct pollfd pfd[3] = {
			{ .fd = e.master[0], .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = STDIN_FILENO, .events = POLLIN },
		};
		char buf[256];
		ssize_t n;

		if (poll(pfd, 3, 100) == -1 && errno != EINTR)
			break;
		if (pfd[1].revents || (pfd[2].revents & (POLLIN | POLLHUP) &&
		    read(STDIN_FILENO, buf, sizeof buf) <= 0))
			break;
		if (pfd[0].revents & POLLIN &&
		    (n = read(e.master[0], buf, sizeof buf)) > 0)
			for (ssize_t i = 0; i < n; i++)
				emu_command(&e, buf[i]);
	}
	atomic_store(&e.stop, 1);
	atomic_store(&e.streaming, 0);
	pthread_join(pacer, NULL);
	fprintf(stderr, "bench-emu: %llu packets, %llu late ticks, drops "
	    "%llu/%llu\n", (unsigned long long)e.times->packets,
	    (unsigned long long)e.times->late,
	    (unsigned long long)e.times->drops[0],
	    (unsigned long long)e.times->drops[1]);
	return 0;
}
