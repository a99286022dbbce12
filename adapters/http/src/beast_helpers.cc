// The public face of request_parts.h's credential rules: the same functions the routes call.
#include "credstore/http/beast_helpers.h"

#include <sodium.h>

#include <utility>

#include "request_parts.h"

namespace credstore::http {

AdminKeyCredentials::AdminKeyCredentials(std::string api_key, std::string admin_key)
    : api_key_(std::move(api_key)), admin_key_(std::move(admin_key)) {}

AdminKeyCredentials::AdminKeyCredentials(AdminKeyCredentials&& other) noexcept
    : api_key_(std::move(other.api_key_)), admin_key_(std::move(other.admin_key_)) {}

AdminKeyCredentials& AdminKeyCredentials::operator=(AdminKeyCredentials&& other) noexcept {
  if (this != &other) {
    Wipe();
    api_key_ = std::move(other.api_key_);
    admin_key_ = std::move(other.admin_key_);
  }
  return *this;
}

AdminKeyCredentials::~AdminKeyCredentials() { Wipe(); }

void AdminKeyCredentials::Wipe() {
  sodium_memzero(api_key_.data(), api_key_.size());
  sodium_memzero(admin_key_.data(), admin_key_.size());
}

Result<AdminKeyCredentials> AdminKeyCredentialsOf(const Request& request) {
  const std::string_view target = request.target();
  const std::size_t mark = target.find('?');
  return AdminKeyCredentialsFrom(
      mark == std::string_view::npos ? std::string_view() : target.substr(mark + 1), request);
}

Result<SignedRequest> SignedRequestOf(const Request& request) {
  for (std::string_view name : kSignatureHeaders) {
    if (request.count(name) > 1) {
      return Status::Unauthorized(std::string(name) + " appears more than once");
    }
  }
  SignedRequest parts;
  parts.integrator_key = request[kSignatureHeaders[0]];
  parts.timestamp = request[kSignatureHeaders[1]];
  parts.signature = request[kSignatureHeaders[2]];
  parts.method = request.method_string();
  parts.target = request.target();
  parts.body = request.body();
  return parts;
}

OwnedSignedRequest::OwnedSignedRequest(const SignedRequest& request)
    : integrator_key_(request.integrator_key),
      timestamp_(request.timestamp),
      signature_(request.signature),
      method_(request.method),
      target_(request.target),
      body_(request.body),
      body_sha256_(request.body_sha256) {}

OwnedSignedRequest::OwnedSignedRequest(const SignedRequest& parts, Request&& request)
    : integrator_key_(parts.integrator_key),
      timestamp_(parts.timestamp),
      signature_(parts.signature),
      method_(parts.method),
      target_(parts.target),
      body_(std::move(request.body())),
      body_sha256_(parts.body_sha256) {}

SignedRequest OwnedSignedRequest::view() const {
  SignedRequest view;
  view.integrator_key = integrator_key_;
  view.timestamp = timestamp_;
  view.signature = signature_;
  view.method = method_;
  view.target = target_;
  view.body = body_;
  view.body_sha256 = body_sha256_;
  return view;
}

}  // namespace credstore::http
