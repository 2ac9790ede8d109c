LIBS_gzip := -lz
LIB_SRC_gzip := plugins/lib/httputil.c
