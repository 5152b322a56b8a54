/*
 * ctl_cmd.h - ferryctl's subcommands: the table of them, the dispatcher main() calls, and the
 * helpers every subcommand uses (printing JSON or tables, reporting a failure in one line).
 *
 * Exit codes, for scripts: 0 success; 1 the operation failed (the API refused, the server was
 * unreachable, verify found missing messages, e2e failed); 2 usage error (unknown subcommand or
 * option, bad option value). Errors go to stderr as one line starting "ferryctl: ".
 * Single-threaded.
 */
#ifndef FERRY_CTL_CMD_H
#define FERRY_CTL_CMD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli/ctl_args.h"
#include "cli/ctl_http.h"
#include "cli/ctl_table.h"

#define CTL_EXIT_OK    0
#define CTL_EXIT_FAIL  1
#define CTL_EXIT_USAGE 2

#define CTL_DEFAULT_URL "http://127.0.0.1:5301"

/* What a running subcommand has: the API client and the output choice. */
struct ctl_ctx {
	struct ctl_http http; /* opened on --url / FERRY_URL before run() is called */
	bool json;            /* --json: machine-readable output on stdout */
	FILE *out;            /* stdout */
	FILE *err;            /* stderr */
};

struct ctl_command {
	const char *name;           /* "send", "topics list" (group and subcommand) */
	const char *args_usage;     /* after the name in the usage line: "TOPIC MESSAGE|@FILE" */
	const char *summary;        /* one line */
	const char *details;        /* more help text after the options, or NULL */
	const struct ctl_opt *opts; /* the subcommand's own options (common ones are added) */
	size_t n_opts;
	size_t min_pos, max_pos; /* positional arguments accepted */
	int (*run)(struct ctl_ctx *ctx, const struct ctl_args *args); /* returns an exit code */
};

/*
 * The whole program: parses argv (argv[0] is the program name), runs the subcommand and
 * returns the exit code. `out`/`err` are where output and errors go (stdout/stderr in main).
 * curl_global_init must have been called.
 */
int ctl_cmd_main(int argc, char **argv, FILE *out, FILE *err);

/* Prints "ferryctl: <formatted>" on ctx->err and returns CTL_EXIT_FAIL. */
int ctl_cmd_fail(struct ctl_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "ferryctl: <formatted>" on ctx->err and returns CTL_EXIT_USAGE. */
int ctl_cmd_usage_error(struct ctl_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints `value` as indented JSON and a newline on ctx->out. Does not take ownership. */
void ctl_cmd_print_json(struct ctl_ctx *ctx, const json_t *value);

/* Renders the table on ctx->out and frees it. */
void ctl_cmd_print_table(struct ctl_ctx *ctx, struct ctl_table *t);

/*
 * The member `key` of object `obj` as text for a cell: a string as is, numbers in decimal
 * (reals with up to 3 decimals), true/false as "yes"/"no", null or absent as NULL (which a table
 * shows as "-"). Uses buf for numbers; the result is valid while obj and buf are.
 */
const char *ctl_cmd_cell(const json_t *obj, const char *key, char *buf, size_t size);

/* An integer member (0 when absent or not an integer). */
long long ctl_cmd_int(const json_t *obj, const char *key);

/*
 * ctl_http_call on ctx's client with the failure reported: returns 0 with *reply set (a new
 * reference the caller decrefs, NULL when the body was empty), or CTL_EXIT_FAIL after printing
 * "ferryctl: <the call's error line>" (*reply NULL). Does not take ownership of body.
 */
int ctl_cmd_call(struct ctl_ctx *ctx, const char *method, const char *path, json_t *body,
                 json_t **reply) __attribute__((warn_unused_result));

/* GET /api/topics/{name} (name escaped). Returns 0 with *topic (new reference), or an exit code
 * (reported) with *topic NULL. */
int ctl_cmd_get_topic(struct ctl_ctx *ctx, const char *name, json_t **topic)
    __attribute__((warn_unused_result));

/* The number of elements of array a. */
#define CTL_N(a) (sizeof(a) / sizeof((a)[0]))

/* The commands one ctl_cmd_<module>.c offers, for the table in ctl_cmd.c. */
struct ctl_cmd_module {
	const struct ctl_command *commands;
	size_t count;
};

extern const struct ctl_cmd_module ctl_cmd_send_module;
extern const struct ctl_cmd_module ctl_cmd_topics_module;
extern const struct ctl_cmd_module ctl_cmd_messages_module;
extern const struct ctl_cmd_module ctl_cmd_groups_module;
extern const struct ctl_cmd_module ctl_cmd_keys_module;
extern const struct ctl_cmd_module ctl_cmd_agents_module;
extern const struct ctl_cmd_module ctl_cmd_e2e_module;

#endif
