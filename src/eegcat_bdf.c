/* eegcat_bdf.c: eegcat's BDF+ recorder, through EDFlib, with events.tsv. */
#include "autoconfig.h"

#include <edflib.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eegcat_bdf.h"
#include "eegcat_conn.h"
#include "encode.h"
#include "log.h"

/* BDF's 24-bit digital range. */
#define BDF_DMIN (-8388608)
#define BDF_DMAX 8388607
/* Markers kept until a sample places them (before the first one). */
#define BDF_MAX_PENDING 64
/* The highest sample rate recorded: one data record must stay small. */
#define BDF_MAX_RATE 100000

/* A marker that came before any sample of the current run. */
struct bdf_pending {
	uint64_t seq;
	int64_t time_us;
	char *text;
};

/*
 * The recorder.  The stream description (nch, rate, range, labels, run)
 * comes from header frames; a change of it closes the file, and the next
 * sample starts a new one.  While a
 * file is open, index counts the samples in it (real and filled) and
 * rec[] holds the data record being built (signal-major, fillpos
 * samples per signal).  last_* describe the last real sample, which maps
 * seqs to sample indices for markers and gaps.
 */
struct eegcat_bdf {
	struct eegcat_bdf_opts opts;
	char base[PATH_MAX - 100];	/* the --record path without .bdf */
	int used_path;			/* the --record path has been used */
	/* stream */
	int have_desc;
	unsigned nch;
	unsigned rate;
	double range;
	uint64_t run;
	char labels[EEGCAT_CONN_MAX_CH][17];
	int run_changed;
	char gap_reason[32];
	/* the open file */
	int open;
	int handle;
	FILE *tsv;
	char path[PATH_MAX];
	uint64_t index;
	uint64_t nannots;
	int64_t next_boundary_us;
	int *rec;
	unsigned fillpos;
	/* the last real sample */
	int have_last;
	uint64_t last_seq;
	uint32_t last_step;
	int64_t last_time_us;
	int last_dig[EEGCAT_CONN_MAX_CH];
	struct bdf_pending pend[BDF_MAX_PENDING];
	size_t npend;
};

/* Check the options and create a recorder. */
struct eegcat_bdf *
eegcat_bdf_new(const struct eegcat_bdf_opts *opts, char *err, size_t errlen)
{
	struct eegcat_bdf *b;
	size_t n = strlen(opts->path);

	if (n < 5 || strcmp(opts->path + n - 4, ".bdf") != 0) {
		snprintf(err, errlen, "--record: '%s' does not end in .bdf",
		    opts->path);
		return NULL;
	}
	if (n - 4 >= PATH_MAX - 100) {
		snprintf(err, errlen, "--record: path too long");
		return NULL;
	}
	if (opts->annot_signals < 1 ||
	    opts->annot_signals > EEGCAT_BDF_ANNOT_SIGNALS_MAX) {
		snprintf(err, errlen, "annotation signals must be 1 to %d",
		    EEGCAT_BDF_ANNOT_SIGNALS_MAX);
		return NULL;
	}
	if ((b = calloc(1, sizeof *b)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->opts = *opts;
	memcpy(b->base, opts->path, n - 4);
	b->base[n - 4] = '\0';
	b->handle = -1;
	return b;
}

/* Free a recorder. */
void
eegcat_bdf_free(struct eegcat_bdf *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->npend; i++)
		free(b->pend[i].text);
	free(b->rec);
	free(b);
}

/* Cut text to at most EEGCAT_BDF_ANNOT_MAX bytes on a UTF-8 boundary. */
void
eegcat_bdf_annot_text(char *buf, const char *text)
{
	size_t n = strlen(text);

	if (n > EEGCAT_BDF_ANNOT_MAX) {
		n = EEGCAT_BDF_ANNOT_MAX;
		/* Back up over continuation bytes to a sequence start. */
		while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(buf, text, n);
	buf[n] = '\0';
}

/* Take the stream description. */
int
eegcat_bdf_stream(struct eegcat_bdf *b, const struct eegcat_header *h,
    char *err, size_t errlen)
{
	char labels[EEGCAT_CONN_MAX_CH][17];
	const char *s = h->labels;
	double r = floor(h->rate + 0.5);
	int changed;

	if (fabs(h->rate - r) > 1e-9 || r < 1 || r > BDF_MAX_RATE) {
		snprintf(err, errlen, "--record needs a whole number of samples "
		    "per second (1 to %d); the stream has %.6g Hz (choose a "
		    "--decimate that divides the board's rate)", BDF_MAX_RATE,
		    h->rate);
		return -1;
	}
	if (!(h->range > 0) || !isfinite(h->range)) {
		snprintf(err, errlen, "--record: the stream has no valid range "
		    "(%g)", h->range);
		return -1;
	}
	memset(labels, 0, sizeof labels);
	for (unsigned i = 0; i < h->nch; i++) {
		const char *c = strchr(s, ',');
		size_t l = c ? (size_t)(c - s) : strlen(s);
		snprintf(labels[i], sizeof labels[i], "%.*s",
		    (int)(l > 16 ? 16 : l), s);
		s = c ? c + 1 : s + l;
	}
	changed = b->have_desc && (b->nch != h->nch ||
	    b->rate != (unsigned)r || b->range != h->range ||
	    memcmp(b->labels, labels, sizeof labels) != 0);
	/* A file has one description: a new one starts a new file. */
	if (changed && eegcat_bdf_close(b, err, errlen) == -1)
		return -1;
	if (b->have_desc && b->run != h->run)
		b->run_changed = 1;
	if (!b->have_desc || changed) {
		free(b->rec);
		b->rec = calloc((size_t)h->nch * (size_t)r, sizeof *b->rec);
		if (b->rec == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		b->fillpos = 0;
	}
	b->nch = h->nch;
	b->rate = (unsigned)r;
	b->range = h->range;
	b->run = h->run;
	memcpy(b->labels, labels, sizeof labels);
	b->have_desc = 1;
	return 0;
}

/* The reason of the next jump in seq. */
void
eegcat_bdf_gap(struct eegcat_bdf *b, const char *reason)
{
	snprintf(b->gap_reason, sizeof b->gap_reason, "%s", reason);
}

/* Write one events.tsv row and flush it. */
static int
bdf_tsv(struct eegcat_bdf *b, uint64_t seq, int64_t time_us,
    const char *kind, const char *text)
{
	char t[32];

	t[encode_time(t, time_us)] = '\0';
	fprintf(b->tsv, "%llu\t%s\t%s\t", (unsigned long long)seq, t, kind);
	for (const char *p = text; *p != '\0'; p++)
		fputc(*p == '\t' || *p == '\n' || *p == '\r' ? ' ' : *p,
		    b->tsv);
	fputc('\n', b->tsv);
	return fflush(b->tsv) == 0 && !ferror(b->tsv) ? 0 : -1;
}

/* Add an annotation at onset seconds (clamped to the file). */
static void
bdf_annotate(struct eegcat_bdf *b, double onset, const char *text)
{
	char buf[EEGCAT_BDF_ANNOT_MAX + 1];

	if (onset < 0)
		onset = 0;
	eegcat_bdf_annot_text(buf, text);
	if (edfwrite_annotation_utf8(b->handle, llround(onset * 10000), -1,
	    buf) == 0)
		b->nannots++;
}

/* Convert one value to BDF's 24-bit digital scale (-range..range). */
static int
bdf_digital(const struct eegcat_bdf *b, float v)
{
	double bv = 2.0 * b->range / ((double)BDF_DMAX - BDF_DMIN);
	double d;

	if (!isfinite(v))
		return 0;
	d = floor(((double)v + b->range) / bv + 0.5) + BDF_DMIN;
	if (d < BDF_DMIN)
		return BDF_DMIN;
	if (d > BDF_DMAX)
		return BDF_DMAX;
	return (int)d;
}

/*
 * Append one sample of digital values.  A completed data record is
 * written and everything EDFlib buffered in stdio is pushed to the
 * kernel, so a killed eegcat loses at most the record being built.
 */
static int
bdf_append(struct eegcat_bdf *b, const int *dig, char *err, size_t errlen)
{
	for (unsigned k = 0; k < b->nch; k++)
		b->rec[(size_t)k * b->rate + b->fillpos] = dig[k];
	b->index++;
	if (++b->fillpos < b->rate)
		return 0;
	b->fillpos = 0;
	if (edf_blockwrite_digital_samples(b->handle, b->rec) != 0) {
		snprintf(err, errlen, "%s: write error", b->path);
		return -1;
	}
	/*
	 * EDFlib 1.23 flushes its FILE after each data record itself (the
	 * file grows by whole records); its FILE is private, so flush every
	 * stream anyway, in case another version does not.
	 */
	if (fflush(NULL) != 0) {
		snprintf(err, errlen, "%s: %s", b->path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Reserve a new file's name: path itself, or with -1, -2, ... appended. */
static int
bdf_reserve(struct eegcat_bdf *b, const char *stem, int may_suffix,
    char *err, size_t errlen)
{
	int fd;

	for (int i = 0; i < 100; i++) {
		if (i == 0)
			snprintf(b->path, sizeof b->path, "%s.bdf", stem);
		else
			snprintf(b->path, sizeof b->path, "%s-%d.bdf", stem, i);
		fd = open(b->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0644);
		if (fd != -1) {
			close(fd);
			return 0;
		}
		if (errno != EEXIST || !may_suffix)
			break;
	}
	snprintf(err, errlen, "%s: %s%s", b->path, strerror(errno),
	    errno == EEXIST ? " (eegcat does not overwrite recordings)" : "");
	return -1;
}

/* Compute the first rotation boundary after time t (local wall clock). */
static int64_t
bdf_next_boundary(const struct eegcat_bdf *b, int64_t t_us)
{
	time_t t = (time_t)(t_us / 1000000);
	int64_t period = b->opts.rotate_sec, local;
	struct tm tm;

	localtime_r(&t, &tm);
	local = (int64_t)t + tm.tm_gmtoff;
	return ((local / period + 1) * period - tm.tm_gmtoff) * 1000000;
}

/* Open a new file whose first sample is seq at t_us. */
static int
bdf_open(struct eegcat_bdf *b, uint64_t seq, int64_t t_us, char *err,
    size_t errlen)
{
	char stem[PATH_MAX - 16], tsv[PATH_MAX + 16], info[81];
	time_t t = (time_t)(t_us / 1000000);
	int h, may_suffix;
	struct tm tm;

	localtime_r(&t, &tm);
	if (b->opts.rotate_sec == 0 && !b->used_path) {
		snprintf(stem, sizeof stem, "%s", b->base);
		may_suffix = 0;
	} else {
		snprintf(stem, sizeof stem, "%s-%04d%02d%02d-%02d%02d%02d",
		    b->base, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		    tm.tm_hour, tm.tm_min, tm.tm_sec);
		may_suffix = 1;
	}
	if (bdf_reserve(b, stem, may_suffix, err, errlen) == -1)
		return -1;
	b->used_path = 1;
	h = edfopen_file_writeonly(b->path, EDFLIB_FILETYPE_BDFPLUS,
	    (int)b->nch);
	if (h < 0) {
		snprintf(err, errlen, "%s: EDFlib cannot open it (error %d)",
		    b->path, h);
		return -1;
	}
	b->handle = h;
	for (unsigned k = 0; k < b->nch; k++) {
		if (edf_set_samplefrequency(h, (int)k, (int)b->rate) != 0 ||
		    edf_set_physical_maximum(h, (int)k, b->range) != 0 ||
		    edf_set_physical_minimum(h, (int)k, -b->range) != 0 ||
		    edf_set_digital_maximum(h, (int)k, BDF_DMAX) != 0 ||
		    edf_set_digital_minimum(h, (int)k, BDF_DMIN) != 0 ||
		    edf_set_label(h, (int)k, b->labels[k]) != 0 ||
		    edf_set_physical_dimension(h, (int)k, "uV") != 0)
			goto bad;
	}
	snprintf(info, sizeof info, "eegd run %016llx seq %llu",
	    (unsigned long long)b->run, (unsigned long long)seq);
	if (edf_set_number_of_annotation_signals(h,
	    (int)b->opts.annot_signals) != 0 ||
	    edf_set_startdatetime(h, tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec) != 0 ||
	    edf_set_subsecond_starttime(h,
	    (int)(t_us % 1000000 / 100 * 1000)) != 0 ||
	    edf_set_equipment(h, "eegd") != 0 ||
	    edf_set_recording_additional(h, info) != 0)
		goto bad;
	snprintf(tsv, sizeof tsv, "%.*s.events.tsv",
	    (int)(strlen(b->path) - 4), b->path);
	if ((b->tsv = fopen(tsv, "we")) == NULL) {
		snprintf(err, errlen, "%s: %s", tsv, strerror(errno));
		edfclose_file(h);
		b->handle = -1;
		return -1;
	}
	b->open = 1;
	b->index = 0;
	b->nannots = 0;
	b->fillpos = 0;
	if (b->opts.rotate_sec > 0)
		b->next_boundary_us = bdf_next_boundary(b, t_us);
	fputs("seq\ttime\tkind\ttext\n", b->tsv);
	snprintf(info, sizeof info, "run %016llx, %u channels at %u Hz",
	    (unsigned long long)b->run, b->nch, b->rate);
	if (bdf_tsv(b, seq, t_us, "start", info) == -1) {
		snprintf(err, errlen, "%s: write error", tsv);
		return -1;
	}
	log_notice("recording to %s from seq %llu", b->path,
	    (unsigned long long)seq);
	return 0;
bad:
	snprintf(err, errlen, "%s: EDFlib refused the signal parameters",
	    b->path);
	edfclose_file(h);
	b->handle = -1;
	return -1;
}

/* Close the current file, padding its last record; -1 with err. */
int
eegcat_bdf_close(struct eegcat_bdf *b, char *err, size_t errlen)
{
	unsigned pad = 0;
	uint64_t room;
	char text[64];
	int r = 0;

	if (!b->open)
		return 0;
	if (b->fillpos > 0) {
		/* A BDF file holds whole data records: repeat the last value. */
		pad = b->rate - b->fillpos;
		snprintf(text, sizeof text, "end of data; %u samples padded",
		    pad);
		bdf_annotate(b, (double)b->index / b->rate, text);
		while (b->fillpos > 0 && r == 0)
			r = bdf_append(b, b->last_dig, err, errlen);
	} else
		snprintf(text, sizeof text, "end of data");
	if (bdf_tsv(b, b->last_seq, b->last_time_us, "end", text) == -1 &&
	    r == 0) {
		snprintf(err, errlen, "%s: events.tsv write error", b->path);
		r = -1;
	}
	room = b->index / b->rate * b->opts.annot_signals;
	if (b->nannots > room)
		log_warnx("%s: %llu annotations but room for %llu (%u per "
		    "second); the latest are only in the events.tsv", b->path,
		    (unsigned long long)b->nannots, (unsigned long long)room,
		    b->opts.annot_signals);
	if (edfclose_file(b->handle) != 0 && r == 0) {
		snprintf(err, errlen, "%s: EDFlib could not finish it", b->path);
		r = -1;
	}
	if (fclose(b->tsv) != 0 && r == 0) {
		snprintf(err, errlen, "%s: events.tsv: %s", b->path,
		    strerror(errno));
		r = -1;
	}
	log_info("closed %s: %llu samples", b->path,
	    (unsigned long long)b->index);
	b->tsv = NULL;
	b->handle = -1;
	b->open = 0;
	return r;
}

/* Write a marker into the open file, placed by its seq. */
static int
bdf_write_marker(struct eegcat_bdf *b, uint64_t seq, int64_t time_us,
    const char *text, char *err, size_t errlen)
{
	/* The last real sample is at index - 1 (fills come before it). */
	double d = seq >= b->last_seq ? (double)(seq - b->last_seq) :
	    -(double)(b->last_seq - seq);
	double onset = ((double)(b->index - 1) + d / b->last_step) / b->rate;

	bdf_annotate(b, onset, text);
	if (bdf_tsv(b, seq, time_us, "marker", text) == -1) {
		snprintf(err, errlen, "%s: events.tsv write error", b->path);
		return -1;
	}
	return 0;
}

/* Record a marker, or keep it until a sample of this run places it. */
int
eegcat_bdf_marker(struct eegcat_bdf *b, uint64_t seq, int64_t time_us,
    const char *text, char *err, size_t errlen)
{
	struct bdf_pending *p;

	if (b->open && !b->run_changed)
		return bdf_write_marker(b, seq, time_us, text, err, errlen);
	if (b->npend >= BDF_MAX_PENDING) {
		log_warnx("marker at seq %llu dropped: too many before the "
		    "first sample", (unsigned long long)seq);
		return 0;
	}
	p = &b->pend[b->npend];
	if ((p->text = strdup(text)) == NULL)
		return 0;
	p->seq = seq;
	p->time_us = time_us;
	b->npend++;
	return 0;
}

/* A gap of n samples after the last one: annotate it and hold the value. */
static int
bdf_fill(struct eegcat_bdf *b, uint64_t n, const char *reason, char *err,
    size_t errlen)
{
	char text[80];

	snprintf(text, sizeof text, "gap %llu samples (%s)",
	    (unsigned long long)n, reason);
	bdf_annotate(b, (double)b->index / b->rate, text);
	if (bdf_tsv(b, b->last_seq + b->last_step, b->last_time_us +
	    1000000 / b->rate, "gap", text) == -1) {
		snprintf(err, errlen, "%s: events.tsv write error", b->path);
		return -1;
	}
	log_notice("%s: %s", b->path, text);
	for (uint64_t i = 0; i < n; i++)
		if (bdf_append(b, b->last_dig, err, errlen) == -1)
			return -1;
	return 0;
}

/*
 * How many samples are missing before seq at t_us: by seq in the same
 * run, by time after a restart.  -1 for a sample already recorded.
 */
static int64_t
bdf_missing(const struct eegcat_bdf *b, uint64_t seq, uint32_t step,
    int64_t t_us)
{
	int64_t n;

	if (b->run_changed) {
		n = llround((double)(t_us - b->last_time_us) * b->rate / 1e6)
		    - 1;
		return n > 0 ? n : 0;
	}
	if (seq <= b->last_seq)
		return -1;
	return (int64_t)((seq - b->last_seq) / step) - 1;
}

/* Record one sample. */
int
eegcat_bdf_sample(struct eegcat_bdf *b, uint64_t seq, uint32_t step,
    int64_t time_us, const float *vals, char *err, size_t errlen)
{
	int dig[EEGCAT_CONN_MAX_CH];
	int64_t missing = 0;
	char text[80];

	if (!b->have_desc) {
		snprintf(err, errlen, "data before the stream description");
		return -1;
	}
	for (unsigned k = 0; k < b->nch; k++)
		dig[k] = bdf_digital(b, vals[k]);
	if (b->have_last && (missing = bdf_missing(b, seq, step,
	    time_us)) == -1)
		return 0;	/* a duplicate: never expected */
	if (b->open && missing > 0) {
		const char *reason = b->gap_reason[0] != '\0' ?
		    b->gap_reason : b->run_changed ? "restart" : "unknown";
		if ((uint64_t)missing <= (uint64_t)b->opts.max_fill_sec *
		    b->rate) {
			if (bdf_fill(b, (uint64_t)missing, reason, err,
			    errlen) == -1)
				return -1;
		} else {
			/* Too long to fill: this file ends, the next says why. */
			if (eegcat_bdf_close(b, err, errlen) == -1 ||
			    bdf_open(b, seq, time_us, err, errlen) == -1)
				return -1;
			snprintf(text, sizeof text, "gap %llu samples (%s)",
			    (unsigned long long)missing, reason);
			bdf_annotate(b, 0, text);
			if (bdf_tsv(b, b->last_seq + b->last_step,
			    b->last_time_us + 1000000 / b->rate, "gap",
			    text) == -1) {
				snprintf(err, errlen, "%s: write error",
				    b->path);
				return -1;
			}
			log_notice("%s: %s before this file", b->path, text);
		}
	} else if (b->open && b->opts.rotate_sec > 0 && b->fillpos == 0 &&
	    time_us >= b->next_boundary_us) {
		if (eegcat_bdf_close(b, err, errlen) == -1)
			return -1;
	}
	if (!b->open && bdf_open(b, seq, time_us, err, errlen) == -1)
		return -1;
	b->run_changed = 0;
	b->gap_reason[0] = '\0';
	if (bdf_append(b, dig, err, errlen) == -1)
		return -1;
	b->have_last = 1;
	b->last_seq = seq;
	b->last_step = step;
	b->last_time_us = time_us;
	memcpy(b->last_dig, dig, b->nch * sizeof dig[0]);
	for (size_t i = 0; i < b->npend; i++) {
		struct bdf_pending *p = &b->pend[i];
		int r = bdf_write_marker(b, p->seq, p->time_us, p->text, err,
		    errlen);
		free(p->text);
		if (r == -1) {
			for (i++; i < b->npend; i++)
				free(b->pend[i].text);
			b->npend = 0;
			return -1;
		}
	}
	b->npend = 0;
	return 0;
}
