/*
 * processor_threads_plugin.c - a processor plugin for unit.test_processor_threads: it appends
 * one line per entry point to the file named by its config ("init <thread>", "destroy
 * <thread>"), so the test can see which thread include/ferry/processor.h's calls came from.
 */
#include <ferry/processor.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void threads_plugin_note(const char *path, const char *what)
{
	FILE *f = fopen(path, "a");

	if (f == NULL)
		return;
	fprintf(f, "%s %lu\n", what, (unsigned long)pthread_self());
	fclose(f);
}

int ferry_processor_init(const char *config, void **state, char *errstr, size_t errstr_size)
{
	if (config == NULL || (*state = strdup(config)) == NULL) {
		snprintf(errstr, errstr_size, "config must name a file");
		return -1;
	}
	threads_plugin_note(config, "init");
	return 0;
}

int ferry_processor_process(void *state, const struct ferry_consumed_message *msg, PGconn *txn,
                            char *errstr, size_t errstr_size)
{
	(void)msg;
	(void)txn;
	(void)errstr;
	(void)errstr_size;
	threads_plugin_note(state, "process");
	return 0;
}

void ferry_processor_destroy(void *state)
{
	threads_plugin_note(state, "destroy");
	free(state);
}
