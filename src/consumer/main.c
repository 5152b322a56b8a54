/*
 * ferry-consumer: the consumer service's process. What starts and stops, and in which order,
 * is consumer_service.h; this file reads the command line, starts the service, waits for
 * SIGTERM/SIGINT and stops it.
 *
 * Exit codes: 0 after a clean stop (or --help, --version, --config-table), 1 when the start
 * failed (one line on stderr says why), 2 for an unknown argument, 3 when the shutdown
 * deadline (FERRY_SHUTDOWN_DEADLINE_MS) passed (shutdown_guard.h).
 */
#include <stdio.h>

#include "common/service_boot.h"
#include "consumer/consumer_service.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: ferry-consumer [--urls http://host:port] [--help] [--config-table] "
	             "[--version]\n\n"
	             "The ferry consumer service: Kafka -> inbox + processor -> acknowledgments.\n"
	             "Settings come from the environment (see --config-table); any other KAFKA_* "
	             "variable is passed to librdkafka\n(KAFKA_SECURITY_PROTOCOL=ssl -> "
	             "security.protocol=ssl).\n");
}

int main(int argc, char **argv)
{
	/* Static: the service struct is large, and lives as long as the process anyway. */
	static struct consumer_service svc;
	int rc;

	rc = consumer_service_parse_args(&svc, argc, argv, usage);
	if (rc >= 0)
		return rc;
	if (consumer_service_start(&svc) == 0)
		service_boot_wait_signal(&svc.boot, svc.cfg.shutdown_deadline_ms);
	return consumer_service_stop(&svc);
}
