/* The Pusher wire (proto_pusher.c) with any bytes as a client frame.
 *
 * A frame that decodes has an event, and its data goes through every
 * later step the server takes: the subscribe data (object or string of
 * one), the client-event payload and presence channel_data.  Whatever
 * comes out is encoded back as the server would send it, and that must
 * be valid JSON which decodes to the same event and channel. */
#include "fuzz.h"

#include "protocols/pusher/proto_pusher.h"

#define DEPTH 32

static int inside(sb_span in, sb_span part)
{
    return part.p >= in.p && part.p + part.n <= in.p + in.n;
}

/* The server's frame for (event, channel, payload) reads back the same. */
static void roundtrip(sb_span event, sb_span channel, sb_span payload)
{
    sb_pusher_msg back;
    sb_buf b;

    sb_buf_init(&b, 0);
    if (sb_pusher_message(&b, event, channel, payload, sb_span_str("u")) == 0) {
        FUZZ_CHECK(sb_json_check((const char *)sb_buf_data(&b), b.len, DEPTH, NULL) == 0);
        FUZZ_CHECK(sb_pusher_decode((const char *)sb_buf_data(&b), b.len, DEPTH, &back, NULL) == 0);
        FUZZ_CHECK(fuzz_same(back.event.p, back.event.n, event.p, event.n));
        FUZZ_CHECK(!channel.p || fuzz_same(back.channel.p, back.channel.n, channel.p, channel.n));
        FUZZ_CHECK(sb_json_type_of(back.data.p, back.data.n) == SB_JSON_STRING);
        sb_pusher_msg_free(&back);
    }
    sb_buf_free(&b);
}

static void check_data(const sb_pusher_msg *m)
{
    sb_pusher_sub s;
    sb_span payload, uid, info;
    sb_buf store;

    if (sb_pusher_decode_subscribe(m->data, DEPTH, &s, NULL) == 0) {
        FUZZ_CHECK(s.channel.p != NULL);
        if (s.channel_data.p) {
            sb_buf_init(&store, 0);
            if (sb_pusher_channel_data(s.channel_data, DEPTH, &store, &uid, &info, NULL) == 0) {
                FUZZ_CHECK(uid.p && uid.n > 0);
                FUZZ_CHECK(!info.p || inside(s.channel_data, info));
            }
            sb_buf_free(&store);
        }
        sb_pusher_sub_free(&s);
    }
    sb_buf_init(&store, 0);
    if (sb_pusher_payload(m->data, DEPTH, &store, &payload) == 0) {
        FUZZ_CHECK(sb_json_check(payload.p, payload.n, DEPTH, NULL) == 0);
        roundtrip(m->event, m->channel, payload);
    }
    sb_buf_free(&store);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_copy(data, size);
    sb_span in = sb_span_of(s, size);
    sb_pusher_msg m;
    sb_codec_err e;

    if (!s)
        return 0;
    if (sb_pusher_decode(s, size, DEPTH, &m, &e) == 0) {
        FUZZ_CHECK(m.event.p != NULL);
        FUZZ_CHECK(!m.data.p || inside(in, m.data));
        check_data(&m);
        sb_pusher_msg_free(&m);
    } else {
        FUZZ_CHECK(e.code < 0 && e.msg != NULL && e.pos <= size);
    }
    free(s);
    return 0;
}
