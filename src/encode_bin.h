/*
 * encode_bin.h: the binary format, for high rates.  Little-endian frames:
 *
 *   u32 length     bytes after this field (type + payload)
 *   u8  type       1 header, 2 data, 3 event
 *   payload
 *
 * header: u16 protocol, u16 nch, u32 decimation, f64 rate (Hz, after
 *         decimation), u64 run id, f64 range (values lie within +-range),
 *         then nch labels and the units, each as u8 length + bytes.
 * data:   u64 first seq, u32 count, u32 step (seq i is first + i*step),
 *         u16 nch, u16 reserved (0), count x i64 time (us, CLOCK_REALTIME),
 *         count x nch x f32 values (sample-major).
 * event:  the JSON object a JSON client would get, without the newline.
 */
#ifndef EEGD_ENCODE_BIN_H
#define EEGD_ENCODE_BIN_H

#include <stddef.h>
#include <stdint.h>

#define BIN_HEADER 1
#define BIN_DATA 2
#define BIN_EVENT 3
#define BIN_MAX_RUN 256

struct evbuffer;
struct msg;

/* Samples collected for the next data frame. */
struct bin_builder {
	uint64_t first;
	uint32_t count, step;
	uint16_t nch;
	int64_t times[BIN_MAX_RUN];
	float vals[BIN_MAX_RUN * 64];
};

/* Start an empty builder. */
void encode_bin_init(struct bin_builder *b);
/* Add a sample; flushes a frame first when it doesn't continue the run. */
void encode_bin_add(struct bin_builder *b, struct evbuffer *out, uint64_t seq,
    uint32_t step, int64_t time_us, const float *vals, unsigned nch);
/* Write the pending data frame, if any. */
void encode_bin_flush(struct bin_builder *b, struct evbuffer *out);
/* Append an event frame holding the message as JSON. */
void encode_bin_msg(struct evbuffer *out, const struct msg *ev);
/* Append a header frame. */
void encode_bin_header(struct evbuffer *out, unsigned nch, unsigned decimation,
    double rate, uint64_t run, double range, const char *labels,
    const char *units);

#endif
