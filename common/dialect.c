/* The dialect tables: every byte in which the AWS samples' answers differ
 * from rally's own is decided here. */
#include "dialect.h"

#include <string.h>
#include <time.h>

#include "arena.h"

static json_t *error_native(const char *code, const char *msg)
{
    return json_pack("{s:s, s:s}", "error", code, "message", msg);
}

static json_t *auth_error_native(int status, const char *code, const char *msg)
{
    (void)status;
    return error_native(code, msg);
}

static json_t *error_string(const char *code, const char *msg)
{
    (void)code;
    return json_string(msg);
}

static json_t *error_message(const char *code, const char *msg)
{
    (void)code;
    return json_pack("{s:s}", "message", msg);
}

/* API Gateway's own bodies, which the AWS sample clients see. */
static json_t *auth_error_gateway(int status, const char *code, const char *msg)
{
    (void)code;
    (void)msg;
    return json_pack("{s:s}", "message", status == 403 ? "Forbidden" : "Unauthorized");
}

/* Breaks microseconds since the epoch into UTC fields; returns the
 * microseconds within the second. */
static long utc_split(int64_t us, struct tm *tm)
{
    time_t secs = (time_t)(us / 1000000);
    gmtime_r(&secs, tm);
    return (long)(us % 1000000);
}

/* ISO 8601 UTC with milliseconds: "2024-02-16T12:00:00.123Z". */
static json_t *time_iso(int64_t us)
{
    struct tm tm;
    long frac = utc_split(us, &tm);
    return json_sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac / 1000);
}

/* Python's str(datetime) of an aware UTC time: "2024-02-16
 * 12:00:00.123000+00:00", and "2024-02-16 12:00:00+00:00" when the
 * microseconds are 0 (str() leaves out a zero fraction). */
static json_t *time_python(int64_t us)
{
    struct tm tm;
    long frac = utc_split(us, &tm);
    if (frac == 0)
        return json_sprintf("%04d-%02d-%02d %02d:%02d:%02d+00:00", tm.tm_year + 1900, tm.tm_mon + 1,
                            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return json_sprintf("%04d-%02d-%02d %02d:%02d:%02d.%06ld+00:00", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/* The GUIDANCE sample's Lambdas answer every request with these. */
static const struct dialect_header cors_headers[] = {
    {"Access-Control-Allow-Origin", "*"},
    {"Access-Control-Allow-Credentials", "True"},
    {NULL, NULL},
};

const struct dialect dialect_native = {
    .name = "native",
    .error_body = error_native,
    .auth_error_body = auth_error_native,
    .auth_challenge = "Bearer",
    .json_flags = JSON_ENCODE_ANY | JSON_COMPACT,
    .headers = NULL,
    .time_value = time_iso,
    .content_type = "application/json",
    .created_status = 201,
    .reuse_active_ticket = false,
    .clamp_zero_latency = false,
};

const struct dialect dialect_guidance = {
    .name = "guidance",
    .error_body = error_string,
    .auth_error_body = auth_error_gateway,
    .auth_challenge = NULL,
    /* Python's json.dumps: ", " and ": " separators, which jansson writes
     * without JSON_COMPACT. */
    .json_flags = JSON_ENCODE_ANY,
    .headers = cors_headers,
    .time_value = time_python,
    .content_type = "application/json",
    .created_status = 200, /* the samples answer 200 to a new ticket */
    .reuse_active_ticket = true,
    .clamp_zero_latency = true,
};

const struct dialect dialect_legacy = {
    .name = "legacy",
    .error_body = error_message,
    .auth_error_body = auth_error_gateway,
    .auth_challenge = NULL,
    .json_flags = JSON_ENCODE_ANY | JSON_COMPACT,
    .headers = NULL,
    .time_value = time_iso,
    .content_type = "application/json",
    .created_status = 200,
    .reuse_active_ticket = true,
    .clamp_zero_latency = true,
};

/* AWS JSON 1.1's error body. A name of AWS's (it ends in "Exception")
 * passes as it is; rally's own codes, which the handlers shared with the
 * native routes answer, become GameLift's: what was not found, a failure of
 * ours, and otherwise the client's fault (invalid_json, body_too_large,
 * invalid_status, ...). */
static json_t *error_aws(const char *code, const char *msg)
{
    size_t n = strlen(code), e = strlen("Exception");
    const char *type =
        n > e && strcmp(code + n - e, "Exception") == 0 ? code
        : strcmp(code, "internal") == 0 || strcmp(code, "unavailable") == 0
            ? "InternalServiceException"
        : strcmp(code, "not_found") == 0 || strcmp(code, "unknown_configuration") == 0
            ? "NotFoundException"
            : "InvalidRequestException";
    return json_pack("{s:s, s:s}", "__type", type, "message", msg);
}

static json_t *auth_error_aws(int status, const char *code, const char *msg)
{
    (void)status;
    return error_aws(code, msg);
}

/* Epoch seconds with the fraction AWS's SDKs read (botocore: a float). */
static json_t *time_epoch(int64_t us)
{
    return json_real((double)us / 1e6);
}

const struct dialect dialect_gamelift = {
    .name = "gamelift",
    .error_body = error_aws,
    .auth_error_body = auth_error_aws,
    .auth_challenge = NULL,
    .json_flags = JSON_ENCODE_ANY | JSON_COMPACT,
    .headers = NULL,
    .time_value = time_epoch,
    .content_type = "application/x-amz-json-1.1",
    .request_id_header = "x-amzn-RequestId",
    .client_error_status = 400,
    .created_status = 200,
    .reuse_active_ticket = false,
    .clamp_zero_latency = false,
};
