#include "core/err.h"

static const char *const err_text[] = {
	[0]               = "ok",
	[-ERR_AGAIN]      = "try again",
	[-ERR_TIMEOUT]    = "timed out",
	[-ERR_PROTO]      = "protocol error",
	[-ERR_TOOBIG]     = "too big",
	[-ERR_TLS]        = "TLS error",
	[-ERR_STORE]      = "store error",
	[-ERR_HTTP]       = "HTTP error status",
	[-ERR_NOMEM]      = "out of memory",
	[-ERR_IO]         = "I/O error",
	[-ERR_DNS]        = "name resolution failed",
	[-ERR_INVAL]      = "invalid input",
	[-ERR_NOTFOUND]   = "not found",
	[-ERR_EXISTS]     = "already belongs to another record",
	[-ERR_CLOSED]     = "connection closed by peer",
	[-ERR_CANCELLED]  = "cancelled",
	[-ERR_UTF8]       = "invalid UTF-8",
	[-ERR_CONFIG]     = "configuration error",
	[-ERR_VERSION]    = "written by a newer version",
	[-ERR_CORRUPT]    = "corrupt data",
	[-ERR_REFUSED]    = "connection refused",
};

const char *err_str(int code)
{
	if (code > 0 || code <= ERR__LAST)
		return "unknown error";
	return err_text[-code];
}
