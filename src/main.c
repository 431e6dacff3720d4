/* main.c: parse the command line and run the daemon. */
#include "autoconfig.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

/* Print usage to fp. */
static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: eegd [-hVtv] [-c FILE] [--board TYPE] [--device PATH|auto]\n"
	    "            [--rate HZ] [--channels N] [-l unix:PATH|tcp:HOST:PORT]...\n"
	    "  -c, --config FILE     config file (default %s)\n"
	    "      --board TYPE      board type: synthetic or cyton\n"
	    "      --device PATH     cyton: serial device, or auto\n"
	    "      --rate HZ         sample rate\n"
	    "      --channels N      channel count\n"
	    "  -l, --listen ADDR     listen address, repeatable; replaces the "
	    "defaults\n"
	    "  -t, --test-config     check the config and exit (0 valid, 78 "
	    "not)\n"
	    "  -v, --verbose         more logging, repeatable\n"
	    "  -V, --version         print the version and exit\n"
	    "  -h, --help            print this help and exit\n",
	    CONFIG_DEFAULT_PATH);
}

/* Parse the command line, then run the daemon or check its config. */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "board", required_argument, NULL, 'B' },
		{ "rate", required_argument, NULL, 'R' },
		{ "channels", required_argument, NULL, 'C' },
		{ "device", required_argument, NULL, 'D' },
		{ "listen", required_argument, NULL, 'l' },
		{ "test-config", no_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config_override ov[CONFIG_MAX_OVERRIDES];
	struct daemon_opts opts;
	struct config cfg;
	char err[512];
	int ch, test = 0;
	size_t nov = 0;

	memset(&opts, 0, sizeof opts);
	opts.config_path = CONFIG_DEFAULT_PATH;
	log_init(LOG_LVL_NOTICE, "eegd");
	while ((ch = getopt_long(argc, argv, "c:l:tvVh", longopts, NULL)) !=
	    -1) {
		const char *key = NULL, *section = "board";
		switch (ch) {
		case 'c':
			opts.config_path = optarg;
			opts.config_must_exist = 1;
			break;
		case 'B': key = "type"; break;
		case 'R': key = "rate"; break;
		case 'C': key = "channels"; break;
		case 'D': key = "device"; break;
		case 'l': key = "listen"; section = "daemon"; break;
		case 't': test = 1; break;
		case 'v': opts.verbose++; break;
		case 'V':
			printf("eegd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;	/* EX_USAGE */
		}
		if (key != NULL) {
			if (nov >= CONFIG_MAX_OVERRIDES) {
				fprintf(stderr, "eegd: too many options\n");
				return 64;
			}
			ov[nov].section = section;
			ov[nov].key = key;
			ov[nov].value = optarg;
			nov++;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 64;
	}
	opts.ov = ov;
	opts.nov = nov;
	if (test) {
		if (config_load(&cfg, opts.config_path, opts.config_must_exist,
		    ov, nov, err, sizeof err) == -1) {
			fprintf(stderr, "%s\n", err);
			return 78;	/* EX_CONFIG */
		}
		printf("%s: ok\n", opts.config_path);
		return 0;
	}
	return daemon_run(&opts);
}
