/*
 * N-API helpers shared by tun.c and udp.c: errno-coded exceptions, and calls
 * from libuv callbacks into stored JS functions.
 */
#ifndef WGTS_NAPI_UTIL_H
#define WGTS_NAPI_UTIL_H

#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

/* uv_err_name() knows the common errnos; EBADFD (a TUN whose interface was deleted) it does not. */
static inline const char *wgts_errname(int err) {
  if (err == EBADFD) return "EBADFD";
  return uv_err_name(-err);
}

/* Throw an Error with .code (e.g. "EADDRINUSE") and .errno; returns NULL for `return wgts_throw_errno(...)`. */
static inline napi_value wgts_throw_errno(napi_env env, int err, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value m, code, e, eno;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, wgts_errname(err), NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, m, &e);
  napi_create_int32(env, err, &eno);
  napi_set_named_property(env, e, "errno", eno);
  napi_throw(env, e);
  return NULL;
}

/* Call a stored JS function through an async context; uncaught exceptions go to process 'uncaughtException'. */
static inline void wgts_call_ref(napi_env env, napi_async_context actx, napi_ref fnref, size_t argc, napi_value *argv) {
  napi_value fn, recv, res;
  if (!fnref || napi_get_reference_value(env, fnref, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
  napi_make_callback(env, actx, recv, fn, argc, argv, &res);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

/* Report an errno to a stored onError(code, errno). */
static inline void wgts_report_errno(napi_env env, napi_async_context actx, napi_ref on_error, int err) {
  napi_value code, eno;
  napi_create_string_utf8(env, wgts_errname(err), NAPI_AUTO_LENGTH, &code);
  napi_create_int32(env, err, &eno);
  napi_value argv[2] = {code, eno};
  wgts_call_ref(env, actx, on_error, 2, argv);
}

#endif
