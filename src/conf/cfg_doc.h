/*
 * cfg_doc: the configuration key table written out for the manual and
 * for example configurations (`lettamx config keys [--mdoc]`, `lettamx
 * config example [SECTION.KEY=VALUE ...]`), so neither can drift from it.
 */
#ifndef LETTAMX_CFG_DOC_H
#define LETTAMX_CFG_DOC_H

/* argv[0] is "keys" or "example". Returns the exit status (0, or 2 for
 * bad usage). */
int cfg_doc_cmd(int argc, char **argv);

#endif
