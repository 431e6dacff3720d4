/*
 * eegcat_out.h: eegcat's standard output.  Renders what the binary
 * stream carries as the lines the daemon's CSV or JSON format gives, with
 * the daemon's own encoders: the hello (and in CSV the column header),
 * samples, and events.  Lines are queued and written by eegcat_out_flush.
 */
#ifndef EEGD_EEGCAT_OUT_H
#define EEGD_EEGCAT_OUT_H

#include <stddef.h>

struct eegcat_data;
struct eegcat_json;
struct eegcat_out;

/* Create an output on fd, in JSON lines when json, else CSV; NULL on error. */
struct eegcat_out *eegcat_out_new(int fd, int json);
/* Free an output (without flushing it). */
void eegcat_out_free(struct eegcat_out *o);
/* A header came mid-stream: hold the lines until the hello that follows. */
void eegcat_out_hold(struct eegcat_out *o);
/* Print a hello unless it is the one printed last; ends a hold. */
void eegcat_out_hello(struct eegcat_out *o, const char *json, size_t len,
    const struct eegcat_json *obj);
/* Print n samples of a data frame, from sample index from. */
void eegcat_out_data(struct eegcat_out *o, const struct eegcat_data *d,
    size_t from, size_t n);
/* Print an event (gap, marker, board, ...). */
void eegcat_out_event(struct eegcat_out *o, const char *json, size_t len,
    const struct eegcat_json *obj);
/* Write what is queued; -1 with errno when the output fails. */
int eegcat_out_flush(struct eegcat_out *o);

#endif
