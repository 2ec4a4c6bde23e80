/*
 * prov_cmd: the `provision` and `status` commands, on the provisioning
 * driver (prov/prov_drive.h).
 */
#ifndef LETTAMX_PROV_CMD_H
#define LETTAMX_PROV_CMD_H

/* `lettamx provision [-c FILE] [--dry-run]`. Returns the exit status. */
int prov_cmd_provision(int argc, char **argv);

/* `lettamx status [-c FILE] [--json]`. Returns the exit status. */
int prov_cmd_status(int argc, char **argv);

#endif
