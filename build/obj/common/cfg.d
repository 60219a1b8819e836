build/obj/common/cfg.o: common/cfg.c common/cfg.h
common/cfg.h:
