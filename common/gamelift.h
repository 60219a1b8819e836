/*
 * What the functions of the GameLift service API share: an operation's
 * input checked as AWS's service model declares it (a refused value is an
 * InvalidRequestException naming the member, and changes nothing), paging
 * (Limit and an opaque NextToken), and ARNs.
 *
 * Routing: nginx sends POST / with X-Amz-Target: GameLift.<Operation> to
 * the function that owns the operation, with RALLY_ROUTE set to the
 * operation's name (nginx/gamelift.conf); each function's routes are named
 * after its operations and speak dialect_gamelift.
 *
 * Ownership: everything handed out lives in the request's arena, or is
 * borrowed from the request body (valid until the request ends).
 */
#ifndef RALLY_COMMON_GAMELIFT_H
#define RALLY_COMMON_GAMELIFT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct arena;
struct http_req;
struct http_resp;

enum gl_type {
    GL_STRING,
    GL_INTEGER,
    GL_STRING_LIST,
    GL_STRING_MAP,  /* {"<1..1024 chars>": "<1..item_max chars>"} */
    GL_PROPERTIES,  /* GameProperty list: [{"Key": <=32 chars, "Value": <=96 chars}] */
    GL_NUMBER,      /* a JSON number (Float): min..max */
    GL_STRUCT,      /* an object of the members `fields` */
    GL_STRUCT_LIST, /* min..max objects of the members `fields` */
};

/* One member of an operation's input. For strings, min and max bound the
 * length; for integers and numbers, the value; for lists and maps, the
 * number of items, each a string of 1..item_max characters. valid() checks
 * a string's (or each list item's) pattern or enum when set. A structure's
 * members are `fields` (checked as an input's are: none unknown). */
struct gl_member {
    const char *name;
    enum gl_type type;
    bool required;
    long min, max;
    long item_max;
    bool (*valid)(const char *s);
    const struct gl_member *fields;
    size_t nfields;
};

/* Limit and NextToken, the members of every paged operation. */
#define GL_PAGING_MEMBERS                                                                          \
    {"Limit", GL_INTEGER, false, 1, 2147483647L, 0, NULL, NULL, 0},                                \
    {                                                                                              \
        "NextToken", GL_STRING, false, 1, 1024, 0, NULL, NULL, 0                                   \
    }

/* The request body as an operation's input: a JSON object holding only
 * the listed members, each of its type and within its bounds. Answers the
 * InvalidRequestException (or a malformed body's error) itself and returns
 * NULL; else the body, borrowed. */
json_t *gl_input(struct http_req *req, struct http_resp *resp, const struct gl_member *members,
                 size_t n);

/* A page of a listing: Limit (default and ceiling `cap`) and the key after
 * which it starts, from NextToken ("" for the first page). False after
 * answering a NextToken that is not one of ours. */
bool gl_page(struct http_req *req, struct http_resp *resp, json_t *input, long cap, long *limit,
             const char **after);

/* The NextToken of a page that ended at `last_key`. */
char *gl_next_token(struct arena *a, const char *last_key);

/* arn:aws:gamelift:<region>:<account>:<resource> (cfg's region and account). */
char *gl_arn(struct arena *a, const char *resource);

/* The name an ARN of `kind` ends in ("fleet", "gamesessionqueue", ...), or
 * the string itself when it is not an ARN; NULL for an ARN of another kind. */
const char *gl_name_of(const char *id_or_arn, const char *kind);

/* Patterns of the service model. */
bool gl_is_fleet_id(const char *s);   /* fleet-\S+ or its ARN */
bool gl_is_queue_name(const char *s); /* [a-zA-Z0-9-]+ or its ARN */
bool gl_is_id_string(const char *s);  /* [a-zA-Z0-9-]+ (IdempotencyToken) */
bool gl_is_arn_string(const char *s); /* [a-zA-Z0-9:/-]+ (a GameSessionId) */
bool gl_is_location(const char *s);   /* [A-Za-z0-9-]+ */

#endif
