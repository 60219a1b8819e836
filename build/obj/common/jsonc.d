build/obj/common/jsonc.o: common/jsonc.c common/jsonc.h
common/jsonc.h:
