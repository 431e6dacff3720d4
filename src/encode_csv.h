/* encode_csv.h: the CSV format, for nc and spreadsheets. */
#ifndef EEGD_ENCODE_CSV_H
#define EEGD_ENCODE_CSV_H

struct evbuffer;
struct msg;
struct record;

/* Append "seq,time,v1,...,vN\n". */
void encode_csv_sample(struct evbuffer *out, const struct record *r);
/* Append "# class key=value ...\n". */
void encode_csv_msg(struct evbuffer *out, const struct msg *ev);
/* Append the column header "# seq,time,LABEL1,...\n" from comma labels. */
void encode_csv_columns(struct evbuffer *out, const char *labels);

#endif
