#include "runtime.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static int server_process(json_t *p, struct fm_server_process *out, struct fm_error *err)
{
    static const char *const known[] = {"LaunchPath", "Parameters", "ConcurrentExecutions", NULL};
    if (!json_is_object(p))
        return fm_fail(err, "", "must be an object");
    out->parameters = "";
    out->concurrent = 0;
    if (fm_known_fields(p, known, "a server process", err) < 0 ||
        fm_text_field(p, "LaunchPath", 1, 1024, &out->launch_path, err) < 0 ||
        fm_text_field(p, "Parameters", 1, 1024, &out->parameters, err) < 0 ||
        fm_int_field(p, "ConcurrentExecutions", 1, FM_MAX_HOST_PROCESSES, &out->concurrent, err) <
            0)
        return -1;
    if (out->launch_path == NULL)
        return fm_fail(err, "LaunchPath", "is required");
    if (out->concurrent == 0)
        return fm_fail(err, "ConcurrentExecutions", "is required");
    if (strstr(out->launch_path, "..") != NULL)
        return fm_fail(err, "LaunchPath", "must not climb out of its directory (\"..\")");
    if (has_control(out->launch_path))
        return fm_fail(err, "LaunchPath", "must not hold control characters");
    if (has_control(out->parameters))
        return fm_fail(err, "Parameters",
                       "must not hold control characters (words are "
                       "separated by spaces)");
    return 0;
}

static int sidecar(json_t *s, struct fm_sidecar *out, struct fm_error *err)
{
    static const char *const known[] = {"Durable", "FlushMillis", "FlushBlocks", "BufferedBlocks",
                                        NULL};
    *out = (struct fm_sidecar){.flush_ms = 50, .flush_blocks = 5000, .buffered = 262144};
    if (s == NULL)
        return 0;
    json_t *durable = json_object_get(s, "Durable");
    if (!json_is_object(s))
        return fm_fail(err, "Sidecar", "must be an object");
    if (durable != NULL && !json_is_boolean(durable))
        return fm_fail(err, "Sidecar.Durable", "must be true or false");
    out->enabled = true;
    out->durable = json_is_true(durable);
    if (fm_known_fields(s, known, "Sidecar", err) < 0 ||
        fm_int_field(s, "FlushMillis", 0, 60000, &out->flush_ms, err) < 0 ||
        fm_int_field(s, "FlushBlocks", 1, 10000, &out->flush_blocks, err) < 0 ||
        fm_int_field(s, "BufferedBlocks", 10000, 1 << 26, &out->buffered, err) < 0) {
        fm_field_prefix(err, "Sidecar");
        return -1;
    }
    return 0;
}

int fm_runtime_parse(json_t *runtime, struct fm_runtime *out, struct fm_error *err)
{
    static const char *const known[] = {"GameSessionActivationTimeoutSeconds",
                                        "MaxConcurrentGameSessionActivations", "ServerProcesses",
                                        "Sidecar", NULL};
    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    out->activation_timeout_s = 300; /* GameLift's default */
    if (runtime == NULL)
        return 0;
    if (!json_is_object(runtime))
        return fm_fail(err, "", "must be an object");
    if (fm_known_fields(runtime, known, "RuntimeConfiguration", err) < 0 ||
        fm_int_field(runtime, known[0], 1, 600, &out->activation_timeout_s, err) < 0 ||
        fm_int_field(runtime, known[1], 1, 2147483647, &out->max_activations, err) < 0 ||
        sidecar(json_object_get(runtime, "Sidecar"), &out->sidecar, err) < 0)
        return -1;
    json_t *procs = json_object_get(runtime, "ServerProcesses");
    if (procs == NULL)
        return 0;
    if (!json_is_array(procs) || json_array_size(procs) < 1 ||
        json_array_size(procs) > FM_MAX_SERVER_PROCESSES)
        return fm_fail(err, "ServerProcesses", "must be an array of 1 to %d server processes",
                       FM_MAX_SERVER_PROCESSES);
    size_t i;
    json_t *p;
    json_array_foreach(procs, i, p)
    {
        if (server_process(p, &out->procs[i], err) < 0) {
            char where[48];
            snprintf(where, sizeof(where), "ServerProcesses[%zu]", i);
            fm_field_prefix(err, where);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(out->procs[j].launch_path, out->procs[i].launch_path) == 0 &&
                strcmp(out->procs[j].parameters, out->procs[i].parameters) == 0)
                return fm_fail(err, "ServerProcesses",
                               "entries %zu and %zu run the same LaunchPath and Parameters: "
                               "give one ConcurrentExecutions instead",
                               j, i);
        out->total += out->procs[i].concurrent;
        out->nprocs++;
    }
    if (out->total > FM_MAX_HOST_PROCESSES)
        return fm_fail(err, "ServerProcesses",
                       "run %d processes a host; at most %d (ConcurrentExecutions summed)",
                       out->total, FM_MAX_HOST_PROCESSES);
    return 0;
}
