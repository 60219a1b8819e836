build/obj/common/arena.o: common/arena.c common/arena.h common/log.h
common/arena.h:
common/log.h:
