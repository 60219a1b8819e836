build/obj/tools/rally-keys.o: tools/rally-keys.c common/arena.h \
 common/auth.h common/cfg.h common/log.h common/util.h
common/arena.h:
common/auth.h:
common/cfg.h:
common/log.h:
common/util.h:
