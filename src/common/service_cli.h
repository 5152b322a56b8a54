/*
 * service_cli.h - the command-line flags every ferry service takes, parsed in one place:
 * --help/-h, --version, --config-table (the settings table as Markdown, which the README
 * carries) and --urls URL (the seed's listen address flag). Everything else is configured
 * through the environment (config.h).
 */
#ifndef FERRY_SERVICE_CLI_H
#define FERRY_SERVICE_CLI_H

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

#endif
