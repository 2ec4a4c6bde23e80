/*
 * mx_reg_diag: why creating an agent user failed, in words an operator
 * can act on (mx_reg_diagnose in matrix.h): a registration mode the
 * homeserver does not offer, a refused token or secret, a user that
 * exists under another password, an application service the homeserver
 * has not loaded.
 */
#include <stdio.h>

#include "core/err.h"
#include "matrix/matrix.h"

static const char *stage_name(int reg)
{
	return reg == MX_REG_TOKEN ? "m.login.registration_token"
	                           : "m.login.dummy";
}

/* The one-stage registration modes (token, dummy). */
static int diag_register(int reg, const struct mx_error *e,
                         const struct mx_uia *u, char *out, size_t cap)
{
	unsigned want = reg == MX_REG_TOKEN ? MX_STAGE_TOKEN : MX_STAGE_DUMMY;

	if (e->status == 403 || (e->status == 401 && !u)) {
		snprintf(out, cap, "the homeserver does not allow registration "
		         "(%s); enable it, or set registration = shared-secret "
		         "or admin-api", e->error);
		return MX_DIAG_MODE;
	}
	if (e->status == 401 && !(u->stages & want)) {
		snprintf(out, cap, "the homeserver does not offer %s for "
		         "registration%s; set registration to a mode it "
		         "supports", stage_name(reg),
		         (u->stages & MX_STAGE_TOKEN) ? " (it asks for a "
		         "registration token, so use registration = token)" :
		         (u->stages & MX_STAGE_DUMMY) ? " (it offers "
		         "registration = dummy)" : "");
		return MX_DIAG_MODE;
	}
	if (e->status == 401) {
		snprintf(out, cap, "the homeserver refused our registration "
		         "token; check registration_token_file");
		return MX_DIAG_MODE;
	}
	return -1;
}

static int diag_synapse(int reg, const struct mx_error *e, char *out,
                        size_t cap)
{
	if (mx_error_is(e, "M_UNRECOGNIZED") || e->status == 404) {
		snprintf(out, cap, "the homeserver has no Synapse admin API "
		         "(%s); registration = %s needs Synapse", e->error,
		         mx_reg_name(reg));
		return MX_DIAG_MODE;
	}
	if (reg == MX_REG_SHARED_SECRET &&
	    (e->status == 400 || e->status == 403)) {
		snprintf(out, cap, "shared-secret registration failed (%s): "
		         "enable registration_shared_secret in Synapse and "
		         "give lettamx the same secret", e->error);
		return MX_DIAG_MODE;
	}
	if (reg == MX_REG_ADMIN_API && e->status == 403) {
		snprintf(out, cap, "the bot is not a server admin (%s); "
		         "registration = admin-api needs an admin bot",
		         e->error);
		return MX_DIAG_MODE;
	}
	return -1;
}

int mx_reg_diagnose(int reg, const struct mx_error *e, const struct mx_uia *u,
                    char *out, size_t cap)
{
	char msg[LIM_PROTO_DETAIL + 64];
	int r = -1;

	if (mx_error_is(e, "M_USER_IN_USE")) {
		snprintf(out, cap, "the user exists but our derived password "
		         "does not open it: restore the master secret file it "
		         "was made with, or reset its password (registration "
		         "= admin-api does that), or remove the account");
		return MX_DIAG_AGENT;
	}
	if (reg == MX_REG_APPSERVICE && (mx_error_is(e, "M_EXCLUSIVE") ||
	                                 e->status == 401)) {
		snprintf(out, cap, "the homeserver does not take this user from "
		         "our application service (%s): load the registration "
		         "that lettamx appservice registration writes (again, "
		         "if user_prefix or server_name changed) in its "
		         "app_service_config_files and restart it", e->error);
		return MX_DIAG_MODE;
	}
	if (mx_error_is(e, "M_INVALID_USERNAME")) {
		snprintf(out, cap, "the homeserver refuses the user name (%s); "
		         "check user_prefix", e->error);
		return MX_DIAG_MODE;
	}
	if (reg == MX_REG_TOKEN || reg == MX_REG_DUMMY)
		r = diag_register(reg, e, u, out, cap);
	else
		r = diag_synapse(reg, e, out, cap);
	if (r >= 0)
		return r;
	mx_error_msg(e, msg, sizeof msg);
	snprintf(out, cap, "creating the user failed: %s", msg);
	return MX_DIAG_RETRY;
}
