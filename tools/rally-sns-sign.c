/*
 * rally-sns-sign: wraps a message in a signed SNS Notification, as SNS would
 * deliver it to an HTTP subscriber. Lets a developer (and the tests) play the
 * matchmaker's part against event-ingest:
 *
 *   rally-sns-sign [-v 1|2] [-i MESSAGE_ID] [-t TIMESTAMP] [-T TOPIC_ARN]
 *                  [-k KEY_PEM] [-u CERT_URL] < flexmatch-event.json
 *
 * Defaults: SignatureVersion 2, a random MessageId, now, the first of
 * RALLY_SNS_TOPICS, RALLY_SNS_SIGNING_KEY and RALLY_SNS_SIGNING_CERT_URL.
 * Prints the JSON body to stdout; its MessageId goes in the
 * x-amz-sns-message-id header.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "cfg.h"
#include "log.h"
#include "sns.h"
#include "util.h"

int main(int argc, char **argv)
{
    struct arena a = {0};
    const char *version = "2", *id = NULL, *stamp = NULL;
    const char *topic = NULL;
    const char *key_path = getenv("RALLY_SNS_SIGNING_KEY");
    const char *cert_url = getenv("RALLY_SNS_SIGNING_CERT_URL");
    char id_buf[37], stamp_buf[96];
    int opt;

    log_init("rally-sns-sign");
    cfg_load("rally-sns-sign");
    if (cfg->sns_topics.n > 0)
        topic = cfg->sns_topics.items[0];
    while ((opt = getopt(argc, argv, "v:i:t:T:k:u:")) != -1) {
        switch (opt) {
        case 'v': version = optarg; break;
        case 'i': id = optarg; break;
        case 't': stamp = optarg; break;
        case 'T': topic = optarg; break;
        case 'k': key_path = optarg; break;
        case 'u': cert_url = optarg; break;
        default:
            fprintf(stderr, "usage: rally-sns-sign [-v 1|2] [-i ID] [-t TIMESTAMP] [-T TOPIC] "
                            "[-k KEY] [-u CERT_URL] < message\n");
            return 2;
        }
    }
    if (topic == NULL || key_path == NULL || cert_url == NULL) {
        fprintf(stderr, "rally-sns-sign: need a topic, a key and a certificate URL\n");
        return 2;
    }
    if (id == NULL) {
        util_uuid(id_buf);
        id = id_buf;
    }
    if (stamp == NULL) {
        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        snprintf(stamp_buf, sizeof(stamp_buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (long)(tv.tv_usec / 1000));
        stamp = stamp_buf;
    }

    char *message = NULL;
    size_t cap = 0;
    FILE *mem = open_memstream(&message, &cap);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
        fwrite(buf, 1, n, mem);
    fclose(mem);
    /* A trailing newline from a heredoc is not part of the message. */
    size_t ml = strlen(message);
    while (ml > 0 && message[ml - 1] == '\n')
        message[--ml] = '\0';

    EVP_PKEY *key = sns_load_private_key(key_path);
    if (key == NULL) {
        fprintf(stderr, "rally-sns-sign: could not read key %s\n", key_path);
        return 1;
    }
    json_t *msg = sns_notification(&a, topic, id, message, stamp, version, cert_url, NULL, key);
    if (msg == NULL) {
        fprintf(stderr, "rally-sns-sign: could not sign (SignatureVersion must be 1 or 2)\n");
        return 1;
    }
    char *out = json_dumps(msg, JSON_INDENT(2));
    puts(out);
    free(out);
    free(message);
    json_decref(msg);
    EVP_PKEY_free(key);
    arena_destroy(&a);
    return 0;
}
