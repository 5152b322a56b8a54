/*
 * ctl_cmd.c - see ctl_cmd.h: the dispatcher and the helpers the subcommands share.
 *
 * Common options (--url, --json, --help, --cacert, --cert, --cert-key) are accepted before the
 * command and among any subcommand's options, because operators type them wherever they
 * remember to.
 */
#include "cli/ctl_cmd.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_client.h"
#include "ferry/version.h"

#define CTL_HTTP_TIMEOUT_MS 30000L

static const struct ctl_opt ctl_cmd_common_opts[] = {
    {"url", 'u', "URL", false, "producer base URL (default $FERRY_URL, else " CTL_DEFAULT_URL ")"},
    {"cacert", 0, "FILE", false, "PEM CA trusted for an https URL (default $FERRY_CA_FILE)"},
    {"cert", 0, "FILE", false, "PEM client certificate for mutual TLS ($FERRY_CERT_FILE)"},
    {"cert-key", 0, "FILE", false, "PEM key of --cert ($FERRY_KEY_FILE)"},
    {"token", 0, "KEY", false, "API key sent as a Bearer token (default $FERRY_TOKEN)"},
    {"json", 0, NULL, false, "print JSON for scripts instead of tables"},
    {"help", 'h', NULL, false, "show this help"},
};
#define CTL_N_COMMON (sizeof(ctl_cmd_common_opts) / sizeof(ctl_cmd_common_opts[0]))

static const struct ctl_cmd_module *const ctl_cmd_modules[] = {
    &ctl_cmd_send_module,   &ctl_cmd_topics_module, &ctl_cmd_messages_module,
    &ctl_cmd_groups_module, &ctl_cmd_agents_module, &ctl_cmd_e2e_module,
    &ctl_cmd_keys_module,
};
#define CTL_N_MODULES CTL_N(ctl_cmd_modules)

static void ctl_cmd_vprint(FILE *f, const char *fmt, va_list ap)
{
	fputs("ferryctl: ", f);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
	fflush(f);
}

int ctl_cmd_fail(struct ctl_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_cmd_vprint(ctx->err, fmt, ap);
	va_end(ap);
	return CTL_EXIT_FAIL;
}

int ctl_cmd_usage_error(struct ctl_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_cmd_vprint(ctx->err, fmt, ap);
	va_end(ap);
	return CTL_EXIT_USAGE;
}

void ctl_cmd_print_json(struct ctl_ctx *ctx, const json_t *value)
{
	char *text = json_dumps(value, JSON_INDENT(2) | JSON_ENCODE_ANY);

	if (text == NULL) {
		fputs("null\n", ctx->out);
		return;
	}
	fprintf(ctx->out, "%s\n", text);
	free(text);
}

void ctl_cmd_print_table(struct ctl_ctx *ctx, struct ctl_table *t)
{
	struct strbuf sb = STRBUF_INIT;

	ctl_table_render(t, &sb);
	fputs(strbuf_str(&sb), ctx->out);
	strbuf_free(&sb);
	ctl_table_free(t);
}

const char *ctl_cmd_cell(const json_t *obj, const char *key, char *buf, size_t size)
{
	const json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	if (json_is_real(v)) {
		snprintf(buf, size, "%.3g", json_real_value(v));
		return buf;
	}
	if (json_is_boolean(v))
		return json_is_true(v) ? "yes" : "no";
	return NULL;
}

long long ctl_cmd_int(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

int ctl_cmd_call(struct ctl_ctx *ctx, const char *method, const char *path, json_t *body,
                 json_t **reply)
{
	char errstr[1024];

	if (ctl_http_call(&ctx->http, method, path, body, reply, errstr, sizeof(errstr)) < 0)
		return ctl_cmd_fail(ctx, "%s", errstr);
	return 0;
}

int ctl_cmd_get_topic(struct ctl_ctx *ctx, const char *name, json_t **topic)
{
	char *esc = ctl_http_escape(name), path[1024];

	*topic = NULL;
	if (esc == NULL)
		return ctl_cmd_fail(ctx, "out of memory");
	snprintf(path, sizeof(path), "/api/topics/%s", esc);
	free(esc);
	return ctl_cmd_call(ctx, "GET", path, NULL, topic);
}

/* --- usage -------------------------------------------------------------------------------- */

static void ctl_cmd_print_overview(FILE *f)
{
	size_t m, i;

	fprintf(f, "Usage: ferryctl [--url URL] [--token KEY] [--json] COMMAND [SUBCOMMAND] "
	           "[options]\n\n"
	           "The operator's tool for ferry: talks to the producer's REST API.\n\n"
	           "Commands:\n");
	for (m = 0; m < CTL_N_MODULES; m++)
		for (i = 0; i < ctl_cmd_modules[m]->count; i++)
			fprintf(f, "  %-22s %s\n", ctl_cmd_modules[m]->commands[i].name,
			        ctl_cmd_modules[m]->commands[i].summary);
	fprintf(f, "\nCommon options (before or after the command):\n"
	           "  -u, --url URL    producer base URL (default $FERRY_URL, else " CTL_DEFAULT_URL
	           ")\n"
	           "      --cacert FILE  PEM CA trusted for an https URL (default $FERRY_CA_FILE)\n"
	           "      --cert FILE, --cert-key FILE  client certificate and key for mutual TLS\n"
	           "                   (default $FERRY_CERT_FILE, $FERRY_KEY_FILE)\n"
	           "      --token KEY  API key sent as a Bearer token (default $FERRY_TOKEN)\n"
	           "      --json       print JSON for scripts instead of tables\n"
	           "  -h, --help       help; 'ferryctl COMMAND --help' for a command's options\n\n"
	           "Exit status: 0 success, 1 failure (also: verify found missing messages, e2e "
	           "failed), 2 usage error.\n");
}

static void ctl_cmd_print_group(FILE *f, const char *group)
{
	size_t m, i, len = strlen(group);

	fprintf(f, "Usage: ferryctl %s SUBCOMMAND [options]\n\nSubcommands:\n", group);
	for (m = 0; m < CTL_N_MODULES; m++)
		for (i = 0; i < ctl_cmd_modules[m]->count; i++) {
			const struct ctl_command *c = &ctl_cmd_modules[m]->commands[i];

			if (strncmp(c->name, group, len) == 0 && c->name[len] == ' ')
				fprintf(f, "  %-12s %s\n", c->name + len + 1, c->summary);
		}
	fprintf(f, "\n'ferryctl %s SUBCOMMAND --help' shows a subcommand's options.\n", group);
}

static void ctl_cmd_print_help(FILE *f, const struct ctl_command *c)
{
	char opts[4096];

	fprintf(f, "Usage: ferryctl %s%s%s [options]\n\n%s\n", c->name, c->args_usage ? " " : "",
	        c->args_usage ? c->args_usage : "", c->summary);
	if (c->n_opts > 0) {
		ctl_args_format_help(c->opts, c->n_opts, opts, sizeof(opts));
		fprintf(f, "\nOptions:\n%s", opts);
	}
	ctl_args_format_help(ctl_cmd_common_opts, CTL_N_COMMON, opts, sizeof(opts));
	fprintf(f, "\nCommon options:\n%s", opts);
	if (c->details)
		fprintf(f, "\n%s\n", c->details);
}

/* --- dispatch ----------------------------------------------------------------------------- */

static const struct ctl_command *ctl_cmd_find(const char *name)
{
	size_t m, i;

	for (m = 0; m < CTL_N_MODULES; m++)
		for (i = 0; i < ctl_cmd_modules[m]->count; i++)
			if (strcmp(ctl_cmd_modules[m]->commands[i].name, name) == 0)
				return &ctl_cmd_modules[m]->commands[i];
	return NULL;
}

static bool ctl_cmd_is_group(const char *name)
{
	size_t m, i, len = strlen(name);

	for (m = 0; m < CTL_N_MODULES; m++)
		for (i = 0; i < ctl_cmd_modules[m]->count; i++) {
			const char *n = ctl_cmd_modules[m]->commands[i].name;

			if (strncmp(n, name, len) == 0 && n[len] == ' ')
				return true;
		}
	return false;
}

static bool ctl_cmd_is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* The option, else the environment variable, else NULL. */
static const char *ctl_cmd_opt_or_env(const struct ctl_args *args, const char *opt, const char *env)
{
	const char *v = ctl_args_get(args, opt);

	return v != NULL ? v : getenv(env);
}

/* --cacert/--cert/--cert-key after the command, else before it (`early`), else FERRY_CA_FILE,
 * FERRY_CERT_FILE, FERRY_KEY_FILE, for https URLs. The server's certificate is always
 * verified: there is no switch to turn that off. */
static int ctl_cmd_set_tls(const struct ctl_args *args, const struct http_client_tls *early,
                           char *errstr, size_t errstr_size)
{
	struct http_client_tls tls = {
	    .ca_file = ctl_cmd_opt_or_env(args, "cacert", "FERRY_CA_FILE"),
	    .cert_file = ctl_cmd_opt_or_env(args, "cert", "FERRY_CERT_FILE"),
	    .key_file = ctl_cmd_opt_or_env(args, "cert-key", "FERRY_KEY_FILE"),
	};

	if (early->ca_file && !ctl_args_get(args, "cacert"))
		tls.ca_file = early->ca_file;
	if (early->cert_file && !ctl_args_get(args, "cert"))
		tls.cert_file = early->cert_file;
	if (early->key_file && !ctl_args_get(args, "cert-key"))
		tls.key_file = early->key_file;
	return http_client_set_tls(&tls, errstr, errstr_size);
}

/* A "--name VALUE" or "--name=VALUE" before the command: sets *value and returns how many
 * arguments it took (1 or 2), or 0 when argv[i] is not that option. */
static int ctl_cmd_early_value(const char *name, int argc, char **argv, int i, const char **value)
{
	size_t len = strlen(name);

	if (strncmp(argv[i], name, len) == 0 && argv[i][len] == '=') {
		*value = argv[i] + len + 1;
		return 1;
	}
	if (strcmp(argv[i], name) == 0 && i + 1 < argc) {
		*value = argv[i + 1];
		return 2;
	}
	return 0;
}

/* Parses the subcommand's arguments and runs it. */
static int ctl_cmd_run(struct ctl_ctx *ctx, const struct ctl_command *c, const char *url,
                       const struct http_client_tls *early_tls, const char *token, int argc,
                       char **argv)
{
	struct ctl_opt *opts = calloc(c->n_opts + CTL_N_COMMON, sizeof(*opts));
	struct ctl_args args;
	char errstr[512];
	int rc = CTL_EXIT_USAGE;

	memset(&args, 0, sizeof(args));
	if (opts == NULL) {
		rc = ctl_cmd_fail(ctx, "out of memory");
		goto done;
	}
	if (c->n_opts)
		memcpy(opts, c->opts, c->n_opts * sizeof(*opts));
	memcpy(opts + c->n_opts, ctl_cmd_common_opts, sizeof(ctl_cmd_common_opts));
	if (ctl_args_parse(opts, c->n_opts + CTL_N_COMMON, argc, argv, &args, errstr,
	                   sizeof(errstr)) != 0) {
		rc = ctl_cmd_usage_error(ctx, "%s: %s (try 'ferryctl %s --help')", c->name, errstr,
		                         c->name);
		goto done;
	}
	if (ctl_args_has(&args, "help")) {
		ctl_cmd_print_help(ctx->out, c);
		rc = CTL_EXIT_OK;
		goto done;
	}
	if (args.n_pos < c->min_pos || args.n_pos > c->max_pos) {
		if (args.n_pos > c->max_pos)
			rc = ctl_cmd_usage_error(
			    ctx, "%s: unexpected argument '%s' (try 'ferryctl %s --help')", c->name,
			    args.pos[c->max_pos], c->name);
		else
			rc = ctl_cmd_usage_error(ctx, "%s: missing %s (usage: ferryctl %s %s)",
			                         c->name, c->args_usage, c->name, c->args_usage);
		goto done;
	}
	if (ctl_args_has(&args, "json"))
		ctx->json = true;
	if (ctl_args_get(&args, "url"))
		url = ctl_args_get(&args, "url");
	if (ctl_cmd_set_tls(&args, early_tls, errstr, sizeof(errstr)) != 0) {
		rc = ctl_cmd_fail(ctx, "%s", errstr);
		goto done;
	}
	if (ctl_args_get(&args, "token"))
		token = ctl_args_get(&args, "token");
	if (ctl_http_open(&ctx->http, url, CTL_HTTP_TIMEOUT_MS, errstr, sizeof(errstr)) != 0) {
		rc = ctl_cmd_usage_error(ctx, "%s", errstr);
		goto done;
	}
	if (ctl_http_set_token(&ctx->http, token) != 0) {
		rc = ctl_cmd_fail(ctx, "out of memory");
		goto done;
	}
	rc = c->run(ctx, &args);
done:
	ctl_http_close(&ctx->http);
	ctl_args_free(&args);
	free(opts);
	return rc;
}

int ctl_cmd_main(int argc, char **argv, FILE *out, FILE *err)
{
	struct ctl_ctx ctx;
	const struct ctl_command *c;
	const char *url = getenv("FERRY_URL"), *token = getenv("FERRY_TOKEN"), *word;
	struct http_client_tls early_tls = {NULL, NULL, NULL};
	char name[128];
	int i = 1, took;

	memset(&ctx, 0, sizeof(ctx));
	ctx.out = out;
	ctx.err = err;
	if (url == NULL || *url == '\0')
		url = CTL_DEFAULT_URL;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (ctl_cmd_is_help(a)) {
			ctl_cmd_print_overview(out);
			return CTL_EXIT_OK;
		} else if (strcmp(a, "--version") == 0) {
			fprintf(out, "ferryctl %s\n", FERRY_VERSION);
			return CTL_EXIT_OK;
		} else if (strcmp(a, "--json") == 0) {
			ctx.json = true;
		} else if (strncmp(a, "--url=", 6) == 0) {
			url = a + 6;
		} else if ((strcmp(a, "--url") == 0 || strcmp(a, "-u") == 0) && i + 1 < argc) {
			url = argv[++i];
		} else if ((took = ctl_cmd_early_value("--cacert", argc, argv, i,
		                                       &early_tls.ca_file)) > 0 ||
		           (took = ctl_cmd_early_value("--cert", argc, argv, i,
		                                       &early_tls.cert_file)) > 0 ||
		           (took = ctl_cmd_early_value("--cert-key", argc, argv, i,
		                                       &early_tls.key_file)) > 0 ||
		           (took = ctl_cmd_early_value("--token", argc, argv, i, &token)) > 0) {
			i += took - 1;
		} else {
			return ctl_cmd_usage_error(
			    &ctx, "unknown option '%s' (try 'ferryctl --help')", a);
		}
	}
	if (i >= argc) {
		ctl_cmd_print_overview(err);
		return CTL_EXIT_USAGE;
	}
	word = argv[i++];
	c = ctl_cmd_find(word);
	if (c == NULL && ctl_cmd_is_group(word)) {
		if (i >= argc || ctl_cmd_is_help(argv[i])) {
			ctl_cmd_print_group(i >= argc ? err : out, word);
			return i >= argc ? CTL_EXIT_USAGE : CTL_EXIT_OK;
		}
		snprintf(name, sizeof(name), "%s %s", word, argv[i]);
		c = ctl_cmd_find(name);
		if (c == NULL)
			return ctl_cmd_usage_error(
			    &ctx,
			    "unknown subcommand '%s %.64s' (try 'ferryctl %s "
			    "--help')",
			    word, argv[i], word);
		i++;
	}
	if (c == NULL)
		return ctl_cmd_usage_error(&ctx, "unknown command '%.64s' (try 'ferryctl --help')",
		                           word);
	return ctl_cmd_run(&ctx, c, url, &early_tls, token, argc - i, argv + i);
}
