build/obj/functions/ticket-actions/main.o: \
 functions/ticket-actions/main.c common/db.h \
 /usr/include/postgresql/libpq-fe.h \
 /usr/include/postgresql/postgres_ext.h \
 /usr/include/postgresql/pg_config_ext.h common/serve.h common/http.h \
 common/auth.h common/ticket.h
common/db.h:
/usr/include/postgresql/libpq-fe.h:
/usr/include/postgresql/postgres_ext.h:
/usr/include/postgresql/pg_config_ext.h:
common/serve.h:
common/http.h:
common/auth.h:
common/ticket.h:
