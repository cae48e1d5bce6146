// A serial line set up from JavaScript: raw 8N1 at a standard speed (termios(3)), for the
// console (firmware/console/console-tty.ts), which then reads and writes it as a Node TTY
// stream. serialport's driver does the same for the modem, but loading it (its JavaScript and
// its own native module) cost an emulated boot 0.1 s for a console that needs only this.
//
// makeRaw(fd, baud): no echo, no line editing, no signals from ^C, no output processing, 8 data
// bits, no parity, one stop bit, the modem lines ignored (CLOCAL: a three-wire console), reads
// return each byte as it comes. Returns false, changing nothing, when `baud` is not one of the
// standard speeds (the caller then uses serialport's driver, which sets any speed); throws with
// errno's message when the device refuses.

#include <errno.h>
#include <node_api.h>
#include <stdbool.h>
#include <string.h>
#include <termios.h>
#include "serial_line.h"

static const struct { int baud; speed_t speed; } speeds[] = {
  {300, B300}, {600, B600}, {1200, B1200}, {2400, B2400}, {4800, B4800}, {9600, B9600},
  {19200, B19200}, {38400, B38400}, {57600, B57600}, {115200, B115200}, {230400, B230400},
  {460800, B460800}, {500000, B500000}, {576000, B576000}, {921600, B921600}, {1000000, B1000000},
  {1152000, B1152000}, {1500000, B1500000}, {2000000, B2000000}, {2500000, B2500000},
  {3000000, B3000000}, {3500000, B3500000}, {4000000, B4000000},
};

static napi_value boolean(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

static napi_value make_raw(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd, baud;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &baud) != napi_ok) {
    napi_throw_type_error(env, NULL, "makeRaw(fd, baud)");
    return NULL;
  }
  const speed_t *speed = NULL;
  for (size_t i = 0; i < sizeof speeds / sizeof speeds[0]; i++) if (speeds[i].baud == baud) speed = &speeds[i].speed;
  if (speed == NULL) return boolean(env, false);
  struct termios t;
  if (tcgetattr(fd, &t) < 0) goto failed;
  cfmakeraw(&t);
  t.c_cflag &= ~(CSTOPB | PARENB | CRTSCTS);
  t.c_cflag |= CS8 | CLOCAL | CREAD;
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  if (cfsetispeed(&t, *speed) < 0 || cfsetospeed(&t, *speed) < 0 || tcsetattr(fd, TCSANOW, &t) < 0) goto failed;
  return boolean(env, true);
failed:
  napi_throw_error(env, NULL, strerror(errno));
  return NULL;
}

napi_status serial_line_register(napi_env env, napi_value exports) {
  napi_value fn;
  napi_status s = napi_create_function(env, "makeRaw", NAPI_AUTO_LENGTH, make_raw, NULL, &fn);
  if (s != napi_ok) return s;
  napi_value obj;
  s = napi_create_object(env, &obj);
  if (s != napi_ok) return s;
  s = napi_set_named_property(env, obj, "makeRaw", fn);
  if (s != napi_ok) return s;
  return napi_set_named_property(env, exports, "serialLine", obj);
}
