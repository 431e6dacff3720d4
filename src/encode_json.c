/* encode_json.c: the JSON-lines format, one object per line. */
#include "autoconfig.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#include "encode.h"
#include "encode_json.h"
#include "sample.h"

#define JSON_LINE_MAX 16384

/*
 * Write s as a JSON string (with quotes) into buf, at most room bytes.
 * Control characters are escaped; bytes >= 0x80 pass through (callers
 * give valid UTF-8).  Returns the length written.
 */
static size_t
json_string(char *buf, size_t room, const char *s, size_t slen)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (room < 2)
		return 0;
	buf[n++] = '"';
	for (size_t i = 0; i < slen && n + 8 < room; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)c;
		} else if (c == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(buf + n, "\\u00", 4);
			buf[n + 4] = hex[c >> 4];
			buf[n + 5] = hex[c & 15];
			n += 6;
		} else
			buf[n++] = (char)c;
	}
	buf[n++] = '"';
	return n;
}

/* Append {"class":"sample","seq":N,"time":T,"ch":[...]} and a newline. */
void
encode_json_sample(struct evbuffer *out, const struct record *r)
{
	char line[128 + SAMPLE_MAX_CHANNELS * 24];
	size_t n;

	n = (size_t)snprintf(line, 64, "{\"class\":\"sample\",\"seq\":%llu,"
	    "\"time\":", (unsigned long long)r->seq);
	n += encode_time(line + n, r->time_us);
	memcpy(line + n, ",\"ch\":[", 7);
	n += 7;
	for (uint32_t i = 0; i < r->nch && i < SAMPLE_MAX_CHANNELS; i++) {
		if (i > 0)
			line[n++] = ',';
		n += encode_fixed(line + n, r->ch[i], 4);
	}
	line[n++] = ']';
	/* A real board's extras: raw arrival time, footer, accel, aux bytes. */
	if (r->aux_footer != 0) {
		memcpy(line + n, ",\"time_raw\":", 12);
		n += 12;
		n += encode_time(line + n, r->time_raw_us);
		n += (size_t)snprintf(line + n, 24, ",\"footer\":\"%02X\"",
		    r->aux_footer);
		if (r->has_accel) {
			memcpy(line + n, ",\"accel\":[", 10);
			n += 10;
			for (int i = 0; i < 3; i++) {
				if (i > 0)
					line[n++] = ',';
				n += encode_fixed(line + n, r->accel[i], 4);
			}
			line[n++] = ']';
		}
		if (r->aux_footer != 0xC0)
			n += (size_t)snprintf(line + n, 64,
			    ",\"aux\":[%u,%u,%u,%u,%u,%u]", r->aux_raw[0],
			    r->aux_raw[1], r->aux_raw[2], r->aux_raw[3],
			    r->aux_raw[4], r->aux_raw[5]);
	}
	memcpy(line + n, "}\n", 2);
	n += 2;
	evbuffer_add(out, line, n);
}

/* Append an event object and a newline. */
void
encode_json_msg(struct evbuffer *out, const struct msg *ev)
{
	char line[JSON_LINE_MAX];
	size_t n = 0;

	n += (size_t)snprintf(line, 24, "{\"class\":");
	n += json_string(line + n, 64, ev->cls, strlen(ev->cls));
	for (size_t i = 0; i < ev->n; i++) {
		const struct field *f = &ev->f[i];
		size_t room = sizeof line - n - 4;
		if (room < 64)
			break;
		line[n++] = ',';
		n += json_string(line + n, 40, f->key, strlen(f->key));
		line[n++] = ':';
		room -= 44;
		switch (f->type) {
		case F_STR:
			n += json_string(line + n, room, f->v.s, strlen(f->v.s));
			break;
		case F_LIST: {
			const char *p = f->v.s, *c;
			line[n++] = '[';
			while (*p != '\0' && n + 16 < sizeof line) {
				c = strchr(p, ',');
				size_t l = c ? (size_t)(c - p) : strlen(p);
				if (p != f->v.s)
					line[n++] = ',';
				n += json_string(line + n, sizeof line - n - 8,
				    p, l);
				p += l + (c != NULL);
			}
			line[n++] = ']';
			break;
		}
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
			n += (size_t)snprintf(line + n, 8, "%s",
			    f->v.u ? "true" : "false");
			break;
		}
	}
	line[n++] = '}';
	line[n++] = '\n';
	evbuffer_add(out, line, n);
}
