build/obj/functions/hello/main.o: functions/hello/main.c common/serve.h \
 common/http.h common/auth.h
common/serve.h:
common/http.h:
common/auth.h:
