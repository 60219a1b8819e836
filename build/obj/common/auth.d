build/obj/common/auth.o: common/auth.c common/auth.h common/arena.h \
 common/cfg.h common/log.h common/util.h
common/auth.h:
common/arena.h:
common/cfg.h:
common/log.h:
common/util.h:
