build/obj/common/util.o: common/util.c common/util.h common/arena.h \
 common/log.h
common/util.h:
common/arena.h:
common/log.h:
