build/obj/tools/rally-admin.o: tools/rally-admin.c \
 /usr/include/postgresql/libpq-fe.h \
 /usr/include/postgresql/postgres_ext.h \
 /usr/include/postgresql/pg_config_ext.h common/jsonc.h common/log.h \
 common/util.h
/usr/include/postgresql/libpq-fe.h:
/usr/include/postgresql/postgres_ext.h:
/usr/include/postgresql/pg_config_ext.h:
common/jsonc.h:
common/log.h:
common/util.h:
