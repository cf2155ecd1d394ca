/*  parley-gateway: the WebSocket edge. Read configuration, build the gateway, run
    until SIGINT/SIGTERM, tear down. Everything else is in gw_*.c (see gw.h). */
#include <stdio.h>

#include "gw.h"
#include "pl_log.h"

int main(void)
{
    if (pl_log_init("gateway")) {
        fprintf(stderr, "parley-gateway: bad LOG_LEVEL or LOG_FORMAT\n");
        return 2;
    }
    gw_config_t cfg;
    if (gw_config_load(&cfg)) {
        gw_config_free(&cfg);
        return 2;
    }
    gw_t *gw = gw_new(&cfg);
    if (!gw) {
        gw_config_free(&cfg);
        return 1;
    }
    int rc = gw_run(gw);
    gw_destroy(&gw);
    gw_config_free(&cfg);
    pl_info("stopped", "%s", "");
    return rc;
}
