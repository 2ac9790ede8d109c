LIB_SRC_headers := plugins/lib/httputil.c
