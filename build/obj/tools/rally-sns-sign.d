build/obj/tools/rally-sns-sign.o: tools/rally-sns-sign.c common/arena.h \
 common/cfg.h common/log.h common/sns.h common/util.h
common/arena.h:
common/cfg.h:
common/log.h:
common/sns.h:
common/util.h:
