build/obj/common/sns.o: common/sns.c common/sns.h common/arena.h \
 common/util.h
common/sns.h:
common/arena.h:
common/util.h:
