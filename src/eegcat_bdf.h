/*
 * eegcat_bdf.h: eegcat's BDF+ recorder, through EDFlib.  One file at a
 * time, with FILE.events.tsv beside it; data records of one second,
 * flushed to the kernel as each one completes.  Gaps are filled by
 * holding the last value and annotated; markers become annotations; with
 * rotation a new file starts at the first data record boundary at or
 * after each wall-clock period boundary.  See eegcat(1), RECORDING.
 */
#ifndef EEGD_EEGCAT_BDF_H
#define EEGD_EEGCAT_BDF_H

#include <stddef.h>
#include <stdint.h>

struct eegcat_bdf;
struct eegcat_header;

/* EDFlib's limit on an annotation's text, in bytes. */
#define EEGCAT_BDF_ANNOT_MAX 40
/* The default number of annotation signals, and EDFlib's maximum. */
#define EEGCAT_BDF_ANNOT_SIGNALS 8
#define EEGCAT_BDF_ANNOT_SIGNALS_MAX 64
/* The default longest gap filled within a file, in seconds. */
#define EEGCAT_BDF_MAX_FILL 60

/* How to record. */
struct eegcat_bdf_opts {
	const char *path;	/* FILE.bdf */
	unsigned rotate_sec;	/* the rotation period, or 0 */
	unsigned annot_signals;	/* annotation signals per data record */
	unsigned max_fill_sec;	/* a longer gap starts a new file */
};

/* Check the options and create a recorder; NULL with err on error. */
struct eegcat_bdf *eegcat_bdf_new(const struct eegcat_bdf_opts *opts,
    char *err, size_t errlen);
/*
 * Take the stream description.  Returns -1 with err when it cannot be
 * recorded (a sample rate that is not a whole number of Hz).  Another
 * run id means a daemon restart: the next sample is placed by its time.
 */
int eegcat_bdf_stream(struct eegcat_bdf *b, const struct eegcat_header *h,
    char *err, size_t errlen);
/* The reason of the next jump in seq (a gap event's reason). */
void eegcat_bdf_gap(struct eegcat_bdf *b, const char *reason);
/* Record one sample of nch values; -1 with err on a write error. */
int eegcat_bdf_sample(struct eegcat_bdf *b, uint64_t seq, uint32_t step,
    int64_t time_us, const float *vals, char *err, size_t errlen);
/* Record a marker; -1 with err on a write error. */
int eegcat_bdf_marker(struct eegcat_bdf *b, uint64_t seq, int64_t time_us,
    const char *text, char *err, size_t errlen);
/* Close the current file, padding its last record; -1 with err on error. */
int eegcat_bdf_close(struct eegcat_bdf *b, char *err, size_t errlen);
/* Free a recorder (close it first). */
void eegcat_bdf_free(struct eegcat_bdf *b);
/*
 * Copy text into buf (>= EEGCAT_BDF_ANNOT_MAX + 1 bytes), cut to at most
 * EEGCAT_BDF_ANNOT_MAX bytes without splitting a UTF-8 sequence.
 */
void eegcat_bdf_annot_text(char *buf, const char *text);

#endif
