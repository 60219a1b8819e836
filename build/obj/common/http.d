build/obj/common/http.o: common/http.c common/http.h common/auth.h \
 common/arena.h
common/http.h:
common/auth.h:
common/arena.h:
