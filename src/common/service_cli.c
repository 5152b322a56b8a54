/*
 * service_cli.c - see service_cli.h.
 */
#include "common/service_cli.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "common/log.h"

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

int service_cli_configure(const char *name, const struct config_setting *table, size_t n,
                          char *const *log_level, char *const *log_format)
{
	enum log_level level;
	enum log_format format;
	char errstr[1024];

	if (config_load(table, n, NULL, errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, "%s: %s\n", name, errstr);
		return -1;
	}
	if (log_level_parse(*log_level, &level) != 0 ||
	    log_format_parse(*log_format, &format) != 0) {
		fprintf(stderr, "%s: FERRY_LOG_LEVEL/FERRY_LOG_FORMAT invalid\n", name);
		return -1;
	}
	log_init(level, format);
	return 0;
}

int service_cli_listen(const char *name, const char *urls_flag, const char *urls,
                       const char *http_host, long port_setting, char *host, size_t host_size,
                       int *port)
{
	char errstr[512];

	if (urls_flag || urls) {
		if (config_parse_listen_url(urls_flag ? urls_flag : urls, host, host_size, port,
		                            errstr, sizeof(errstr)) != 0) {
			fprintf(stderr, "%s: %s: %s\n", name,
			        urls_flag ? "--urls" : "ASPNETCORE_URLS", errstr);
			return -1;
		}
		return 0;
	}
	snprintf(host, host_size, "%s", http_host);
	*port = (int)port_setting;
	return 0;
}

void service_cli_block_signals(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
}
