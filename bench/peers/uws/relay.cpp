// Peer relay for bench/run.sh: the native protocol's relay semantics on
// uWebSockets, written the way a uWS user would, to be the fastest C++
// baseline: ws://HOST:PORT/c/<channel>, a text frame holding JSON goes to
// every OTHER member as {"uid":U,"date":D,"message":M} (uWS's publish skips
// the sender), join/leave events go to the channel unless --no-events.
// The envelope is built once per message and uWS's topic tree hands the
// same bytes to every subscriber.  A receiver whose backlog passes
// --slow-limit bytes (4 MiB) is closed, as node-ws and switchboard do.
//
// Built by bench/peers/uws/build.sh from a uWebSockets checkout the caller
// gives (nothing of uWS is in this repository).
#include "App.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>

namespace {

struct Member {
    std::string uid;
    std::string channel;
};

// A JSON validator (RFC 8259 grammar, depth-bounded): the native protocol
// drops text that is not JSON, so the peer pays for the same check.
struct Json {
    const char *p, *end;
    int depth = 0;

    void json_ws() { while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++; }
    bool json_lit(const char *s)
    {
        size_t n = strlen(s);
        if ((size_t)(end - p) < n || memcmp(p, s, n)) return false;
        p += n;
        return true;
    }
    bool json_str()
    {
        for (p++; p < end; p++) {
            unsigned char c = (unsigned char)*p;
            if (c == '"') { p++; return true; }
            if (c < 0x20) return false;
            if (c == '\\') {
                if (++p >= end) return false;
                if (*p == 'u') {
                    for (int i = 0; i < 4; i++)
                        if (++p >= end || !isxdigit((unsigned char)*p)) return false;
                } else if (!strchr("\"\\/bfnrt", *p)) return false;
            }
        }
        return false;
    }
    bool json_digits()
    {
        const char *s = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        return p > s;
    }
    bool json_num()
    {
        if (*p == '-') p++;
        if (p < end && *p == '0') p++;
        else if (!json_digits()) return false;
        if (p < end && *p == '.') { p++; if (!json_digits()) return false; }
        if (p < end && (*p == 'e' || *p == 'E')) {
            p++;
            if (p < end && (*p == '+' || *p == '-')) p++;
            if (!json_digits()) return false;
        }
        return true;
    }
    bool json_list(char close, bool object)
    {
        if (++depth > 64) return false;
        p++;
        json_ws();
        if (p < end && *p == close) { p++; depth--; return true; }
        for (;;) {
            if (object) {
                if (p >= end || *p != '"' || !json_str()) return false;
                json_ws();
                if (p >= end || *p++ != ':') return false;
            }
            if (!json_value()) return false;
            json_ws();
            if (p < end && *p == ',') { p++; json_ws(); continue; }
            if (p < end && *p == close) { p++; depth--; return true; }
            return false;
        }
    }
    bool json_value()
    {
        json_ws();
        if (p >= end) return false;
        switch (*p) {
        case '{': return json_list('}', true);
        case '[': return json_list(']', false);
        case '"': return json_str();
        case 't': return json_lit("true");
        case 'f': return json_lit("false");
        case 'n': return json_lit("null");
        default: return json_num();
        }
    }
    static bool json_valid(std::string_view s)
    {
        Json j{s.data(), s.data() + s.size()};
        if (!j.json_value()) return false;
        j.json_ws();
        return j.p == j.end;
    }
};

long long uws_now_ms()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string uws_percent_decode(std::string_view s)
{
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '%' && i + 2 < s.size() && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            out += (char)strtol(std::string(s.substr(i + 1, 2)).c_str(), nullptr, 16);
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

const char *uws_arg(int argc, char **argv, const char *name, const char *dflt)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return dflt;
}

bool uws_flag(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], name)) return true;
    return false;
}

} // namespace

int main(int argc, char **argv)
{
    int port = atoi(uws_arg(argc, argv, "--port", "8080"));
    std::string host = uws_arg(argc, argv, "--host", "127.0.0.1");
    unsigned slow = (unsigned)atol(uws_arg(argc, argv, "--slow-limit", "4194304"));
    bool events = !uws_flag(argc, argv, "--no-events");
    /* --compression: permessage-deflate with uWS's shared compressor (one
     * deflate per published message), for clients that offer it; needs a
     * build with zlib (build.sh --zlib) */
    bool compress = uws_flag(argc, argv, "--compression");
    std::unordered_map<std::string, long> members;
    unsigned long next_uid = 0;
    uWS::App app;

    auto event = [&](const char *type, const Member *m) {
        std::string f = std::string("{\"type\":\"") + type + "\",\"users\":" +
                        std::to_string(members[m->channel]) + ",\"uid\":\"" + m->uid +
                        "\",\"date\":" + std::to_string(uws_now_ms()) + "}";
        app.publish(m->channel, f, uWS::OpCode::TEXT);
    };

    app.ws<Member>("/c/*", {
        .compression = compress ? uWS::SHARED_COMPRESSOR : uWS::DISABLED,
        .maxPayloadLength = 64 * 1024,
        .idleTimeout = 0,
        .maxBackpressure = slow,
        .closeOnBackpressureLimit = true,
        .upgrade = [&](auto *res, auto *req, auto *ctx) {
            char uid[32];
            snprintf(uid, sizeof uid, "u%lx", ++next_uid);
            res->template upgrade<Member>(
                {uid, uws_percent_decode(req->getUrl().substr(3))},
                req->getHeader("sec-websocket-key"), req->getHeader("sec-websocket-protocol"),
                req->getHeader("sec-websocket-extensions"), ctx);
        },
        .open = [&](auto *ws) {
            Member *m = ws->getUserData();
            ws->subscribe(m->channel);
            members[m->channel]++;
            if (events) event("join", m);
        },
        .message = [&](auto *ws, std::string_view msg, uWS::OpCode op) {
            if (op != uWS::OpCode::TEXT || !Json::json_valid(msg)) return;
            Member *m = ws->getUserData();
            std::string out;
            out.reserve(msg.size() + m->uid.size() + 40);
            out += "{\"uid\":\"";
            out += m->uid;
            out += "\",\"date\":";
            out += std::to_string(uws_now_ms());
            out += ",\"message\":";
            out += msg;
            out += '}';
            ws->publish(m->channel, out, uWS::OpCode::TEXT, compress);
        },
        .close = [&](auto *ws, int, std::string_view) {
            Member *m = ws->getUserData();
            if (--members[m->channel] <= 0) members.erase(m->channel);
            else if (events) event("leave", m);
        },
    }).any("/*", [](auto *res, auto *) {
        res->writeStatus("404 Not Found")->end();
    }).listen(host, port, [&](auto *listen) {
        if (!listen) {
            fprintf(stderr, "uws relay: cannot listen on %s:%d\n", host.c_str(), port);
            exit(1);
        }
        printf("uws relay on ws://%s:%d/c/<channel>\n", host.c_str(), port);
        fflush(stdout);
    }).run();
    return 0;
}
