build/obj/common/serve.o: common/serve.c common/serve.h common/http.h \
 common/auth.h common/arena.h common/cfg.h common/db.h \
 /usr/include/postgresql/libpq-fe.h \
 /usr/include/postgresql/postgres_ext.h \
 /usr/include/postgresql/pg_config_ext.h common/log.h common/util.h
common/serve.h:
common/http.h:
common/auth.h:
common/arena.h:
common/cfg.h:
common/db.h:
/usr/include/postgresql/libpq-fe.h:
/usr/include/postgresql/postgres_ext.h:
/usr/include/postgresql/pg_config_ext.h:
common/log.h:
common/util.h:
