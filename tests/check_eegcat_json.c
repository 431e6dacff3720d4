/*
 * check_eegcat_json.c: unit tests for eegcat's flat JSON parser
 * (src/eegcat_json.h): values, escapes, the grammar errors, the typed
 * accessors, and the round trip daemon msg -> JSON -> msg -> CSV/JSON
 * that eegcat relies on to print events exactly as the daemon does.
 */
#include "autoconfig.h"

#include <check.h>
#include <event2/buffer.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eegcat_json.h"
#include "encode.h"

static struct eegcat_json obj;
static char err[256];

/* Parse the C string text and insist that it parses. */
static void
parse_ok(const char *text)
{
	err[0] = '\0';
	ck_assert_msg(eegcat_json_parse(&obj, text, strlen(text), err,
	    sizeof err) == 0, "'%s' failed: %s", text, err);
}

/* Parse the C string text and insist on an error starting with msg. */
static void
parse_bad(const char *text, const char *msg)
{
	err[0] = '\0';
	ck_assert_msg(eegcat_json_parse(&obj, text, strlen(text), err,
	    sizeof err) == -1, "'%s' parsed", text);
	ck_assert_msg(strncmp(err, msg, strlen(msg)) == 0,
	    "'%s': error '%s', want '%s...'", text, err, msg);
}

/* Insist that field i is key of type t with value. */
static void
field_is(size_t i, const char *key, enum eegcat_json_type t,
    const char *value)
{
	ck_assert_uint_gt(obj.n, i);
	ck_assert_str_eq(obj.f[i].key, key);
	ck_assert_int_eq(obj.f[i].type, t);
	ck_assert_str_eq(obj.f[i].value, value);
}

/* Return the contents of an evbuffer as a C string (static storage). */
static const char *
buf_text(struct evbuffer *b)
{
	static char text[EEGCAT_JSON_MAX + 2];
	size_t n = evbuffer_get_length(b);

	ck_assert_uint_lt(n, sizeof text);
	evbuffer_remove(b, text, n);
	text[n] = '\0';
	return text;
}

/* Render m in both text formats, parse its JSON and insist on equality. */
static void
round_trip(const struct msg *m)
{
	struct evbuffer *b = evbuffer_new();
	char json[EEGCAT_JSON_MAX + 2], csv[EEGCAT_JSON_MAX + 2];
	struct msg back;

	encode_msg(b, FMT_JSON, m);
	snprintf(json, sizeof json, "%s", buf_text(b));
	encode_msg(b, FMT_CSV, m);
	snprintf(csv, sizeof csv, "%s", buf_text(b));
	/* Parse without the newline, as an event frame carries it. */
	err[0] = '\0';
	ck_assert_msg(eegcat_json_parse(&obj, json, strlen(json) - 1, err,
	    sizeof err) == 0, "%s: %s", json, err);
	ck_assert_int_eq(eegcat_json_to_msg(&obj, &back), 0);
	encode_msg(b, FMT_JSON, &back);
	ck_assert_str_eq(buf_text(b), json);
	encode_msg(b, FMT_CSV, &back);
	ck_assert_str_eq(buf_text(b), csv);
	evbuffer_free(b);
}

START_TEST(test_values)
{
	parse_ok("{\"class\":\"gap\",\"seq\":12,\"count\":3,"
	    "\"reason\":\"board_loss\"}");
	ck_assert_uint_eq(obj.n, 4);
	field_is(0, "class", EEGCAT_JSON_STRING, "gap");
	field_is(1, "seq", EEGCAT_JSON_NUMBER, "12");
	field_is(2, "count", EEGCAT_JSON_NUMBER, "3");
	field_is(3, "reason", EEGCAT_JSON_STRING, "board_loss");

	parse_ok(" { \"a\" : true , \"b\":false,\"c\":null,\"d\":-1.5e+3,"
	    "\"e\":[ \"x\" , \"y\" ],\"f\":[],\"g\":0.000001 } \n");
	ck_assert_uint_eq(obj.n, 7);
	field_is(0, "a", EEGCAT_JSON_BOOL, "true");
	field_is(1, "b", EEGCAT_JSON_BOOL, "false");
	field_is(2, "c", EEGCAT_JSON_NULL, "null");
	field_is(3, "d", EEGCAT_JSON_NUMBER, "-1.5e+3");
	field_is(4, "e", EEGCAT_JSON_LIST, "x,y");
	ck_assert_uint_eq(obj.f[4].nitems, 2);
	field_is(5, "f", EEGCAT_JSON_LIST, "");
	ck_assert_uint_eq(obj.f[5].nitems, 0);
	field_is(6, "g", EEGCAT_JSON_NUMBER, "0.000001");

	parse_ok("{}");
	ck_assert_uint_eq(obj.n, 0);
}
END_TEST

START_TEST(test_escapes)
{
	parse_ok("{\"text\":\"a\\\"b\\\\c\\/d\\n\\t\\r\\b\\f\","
	    "\"u\":\"\\u00e9\\u00E9\\u20ac\\ud83d\\ude00\","
	    "\"raw\":\"stimulus A \xe2\x9c\x93\"}");
	field_is(0, "text", EEGCAT_JSON_STRING, "a\"b\\c/d\n\t\r\b\f");
	field_is(1, "u", EEGCAT_JSON_STRING,
	    "\xc3\xa9\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	field_is(2, "raw", EEGCAT_JSON_STRING, "stimulus A \xe2\x9c\x93");
	/* A control character escaped the way the daemon writes it. */
	parse_ok("{\"k\":\"\\u0001\\u001f\\u007f\"}");
	field_is(0, "k", EEGCAT_JSON_STRING, "\x01\x1f\x7f");
	/* Keys are decoded too. */
	parse_ok("{\"k\\u0065y\":1}");
	field_is(0, "key", EEGCAT_JSON_NUMBER, "1");
}
END_TEST

START_TEST(test_errors)
{
	parse_bad("", "expected '{'");
	parse_bad("[1]", "expected '{'");
	parse_bad("{", "expected a key");
	parse_bad("{\"a\"}", "expected ':'");
	parse_bad("{\"a\":}", "bad value");
	parse_bad("{\"a\":1", "expected ',' or '}'");
	parse_bad("{\"a\":1,}", "expected a key");
	parse_bad("{\"a\":1} x", "text after the object");
	parse_bad("{a:1}", "expected a key");
	parse_bad("{\"a\":{\"b\":1}}", "nested objects are not supported");
	parse_bad("{\"a\":[1,2]}", "only arrays of strings are supported");
	parse_bad("{\"a\":[\"x\" \"y\"]}", "expected ',' or ']'");
	parse_bad("{\"a\":[\"x,y\"]}", "',' in a list item");
	parse_bad("{\"a\":[\"x\\u002cy\"]}", "',' in a list item");
	parse_bad("{\"a\":\"x", "unterminated string");
	parse_bad("{\"a\":\"x\\", "unterminated string");
	parse_bad("{\"a\":\"\\x\"}", "bad escape \\x");
	parse_bad("{\"a\":\"\\u12g4\"}", "bad \\u escape");
	parse_bad("{\"a\":\"\\u12\"}", "bad \\u escape");
	parse_bad("{\"a\":\"\\ud83d\"}", "lone high surrogate");
	parse_bad("{\"a\":\"\\ud83d\\u0041\"}", "lone high surrogate");
	parse_bad("{\"a\":\"\\ude00\"}", "lone low surrogate");
	parse_bad("{\"a\":\"\\u0000\"}", "NUL in a string");
	parse_bad("{\"a\":\"x\ty\"}", "control character in a string");
	parse_bad("{\"a\":01}", "expected ',' or '}'");
	parse_bad("{\"a\":1.}", "bad number");
	parse_bad("{\"a\":.5}", "bad value");
	parse_bad("{\"a\":-}", "bad value");
	parse_bad("{\"a\":1e}", "bad number");
	parse_bad("{\"a\":tru}", "bad value");
	parse_bad("{\"a\":nul}", "bad value");
	/* The error says where. */
	parse_bad("{\"a\":1 x", "expected ',' or '}' at byte 7");
}
END_TEST

/*
 * Fill text with an object of exactly len bytes: nnum number fields, then
 * one string field "s" padding it out.
 */
static void
make_object(char *text, size_t len, int nnum)
{
	size_t n = 0;

	text[n++] = '{';
	for (int i = 0; i < nnum; i++)
		n += (size_t)snprintf(text + n, len - n, "\"%c\":0,",
		    'A' + i % 26);
	n += (size_t)snprintf(text + n, len - n, "\"s\":\"");
	while (n < len - 2)
		text[n++] = 'x';
	text[n++] = '"';
	text[n++] = '}';
	text[n] = '\0';
}

START_TEST(test_limits)
{
	static char text[EEGCAT_JSON_MAX + 64];
	size_t n = 0;

	/* As many fields as allowed, then one more. */
	text[n++] = '{';
	for (int i = 0; i < EEGCAT_JSON_MAX_FIELDS; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "%s\"k%d\":%d",
		    i ? "," : "", i, i);
	text[n++] = '}';
	text[n] = '\0';
	parse_ok(text);
	ck_assert_uint_eq(obj.n, EEGCAT_JSON_MAX_FIELDS);
	snprintf(text + n - 1, sizeof text - n + 1, ",\"x\":1}");
	parse_bad(text, "more than");

	/*
	 * The longest object, with the most number fields (each copy needs a
	 * NUL the input has no quote for), fits; one byte more does not.
	 */
	make_object(text, EEGCAT_JSON_MAX, EEGCAT_JSON_MAX_FIELDS - 1);
	parse_ok(text);
	ck_assert_uint_eq(obj.n, EEGCAT_JSON_MAX_FIELDS);
	ck_assert_uint_eq(strlen(eegcat_json_str(&obj, "s")),
	    EEGCAT_JSON_MAX - 1 - 6 * (EEGCAT_JSON_MAX_FIELDS - 1) - 7);
	make_object(text, EEGCAT_JSON_MAX + 1, EEGCAT_JSON_MAX_FIELDS - 1);
	parse_bad(text, "object longer than");
}
END_TEST

START_TEST(test_accessors)
{
	uint64_t v;
	int64_t us;

	parse_ok("{\"class\":\"marker\",\"seq\":18446744073709551615,"
	    "\"big\":18446744073709551616,\"neg\":-3,\"time\":"
	    "1795675386.391510,\"t3\":12.5,\"t7\":1.0000001,\"tn\":-0.000002,"
	    "\"text\":\"hi\",\"n\":7}");
	ck_assert_ptr_nonnull(eegcat_json_find(&obj, "seq"));
	ck_assert_ptr_null(eegcat_json_find(&obj, "nope"));
	ck_assert_str_eq(eegcat_json_str(&obj, "class"), "marker");
	ck_assert_ptr_null(eegcat_json_str(&obj, "seq"));
	ck_assert_int_eq(eegcat_json_u64(&obj, "seq", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(eegcat_json_u64(&obj, "big", &v), -1);
	ck_assert_int_eq(eegcat_json_u64(&obj, "neg", &v), -1);
	ck_assert_int_eq(eegcat_json_u64(&obj, "time", &v), -1);
	ck_assert_int_eq(eegcat_json_u64(&obj, "text", &v), -1);
	ck_assert_int_eq(eegcat_json_u64(&obj, "n", &v), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(eegcat_json_time(&obj, "time", &us), 0);
	ck_assert_int_eq(us, 1795675386391510LL);
	ck_assert_int_eq(eegcat_json_time(&obj, "t3", &us), 0);
	ck_assert_int_eq(us, 12500000);
	ck_assert_int_eq(eegcat_json_time(&obj, "n", &us), 0);
	ck_assert_int_eq(us, 7000000);
	ck_assert_int_eq(eegcat_json_time(&obj, "tn", &us), 0);
	ck_assert_int_eq(us, -2);
	ck_assert_int_eq(eegcat_json_time(&obj, "t7", &us), -1);
	ck_assert_int_eq(eegcat_json_time(&obj, "text", &us), -1);
	ck_assert_int_eq(eegcat_json_time(&obj, "nope", &us), -1);
}
END_TEST

START_TEST(test_round_trip)
{
	struct msg m;

	encode_msg_init(&m, "gap");
	encode_add_u64(&m, "seq", 12);
	encode_add_u64(&m, "count", 3);
	encode_add_str(&m, "reason", "board_loss", 0);
	round_trip(&m);

	encode_msg_init(&m, "marker");
	encode_add_u64(&m, "seq", 1021);
	encode_add_time(&m, "time", 1795675386391510LL);
	encode_add_str(&m, "text", "stimulus \"A\" \\ \xe2\x9c\x93", 0);
	round_trip(&m);

	encode_msg_init(&m, "hello");
	encode_add_str(&m, "version", "0.1.0", 0);
	encode_add_u64(&m, "protocol", 1);
	encode_add_str(&m, "run", "2632953e47886207", 0);
	encode_add_str(&m, "board", "synthetic", 0);
	encode_add_dbl(&m, "rate", 83.333);
	encode_add_u64(&m, "channels", 3);
	encode_add_list(&m, "labels", "ch1,Fp1,O2");
	encode_add_str(&m, "units", "uV", 0);
	encode_add_dbl(&m, "range", 187500.0);
	encode_add_u64(&m, "decimate", 3);
	round_trip(&m);

	/* Replies: CSV writes these fields bare. */
	encode_msg_init(&m, "ok");
	encode_add_str(&m, "command", "since", 1);
	encode_add_str(&m, "arg", "1234", 1);
	round_trip(&m);
	encode_msg_init(&m, "error");
	encode_add_str(&m, "message", "marker text too long (300 bytes)", 1);
	round_trip(&m);

	encode_msg_init(&m, "status");
	encode_add_i64(&m, "offset", -42);
	encode_add_dbl(&m, "uptime", 0.25);
	encode_add_dbl(&m, "neg", -1.5);
	encode_add_bool(&m, "mqtt_connected", 1);
	encode_add_bool(&m, "other", 0);
	encode_add_time(&m, "t", -1500000);
	encode_add_u64(&m, "zero", 0);
	round_trip(&m);

	encode_msg_init(&m, "board");
	encode_add_str(&m, "state", "lost", 0);
	encode_add_str(&m, "text", "", 0);
	encode_add_list(&m, "none", "");
	round_trip(&m);
}
END_TEST

START_TEST(test_to_msg)
{
	struct msg m;

	parse_ok("{\"seq\":1}");
	ck_assert_int_eq(eegcat_json_to_msg(&obj, &m), -1);
	parse_ok("{\"class\":3}");
	ck_assert_int_eq(eegcat_json_to_msg(&obj, &m), -1);
	parse_ok("{\"a\":null,\"class\":\"x\",\"class\":\"y\"}");
	ck_assert_int_eq(eegcat_json_to_msg(&obj, &m), 0);
	ck_assert_str_eq(m.cls, "x");
	/* null is dropped; the second "class" is an ordinary field. */
	ck_assert_uint_eq(m.n, 1);
	ck_assert_str_eq(m.f[0].key, "class");
	ck_assert_str_eq(m.f[0].v.s, "y");
}
END_TEST

/* The JSON parser's test suite. */
static Suite *
eegcat_json_suite(void)
{
	Suite *s = suite_create("eegcat_json");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_escapes);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_accessors);
	suite_add_tcase(s, tc);

	tc = tcase_create("msg");
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_to_msg);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite; exit status is non-zero when a test failed. */
int
main(void)
{
	SRunner *sr = srunner_create(eegcat_json_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
