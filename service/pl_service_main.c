/*  pl_service_main: configuration → database → migrations → serve → teardown, the
    same for every service, so each service's main.c only names its parts. */
#include <stdio.h>

#include "pl_config.h"
#include "pl_log.h"
#include "pl_service.h"

int pl_service_main(const char *log_name, const char *db_var, const char *schema,
                    const pl_migration_t *migrations, const pl_service_def_t *def, void *app)
{
    if (pl_log_init(log_name)) {
        fprintf(stderr, "parley-%s: bad LOG_LEVEL or LOG_FORMAT\n", log_name);
        return 2;
    }
    const char *dsn = pl_env_str(db_var, pl_env_str("DB_CONNECTION_STRING", NULL));
    if (!dsn) {
        pl_error("bad configuration", "reason=\"set DB_CONNECTION_STRING or %s\"", db_var);
        return 2;
    }
    int64_t wait_ms;
    if (pl_env_int("DB_CONNECT_TIMEOUT_MS", 10000, 0, 600000, &wait_ms) ||
        pl_service_check_config() != 0) /* before waiting for the database */
        return 2;
    char app_name[64];
    snprintf(app_name, sizeof app_name, "parley-%s", log_name);
    PGconn *db = pl_pg_connect(dsn, app_name, (int)wait_ms);
    if (!db)
        return 1;
    if (pl_pg_migrate(db, schema, migrations)) {
        PQfinish(db);
        return 1;
    }
    pl_service_t *svc = pl_service_new(def, app, &db);
    if (!svc)
        return 1;
    int rc = pl_service_run(svc);
    pl_service_destroy(&svc);
    return rc == 0 ? 0 : 1;
}
