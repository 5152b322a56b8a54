/*
 * service_cli.h - the command-line flags every ferry service takes, parsed in one place:
 * --help/-h, --version, --config-table (the settings table as Markdown, which
 * docs/configuration.md carries) and --urls URL (the seed's listen address flag). Everything else
 * is configured through the environment (config.h).
 */
#ifndef FERRY_SERVICE_CLI_H
#define FERRY_SERVICE_CLI_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "common/config.h"

/*
 * Parses argv. Returns -1 when the service should start (*urls is the --urls value or NULL),
 * or the exit code it should return at once: 0 after printing help (`usage`), the version
 * ("<name> <version>") or the settings table; 2 after one line on stderr naming an unknown
 * argument. Main thread, before anything else starts.
 */
int service_cli_parse(int argc, char **argv, const char *name, const char *version,
                      void (*usage)(FILE *out), const struct config_setting *table, size_t n,
                      const char **urls) __attribute__((warn_unused_result));

/*
 * Loads the settings from the environment and starts logging at the configured level and
 * format (*log_level and *log_format are read after the load). Returns 0, or -1 after one line
 * "<name>: <reason>" on stderr.
 */
int service_cli_configure(const char *name, const struct config_setting *table, size_t n,
                          char *const *log_level, char *const *log_format)
    __attribute__((warn_unused_result));

/*
 * Where to listen: the --urls flag, else ASPNETCORE_URLS (`urls`), else `http_host` and
 * `port_setting`. Writes host and *port. Returns 0, or -1 after one line on stderr naming the
 * source that was invalid.
 */
int service_cli_listen(const char *name, const char *urls_flag, const char *urls,
                       const char *http_host, long port_setting, char *host, size_t host_size,
                       int *port) __attribute__((warn_unused_result));

/*
 * Blocks SIGTERM and SIGINT in the calling thread (and so in every thread it starts), for the
 * main thread to take them with sigwait(sigs), and ignores SIGPIPE (a client that hangs up must
 * not kill the service).
 */
void service_cli_block_signals(sigset_t *sigs);

#endif
