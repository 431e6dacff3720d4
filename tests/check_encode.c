/*
 * check_encode.c: unit tests for the encoders (src/encode.h,
 * src/encode_csv.h, src/encode_json.h): exact bytes of sample lines and
 * messages in both formats, number formatting, escaping and limits.
 */
#include "autoconfig.h"

#include <check.h>
#include <event2/buffer.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "encode_csv.h"
#include "encode_json.h"
#include "sample.h"

static struct evbuffer *buf;
/* The last line taken out of buf, NUL-terminated. */
static char text[65536];

/* Fixture: an empty output buffer. */
static void
setup(void)
{
	buf = evbuffer_new();
	ck_assert_ptr_nonnull(buf);
}

/* Fixture: free the output buffer. */
static void
teardown(void)
{
	evbuffer_free(buf);
	buf = NULL;
}

/* Move everything in buf to text as a C string; return its length. */
static size_t
take(void)
{
	size_t n = evbuffer_get_length(buf);
	unsigned char *p;

	ck_assert_uint_lt(n, sizeof text);
	if (n > 0) {
		p = evbuffer_pullup(buf, -1);
		ck_assert_ptr_nonnull(p);
		memcpy(text, p, n);
		evbuffer_drain(buf, n);
	}
	text[n] = '\0';
	/* No encoder may emit a NUL byte. */
	ck_assert_uint_eq(strlen(text), n);
	return n;
}

/* Return a zeroed sample record with nch channels set from v. */
static struct record *
make_record(uint64_t seq, int64_t time_us, unsigned nch, const float *v)
{
	struct record *r = calloc(1, record_size(nch));

	ck_assert_ptr_nonnull(r);
	r->type = REC_SAMPLE;
	r->seq = seq;
	r->time_us = r->time_raw_us = time_us;
	r->nch = nch;
	for (unsigned i = 0; i < nch; i++)
		r->ch[i] = v[i];
	return r;
}

/* Encode r in fmt and compare the line with want. */
static void
check_sample(enum encode_format fmt, const struct record *r, const char *want)
{
	encode_sample(buf, fmt, r);
	take();
	ck_assert_str_eq(text, want);
}

/* Encode ev in fmt and compare the line with want. */
static void
check_msg(enum encode_format fmt, const struct msg *ev, const char *want)
{
	encode_msg(buf, fmt, ev);
	take();
	ck_assert_str_eq(text, want);
}

/* Check encode_fixed(v, decimals) against want and its returned length. */
static void
check_fixed(double v, int decimals, const char *want)
{
	char out[64];
	size_t n;

	memset(out, 'X', sizeof out);
	n = encode_fixed(out, v, decimals);
	ck_assert_uint_lt(n, 32);
	out[n] = '\0';
	ck_assert_msg(strcmp(out, want) == 0,
	    "encode_fixed(%.17g, %d) = \"%s\", want \"%s\"", v, decimals, out,
	    want);
}

/* Check encode_time(us) against want. */
static void
check_time(int64_t us, const char *want)
{
	char out[64];
	size_t n;

	memset(out, 'X', sizeof out);
	n = encode_time(out, us);
	ck_assert_uint_lt(n, 32);
	out[n] = '\0';
	ck_assert_str_eq(out, want);
}

/* A CSV sample line, byte for byte. */
START_TEST(test_csv_sample)
{
	static const float v[] = { 1.5f, -2.25f, -0.00004f, 0.03125f,
	    -1.03125f };
	struct record *r = make_record(42, 1700000000123456LL, 5, v);

	check_sample(FMT_CSV, r,
	    "42,1700000000.123456,1.5000,-2.2500,0.0000,0.0313,-1.0313\n");
	/* The direct entry point writes the same bytes. */
	encode_csv_sample(buf, r);
	take();
	ck_assert_str_eq(text,
	    "42,1700000000.123456,1.5000,-2.2500,0.0000,0.0313,-1.0313\n");
	free(r);
}
END_TEST

/* A JSON sample line, byte for byte. */
START_TEST(test_json_sample)
{
	static const float v[] = { 1.5f, -2.25f, -0.00004f, 0.03125f,
	    -1.03125f };
	struct record *r = make_record(42, 1700000000123456LL, 5, v);

	check_sample(FMT_JSON, r, "{\"class\":\"sample\",\"seq\":42,"
	    "\"time\":1700000000.123456,"
	    "\"ch\":[1.5000,-2.2500,0.0000,0.0313,-1.0313]}\n");
	encode_json_sample(buf, r);
	take();
	ck_assert_str_eq(text, "{\"class\":\"sample\",\"seq\":42,"
	    "\"time\":1700000000.123456,"
	    "\"ch\":[1.5000,-2.2500,0.0000,0.0313,-1.0313]}\n");
	free(r);
}
END_TEST

/* Channel values round half away from zero, never "-0.0000". */
START_TEST(test_sample_rounding)
{
	/*
	 * 123456.789f is 123456.7890625; 0.00005f is just below 0.00005 and
	 * -7.77775f just beyond -7.77775; -0.0 has no sign.
	 */
	static const float v[] = { 123456.789f, 187500.0f, -0.0f, 0.00005f,
	    -7.77775f, 0.15625f, -0.00001f };
	struct record *r = make_record(1, -1500000, 7, v);

	check_sample(FMT_CSV, r, "1,-1.500000,123456.7891,187500.0000,"
	    "0.0000,0.0000,-7.7778,0.1563,0.0000\n");
	check_sample(FMT_JSON, r, "{\"class\":\"sample\",\"seq\":1,"
	    "\"time\":-1.500000,\"ch\":[123456.7891,187500.0000,0.0000,"
	    "0.0000,-7.7778,0.1563,0.0000]}\n");
	free(r);
}
END_TEST

/* A sample without channels. */
START_TEST(test_sample_no_channels)
{
	struct record *r = make_record(7, 1, 0, NULL);

	check_sample(FMT_CSV, r, "7,0.000001\n");
	check_sample(FMT_JSON, r,
	    "{\"class\":\"sample\",\"seq\":7,\"time\":0.000001,\"ch\":[]}\n");
	free(r);
}
END_TEST

/* A sample with every channel and the largest seq. */
START_TEST(test_sample_max_channels)
{
	float v[SAMPLE_MAX_CHANNELS];
	struct record *r;
	char want[4096];
	size_t n;

	for (unsigned i = 0; i < SAMPLE_MAX_CHANNELS; i++)
		v[i] = -187500.0f + (float)i;
	r = make_record(UINT64_MAX, 0, SAMPLE_MAX_CHANNELS, v);
	n = (size_t)snprintf(want, sizeof want,
	    "18446744073709551615,0.000000");
	for (unsigned i = 0; i < SAMPLE_MAX_CHANNELS; i++)
		n += (size_t)snprintf(want + n, sizeof want - n, ",-%u.0000",
		    187500 - i);
	snprintf(want + n, sizeof want - n, "\n");
	check_sample(FMT_CSV, r, want);
	free(r);
}
END_TEST

/* A channel value too large for the fast path. */
START_TEST(test_sample_huge_value)
{
	/*
	 * A value too large for exact fixed point (|v| * 10^4 >= 2^53) is
	 * written in exponent form; the line holds it and nothing else.
	 */
	static const float v[] = { FLT_MAX };
	struct record *r = make_record(0, 0, 1, v);

	check_sample(FMT_CSV, r, "0,0.000000,3.402823e+38\n");
	free(r);
}
END_TEST

/* encode_fixed: rounding, signs, carries and the printf fallback. */
START_TEST(test_fixed)
{
	check_fixed(0.0, 4, "0.0000");
	check_fixed(-0.0, 4, "0.0000");
	check_fixed(-0.00004, 4, "0.0000");
	check_fixed(-0.00001, 3, "0.000");
	check_fixed(1.0, 4, "1.0000");
	check_fixed(-1.0, 4, "-1.0000");
	check_fixed(0.03125, 4, "0.0313");	/* exact half: away from zero */
	check_fixed(-0.03125, 4, "-0.0313");
	check_fixed(0.0625, 3, "0.063");
	check_fixed(-0.0625, 3, "-0.063");
	check_fixed(2.5, 0, "3");
	check_fixed(-2.5, 0, "-3");
	check_fixed(0.5, 0, "1");
	check_fixed(0.4, 0, "0");
	check_fixed(-0.4, 0, "0");
	check_fixed(9.99996, 4, "10.0000");	/* carry into the integer */
	check_fixed(-9.99996, 4, "-10.0000");
	check_fixed(0.000001, 6, "0.000001");
	check_fixed(3.14159265, 6, "3.141593");
	check_fixed(123.456, 3, "123.456");
	check_fixed(250.0, 3, "250.000");
	check_fixed(1e14, 0, "100000000000000");
	check_fixed(123456789.0625, 4, "123456789.0625");
	/* Exponent form once |v| * 10^d reaches 2^53. */
	check_fixed(1e15, 4, "1.000000e+15");
	check_fixed(-1e16, 0, "-1.000000e+16");
	check_fixed(4503599627370495.0, 0, "4503599627370495");
	/* Non-finite values never reach the wire as nan/inf. */
	check_fixed(NAN, 4, "0.0000");
	check_fixed(INFINITY, 3, "0.000");
	check_fixed(-INFINITY, 4, "0.0000");
}
END_TEST

/* encode_fixed keeps exact digits below 2^53 scaled, exponent above. */
START_TEST(test_fixed_precision)
{
	/* Exactly representable, and within 2^53 once scaled. */
	check_fixed(123456789012.0625, 4, "123456789012.0625");
	/* Scaled past 2^53: no wrong digits, exponent form instead. */
	check_fixed(1e14 + 0.0625, 4, "1.000000e+14");
	check_fixed(999999999999999.0, 4, "1.000000e+15");
}
END_TEST

/* encode_fixed does not overflow with 5 or 6 decimals. */
START_TEST(test_fixed_overflow)
{
	/* Scaled by 10^6 these would overflow 64 bits: exponent form. */
	check_fixed(1e14, 6, "1.000000e+14");
	check_fixed(-2e13, 6, "-2.000000e+13");
	check_fixed(1e14, 5, "1.000000e+14");
	check_fixed(1e9, 6, "1000000000.000000");
}
END_TEST

/* encode_fixed returns what it wrote, within 32 bytes. */
START_TEST(test_fixed_length_fits)
{
	char out[512];
	size_t n;

	/* Whatever encode_fixed returns, it must have written that much. */
	memset(out, 0, sizeof out);
	n = encode_fixed(out, FLT_MAX, 4);
	ck_assert_uint_lt(n, 32);
	ck_assert_uint_eq(n, strlen(out));
	memset(out, 0, sizeof out);
	n = encode_fixed(out, -1e300, 3);
	ck_assert_uint_lt(n, 32);
	ck_assert_uint_eq(n, strlen(out));
}
END_TEST

/* encode_time: microseconds to seconds, signs and extremes. */
START_TEST(test_time)
{
	check_time(0, "0.000000");
	check_time(1, "0.000001");
	check_time(-1, "-0.000001");
	check_time(999999, "0.999999");
	check_time(1000000, "1.000000");
	check_time(-1500000, "-1.500000");
	check_time(1700000000123456LL, "1700000000.123456");
	check_time(INT64_MAX, "9223372036854.775807");
	check_time(INT64_MIN, "-9223372036854.775808");
}
END_TEST

/* A gap message in both formats. */
START_TEST(test_msg_gap)
{
	struct msg m;

	encode_msg_init(&m, "gap");
	encode_add_u64(&m, "seq", 1000);
	encode_add_u64(&m, "count", 25);
	encode_add_str(&m, "reason", sample_gap_reason_name(GAP_RING_OVERFLOW),
	    0);
	check_msg(FMT_CSV, &m,
	    "# gap seq=1000 count=25 reason=ring_overflow\n");
	check_msg(FMT_JSON, &m, "{\"class\":\"gap\",\"seq\":1000,\"count\":25,"
	    "\"reason\":\"ring_overflow\"}\n");
	encode_csv_msg(buf, &m);
	take();
	ck_assert_str_eq(text,
	    "# gap seq=1000 count=25 reason=ring_overflow\n");
	encode_json_msg(buf, &m);
	take();
	ck_assert_str_eq(text, "{\"class\":\"gap\",\"seq\":1000,\"count\":25,"
	    "\"reason\":\"ring_overflow\"}\n");
}
END_TEST

/* ok and error messages, and a bare field. */
START_TEST(test_msg_ok_error)
{
	struct msg m;

	encode_msg_init(&m, "ok");
	check_msg(FMT_CSV, &m, "# ok\n");
	check_msg(FMT_JSON, &m, "{\"class\":\"ok\"}\n");
	encode_add_str(&m, "cmd", "format", 0);
	encode_add_str(&m, "format", "json", 0);
	check_msg(FMT_CSV, &m, "# ok cmd=format format=json\n");
	check_msg(FMT_JSON, &m,
	    "{\"class\":\"ok\",\"cmd\":\"format\",\"format\":\"json\"}\n");

	/* A bare field drops its key in CSV only. */
	encode_msg_init(&m, "error");
	encode_add_str(&m, "message", "unknown command 'foo' (try help)", 1);
	check_msg(FMT_CSV, &m, "# error unknown command 'foo' (try help)\n");
	check_msg(FMT_JSON, &m, "{\"class\":\"error\","
	    "\"message\":\"unknown command 'foo' (try help)\"}\n");
}
END_TEST

/* A hello-like message with every field type. */
START_TEST(test_msg_hello)
{
	struct msg m;

	encode_msg_init(&m, "hello");
	encode_add_str(&m, "server", "eegd 0.1.0", 0);
	encode_add_u64(&m, "version", 1);
	encode_add_str(&m, "board", "synthetic", 0);
	encode_add_u64(&m, "rate", 250);
	encode_add_u64(&m, "channels", 3);
	encode_add_list(&m, "labels", "ch1,ch2,ch3");
	encode_add_time(&m, "time", 1700000000000001LL);
	encode_add_dbl(&m, "drift_ppm", -12.3456);
	encode_add_bool(&m, "dejitter", 1);
	encode_add_bool(&m, "paused", 0);
	encode_add_i64(&m, "offset_us", -250);
	check_msg(FMT_CSV, &m, "# hello server=eegd 0.1.0 version=1 "
	    "board=synthetic rate=250 channels=3 labels=ch1,ch2,ch3 "
	    "time=1700000000.000001 drift_ppm=-12.346 dejitter=yes paused=no "
	    "offset_us=-250\n");
	check_msg(FMT_JSON, &m,
	    "{\"class\":\"hello\",\"server\":\"eegd 0.1.0\","
	    "\"version\":1,\"board\":\"synthetic\",\"rate\":250,\"channels\":3,"
	    "\"labels\":[\"ch1\",\"ch2\",\"ch3\"],\"time\":1700000000.000001,"
	    "\"drift_ppm\":-12.346,\"dejitter\":true,\"paused\":false,"
	    "\"offset_us\":-250}\n");
}
END_TEST

/* Integer, time and double fields at their extremes. */
START_TEST(test_msg_integers)
{
	struct msg m;

	encode_msg_init(&m, "status");
	encode_add_u64(&m, "u", UINT64_MAX);
	encode_add_i64(&m, "i", INT64_MIN);
	encode_add_i64(&m, "j", INT64_MAX);
	encode_add_u64(&m, "z", 0);
	encode_add_time(&m, "t", -1);
	encode_add_dbl(&m, "d", 0.0625);
	check_msg(FMT_CSV, &m, "# status u=18446744073709551615 "
	    "i=-9223372036854775808 j=9223372036854775807 z=0 t=-0.000001 "
	    "d=0.063\n");
	check_msg(FMT_JSON, &m, "{\"class\":\"status\","
	    "\"u\":18446744073709551615,\"i\":-9223372036854775808,"
	    "\"j\":9223372036854775807,\"z\":0,\"t\":-0.000001,\"d\":0.063}\n");
}
END_TEST

/* List fields: empty, single, empty items, escaped items. */
START_TEST(test_list_edges)
{
	struct msg m;

	encode_msg_init(&m, "x");
	encode_add_list(&m, "l", "");
	check_msg(FMT_CSV, &m, "# x l=\n");
	check_msg(FMT_JSON, &m, "{\"class\":\"x\",\"l\":[]}\n");

	encode_msg_init(&m, "x");
	encode_add_list(&m, "l", "one");
	check_msg(FMT_JSON, &m, "{\"class\":\"x\",\"l\":[\"one\"]}\n");

	encode_msg_init(&m, "x");
	encode_add_list(&m, "l", "a,,b");
	check_msg(FMT_CSV, &m, "# x l=a,,b\n");
	check_msg(FMT_JSON, &m, "{\"class\":\"x\",\"l\":[\"a\",\"\",\"b\"]}\n");

	/* List items are JSON strings, escaped like any other. */
	encode_msg_init(&m, "x");
	encode_add_list(&m, "l", "Fp1,O\"2,C\\3");
	check_msg(FMT_JSON, &m,
	    "{\"class\":\"x\",\"l\":[\"Fp1\",\"O\\\"2\",\"C\\\\3\"]}\n");
}
END_TEST

/* JSON escapes quotes, backslashes and control characters. */
START_TEST(test_json_escaping)
{
	struct msg m;

	encode_msg_init(&m, "error");
	encode_add_str(&m, "message",
	    "a\"b\\c\nd\te\x01" "f\x1fg\x7fh\ri\xc2\xb5", 0);
	check_msg(FMT_JSON, &m, "{\"class\":\"error\",\"message\":"
	    "\"a\\\"b\\\\c\\nd\\u0009e\\u0001f\\u001fg\\u007fh\\u000di"
	    "\xc2\xb5\"}\n");

	/* Keys and the class are escaped too. */
	encode_msg_init(&m, "c\"l");
	encode_add_u64(&m, "k\\\n", 1);
	check_msg(FMT_JSON, &m, "{\"class\":\"c\\\"l\",\"k\\\\\\n\":1}\n");
}
END_TEST

/* CSV drops control characters so a value cannot break a line. */
START_TEST(test_csv_control_chars)
{
	struct msg m;

	encode_msg_init(&m, "error");
	encode_add_str(&m, "message",
	    "a\"b\\c\nd\te\x01" "f\x1fg\x7fh\ri\xc2\xb5", 0);
	check_msg(FMT_CSV, &m, "# error message=a\"b\\cdefghi\xc2\xb5\n");

	/* A line break in a value cannot start a new line. */
	encode_msg_init(&m, "ok");
	encode_add_str(&m, "k\ney", "x\r\n# fake 1", 0);
	encode_add_str(&m, "bare", "\n\n", 1);
	encode_add_list(&m, "l", "a\n,b");
	check_msg(FMT_CSV, &m, "# ok key=x# fake 1  l=a,b\n");

	encode_csv_columns(buf, "ch1,ch2\n,ch3\x01");
	take();
	ck_assert_str_eq(text, "# seq,time,ch1,ch2,ch3\n");
	encode_csv_columns(buf, "");
	take();
	ck_assert_str_eq(text, "# seq,time,\n");
}
END_TEST

/* Fields past ENCODE_MAX_FIELDS are dropped. */
START_TEST(test_msg_field_limit)
{
	struct msg m;
	char want[1024];
	size_t n;

	encode_msg_init(&m, "x");
	for (int i = 0; i < ENCODE_MAX_FIELDS + 6; i++)
		encode_add_u64(&m, "k", (uint64_t)i);
	ck_assert_uint_eq(m.n, ENCODE_MAX_FIELDS);
	n = (size_t)snprintf(want, sizeof want, "# x");
	for (int i = 0; i < ENCODE_MAX_FIELDS; i++)
		n += (size_t)snprintf(want + n, sizeof want - n, " k=%d", i);
	snprintf(want + n, sizeof want - n, "\n");
	check_msg(FMT_CSV, &m, want);
}
END_TEST

/* Over-long values are cut to one well-formed line. */
START_TEST(test_long_values)
{
	static char big[40000];
	static char list[40000];
	struct msg m;
	size_t n;

	memset(big, 'a', sizeof big - 1);
	for (size_t i = 0, o = 0; o + 8 < sizeof list; i++)
		o += (size_t)snprintf(list + o, sizeof list - o, "%sch%zu",
		    i > 0 ? "," : "", i);

	/* Too long for one line: cut, but still one well-formed line. */
	encode_msg_init(&m, "error");
	encode_add_str(&m, "s", big, 0);
	encode_add_u64(&m, "after", 1);
	encode_msg(buf, FMT_CSV, &m);
	n = take();
	ck_assert_uint_le(n, 8192);
	ck_assert_int_eq(strncmp(text, "# error s=aaaa", 14), 0);
	ck_assert_int_eq(text[n - 1], '\n');
	ck_assert_ptr_eq(strchr(text, '\n'), text + n - 1);

	encode_msg(buf, FMT_JSON, &m);
	n = take();
	ck_assert_uint_le(n, 16384);
	ck_assert_int_eq(strncmp(text, "{\"class\":\"error\",\"s\":\"aaaa", 26),
	    0);
	ck_assert_str_eq(text + n - 3, "\"}\n");
	ck_assert_ptr_eq(strchr(text, '\n'), text + n - 1);

	encode_msg_init(&m, "hello");
	encode_add_list(&m, "labels", list);
	encode_msg(buf, FMT_JSON, &m);
	n = take();
	ck_assert_uint_le(n, 16384);
	ck_assert_int_eq(strncmp(text,
	    "{\"class\":\"hello\",\"labels\":[\"ch0\",\"ch1\",", 38), 0);
	ck_assert_str_eq(text + n - 4, "\"]}\n");
}
END_TEST

/* Format names parse and print. */
START_TEST(test_format_names)
{
	ck_assert_int_eq(encode_format_parse("csv"), FMT_CSV);
	ck_assert_int_eq(encode_format_parse("json"), FMT_JSON);
	ck_assert_int_eq(encode_format_parse("binary"), FMT_BINARY);
	ck_assert_int_eq(encode_format_parse("CSV"), -1);
	ck_assert_int_eq(encode_format_parse(""), -1);
	ck_assert_int_eq(encode_format_parse("jsonx"), -1);
	ck_assert_str_eq(encode_format_name(FMT_CSV), "csv");
	ck_assert_str_eq(encode_format_name(FMT_JSON), "json");
	ck_assert_str_eq(encode_format_name(FMT_BINARY), "binary");
	ck_assert_str_eq(encode_format_name(FMT_N), "?");
}
END_TEST

/* The encoders' test suite. */
static Suite *
encode_suite(void)
{
	Suite *s = suite_create("encode");
	TCase *tc;

	tc = tcase_create("numbers");
	tcase_add_test(tc, test_fixed);
	tcase_add_test(tc, test_fixed_precision);
	tcase_add_test(tc, test_fixed_overflow);
	tcase_add_test(tc, test_fixed_length_fits);
	tcase_add_test(tc, test_time);
	tcase_add_test(tc, test_format_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("samples");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_csv_sample);
	tcase_add_test(tc, test_json_sample);
	tcase_add_test(tc, test_sample_rounding);
	tcase_add_test(tc, test_sample_no_channels);
	tcase_add_test(tc, test_sample_max_channels);
	tcase_add_test(tc, test_sample_huge_value);
	suite_add_tcase(s, tc);

	tc = tcase_create("messages");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_msg_gap);
	tcase_add_test(tc, test_msg_ok_error);
	tcase_add_test(tc, test_msg_hello);
	tcase_add_test(tc, test_msg_integers);
	tcase_add_test(tc, test_list_edges);
	tcase_add_test(tc, test_json_escaping);
	tcase_add_test(tc, test_csv_control_chars);
	tcase_add_test(tc, test_msg_field_limit);
	tcase_add_test(tc, test_long_values);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the encode suite; exit status is non-zero when a test failed. */
int
main(void)
{
	SRunner *sr = srunner_create(encode_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
