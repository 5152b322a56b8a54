/*
 * processor_plugin.c - a processor from a shared library (include/ferry/processor.h): dlopen the
 * path, look up ferry_processor_init/process/destroy, and call init with FERRY_PROCESSOR_CONFIG.
 * RTLD_LOCAL: two plugins (or one loaded per group thread) never see each other's symbols.
 */
#include "consumer/processor.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef int (*processor_plugin_init_fn)(const char *config, void **state, char *errstr,
                                        size_t errstr_size);
typedef void (*processor_plugin_destroy_fn)(void *state);

void processor_plugin_close(void *handle)
{
	dlclose(handle);
}

int processor_plugin_new(const char *path, const char *config, struct processor *p, char *errstr,
                         size_t errstr_size)
{
	static const char *const names[3] = {"ferry_processor_init", "ferry_processor_process",
	                                     "ferry_processor_destroy"};
	void *handle, *sym[3];
	char inner[512];
	int i;

	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL) {
		snprintf(errstr, errstr_size, "FERRY_PROCESSOR_PLUGIN: cannot load %s: %s", path,
		         dlerror());
		return -1;
	}
	for (i = 0; i < 3; i++) {
		dlerror();
		sym[i] = dlsym(handle, names[i]);
		if (sym[i] == NULL) {
			snprintf(errstr, errstr_size,
			         "FERRY_PROCESSOR_PLUGIN: %s does not export %s (see "
			         "include/ferry/processor.h)",
			         path, names[i]);
			dlclose(handle);
			return -1;
		}
	}
	/* POSIX: a data pointer from dlsym converts to a function pointer through memcpy. */
	inner[0] = '\0';
	{
		processor_plugin_init_fn init;

		memcpy(&init, &sym[0], sizeof(init));
		if (init(config, &p->state, inner, sizeof(inner)) != 0) {
			snprintf(errstr, errstr_size, "FERRY_PROCESSOR_PLUGIN: %s: init failed: %s",
			         path, inner[0] ? inner : "(no message)");
			dlclose(handle);
			return -1;
		}
	}
	memcpy(&p->process, &sym[1], sizeof(p->process));
	memcpy(&p->destroy, &sym[2], sizeof(p->destroy));
	p->dl_handle = handle;
	return 0;
}
