// FunctionRef<R(Args...)>: a reference to a callable, for callbacks that are called before the
// call that takes them returns and never kept (C++26's std::function_ref, reduced to what
// credstore needs).
//
// A std::function owns a copy of its callable, and allocates one that does not fit its small
// buffer: a lambda capturing four references did, on every read the near-cache answered. A
// FunctionRef is two pointers, never allocates, and calls through one indirect call.
//
// Contract: a FunctionRef refers to the callable it was made from and does not extend its life.
// Made from a temporary (a lambda written in the argument list), it is valid until the end of the
// full expression, which is exactly a callback's use. Never store one past the call it was
// handed to.
#ifndef CREDSTORE_FUNCTION_REF_H_
#define CREDSTORE_FUNCTION_REF_H_

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace credstore {

template <typename Signature>
class FunctionRef;

template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  // Refers to `callable`, an object invocable as R(Args...): a lambda, a functor, a
  // std::function, or a function pointer held in a variable.
  template <typename F,
            typename = std::enable_if_t<!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> &&
                                        std::is_invocable_r_v<R, std::remove_reference_t<F>&,
                                                              Args...>>>
  FunctionRef(F&& callable) noexcept  // NOLINT(google-explicit-constructor): a callback's type
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(callable)))),
        call_(&Call<std::remove_reference_t<F>>) {}

  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  template <typename F>
  static R Call(void* object, Args... args) {
    if constexpr (std::is_void_v<R>) {
      std::invoke(*static_cast<F*>(object), std::forward<Args>(args)...);
    } else {
      return std::invoke(*static_cast<F*>(object), std::forward<Args>(args)...);
    }
  }

  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace credstore

#endif  // CREDSTORE_FUNCTION_REF_H_
