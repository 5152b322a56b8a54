/*
 * service_cli.c - see service_cli.h.
 */
#include "common/service_cli.h"

#include <string.h>

int service_cli_parse(int argc, char **argv, const char *name, const char *version,
                      void (*usage)(FILE *out), const struct config_setting *table, size_t n,
                      const char **urls)
{
	int i;

	*urls = NULL;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("%s %s\n", name, version);
			return 0;
		} else if (strcmp(argv[i], "--config-table") == 0) {
			config_print_markdown(table, n, stdout);
			return 0;
		} else if (strcmp(argv[i], "--urls") == 0 && i + 1 < argc) {
			*urls = argv[++i];
		} else if (strncmp(argv[i], "--urls=", 7) == 0) {
			*urls = argv[i] + 7;
		} else {
			fprintf(stderr, "%s: unknown argument '%s' (try --help)\n", name, argv[i]);
			return 2;
		}
	}
	return -1;
}
