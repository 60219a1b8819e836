build/obj/common/ticket.o: common/ticket.c common/ticket.h \
 /usr/include/postgresql/libpq-fe.h \
 /usr/include/postgresql/postgres_ext.h \
 /usr/include/postgresql/pg_config_ext.h common/http.h common/auth.h \
 common/arena.h common/cfg.h common/db.h common/util.h
common/ticket.h:
/usr/include/postgresql/libpq-fe.h:
/usr/include/postgresql/postgres_ext.h:
/usr/include/postgresql/pg_config_ext.h:
common/http.h:
common/auth.h:
common/arena.h:
common/cfg.h:
common/db.h:
common/util.h:
