// response_wire.h — a finished response as the bytes that go on the wire, in one buffer.
//
// Beast's serializer walks a chain of buffer views (status line, each field, body) through a
// composed write; under load that was about 4% of credstored's samples on a settings GET, for a
// header of a few fields and a body of a few hundred bytes. A session instead appends the
// response here, once, and writes one buffer (settings GETs on memory: +10%).
// The bytes are exactly the serializer's (a test compares the two), so this is a faster path
// to the same output, not a second HTTP writer with rules of its own.
#ifndef CREDSTORE_HTTP_SRC_RESPONSE_WIRE_H_
#define CREDSTORE_HTTP_SRC_RESPONSE_WIRE_H_

#include <string>

#include "credstore/http/http_api.h"

namespace credstore::http {

// Appends `response` to `out`: status line, each field as "Name: value", a blank line, then the
// body. Precondition: the framing is already in the fields (Content-Length from
// prepare_payload(), or none on a 204) and the body is not chunked: every credstored answer.
void AppendResponseWire(std::string& out, const Response& response);

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_RESPONSE_WIRE_H_
