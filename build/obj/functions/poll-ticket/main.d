build/obj/functions/poll-ticket/main.o: functions/poll-ticket/main.c \
 common/arena.h common/db.h /usr/include/postgresql/libpq-fe.h \
 /usr/include/postgresql/postgres_ext.h \
 /usr/include/postgresql/pg_config_ext.h common/serve.h common/http.h \
 common/auth.h common/ticket.h
common/arena.h:
common/db.h:
/usr/include/postgresql/libpq-fe.h:
/usr/include/postgresql/postgres_ext.h:
/usr/include/postgresql/pg_config_ext.h:
common/serve.h:
common/http.h:
common/auth.h:
common/ticket.h:
