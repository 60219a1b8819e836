/*
 * Logging: one JSON object per line on stderr.
 *
 * Messages follow the PostgreSQL style: lower case, no trailing period,
 * "could not <verb> <object>: <reason>".
 */
#ifndef RALLY_COMMON_LOG_H
#define RALLY_COMMON_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Names the process in every line; name must outlive the process. */
void log_init(const char *service);
void log_set_level(enum log_level level);
/* Request id added to lines written while a request is served (NULL clears). */
void log_set_request_id(const char *request_id);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
__attribute__((noreturn)) void log_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* The access line: one per request. */
void log_request(const char *method, const char *route, int status, double duration_ms);

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
