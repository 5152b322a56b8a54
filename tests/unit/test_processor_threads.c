/*
 * include/ferry/processor.h's thread contract, held by the consume loop: a plugin's init and
 * destroy run on the thread that builds and joins the loop (ferry-consumer's main thread), never
 * on the group's consume thread, whether the loop ran or start-up stopped before it started. No
 * broker is needed: the consumer points at a closed port and is stopped before any record.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "consumer/consume_loop.h"

struct threads_run {
	char path[64];               /* the plugin's notes */
	struct consume_loop *loop;   /* under test */
	struct processor_options po; /* the plugin, config = path */
};

static struct consume_loop *threads_loop_new(struct threads_run *run)
{
	static const char *const topics[] = {"processor-threads"};
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	struct consume_loop_options lo = {
	    .group = "processor-threads",
	    .topics = topics,
	    .topic_count = 1,
	    .conninfo = "dbname=unused",
	    .service_id = "unit",
	    .instance_id = "unit",
	    .poll_timeout_ms = 20,
	    .processor = &run->po,
	    .close_timeout_ms = 200,
	};
	struct consume_loop *loop;

	assert_int_equal(
	    rd_kafka_conf_set(conf, "bootstrap.servers", "127.0.0.1:1", errstr, sizeof(errstr)),
	    RD_KAFKA_CONF_OK);
	assert_int_equal(
	    rd_kafka_conf_set(conf, "group.id", "processor-threads", errstr, sizeof(errstr)),
	    RD_KAFKA_CONF_OK);
	loop = consume_loop_new(&lo, conf, errstr, sizeof(errstr));
	if (loop == NULL)
		fail_msg("consume_loop_new: %s", errstr);
	return loop;
}

static void threads_run_init(struct threads_run *run)
{
	int fd;

	snprintf(run->path, sizeof(run->path), "/tmp/ferry-processor-threads-XXXXXX");
	fd = mkstemp(run->path);
	assert_true(fd >= 0);
	close(fd);
	run->po = (struct processor_options){
	    .kind = "plugin", .plugin_path = FERRY_THREADS_PLUGIN, .config = run->path};
}

/* The thread (as the plugin printed it) of the line starting with `what`, or 0. */
static unsigned long threads_noted(const char *path, const char *what)
{
	char line[256];
	unsigned long tid = 0;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, what, strlen(what)) == 0 && line[strlen(what)] == ' ')
			tid = strtoul(line + strlen(what) + 1, NULL, 10);
	fclose(f);
	return tid;
}

static void test_destroy_on_init_thread_after_run(void **state)
{
	struct threads_run run;
	char errstr[512];
	unsigned long self = (unsigned long)pthread_self();

	(void)state;
	threads_run_init(&run);
	run.loop = threads_loop_new(&run);
	assert_int_equal(consume_loop_start(run.loop, errstr, sizeof(errstr)), 0);
	consume_loop_request_stop(run.loop);
	consume_loop_join(run.loop);
	assert_int_equal(threads_noted(run.path, "init"), self);
	/* Destroyed by the join, on this thread, not on the consume thread that just ended. */
	assert_int_equal(threads_noted(run.path, "destroy"), self);
	consume_loop_destroy(run.loop);
	unlink(run.path);
}

static void test_destroy_on_init_thread_never_started(void **state)
{
	struct threads_run run;
	unsigned long self = (unsigned long)pthread_self();

	(void)state;
	threads_run_init(&run);
	run.loop = threads_loop_new(&run);
	consume_loop_destroy(run.loop);
	assert_int_equal(threads_noted(run.path, "init"), self);
	assert_int_equal(threads_noted(run.path, "destroy"), self);
	unlink(run.path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_destroy_on_init_thread_after_run),
	    cmocka_unit_test(test_destroy_on_init_thread_never_started),
	};

	log_init(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
