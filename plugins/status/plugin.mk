LIB_SRC_status := plugins/lib/textbuf.c
