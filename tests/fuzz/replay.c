/*
 * replay.c: run a fuzz target over saved inputs, without libFuzzer.
 *
 * Linked with one fuzz_<target>.c (and -DFUZZ_TARGET='"<target>"') it
 * makes tests/fuzz/replay_<target>, which `make check` runs in every build
 * (plain, sanitizers, valgrind): with no arguments it replays
 * $EEGD_SRCDIR/tests/fuzz/corpus/<target>/ and .../regress/<target>/, so
 * each seed and each input that once crashed runs through the target's
 * checks again.  Arguments name other files or directories instead.  A
 * failing input aborts (the target's CHECK), naming the file first.
 */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FUZZ_TARGET
#error "build with -DFUZZ_TARGET='\"name\"'"
#endif

#include "fuzz.h"

/* Replay one file; -1 if it cannot be read. */
static int
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	do {
		if (len == cap) {
			uint8_t *nb;
			cap = cap ? 2 * cap : 4096;
			if ((nb = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "replay: out of memory\n");
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	/* An exact-size copy, so a sanitizer sees any read past the end. */
	{
		uint8_t *exact = malloc(len ? len : 1);
		if (exact == NULL) {
			free(buf);
			return -1;
		}
		memcpy(exact, buf, len);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	free(buf);
	return 0;
}

/* Replay a file, or every regular file of a directory (sorted); count. */
static int
replay_path(const char *path, size_t *count, int missing_ok)
{
	struct dirent **names;
	struct stat st;
	int n, rc = 0;

	if (stat(path, &st) == -1) {
		if (missing_ok && errno == ENOENT)
			return 0;
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (replay_file(path) == -1)
			return -1;
		(*count)++;
		return 0;
	}
	if ((n = scandir(path, &names, NULL, alphasort)) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char sub[4096];
		if (names[i]->d_name[0] != '.' && rc == 0) {
			snprintf(sub, sizeof sub, "%s/%s", path, names[i]->d_name);
			if (stat(sub, &st) == 0 && S_ISREG(st.st_mode)) {
				if (replay_file(sub) == -1)
					rc = -1;
				else
					(*count)++;
			}
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* Replay the arguments, or the target's corpus and regression inputs. */
int
main(int argc, char **argv)
{
	size_t count = 0;
	int rc = 0;

	if (argc > 1) {
		for (int i = 1; i < argc && rc == 0; i++)
			rc = replay_path(argv[i], &count, 0);
	} else {
		const char *src = getenv("EEGD_SRCDIR");
		char dir[4096];

		if (src == NULL)
			src = ".";
		snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", src,
		    FUZZ_TARGET);
		rc = replay_path(dir, &count, 0);
		snprintf(dir, sizeof dir, "%s/tests/fuzz/regress/%s", src,
		    FUZZ_TARGET);
		if (rc == 0)
			rc = replay_path(dir, &count, 1);
	}
	if (rc == 0 && count == 0) {
		fprintf(stderr, "replay: no inputs\n");
		rc = -1;
	}
	printf("%s: %zu passed, %d failed\n", FUZZ_TARGET, rc == 0 ? count : 0,
	    rc == 0 ? 0 : 1);
	return rc == 0 ? 0 : 1;
}
