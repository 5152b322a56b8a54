/*
 * ferryctl - the operator's command-line tool: a client of the producer's REST API (and, for
 * `ferryctl keys` alone, of the database holding the API keys)
 * (docs/architecture.md, "ferryctl"). main only sets up libcurl; ctl_cmd.c dispatches the
 * subcommands.
 */
#include <curl/curl.h>
#include <stdio.h>

#include "cli/ctl_cmd.h"

int main(int argc, char **argv)
{
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "ferryctl: cannot initialise libcurl\n");
		return CTL_EXIT_FAIL;
	}
	rc = ctl_cmd_main(argc, argv, stdout, stderr);
	curl_global_cleanup();
	return rc;
}
