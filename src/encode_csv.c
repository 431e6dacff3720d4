/* encode_csv.c: the CSV format, for nc and spreadsheets. */
#include "autoconfig.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#include "encode.h"
#include "encode_csv.h"
#include "sample.h"

#define CSV_LINE_MAX 8192

/* Append "seq,time,v1,...,vN\n". */
void
encode_csv_sample(struct evbuffer *out, const struct record *r)
{
	char line[64 + SAMPLE_MAX_CHANNELS * 24];
	size_t n;

	n = (size_t)snprintf(line, 32, "%llu,", (unsigned long long)r->seq);
	n += encode_time(line + n, r->time_us);
	for (uint32_t i = 0; i < r->nch && i < SAMPLE_MAX_CHANNELS; i++) {
		line[n++] = ',';
		n += encode_fixed(line + n, r->ch[i], 4);
	}
	line[n++] = '\n';
	evbuffer_add(out, line, n);
}

/* Copy text into buf, dropping control characters; returns length. */
static size_t
csv_text(char *buf, size_t room, const char *s)
{
	size_t n = 0;

	for (; *s != '\0' && n < room; s++)
		if ((unsigned char)*s >= 0x20 && *s != 0x7f)
			buf[n++] = *s;
	return n;
}

/* Append "# class key=value ...\n". */
void
encode_csv_msg(struct evbuffer *out, const struct msg *ev)
{
	char line[CSV_LINE_MAX];
	size_t n = 0, room;

	n += (size_t)snprintf(line, 64, "# %s", ev->cls);
	for (size_t i = 0; i < ev->n; i++) {
		const struct field *f = &ev->f[i];
		if (n + 64 >= sizeof line)
			break;
		line[n++] = ' ';
		if (!f->bare)
			n += csv_text(line + n, 32, f->key);
		if (!f->bare)
			line[n++] = '=';
		room = sizeof line - n - 2;
		switch (f->type) {
		case F_STR:
		case F_LIST:
			n += csv_text(line + n, room, f->v.s);
			break;
		case F_U64:
			n += (size_t)snprintf(line + n, 24, "%llu",
			    (unsigned long long)f->v.u);
			break;
		case F_I64:
			n += (size_t)snprintf(line + n, 24, "%lld",
			    (long long)f->v.i);
			break;
		case F_TIME:
			n += encode_time(line + n, f->v.i);
			break;
		case F_DBL3:
			n += encode_fixed(line + n, f->v.d, 3);
			break;
		case F_BOOL:
			n += csv_text(line + n, room, f->v.u ? "yes" : "no");
			break;
		}
	}
	line[n++] = '\n';
	evbuffer_add(out, line, n);
}

/* Append the column header "# seq,time,LABEL1,...\n" from comma labels. */
void
encode_csv_columns(struct evbuffer *out, const char *labels)
{
	char line[CSV_LINE_MAX];
	size_t n;

	n = (size_t)snprintf(line, 32, "# seq,time,");
	n += csv_text(line + n, sizeof line - n - 2, labels);
	line[n++] = '\n';
	evbuffer_add(out, line, n);
}
