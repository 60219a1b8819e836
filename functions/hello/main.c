/*
 * hello: the benchmark baseline. The same process model, request parsing and
 * response writer as every function, and no work: `make bench` divides each
 * route's throughput by this one's, measured through the same nginx.
 */
#include "serve.h"

static void handle_hello(struct http_req *req, struct http_resp *resp)
{
    http_reply(req, resp, 200, json_pack("{s:s}", "hello", "world"));
}

static const struct http_route routes[] = {
    {.name = "hello", .method = "GET", .dialect = &dialect_native, .handle = handle_hello},
};

int main(void)
{
    static const struct service svc = {
        .name = "hello",
        .max_body = 1024,
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
    };
    serve_main(&svc);
}
