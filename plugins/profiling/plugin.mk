LIB_SRC_profiling := plugins/lib/textbuf.c
