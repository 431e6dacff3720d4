/* encode_json.h: the JSON-lines format, one object per line. */
#ifndef EEGD_ENCODE_JSON_H
#define EEGD_ENCODE_JSON_H

struct evbuffer;
struct msg;
struct record;

/* Append {"class":"sample","seq":N,"time":T,"ch":[...]} and a newline. */
void encode_json_sample(struct evbuffer *out, const struct record *r);
/* Append an event object and a newline. */
void encode_json_msg(struct evbuffer *out, const struct msg *ev);

#endif
