build/obj/functions/auth-guest/main.o: functions/auth-guest/main.c \
 common/arena.h common/cfg.h common/db.h \
 /usr/include/postgresql/libpq-fe.h \
 /usr/include/postgresql/postgres_ext.h \
 /usr/include/postgresql/pg_config_ext.h common/log.h common/serve.h \
 common/http.h common/auth.h common/util.h
common/arena.h:
common/cfg.h:
common/db.h:
/usr/include/postgresql/libpq-fe.h:
/usr/include/postgresql/postgres_ext.h:
/usr/include/postgresql/pg_config_ext.h:
common/log.h:
common/serve.h:
common/http.h:
common/auth.h:
common/util.h:
